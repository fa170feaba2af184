package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/telemetry"
)

// An endpoint is a small description of one API endpoint; the pipeline
// does the rest. Every request to it becomes a Call that flows one way:
// method → caller → body (bounded, valid UTF-8) → parse → model → input
// guardrails → plan and quota → cache → upstream attempts (retries and
// fallbacks) → answer, with one exit that writes any error in the
// endpoint's shape and one finish that accounts the call.
type endpoint struct {
	// name is the call's Endpoint, and what guardrails and the cache call
	// the endpoint (e.g. "chat/completions").
	name string
	// cacheable lets the response cache answer the endpoint.
	cacheable bool
	// guarded runs the input and output guardrails on it.
	guarded bool
	// newExchange returns the endpoint's handling of one request.
	newExchange func() exchange
	// writeError writes an error in the endpoint's shape; nil means
	// OpenAI's {"error":{…}}.
	writeError func(w http.ResponseWriter, oe *openai.Error)
}

// exchange is what an endpoint does with one request; the pipeline calls
// its methods in this order.
type exchange interface {
	// parse reads c.body: it sets c.Model (and c.modelAt, c.Stream,
	// c.maxTokens when the endpoint has them) or refuses the request.
	parse(c *Call) *openai.Error
	// texts returns the prompt's texts in c.body, for token counting.
	texts(c *Call) []string
	// send makes one upstream call for the attempt on up, building the
	// upstream body itself (the model rewritten to up's). A streamed
	// answer must have produced its first event before send returns, so
	// that a failure can still be retried or fall back.
	send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error)
	// reply writes the upstream's answer to the client and reads its usage.
	reply(c *Call, resp *providers.Response)
	// replay answers from a cached entry; false means the entry cannot
	// answer this request and the call goes upstream.
	replay(c *Call, entry cache.Entry) bool
}

// serve runs one request to ep through the pipeline.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, ep *endpoint) {
	c := g.newCall(w, r, ep)
	defer g.finish(c)
	if err := g.run(c); err != nil {
		g.fail(c, err)
	}
}

// run takes a client's request as far as it goes; an error is the answer.
func (g *Gateway) run(c *Call) error {
	if c.r.Method != http.MethodPost {
		return methodNotAllowed(c, http.MethodPost)
	}
	if err := g.identify(c); err != nil {
		return err
	}
	body, oe := g.readBody(c.r)
	if oe != nil {
		return oe
	}
	if !utf8.Valid(body) {
		return invalidUTF8
	}
	c.body = body
	if oe := c.x.parse(c); oe != nil {
		return oe
	}
	return g.call(c)
}

var invalidUTF8 = openai.InvalidRequest("", "the request body is not valid UTF-8")

// call serves a parsed request: the steps from the model on (c.route may
// be set already). Internal calls (a guardrail's model) start here too.
func (g *Gateway) call(c *Call) error {
	c.trace.SetRequestModel(c.Model)
	if c.route == nil {
		if c.route = g.Resolve(c.Model); c.route == nil {
			return modelNotFound(c.Model)
		}
	}
	if err := g.checkInput(c); err != nil {
		return err
	}
	c.price = c.route.EstimatePrice()
	if err := g.reserve(c); err != nil {
		return err
	}
	if entry, hit := g.lookup(c); hit && c.x.replay(c, entry) {
		return nil
	}
	resp, err := g.attempt(c)
	if err != nil {
		return err
	}
	g.succeed(c, resp.Header)
	c.x.reply(c, resp)
	return nil
}

