package routing

import (
	"math/rand/v2"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() {
	caddy.RegisterModule(Weighted{})
	caddy.RegisterModule(LeastBusy{})
	caddy.RegisterModule(LowestLatency{})
}

// PolicyNamespace is the Caddy module namespace of selection policies.
const PolicyNamespace = "http.ai_gateway.selection_policies"

// Policy picks the upstream of one attempt among candidates: the route's
// upstreams that are not cooled down (and, while any is left, have not
// failed this request). Implementations are Caddy modules in the
// http.ai_gateway.selection_policies namespace and must be safe for
// concurrent use.
type Policy interface {
	// Select returns one of candidates, which is never empty.
	Select(candidates []*Upstream) *Upstream
}

var weighted Policy = Weighted{}

// Weighted picks at random in proportion to the upstreams' weights. It is
// the default policy (lb_policy weighted).
type Weighted struct{}

// CaddyModule returns the Caddy module information.
func (Weighted) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: PolicyNamespace + ".weighted", New: func() caddy.Module { return new(Weighted) }}
}

// Select implements Policy.
func (Weighted) Select(cands []*Upstream) *Upstream { return pickWeighted(cands) }

func pickWeighted(cands []*Upstream) *Upstream {
	if len(cands) == 1 {
		return cands[0]
	}
	total := 0
	for _, u := range cands {
		total += u.Weight
	}
	n := rand.IntN(total)
	for _, u := range cands {
		if n < u.Weight {
			return u
		}
		n -= u.Weight
	}
	return cands[len(cands)-1]
}

// LeastBusy picks the upstream with the fewest calls in flight from this
// process (streams count until they end); ties are broken by weight
// (lb_policy least_busy).
type LeastBusy struct{}

// CaddyModule returns the Caddy module information.
func (LeastBusy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: PolicyNamespace + ".least_busy", New: func() caddy.Module { return new(LeastBusy) }}
}

// Select implements Policy.
func (LeastBusy) Select(cands []*Upstream) *Upstream {
	return pickMin(cands, func(u *Upstream) int64 { return u.InFlight() })
}

// LowestLatency picks the upstream with the lowest moving average time to
// first byte (each new sample weighs 1/8); upstreams not measured yet are
// tried first, and ties are broken by weight (lb_policy lowest_latency).
type LowestLatency struct{}

// CaddyModule returns the Caddy module information.
func (LowestLatency) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: PolicyNamespace + ".lowest_latency", New: func() caddy.Module { return new(LowestLatency) }}
}

// Select implements Policy.
func (LowestLatency) Select(cands []*Upstream) *Upstream {
	return pickMin(cands, func(u *Upstream) int64 { return int64(u.TTFB()) })
}

// pickMin returns the candidate with the smallest score, choosing by
// weight among those that tie.
func pickMin(cands []*Upstream, score func(*Upstream) int64) *Upstream {
	var buf [maxCandidates]*Upstream
	best := buf[:0]
	var min int64
	for _, u := range cands {
		s := score(u)
		switch {
		case len(best) == 0 || s < min:
			best, min = append(best[:0], u), s
		case s == min:
			best = append(best, u)
		}
	}
	return pickWeighted(best)
}

// UnmarshalCaddyfile reads `lb_policy weighted`: the policy takes no options.
func (*Weighted) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return noOptions(d) }

// UnmarshalCaddyfile reads `lb_policy least_busy`: the policy takes no options.
func (*LeastBusy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return noOptions(d) }

// UnmarshalCaddyfile reads `lb_policy lowest_latency`: the policy takes no options.
func (*LowestLatency) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return noOptions(d) }

func noOptions(d *caddyfile.Dispenser) error {
	d.Next() // the policy's name
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("lb_policy %s takes no options; found '%s'", name, d.Val())
	}
	return nil
}

// Interface guards
var (
	_ Policy                = Weighted{}
	_ Policy                = LeastBusy{}
	_ Policy                = LowestLatency{}
	_ caddyfile.Unmarshaler = (*Weighted)(nil)
	_ caddyfile.Unmarshaler = (*LeastBusy)(nil)
	_ caddyfile.Unmarshaler = (*LowestLatency)(nil)
)
