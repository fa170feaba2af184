package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"
	"go.uber.org/zap/zapcore"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/telemetry"
	"github.com/polygate/polygate/usage"
)

// Call is one gateway request as it flows through the pipeline: what the
// client asked, who asked, where it went and what it cost. It is handed to
// Gateway.Done at the end.
type Call struct {
	// Start is when the gateway began serving the request.
	Start time.Time
	// Endpoint is "chat/completions", "embeddings", "models", "moderations"
	// or the passed-through path.
	Endpoint string
	// Origin says who made an internal call on the caller's behalf, e.g.
	// `guardrail "moderation"`; empty for the client's own requests.
	Origin string
	// Model is the public model the client asked for.
	Model string
	// Provider and UpstreamModel say who served the last attempt.
	Provider      string
	UpstreamModel string
	// Stream reports a streamed request.
	Stream bool
	// Status is the HTTP status sent (499 when the client left first).
	Status int
	// Attempts counts upstream calls made.
	Attempts int
	// Fallback reports that a fallback model served the request.
	Fallback bool
	// Cache is the response cache's verdict: "HIT", "MISS", "BYPASS", or
	// "" when the cache was not consulted.
	Cache string
	// CallerID, KeyID and Plan identify who called (set when usage
	// accounting is on; never the key itself).
	CallerID string
	KeyID    string
	Plan     string
	// QuotaLimit names the plan limit that rejected the request, if any.
	QuotaLimit string
	// Guardrails are the verdicts of the guardrails that fired.
	Guardrails []guardrails.Verdict
	// Token counts, as the upstream reported them.
	// InputTokens counts every prompt token, CachedTokens (cache reads)
	// and CacheWriteTokens (of which CacheWrite1hTokens with a one-hour
	// lifetime) included; OutputTokens every completion token, reasoning
	// (ReasoningTokens) included.
	InputTokens        int64
	OutputTokens       int64
	CachedTokens       int64
	CacheWriteTokens   int64
	CacheWrite1hTokens int64
	ReasoningTokens    int64
	// Cost is in USD, from the serving model's price.
	Cost float64
	// Unpriced reports that tokens were used but the serving model has no
	// price (neither a price line nor a catalogue entry): Cost is 0.
	Unpriced bool
	// TTFT is the time to the first streamed event sent; Duration the whole.
	TTFT     time.Duration
	Duration time.Duration

	g  *Gateway
	ep *endpoint
	x  exchange
	w  http.ResponseWriter
	r  *http.Request // nil for internal calls
	// ctx is the request's context (for internal calls, the parent's).
	ctx context.Context

	body      []byte       // the request body, rewritten by input guardrails
	modelAt   gjson.Result // the model value in body; its Index is an offset
	maxTokens int64        // the most output the request allows; 0 if unsaid

	route    *routing.Route
	upstream *routing.Upstream // the upstream that answered
	lookup   cacheLookup

	price          providers.Price
	caller         *usage.Caller
	reservation    *usage.Reservation
	estimatedInput int64
	inputCounted   bool // estimatedInput is the tokenizer's count, not a bound
	trace          *telemetry.Request

	parent   *Call   // the call an internal call was made for
	internal []*Call // internal calls made for this one
}

// callKey finds the Call a context belongs to (for internal calls).
type callKey struct{}

func (g *Gateway) newCall(w http.ResponseWriter, r *http.Request, ep *endpoint) *Call {
	c := &Call{Start: time.Now(), Endpoint: ep.name, Status: http.StatusOK, g: g, ep: ep, w: w, r: r}
	c.x = ep.newExchange()
	if r != nil {
		c.ctx, c.trace = telemetry.StartRequest(r.Context(), ep.name, "", g.Trace)
		if repl, _ := c.ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); repl != nil {
			repl.Map(c.placeholder)
		}
	}
	return c
}

// context returns the call's context, carrying the call so that a model
// call a guardrail makes is accounted to this call's caller.
func (c *Call) context() context.Context { return context.WithValue(c.ctx, callKey{}, c) }

func callOf(ctx context.Context) *Call { c, _ := ctx.Value(callKey{}).(*Call); return c }

// bodyFor returns the request body for an attempt on up: c.body with the
// model set to up's.
func (c *Call) bodyFor(up *routing.Upstream) []byte {
	if up.Model == c.modelAt.Str || !c.modelAt.Exists() {
		return c.body
	}
	return openai.SetModel(c.body, c.modelAt, up.QuotedModel)
}

// placeholder resolves the gateway's placeholders from the call as it is
// when they are read (by other handlers, or the access log afterwards).
func (c *Call) placeholder(key string) (any, bool) {
	switch key {
	case PlaceholderModel:
		return c.Model, true
	case PlaceholderProvider:
		return c.Provider, true
	case PlaceholderUpstreamModel:
		return c.UpstreamModel, true
	}
	return nil, false
}

// readUsage takes token counts from an OpenAI usage object.
func (c *Call) readUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			c.InputTokens = v.Int()
		case "completion_tokens":
			c.OutputTokens = v.Int()
		case "prompt_tokens_details":
			c.CachedTokens = v.Get("cached_tokens").Int()
			c.CacheWriteTokens = v.Get("cache_write_tokens").Int()
			c.CacheWrite1hTokens = v.Get("cache_write_1h_tokens").Int()
		case "completion_tokens_details":
			c.ReasoningTokens = v.Get("reasoning_tokens").Int()
		}
		return true
	})
	c.setCost()
}

// setCost sets Cost from the token counts, each kind at its own rate.
func (c *Call) setCost() {
	c.Unpriced = c.price.IsZero() && c.InputTokens+c.OutputTokens > 0
	c.Cost = c.price.Cost(providers.Tokens{Input: c.InputTokens, Cached: c.CachedTokens,
		CacheWrite: c.CacheWriteTokens, CacheWrite1h: c.CacheWrite1hTokens, Output: c.OutputTokens})
}

// MarshalLogObject writes the call's access-log fields. Keys and prompts
// are never part of it.
func (c *Call) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("endpoint", c.Endpoint)
	if c.Origin != "" {
		enc.AddString("origin", c.Origin)
	}
	enc.AddString("model", c.Model)
	if c.Provider != "" {
		enc.AddString("provider", c.Provider)
		enc.AddString("upstream_model", c.UpstreamModel)
	}
	enc.AddBool("stream", c.Stream)
	enc.AddInt("attempts", c.Attempts)
	enc.AddInt64("input_tokens", c.InputTokens)
	enc.AddInt64("output_tokens", c.OutputTokens)
	if c.CachedTokens > 0 {
		enc.AddInt64("cached_tokens", c.CachedTokens)
	}
	if c.CacheWriteTokens > 0 {
		enc.AddInt64("cache_write_tokens", c.CacheWriteTokens)
		enc.AddInt64("cache_write_1h_tokens", c.CacheWrite1hTokens)
	}
	enc.AddFloat64("cost_usd", c.Cost)
	if c.Cache != "" {
		enc.AddString("cache", c.Cache)
	}
	if c.CallerID != "" {
		enc.AddString("caller_id", c.CallerID)
	}
	if c.Plan != "" {
		enc.AddString("plan", c.Plan)
	}
	if c.TTFT > 0 {
		enc.AddDuration("ttft", c.TTFT)
	}
	if c.parent != nil {
		enc.AddInt("status", c.Status)
		enc.AddDuration("duration", c.Duration)
	}
	if len(c.internal) > 0 {
		_ = enc.AddArray("internal_calls", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
			for _, ic := range c.internal {
				_ = ae.AppendObject(ic)
			}
			return nil
		}))
	}
	return nil
}