// attempt walks the route's attempt plan, sending the exchange to each
// upstream until one answers; retryable failures retry or fall back,
// others end the plan. On success the call record names the upstream
// that answered, which stays busy with the call until it finishes.
func (g *Gateway) attempt(c *Call) (*providers.Response, error) {
	ctx := c.ctx
	plan := c.route.Attempts()
	var lastErr error
	for {
		rt, up := plan.Next(ctx)
		if up == nil {
			break
		}
		c.Attempts = plan.Count()
		c.Provider, c.UpstreamModel, c.price = up.ProviderName, up.Model, rt.PriceOf(up)
		c.Fallback = rt != c.route
		actx, span := c.trace.Attempt(ctx, up.ProviderName, up.Model, c.Attempts)
		resp, err := c.x.send(actx, c, up)
		if err == nil {
			plan.Succeeded(up)
			span.End(http.StatusOK, nil, "", false)
			c.upstream = up
			return resp, nil
		}
		lastErr = err
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			plan.Abandoned(up)
			span.End(0, err, "", false)
			break
		}
		again := plan.Failed(up, err)
		reason := ""
		if again {
			reason = "retryable " + strconv.Itoa(errorStatus(err))
		}
		span.End(errorStatus(err), err, reason, up.CooledDown(time.Now()))
		if !again {
			break
		}
		g.debug("upstream call failed; trying again", zap.Error(err), zap.String("provider", up.ProviderName), zap.Int("attempt", c.Attempts))
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	if lastErr == nil {
		lastErr = &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
			Message: "no upstream could be tried for model " + strconv.Quote(c.Model)}
	}
	return nil, lastErr
}

// errorStatus is the HTTP status an upstream failure stands for (0 when
// none came: a connection error).
func errorStatus(err error) int {
	var pe *providers.Error
	var oe *openai.Error
	switch {
	case errors.As(err, &pe):
		return pe.Err.Status
	case errors.As(err, &oe):
		return oe.Status
	}
	return 0
}

// succeed sets what Caddy and the client learn about a successful call.
func (g *Gateway) succeed(c *Call, upstream http.Header) {
	h := c.w.Header()
	for k, v := range upstream {
		h[k] = v
	}
	h.Set(HeaderProvider, c.Provider)
	h.Set(HeaderAttempts, strconv.Itoa(c.Attempts))
}

// fail is the pipeline's one exit for errors: it answers err in the
// endpoint's shape (unless the client has gone away) and records the
// status.
func (g *Gateway) fail(c *Call, err error) {
	h := c.w.Header()
	if c.Attempts > 0 {
		if c.Provider != "" {
			h.Set(HeaderProvider, c.Provider) // the provider whose answer this is
		}
		h.Set(HeaderAttempts, strconv.Itoa(c.Attempts))
	}
	if errors.Is(err, context.Canceled) || c.ctx.Err() != nil {
		c.Status = 499
		return
	}
	var pe *providers.Error
	var oe *openai.Error
	switch {
	case errors.As(err, &pe):
		oe = pe.Err
		if pe.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int((pe.RetryAfter+time.Second-1)/time.Second)))
		}
	case errors.As(err, &oe):
	default:
		oe = &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: err.Error()}
	}
	c.Status = oe.Status
	if c.Status == 0 {
		c.Status = http.StatusInternalServerError
	}
	if c.ep.writeError != nil {
		c.ep.writeError(c.w, oe)
		return
	}
	oe.Write(c.w)
}

// finish completes the call record and hands it on, exactly once per call.
func (g *Gateway) finish(c *Call) {
	c.Duration = time.Since(c.Start)
	if c.trace != nil {
		errType := ""
		if c.Status >= 400 {
			errType = telemetry.ErrorType(c.Status, nil)
		}
		c.trace.End(telemetry.Result{ResponseModel: c.UpstreamModel, Provider: c.Provider, CallerID: c.CallerID,
			InputTokens: c.InputTokens, OutputTokens: c.OutputTokens, CachedTokens: c.CachedTokens, CacheWriteTokens: c.CacheWriteTokens,
			CostUSD: c.Cost, Status: c.Status, ErrorType: errType})
	}
	if c.upstream != nil {
		c.upstream.Done()
	}
	g.settle(c)
	if c.parent != nil {
		c.parent.internal = append(c.parent.internal, c)
	} else if c.r != nil {
		logFields(c.r, c)
	}
	if g.Done != nil {
		g.Done(c.r, c)
	}
}

func methodNotAllowed(c *Call, allow string) *openai.Error {
	c.w.Header().Set("Allow", allow)
	return &openai.Error{
		Status:  http.StatusMethodNotAllowed,
		Type:    openai.TypeInvalidRequest,
		Code:    "method_not_allowed",
		Message: "method " + c.r.Method + " is not allowed on " + c.r.URL.Path + "; use " + allow,
	}
}
