package providers

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Routing defaults.
const (
	// CooldownAfter is how many consecutive failures cool an upstream down: 3.
	CooldownAfter = 3
	// CooldownFor is how long a cooled-down upstream is skipped, unless its
	// Retry-After says longer: 30s.
	CooldownFor = 30 * time.Second
	// BackoffBase is the first retry's backoff before jitter: 100ms; it
	// doubles per retry up to BackoffMax (2s).
	BackoffBase = 100 * time.Millisecond
	BackoffMax  = 2 * time.Second
	// MaxRetryAfterWait is the longest Retry-After honoured by waiting: 5s.
	// An upstream asking for longer is skipped for this request (and cooled
	// down for that long) and the next candidate is tried at once.
	MaxRetryAfterWait = 5 * time.Second
)

// Price is what a model costs, in USD per million tokens.
type Price struct {
	Input  float64
	Output float64
}

// Cost returns the USD cost of the given token counts.
func (p Price) Cost(input, output int64) float64 {
	return (float64(input)*p.Input + float64(output)*p.Output) / 1e6
}

// Upstream is one provider model that serves a public model.
type Upstream struct {
	// ProviderName is the provider's configured name.
	ProviderName string
	// Provider serves the calls.
	Provider Provider
	// Model is the provider's model id.
	Model string
	// QuotedModel is Model as a JSON string literal, precomputed.
	QuotedModel []byte
	// Weight is the relative share of traffic among a route's upstreams.
	Weight int

	health *health
}

// NewUpstream returns an upstream. Its health (consecutive failures and
// cooldown) is kept per provider name and model for the life of the
// process, so it survives config reloads.
func NewUpstream(providerName string, p Provider, model string, weight int) *Upstream {
	if weight <= 0 {
		weight = 1
	}
	return &Upstream{
		ProviderName: providerName,
		Provider:     p,
		Model:        model,
		QuotedModel:  []byte(strconv.Quote(model)),
		Weight:       weight,
		health:       healthOf(providerName + "\x00" + model),
	}
}

// Route is how a public model is served: weighted upstreams, retries and
// fallback routes.
type Route struct {
	// Name is the public model name.
	Name string
	// Upstreams serve the model, chosen at random by weight.
	Upstreams []*Upstream
	// Retries is how many more attempts a failed call gets on this route.
	Retries int
	// Fallbacks are tried in order once this route's attempts are used.
	// Their own fallbacks are not followed.
	Fallbacks []*Route
	// Price is the model's price.
	Price Price
}

// health is an upstream's failure record.
type health struct {
	failures      atomic.Int32
	cooledUntilNs atomic.Int64
}

var healthRegistry sync.Map // string → *health

func healthOf(key string) *health {
	if h, ok := healthRegistry.Load(key); ok {
		return h.(*health)
	}
	h, _ := healthRegistry.LoadOrStore(key, new(health))
	return h.(*health)
}

// CooledDown reports whether the upstream is being skipped after failures.
func (u *Upstream) CooledDown(now time.Time) bool {
	return u.health.cooledUntilNs.Load() > now.UnixNano()
}

// ReportSuccess clears the upstream's failure record.
func (u *Upstream) ReportSuccess() {
	if u.health.failures.Load() != 0 {
		u.health.failures.Store(0)
	}
}

// ReportFailure counts a failed call; the CooldownAfter-th failure in a row,
// or a Retry-After longer than MaxRetryAfterWait, cools the upstream down.
func (u *Upstream) ReportFailure(retryAfter time.Duration) {
	n := u.health.failures.Add(1)
	d := time.Duration(0)
	if n >= CooldownAfter {
		d = CooldownFor
	}
	if retryAfter > MaxRetryAfterWait && retryAfter > d {
		d = retryAfter
	}
	if d > 0 {
		u.health.cooledUntilNs.Store(time.Now().Add(d).UnixNano())
	}
}

// Attempts plans the calls for one request: a weighted pick on the route,
// up to Retries more (preferring upstreams that have not failed this
// request, skipping cooled-down ones while any other is left, after an
// exponential backoff with full jitter, or the upstream's Retry-After), then
// each fallback route the same way.
type Attempts struct {
	routes []*Route
	route  int // index of the current route
	tries  int // attempts made on the current route
	total  int
	failed []*Upstream // upstreams that failed this request, current route
	wait   time.Duration
}

// Attempts returns the attempt plan for one request on r.
func (r *Route) Attempts() *Attempts {
	a := &Attempts{routes: []*Route{r}}
	if len(r.Fallbacks) > 0 {
		a.routes = append(a.routes, r.Fallbacks...)
	}
	return a
}

// Count is how many attempts were started.
func (a *Attempts) Count() int { return a.total }

// Failed records that u failed with err; the next call to Next retries or
// falls back. It reports whether another attempt is worth making: false
// when err is not retryable.
func (a *Attempts) Failed(u *Upstream, err error) bool {
	var retryAfter time.Duration
	if pe, ok := err.(*Error); ok {
		retryAfter = pe.RetryAfter
	}
	u.ReportFailure(retryAfter)
	if !Retryable(err) {
		return false
	}
	a.failed = append(a.failed, u)
	a.wait = 0
	if retryAfter > 0 && retryAfter <= MaxRetryAfterWait {
		a.wait = retryAfter
	}
	return true
}

// Next returns the route and upstream of the next attempt, after sleeping
// out the backoff when it retries on the same route. It returns nil when
// the plan is exhausted or ctx ended.
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
		return r, u
	}
	return nil, nil
}

// pick chooses an upstream by weight, avoiding those that failed this
// request and those cooled down while any other is left.
func (r *Route) pick(failed []*Upstream, now time.Time) *Upstream {
	if len(r.Upstreams) == 1 {
		return r.Upstreams[0]
	}
	for _, strict := range [...]bool{true, false} {
		total := 0
		for _, u := range r.Upstreams {
			if r.eligible(u, failed, now, strict) {
				total += u.Weight
			}
		}
		if total == 0 {
			continue
		}
		n := rand.IntN(total)
		for _, u := range r.Upstreams {
			if !r.eligible(u, failed, now, strict) {
				continue
			}
			if n < u.Weight {
				return u
			}
			n -= u.Weight
		}
	}
	return r.Upstreams[rand.IntN(len(r.Upstreams))]
}

func (r *Route) allCooledDown(now time.Time) bool {
	for _, u := range r.Upstreams {
		if !u.CooledDown(now) {
			return false
		}
	}
	return true
}

func (r *Route) eligible(u *Upstream, failed []*Upstream, now time.Time, strict bool) bool {
	if !strict {
		return !u.CooledDown(now)
	}
	if u.CooledDown(now) {
		return false
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
