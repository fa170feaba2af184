package handlers

import (
	"net/http"
	"time"

	"github.com/tidwall/gjson"
	"go.uber.org/zap/zapcore"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/usage"
)

// Call is the record of one gateway request, filled in as it flows and
// handed to Gateway.Done at the end.
type Call struct {
	// Start is when the gateway began serving the request.
	Start time.Time
	// Endpoint is "chat/completions", "embeddings", "models" or the
	// passed-through path.
	Endpoint string
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
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	// Cost is in USD, from the serving model's price.
	Cost float64
	// TTFT is the time to the first streamed event sent; Duration the whole.
	TTFT     time.Duration
	Duration time.Duration

	price          providers.Price
	caller         *usage.Caller
	reservation    *usage.Reservation
	estimatedInput int64
}

func newCall(endpoint string) *Call {
	return &Call{Start: time.Now(), Endpoint: endpoint, Status: http.StatusOK}
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
		}
		return true
	})
	c.Cost = c.price.Cost(c.InputTokens, c.OutputTokens)
}

// MarshalLogObject writes the call's access-log fields. Keys and prompts
// are never part of it.
func (c *Call) MarshalLogObject(enc zapcore.ObjectEncoder) error {
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
	return nil
}
