// Package routing decides which upstream serves each attempt of a request:
// a public model's route (weighted upstreams, retries, fallbacks), the
// selection policies that pick among its upstreams (guest modules in the
// http.ai_gateway.selection_policies namespace: weighted, least_busy,
// lowest_latency), and the health of every upstream (failures, cooldowns,
// requests in flight, time to first byte), shared across configs.
package routing

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/polygate/polygate/providers"
)

// Backoff between retries on the same route.
const (
	// BackoffBase is the first retry's backoff before jitter: 100ms; it
	// doubles per retry up to BackoffMax (2s).
	BackoffBase = 100 * time.Millisecond
	BackoffMax  = 2 * time.Second
)

// Route is how a public model is served: upstreams chosen by a selection
// policy, retries and fallback routes.
type Route struct {
	// Name is the public model name.
	Name string
	// Upstreams serve the model.
	Upstreams []*Upstream
	// Policy picks among the upstreams that may be tried; nil means
	// Weighted.
	Policy Policy
	// Retries is how many more attempts a failed call gets on this route.
	Retries int
	// Fallbacks are tried in order once this route's attempts are used.
	// Their own fallbacks are not followed.
	Fallbacks []*Route
	// Price is the model's price. When zero, each upstream's own Price
	// applies (see PriceOf).
	Price providers.Price
}

// PriceOf is the price of a call served by up on this route: the route's
// own price when it has one, else the upstream model's.
func (r *Route) PriceOf(up *Upstream) providers.Price {
	if !r.Price.IsZero() || up == nil {
		return r.Price
	}
	return up.Price
}

// EstimatePrice is the price to reserve a call at before an upstream is
// chosen: the route's own, else the dearest of its upstreams' (by the sum
// of input and output rates), so that a reservation never undercounts.
func (r *Route) EstimatePrice() providers.Price {
	if !r.Price.IsZero() {
		return r.Price
	}
	var best providers.Price
	for _, up := range r.Upstreams {
		if up.Price.Input+up.Price.Output > best.Input+best.Output {
			best = up.Price
		}
	}
	return best
}

// SetHealth sets how many consecutive failures (maxFails; 0 means
// DefaultMaxFails) cool the route's upstreams down and for how long
// (failFor; 0 means DefaultFailDuration).
func (r *Route) SetHealth(maxFails int, failFor time.Duration) {
	if maxFails <= 0 {
		maxFails = DefaultMaxFails
	}
	if failFor <= 0 {
		failFor = DefaultFailDuration
	}
	for _, u := range r.Upstreams {
		u.maxFails, u.failFor = int32(maxFails), failFor
	}
}

// Release gives back the pooled health of the route's upstreams.
func (r *Route) Release() {
	for _, u := range r.Upstreams {
		u.Release()
	}
}

// Attempts plans the calls for one request: a pick on the route, up to
// Retries more (preferring upstreams that have not failed this request,
// skipping cooled-down ones while any other is left, after an exponential
// backoff with full jitter, or the upstream's Retry-After), then each
// fallback route the same way.
type Attempts struct {
	routes  []*Route
	first   [1]*Route // routes' backing array when there are no fallbacks
	route   int       // index of the current route
	tries   int       // attempts made on the current route
	total   int
	failed  []*Upstream // upstreams that failed this request, current route
	wait    time.Duration
	started time.Time // when the current attempt began
}

// Attempts returns the attempt plan for one request on r.
func (r *Route) Attempts() *Attempts {
	a := &Attempts{first: [1]*Route{r}}
	a.routes = a.first[:]
	if len(r.Fallbacks) > 0 {
		a.routes = append(append(make([]*Route, 0, 1+len(r.Fallbacks)), r), r.Fallbacks...)
	}
	return a
}

// Count is how many attempts were started.
func (a *Attempts) Count() int { return a.total }

// Failed records that u failed with err (it is no longer busy with this
// request); the next call to Next retries or falls back. It reports
// whether another attempt is worth making: false when err is not
// retryable.
func (a *Attempts) Failed(u *Upstream, err error) bool {
	u.health.inFlight.Add(-1)
	var retryAfter time.Duration
	if pe, ok := err.(*providers.Error); ok {
		retryAfter = pe.RetryAfter
	}
	u.reportFailure(retryAfter)
	if !providers.Retryable(err) {
		return false
	}
	a.failed = append(a.failed, u)
	a.wait = 0
	if retryAfter > 0 && retryAfter <= MaxRetryAfterWait {
		a.wait = retryAfter
	}
	return true
}

// Abandoned records that the attempt on u ended without a verdict on the
// upstream (the client left): u is no longer busy with it.
func (a *Attempts) Abandoned(u *Upstream) { u.health.inFlight.Add(-1) }

// Succeeded records that u answered: its failure record is cleared and the
// time since the attempt began is a time-to-first-byte sample. u stays
// busy with the request until Upstream.Done.
func (a *Attempts) Succeeded(u *Upstream) {
	u.reportSuccess()
	u.health.observeTTFB(time.Since(a.started))
}

// Next returns the route and upstream of the next attempt, after sleeping
// out the backoff when it retries on the same route, and counts the
// upstream as busy. It returns nil when the plan is exhausted or ctx
// ended.
func (a *Attempts) Next(ctx context.Context) (*Route, *Upstream) {
	for a.route < len(a.routes) {
		r := a.routes[a.route]
		if a.tries > r.Retries || len(r.Upstreams) == 0 {
			a.route++
			a.tries = 0
			a.failed = a.failed[:0]
			a.wait = 0
			continue
		}
		now := time.Now()
		if a.tries == 0 && a.route < len(a.routes)-1 && r.allCooledDown(now) {
			a.route++ // a fallback is waiting: don't knock on a cooled door
			continue
		}
		u := r.pick(a.failed, now)
		if a.tries > 0 {
			wait := a.wait
			if wait == 0 {
				backoff := BackoffBase << (a.tries - 1)
				if backoff > BackoffMax || backoff <= 0 {
					backoff = BackoffMax
				}
				wait = rand.N(backoff) + time.Millisecond
			}
			if !sleep(ctx, wait) {
				return nil, nil
			}
		}
		a.tries++
		a.total++
		u.health.inFlight.Add(1)
		a.started = time.Now()
		return r, u
	}
	return nil, nil
}

// maxCandidates is how many upstreams are considered without allocating.
const maxCandidates = 16

// pick chooses an upstream with the route's policy among those that have
// not failed this request and are not cooled down; failing that, among
// those not cooled down; failing that, among all.
func (r *Route) pick(failed []*Upstream, now time.Time) *Upstream {
	if len(r.Upstreams) == 1 {
		return r.Upstreams[0]
	}
	policy := r.Policy
	if policy == nil {
		policy = weighted
	}
	var buf [maxCandidates]*Upstream
	for _, strict := range [...]bool{true, false} {
		cands := buf[:0]
		for _, u := range r.Upstreams {
			if eligible(u, failed, now, strict) {
				cands = append(cands, u)
			}
		}
		if len(cands) > 0 {
			return policy.Select(cands)
		}
	}
	return policy.Select(r.Upstreams)
}

func (r *Route) allCooledDown(now time.Time) bool {
	for _, u := range r.Upstreams {
		if !u.CooledDown(now) {
			return false
		}
	}
	return true
}

func eligible(u *Upstream, failed []*Upstream, now time.Time, strict bool) bool {
	if u.CooledDown(now) {
		return false
	}
	if !strict {
		return true
	}
	for _, f := range failed {
		if f == u {
			return false
		}
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
