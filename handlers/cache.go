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

// lookup consults the cache for a request. It returns the stored answer on
// a hit; lk says whether and where to store a fresh answer.
func (g *Gateway) lookup(w http.ResponseWriter, r *http.Request, c *Call, endpoint string, body []byte) (entry cache.Entry, hit bool, lk cacheLookup) {
	if g.Cache == nil {
		return entry, false, lk
	}
	noCache, noStore := cache.ParseCacheControl(r.Header)
	c.Cache = "BYPASS"
	defer func() { w.Header().Set(HeaderCache, c.Cache) }()
	if noStore {
		return entry, false, lk
	}
	key, ok := g.Cache.Key(endpoint, c.Model, c.CallerID, c.Plan, body)
	if !ok {
		return entry, false, lk
	}
	lk = cacheLookup{key: key, store: true}
	if noCache {
		return entry, false, lk
	}
	if entry, hit = g.Cache.Get(key); hit {
		c.Cache = "HIT"
		return entry, true, lk
	}
	c.Cache = "MISS"
	return entry, false, lk
}

// serveHit answers from a stored answer: as JSON, or replayed as a stream.
// Output guardrails run on it as on a fresh answer (the cache keeps what
// the provider said, so today's guardrails apply). It reports false when a
// stored answer cannot be replayed as a stream; the caller then goes
// upstream.
func (g *Gateway) serveHit(w http.ResponseWriter, r *http.Request, c *Call, body []byte, stream, wantUsage bool) bool {
	out := body
	if g.Guardrails.HasOutput() {
		var verdicts []guardrails.Verdict
		out, verdicts = g.Guardrails.CheckResponse(r.Context(), out)
		c.addVerdicts(w, verdicts)
	}
	// Set before the answer is written.
	c.Provider = "cache"
	setPlaceholders(r, requestInfo{model: c.Model, provider: c.Provider})
	if stream {
		events, err := cache.AppendReplay(nil, out, wantUsage)
		if err != nil {
			c.Cache, c.Provider = "BYPASS", ""
			w.Header().Set(HeaderCache, c.Cache)
			return false
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(events)
	} else {
		writeJSON(w, out)
	}
	c.readUsage(gjson.GetBytes(body, "usage"))
	c.Cost = 0
	return true
}

// store keeps a complete answer for later requests.
func (g *Gateway) store(lk cacheLookup, body []byte) {
	if g.Cache != nil && lk.store && len(body) > 0 {
		g.Cache.Set(lk.key, cache.Entry{Body: body})
	}
}
