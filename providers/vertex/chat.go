package vertex

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/anthropic"
	"github.com/polygate/polygate/providers/gemini"
)

// geminiChat sends a chat completion to a Gemini model: the body the
// gemini provider type would send, to generateContent or (streamed)
// streamGenerateContent?alt=sse.
func (p *Vertex) geminiChat(ctx context.Context, req *providers.Request, in *openai.ChatCompletionRequest) (*providers.Response, error) {
	body, err := p.gemini.RequestBody(in, req.Model)
	if err != nil {
		return nil, err
	}
	target := p.modelURL("google", req.Model, "generateContent")
	if req.Stream {
		target = p.modelURL("google", req.Model, "streamGenerateContent") + "?alt=sse"
	}
	resp, err := p.post(ctx, target, body, req.Header)
	if err != nil {
		return nil, err
	}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		return &providers.Response{Stream: gemini.NewStream(ctx, resp.Body, &p.client, req.Model)}, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	out, err := gemini.TranslateResponse(b, req.Model, time.Now().Unix())
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	return &providers.Response{Body: out}, nil
}

// claudeChat sends a chat completion to a Claude model: the Messages body
// the anthropic provider type would send, with anthropic_version
// vertex-2023-10-16 and without model (Vertex AI takes it from the URL),
// to rawPredict or (streamed) streamRawPredict.
func (p *Vertex) claudeChat(ctx context.Context, req *providers.Request, in *openai.ChatCompletionRequest) (*providers.Response, error) {
	body, err := p.claude.RequestBody(in, req.Model, req.Stream, AnthropicVersion)
	if err != nil {
		return nil, err
	}
	method := "rawPredict"
	if req.Stream {
		method = "streamRawPredict"
	}
	resp, err := p.post(ctx, p.modelURL("anthropic", req.Model, method), body, req.Header)
	if err != nil {
		return nil, err
	}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		return &providers.Response{Stream: anthropic.NewStream(ctx, resp.Body, &p.client, req.Model)}, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	out, err := anthropic.TranslateResponse(b, req.Model, time.Now().Unix())
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	return &providers.Response{Body: out}, nil
}

// post sends body to target with an access token. extra (client headers
// worth forwarding) are added where the provider's headers set none. An
// upstream error is read as Google's error shape first: its status (such
// as RESOURCE_EXHAUSTED) decides the HTTP status and its RetryInfo stands
// in for a missing Retry-After.
func (p *Vertex) post(ctx context.Context, target string, body []byte, extra http.Header) (*http.Response, error) {
	return p.send(ctx, target, body, extra, nil)
}

// rawError is an error answer as Vertex AI sent it: its status and body
// (at most what the client reads of an error body).
type rawError struct {
	status int
	body   []byte
}

// send is post that, when answered is not nil, also keeps there the error
// answer Vertex AI sent, if it sent one.
func (p *Vertex) send(ctx context.Context, target string, body []byte, extra http.Header, answered *rawError) (*http.Response, error) {
	token, err := p.token(ctx)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	h := make(http.Header, len(p.header)+1+len(extra))
	for k, v := range p.header {
		h[k] = v
	}
	h["Authorization"] = []string{"Bearer " + token}
	for k, v := range extra {
		if h.Get(k) == "" {
			h[k] = v
		}
	}
	hr.Header = h

	var info errorInfo
	c := p.client
	c.ParseError = func(status int, b []byte) *openai.Error {
		if answered != nil {
			answered.status, answered.body = status, append([]byte(nil), b...)
		}
		var oe *openai.Error
		oe, info = parseError(status, b)
		return oe
	}
	resp, err := c.Do(ctx, hr)
	if err != nil {
		var pe *providers.Error
		if errors.As(err, &pe) {
			info.apply(pe)
		}
		return nil, err
	}
	return resp, nil
}
