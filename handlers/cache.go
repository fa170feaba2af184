package handlers

import (
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/guardrails"
)

// HeaderCache says what the response cache did: HIT, MISS or BYPASS.
const HeaderCache = "X-Polygate-Cache"

// cacheLookup is a request's dealings with the response cache.
type cacheLookup struct {
	key   cache.Key
	store bool // a complete answer may be stored under key
}

// lookup consults the cache for a call and returns the stored answer on a
// hit; c.lookup says whether and where to store a fresh answer.
func (g *Gateway) lookup(c *Call) (entry cache.Entry, hit bool) {
	if g.Cache == nil || !c.ep.cacheable || c.Origin != "" {
		return entry, false
	}
	noCache, noStore := cache.ParseCacheControl(c.r.Header)
	c.Cache = "BYPASS"
	span := c.trace.CacheLookup(c.ctx)
	defer func() {
		c.w.Header().Set(HeaderCache, c.Cache)
		span.End(hit)
	}()
	if noStore {
		return entry, false
	}
	key, ok := g.Cache.Key(c.Endpoint, c.Model, c.CallerID, c.Plan, c.body)
	if !ok {
		return entry, false
	}
	c.lookup = cacheLookup{key: key, store: true}
	if noCache {
		return entry, false
	}
	if entry, hit = g.Cache.Get(key); hit {
		c.Cache = "HIT"
		return entry, true
	}
	c.Cache = "MISS"
	return entry, false
}

// serveHit answers a chat request from a stored answer: as JSON, or
// replayed as a stream. Output guardrails run on it as on a fresh answer
// (the cache keeps what the provider said, so today's guardrails apply).
// It reports false when a stored answer cannot be replayed as a stream;
// the call then goes upstream.
func (g *Gateway) serveHit(c *Call, body []byte, wantUsage bool) bool {
	out := body
	if g.guardsOutput(c) {
		var verdicts []guardrails.Verdict
		out, verdicts = g.Guardrails.CheckResponse(c.guardrailContext(), out)
		c.addVerdicts(verdicts)
	}
	var events []byte
	if c.Stream {
		var err error
		if events, err = cache.AppendReplay(nil, out, wantUsage); err != nil {
			c.Cache = "BYPASS"
			c.w.Header().Set(HeaderCache, c.Cache)
			return false
		}
	}
	c.answeredFromCache(body)
	if c.Stream {
		h := c.w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(events)
	} else {
		writeJSON(c.w, out)
	}
	return true
}

// answeredFromCache records a cache hit (set before the answer is written):
// the stored usage, at no cost.
func (c *Call) answeredFromCache(body []byte) {
	c.Provider = "cache"
	c.readUsage(gjson.GetBytes(body, "usage"))
	c.Cost, c.Unpriced = 0, false
}

// store keeps a complete answer for later requests.
func (g *Gateway) store(c *Call, body []byte) {
	if g.Cache != nil && c.lookup.store && len(body) > 0 {
		g.Cache.Set(c.lookup.key, cache.Entry{Body: body})
	}
}
