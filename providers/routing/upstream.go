package routing

import (
	"fmt"
	"hash/maphash"
	"time"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Upstream is one provider model that serves a public model.
type Upstream struct {
	// ProviderName is the provider's configured name.
	ProviderName string
	// Provider serves the calls.
	Provider providers.Provider
	// Model is the provider's model id.
	Model string
	// QuotedModel is Model as a JSON string literal, precomputed.
	QuotedModel []byte
	// Weight is the relative share of traffic among a route's upstreams.
	Weight int
	// Price is the price of Model itself (from the price catalogue or a
	// prices file), used when the route states no price of its own.
	// Zero when unknown.
	Price providers.Price

	health   *health
	poolKey  string // set when health comes from the pool
	maxFails int32
	failFor  time.Duration
}

// identity says what an upstream really is: the provider's own identity
// (type, base URL, key fingerprint) when it tells it, else its name.
func identity(name string, p providers.Provider) string {
	if id, ok := p.(providers.Identifier); ok {
		if s := id.Identity(); s != "" {
			return s
		}
	}
	return fmt.Sprintf("%T %s", p, name)
}

func newUpstream(name string, p providers.Provider, model string, weight int) *Upstream {
	if weight <= 0 {
		weight = 1
	}
	return &Upstream{
		ProviderName: name,
		Provider:     p,
		Model:        model,
		QuotedModel:  openai.AppendString(nil, model),
		Weight:       weight,
		maxFails:     DefaultMaxFails,
		failFor:      DefaultFailDuration,
	}
}

// NewUpstream returns an upstream of a configured route. Its health is
// shared, through a pool, with every upstream of the same provider
// identity and model in this and other configs, so it survives reloads;
// call Release when the config is unloaded.
func NewUpstream(name string, p providers.Provider, model string, weight int) *Upstream {
	u := newUpstream(name, p, model, weight)
	u.poolKey = identity(name, p) + "\x00" + model
	u.health = pooledHealth(u.poolKey)
	return u
}

var directSeed = maphash.MakeSeed()

// NewDirectUpstream returns an upstream for a model a client named
// directly; its health is kept in d, bounded.
func NewDirectUpstream(d *DirectHealth, name string, p providers.Provider, model string) *Upstream {
	u := newUpstream(name, p, model, 1)
	var h maphash.Hash
	h.SetSeed(directSeed)
	h.WriteString(identity(name, p))
	h.WriteByte(0)
	h.WriteString(model)
	u.health = d.get(h.Sum64())
	return u
}

// Release gives the upstream's pooled health back; the last release of an
// upstream forgets it.
func (u *Upstream) Release() {
	if u.poolKey != "" {
		_, _ = healthPool.Delete(u.poolKey)
		u.poolKey = ""
	}
}

// CooledDown reports whether the upstream is being skipped after failures.
func (u *Upstream) CooledDown(now time.Time) bool {
	return u.health.cooledUntilNs.Load() > now.UnixNano()
}

// InFlight is how many calls to the upstream are under way.
func (u *Upstream) InFlight() int64 { return u.health.inFlight.Load() }

// TTFB is the moving average time to first byte; 0 until measured.
func (u *Upstream) TTFB() time.Duration { return time.Duration(u.health.ttfbNs.Load()) }

// Done ends a call that Attempts.Next started and that succeeded: the
// upstream is no longer busy with it. Call it when the answer (a whole
// stream included) has been relayed.
func (u *Upstream) Done() { u.health.inFlight.Add(-1) }

// reportSuccess clears the upstream's failure record.
func (u *Upstream) reportSuccess() {
	if u.health.failures.Load() != 0 {
		u.health.failures.Store(0)
	}
}

// reportFailure counts a failed call; the max_fails-th failure in a row,
// or a Retry-After longer than MaxRetryAfterWait, cools the upstream down.
func (u *Upstream) reportFailure(retryAfter time.Duration) {
	n := u.health.failures.Add(1)
	d := time.Duration(0)
	if n >= u.maxFails {
		d = u.failFor
	}
	if retryAfter > MaxRetryAfterWait && retryAfter > d {
		d = retryAfter
	}
	if d > 0 {
		u.health.cooledUntilNs.Store(time.Now().Add(d).UnixNano())
	}
}
