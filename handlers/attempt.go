package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// sendFunc makes one upstream call with body (model already rewritten).
type sendFunc func(up *providers.Upstream, body []byte) (*providers.Response, error)

// attempt walks the route's attempt plan, calling send for each upstream
// until one answers; retryable failures retry or fall back, others end the
// plan. On success the call record names the upstream that answered.
func (g *Gateway) attempt(ctx context.Context, c *Call, route *providers.Route, body []byte, model gjson.Result, send sendFunc) (*providers.Response, error) {
	plan := route.Attempts()
	var lastErr error
	for {
		rt, up := plan.Next(ctx)
		if up == nil {
			break
		}
		c.Attempts = plan.Count()
		c.Provider, c.UpstreamModel, c.price = up.ProviderName, up.Model, rt.Price
		c.Fallback = rt != route
		upBody := body
		if up.Model != model.Str {
			upBody = openai.SetModel(body, model, up.QuotedModel)
		}
		resp, err := send(up, upBody)
		if err == nil {
			up.ReportSuccess()
			return resp, nil
		}
		lastErr = err
		if errors.Is(err, context.Canceled) || !plan.Failed(up, err) {
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

// fail answers a call whose attempts all failed.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, c *Call, err error) {
	setPlaceholders(r, requestInfo{model: c.Model, provider: c.Provider, upstreamModel: c.UpstreamModel})
	h := w.Header()
	if c.Provider != "" {
		h.Set(HeaderProvider, c.Provider) // the provider whose answer this is
	}
	h.Set(HeaderAttempts, strconv.Itoa(c.Attempts))
	c.Status = writeError(w, r, err)
}

// succeed sets what Caddy and the client learn about a successful call.
func (g *Gateway) succeed(w http.ResponseWriter, r *http.Request, c *Call, upstream http.Header) {
	setPlaceholders(r, requestInfo{model: c.Model, provider: c.Provider, upstreamModel: c.UpstreamModel})
	h := w.Header()
	for k, v := range upstream {
		h[k] = v
	}
	h.Set(HeaderProvider, c.Provider)
	h.Set(HeaderAttempts, strconv.Itoa(c.Attempts))
}
