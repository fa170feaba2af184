package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/telemetry"
)

// HeaderGuardrails lists the guardrails that fired on a request. On a
// stream it covers the input only: the headers leave before the output.
const HeaderGuardrails = "X-Polygate-Guardrails"

// checkInput runs the input guardrails over the call's body; an error
// means the request was blocked.
func (g *Gateway) checkInput(c *Call) error {
	if !c.ep.guarded || c.Origin != "" || !g.Guardrails.HasInput() {
		return nil
	}
	var out []byte
	var verdicts []guardrails.Verdict
	var block *guardrails.Block
	gctx := c.guardrailContext()
	if l, ok := c.x.(locator); ok {
		texts, messages := l.locate(c)
		out, verdicts, block = g.Guardrails.CheckLocated(gctx, c.Endpoint, c.Model, c.body, messages, texts)
	} else {
		out, verdicts, block = g.Guardrails.CheckRequest(gctx, c.Endpoint, c.Model, c.body)
	}
	c.addVerdicts(verdicts)
	if block != nil {
		return &openai.Error{
			Status:  http.StatusBadRequest,
			Type:    openai.TypeInvalidRequest,
			Code:    "content_filter",
			Message: block.Message,
		}
	}
	if len(out) != len(c.body) || len(out) > 0 && &out[0] != &c.body[0] {
		c.body = out
		if c.modelAt.Exists() {
			c.modelAt = relocateModel(out)
		}
	}
	return nil
}

// guardrailContext is the context of the call's guardrail checks: with
// tracing on, it carries an observer that makes one span per guardrail.
func (c *Call) guardrailContext() context.Context {
	if c.trace == nil {
		return c.context()
	}
	return guardrails.WithObserver(c.context(), guardrailSpans{c.trace})
}

// guardrailSpans traces each guardrail of a check as its own span, with
// its verdict ("pass", or the action it took) and action.
type guardrailSpans struct{ r *telemetry.Request }

func (s guardrailSpans) GuardrailStart(ctx context.Context, name string, stage guardrails.Stage) (context.Context, func(string)) {
	gctx, span := s.r.Guardrail(ctx, name, stage.String())
	return gctx, func(verdict string) {
		action := verdict
		if verdict == "pass" {
			action = ""
		}
		span.End(verdict, action)
	}
}

// locator is implemented by exchanges whose request the guardrails do not
// parse themselves (Responses, Messages): it lists the texts of c.body,
// and how many messages the request has.
type locator interface {
	locate(c *Call) (texts []guardrails.Located, messages int)
}

// guardsOutput reports whether the call's answer goes through output
// guardrails.
func (g *Gateway) guardsOutput(c *Call) bool {
	return c.ep.guarded && c.Origin == "" && g.Guardrails.HasOutput()
}

// addVerdicts records verdicts and names every guardrail that fired so
// far in the X-Polygate-Guardrails response header.
func (c *Call) addVerdicts(verdicts []guardrails.Verdict) {
	c.noteVerdicts(HeaderGuardrails, verdicts)
}

// addStreamVerdicts is addVerdicts for a stream whose headers are already
// sent: the names go out in the X-Polygate-Guardrails trailer.
func (c *Call) addStreamVerdicts(verdicts []guardrails.Verdict) {
	c.noteVerdicts(http.TrailerPrefix+HeaderGuardrails, verdicts)
}

func (c *Call) noteVerdicts(field string, verdicts []guardrails.Verdict) {
	if len(verdicts) == 0 {
		return
	}
	c.Guardrails = append(c.Guardrails, verdicts...)
	var names []string
	seen := map[string]bool{}
	for _, v := range c.Guardrails {
		if !seen[v.Guardrail] {
			seen[v.Guardrail] = true
			names = append(names, v.Guardrail)
		}
	}
	c.w.Header().Set(field, strings.Join(names, ", "))
}

// ModelCaller lets the guardrail named guardrail call models configured
// on this gateway. Its calls go through the pipeline (routing, retries,
// fallbacks, quotas) without guardrails or cache, are accounted to the
// caller of the request being checked, with Origin `guardrail "<name>"`,
// and show in metrics and in that request's access-log entry under
// internal_calls.
func (g *Gateway) ModelCaller(guardrail string) guardrails.ModelCaller {
	return modelCaller{g: g, origin: fmt.Sprintf("guardrail %q", guardrail)}
}

type modelCaller struct {
	g      *Gateway
	origin string
}

// Chat implements guardrails.ModelCaller.
func (mc modelCaller) Chat(ctx context.Context, model string, body []byte) ([]byte, error) {
	return mc.call(ctx, chatEndpoint, model, openai.WithStreamOff(body))
}

// Moderate implements guardrails.ModelCaller: POST /moderations through a
// provider that passes requests through.
func (mc modelCaller) Moderate(ctx context.Context, model string, body []byte) ([]byte, error) {
	return mc.call(ctx, moderationsEndpoint, model, body)
}

func (mc modelCaller) call(ctx context.Context, ep *endpoint, model string, body []byte) ([]byte, error) {
	if mc.g.Resolve(model) == nil {
		return nil, fmt.Errorf("guardrail model %q is not configured", model)
	}
	w := &answerBuffer{header: make(http.Header)}
	c := mc.g.newCall(w, nil, ep)
	c.ctx, c.Origin, c.body = ctx, mc.origin, body
	if parent := callOf(ctx); parent != nil {
		c.parent = parent
		c.caller, c.CallerID, c.KeyID, c.Plan = parent.caller, parent.CallerID, parent.KeyID, parent.Plan
	}
	defer mc.g.finish(c)
	var err error
	if oe := c.x.parse(c); oe != nil {
		err = oe
	} else {
		c.Model = model
		err = mc.g.call(c)
	}
	if err != nil {
		mc.g.fail(c, err)
		return nil, err
	}
	if w.status != 0 && w.status != http.StatusOK {
		return nil, &providers.Error{Err: openai.ParseError(w.status, w.body.Bytes())}
	}
	return bytes.TrimSpace(w.body.Bytes()), nil
}

// moderationsEndpoint is POST /moderations as a guardrail calls it.
var moderationsEndpoint = &endpoint{
	name:        "moderations",
	newExchange: func() exchange { return moderationsExchange{} },
}

type moderationsExchange struct{ embeddingsExchange }

func (moderationsExchange) parse(c *Call) *openai.Error {
	if m := relocateModel(c.body); m.Exists() {
		c.modelAt = m
	}
	return nil
}

func (moderationsExchange) texts(c *Call) []string { return inputTexts(c.body) }

func (moderationsExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	fw, ok := up.Provider.(providers.Forwarder)
	if !ok {
		return nil, errors.New("provider " + up.ProviderName + " cannot serve moderations")
	}
	resp, err := fw.Forward(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: "moderations",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: c.bodyFor(up)})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, providers.MaxResponseBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &providers.Error{Err: openai.ParseError(resp.StatusCode, data)}
	}
	return &providers.Response{Body: data}, nil
}

// relocateModel finds the model value again after a body was rewritten.
func relocateModel(body []byte) gjson.Result {
	return gjson.GetBytes(body, "model")
}

// answerBuffer is the response writer of an internal call: it keeps the
// answer, bounded by providers.MaxResponseBody.
type answerBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *answerBuffer) Header() http.Header { return b.header }

func (b *answerBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *answerBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len()+len(p) > providers.MaxResponseBody {
		return 0, errors.New("internal answer too large")
	}
	return b.body.Write(p)
}
