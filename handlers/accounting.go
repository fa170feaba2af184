package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/usage"
	"github.com/polygate/polygate/usage/tokens"
)

// Accounting is how the gateway identifies callers, enforces their plans
// and records usage.
type Accounting struct {
	// Service keeps keys, plans, counters and records.
	Service *usage.Service
	// Identity and Plan are placeholders resolved per request in identity
	// mode (e.g. {http.auth.user.id}); Plan may also be a plain name.
	Identity string
	Plan     string
	// DefaultPlan is the plan of callers that carry none.
	DefaultPlan string
}

// invalidKey is the one answer to every missing, malformed, unknown,
// revoked or expired key.
var invalidKey = &openai.Error{
	Status:  http.StatusUnauthorized,
	Type:    openai.TypeInvalidRequest,
	Code:    "invalid_api_key",
	Message: "Incorrect API key provided. You can find your API key with the gateway's operator.",
}

// identify works out who is calling; an error refuses the request.
func (g *Gateway) identify(c *Call) error {
	a := g.Accounting
	if a == nil {
		return nil
	}
	r := c.r
	var caller usage.Caller
	var err error
	switch a.Service.AuthMode() {
	case usage.AuthKeys:
		caller, err = a.Service.Authenticate(r.Header.Get("Authorization"))
	case usage.AuthIdentity:
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		id, plan := a.Identity, a.Plan
		if repl != nil {
			id, plan = repl.ReplaceAll(id, ""), repl.ReplaceAll(plan, "")
		}
		caller, err = a.Service.Identify(id, plan)
	default:
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		if ip == "" {
			ip = r.RemoteAddr
		}
		caller = a.Service.Anonymous(ip)
	}
	if err != nil {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="ai_gateway"`)
		return invalidKey
	}
	c.caller = &caller
	c.CallerID, c.KeyID = caller.ID, caller.KeyID
	c.Plan = caller.Plan
	if c.Plan == "" {
		c.Plan = a.DefaultPlan
	}
	return nil
}

// reserve checks the caller's plan and reserves the request's estimated
// tokens and cost; an error (403 or 429) refuses the request. The prompt's
// texts are weighed only when a limit needs them, and tokenized only when
// their bound does not fit: a byte-level tokenizer never makes more tokens
// than the text has bytes, so a request admitted with its byte count as
// the input estimate would be admitted with its exact token count too, and
// tokenizing (the gateway's largest cost with token limits and unique
// prompts) is left to the requests that come near a limit.
func (g *Gateway) reserve(c *Call) error {
	a := g.Accounting
	if a == nil || c.caller == nil {
		return nil
	}
	if lerr := a.Service.Allowed(*c.caller, c.Model); lerr != nil {
		return refuse(c, lerr)
	}
	est := usage.Estimate{MaxOutputTokens: c.maxTokens, InputPricePerM: c.price.Input, OutputPricePerM: c.price.Output,
		CachedInputPricePerM: c.price.Cached, CacheWritePricePerM: c.price.CacheWrite, CacheWrite1hPricePerM: c.price.CacheWrite1h}
	var texts []string
	if g.countsTokens(c) {
		texts = c.x.texts(c)
		est.InputTokens = tokenBound(texts)
	}
	res, lerr := a.Service.Reserve(*c.caller, c.Model, est)
	if lerr != nil && texts != nil && !strings.HasPrefix(lerr.Limit, "requests_") {
		// The bound does not fit: count exactly.
		est.InputTokens = int64(tokens.Messages(c.Model, texts...))
		c.inputCounted = true
		res, lerr = a.Service.Reserve(*c.caller, c.Model, est)
	}
	if lerr != nil {
		return refuse(c, lerr)
	}
	c.reservation = res
	c.estimatedInput = est.InputTokens
	limits := res.RateLimits()
	limits.SetHeaders(c.w.Header())
	return nil
}

// countsTokens reports whether the caller's plan limits tokens or money,
// so the prompt must be counted before the call.
func (g *Gateway) countsTokens(c *Call) bool {
	if c.caller.BudgetUSD > 0 {
		return true
	}
	p := g.Accounting.Service.Plan(c.Plan)
	return p != nil && (p.TokensPerMinute > 0 || p.TokensPerDay > 0 || p.BudgetPerDay > 0 || p.BudgetPerMonth > 0)
}

// refuse turns a plan's refusal into the client's error, with its
// rate-limit headers.
func refuse(c *Call, lerr *usage.LimitError) error {
	c.QuotaLimit = lerr.Limit
	h := c.w.Header()
	lerr.RateLimits.SetHeaders(h)
	if lerr.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(max(lerr.RetryAfter, 1)))
	}
	typ := lerr.Type
	if typ == "" {
		typ = openai.TypeRateLimit
	}
	return &openai.Error{Status: lerr.StatusCode, Type: typ, Code: lerr.Code, Message: lerr.Message}
}

// settle hands the finished call to accounting.
func (g *Gateway) settle(c *Call) {
	a := g.Accounting
	if a == nil || c.caller == nil {
		return
	}
	rec := usage.Record{
		Time:               c.Start,
		Endpoint:           c.Endpoint,
		Origin:             c.Origin,
		Model:              c.Model,
		Provider:           c.Provider,
		UpstreamModel:      c.UpstreamModel,
		InputTokens:        c.InputTokens,
		OutputTokens:       c.OutputTokens,
		CachedTokens:       c.CachedTokens,
		CacheWriteTokens:   c.CacheWriteTokens,
		CacheWrite1hTokens: c.CacheWrite1hTokens,
		ReasoningTokens:    c.ReasoningTokens,
		CostUSD:            c.Cost,
		LatencyMS:          c.Duration.Milliseconds(),
		TTFTMS:             c.TTFT.Milliseconds(),
		Status:             c.Status,
		CacheHit:           c.Cache == "HIT",
		Attempts:           c.Attempts,
		Streamed:           c.Stream,
	}
	if len(c.Guardrails) > 0 {
		if b, err := json.Marshal(verdictsJSON(c)); err == nil {
			rec.Guardrails = string(b)
		}
	}
	if c.reservation != nil {
		c.reservation.Settle(rec)
		return
	}
	a.Service.Record(*c.caller, rec)
}

type verdictJSON struct {
	Guardrail string `json:"guardrail"`
	Action    string `json:"action"`
	Category  string `json:"category"`
	Stage     string `json:"stage"`
	Location  string `json:"location,omitempty"`
}

func verdictsJSON(c *Call) []verdictJSON {
	out := make([]verdictJSON, len(c.Guardrails))
	for i, v := range c.Guardrails {
		out[i] = verdictJSON{v.Guardrail, v.Action, v.Category, v.Stage.String(), v.Location}
	}
	return out
}

// tokenBound is at least the token count tokens.Messages gives texts:
// their bytes plus the per-message overhead.
func tokenBound(texts []string) int64 {
	n := int64(3)
	for _, t := range texts {
		n += 3 + int64(len(t))
	}
	return n
}

// estimateCutStream fills in the usage of a stream that ended without its
// usage chunk: the prompt as estimated, the output counted with the
// tokenizer from the text that was sent.
func (c *Call) estimateCutStream(output []byte) {
	if c.InputTokens > 0 || c.OutputTokens > 0 {
		return
	}
	c.InputTokens = c.estimatedInput
	if !c.inputCounted && c.estimatedInput > 0 {
		// The reservation held a bound; the cut stream is charged its count.
		c.InputTokens = int64(tokens.Messages(c.Model, c.x.texts(c)...))
	}
	if len(output) > 0 {
		c.OutputTokens = int64(tokens.Count(c.Model, string(output)))
	}
	c.setCost()
}

// messageTexts returns the texts of a chat request's messages (string
// contents, text parts, tool call arguments) and its tools' definitions,
// in one pass over the body.
func messageTexts(body []byte) []string {
	texts := make([]string, 0, 4)
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "messages":
			v.ForEach(func(_, m gjson.Result) bool {
				m.ForEach(func(k, field gjson.Result) bool {
					switch k.Str {
					case "content":
						texts = appendContentTexts(texts, field)
					case "tool_calls":
						field.ForEach(func(_, tc gjson.Result) bool {
							texts = append(texts, tc.Get("function.arguments").Str)
							return true
						})
					}
					return true
				})
				return true
			})
		case "tools":
			texts = append(texts, v.Raw)
		}
		return true
	})
	return texts
}

// appendContentTexts appends a message content's texts: the content
// itself when it is a string, the text of each part when it is an array.
func appendContentTexts(texts []string, content gjson.Result) []string {
	switch {
	case content.Type == gjson.String:
		texts = append(texts, content.Str)
	case content.IsArray():
		content.ForEach(func(_, part gjson.Result) bool {
			if t := part.Get("text"); t.Type == gjson.String {
				texts = append(texts, t.Str)
			}
			return true
		})
	}
	return texts
}

// inputTexts returns the texts of an embeddings request's input.
func inputTexts(body []byte) []string {
	in := gjson.GetBytes(body, "input")
	if in.Type == gjson.String {
		return []string{in.Str}
	}
	var texts []string
	in.ForEach(func(_, v gjson.Result) bool {
		if v.Type == gjson.String {
			texts = append(texts, v.Str)
		}
		return true
	})
	return texts
}
