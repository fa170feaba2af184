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
)

// HeaderGuardrails lists the guardrails that fired on a request. On a
// stream it covers the input only: the headers leave before the output.
const HeaderGuardrails = "X-Polygate-Guardrails"

// checkInput runs the input guardrails over a request body. It returns the
// body to forward and false when the request was blocked (the client has
// its answer then).
func (g *Gateway) checkInput(w http.ResponseWriter, r *http.Request, c *Call, endpoint string, body []byte) ([]byte, bool) {
	if !g.Guardrails.HasInput() {
		return body, true
	}
	out, verdicts, block := g.Guardrails.CheckRequest(r.Context(), endpoint, c.Model, body)
	c.addVerdicts(w, verdicts)
	if block != nil {
		c.Status = writeError(w, r, &openai.Error{
			Status:  http.StatusBadRequest,
			Type:    openai.TypeInvalidRequest,
			Code:    "content_filter",
			Message: block.Message,
		})
		return nil, false
	}
	return out, true
}

// addVerdicts records verdicts and, when w is set, names every guardrail
// that fired so far in the X-Polygate-Guardrails response header.
func (c *Call) addVerdicts(w http.ResponseWriter, verdicts []guardrails.Verdict) {
	c.noteVerdicts(w, HeaderGuardrails, verdicts)
}

// addStreamVerdicts is addVerdicts for a stream whose headers are already
// sent: the names go out in the X-Polygate-Guardrails trailer.
func (c *Call) addStreamVerdicts(w http.ResponseWriter, verdicts []guardrails.Verdict) {
	c.noteVerdicts(w, http.TrailerPrefix+HeaderGuardrails, verdicts)
}

func (c *Call) noteVerdicts(w http.ResponseWriter, field string, verdicts []guardrails.Verdict) {
	if len(verdicts) == 0 {
		return
	}
	c.Guardrails = append(c.Guardrails, verdicts...)
	if w == nil {
		return
	}
	var names []string
	seen := map[string]bool{}
	for _, v := range c.Guardrails {
		if !seen[v.Guardrail] {
			seen[v.Guardrail] = true
			names = append(names, v.Guardrail)
		}
	}
	w.Header().Set(field, strings.Join(names, ", "))
}

// relocateModel finds the model value again after a body was rewritten.
func relocateModel(body []byte) gjson.Result {
	return gjson.GetBytes(body, "model")
}

// ModelCaller lets guardrails call models configured on this gateway.
func (g *Gateway) ModelCaller() guardrails.ModelCaller { return modelCaller{g} }

type modelCaller struct{ g *Gateway }

// Chat implements guardrails.ModelCaller with the model's routing
// (retries and fallbacks included).
func (mc modelCaller) Chat(ctx context.Context, model string, body []byte) ([]byte, error) {
	route := mc.g.Resolve(model)
	if route == nil {
		return nil, fmt.Errorf("guardrail model %q is not configured", model)
	}
	body = openai.WithStreamOff(body)
	c := newCall("chat/completions")
	c.Model = model
	resp, err := mc.g.attempt(ctx, c, route, body, relocateModel(body), func(up *providers.Upstream, b []byte) (*providers.Response, error) {
		return up.Provider.ChatCompletions(ctx, &providers.Request{Body: b, Model: up.Model})
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Moderate implements guardrails.ModelCaller: POST /moderations through a
// provider that passes requests through.
func (mc modelCaller) Moderate(ctx context.Context, model string, body []byte) ([]byte, error) {
	route := mc.g.Resolve(model)
	if route == nil {
		return nil, fmt.Errorf("guardrail model %q is not configured", model)
	}
	c := newCall("moderations")
	c.Model = model
	var answer []byte
	_, err := mc.g.attempt(ctx, c, route, body, relocateModel(body), func(up *providers.Upstream, b []byte) (*providers.Response, error) {
		fw, ok := up.Provider.(providers.Forwarder)
		if !ok {
			return nil, errors.New("provider " + up.ProviderName + " cannot serve moderations")
		}
		resp, err := fw.Forward(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: "moderations",
			Header: http.Header{"Content-Type": {"application/json"}}, Body: b})
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
		answer = bytes.TrimSpace(data)
		return &providers.Response{}, nil
	})
	return answer, err
}
