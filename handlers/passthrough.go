package handlers

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// passthroughEndpoint is every other OpenAI path, forwarded unchanged
// but for the model.
var passthroughEndpoint = &endpoint{name: "", newExchange: func() exchange { return new(passthroughExchange) }}

// ServePassthrough forwards any other OpenAI API request (responses,
// completions, moderations, images, audio, files, realtime…) unchanged to
// the provider of the request's model, or to the default provider when the
// request names none. path is relative to the base path, e.g. "responses".
// A JSON body's model, a multipart form's model field, or the model query
// parameter (GET /realtime?model=…) is rewritten to the upstream model.
// WebSocket upgrades are relayed both ways.
func (g *Gateway) ServePassthrough(w http.ResponseWriter, r *http.Request, path string) {
	c := g.newCall(w, r, passthroughEndpoint)
	c.Endpoint = path
	c.trace.SetEndpoint(path)
	defer g.finish(c)
	if err := g.runPassthrough(c); err != nil {
		g.fail(c, err)
	}
}

func (g *Gateway) runPassthrough(c *Call) error {
	if err := g.identify(c); err != nil {
		return err
	}
	r := c.r
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body, oe := g.readBody(r)
		if oe != nil {
			return oe
		}
		c.body = body
	}
	if oe := c.x.parse(c); oe != nil {
		return oe
	}
	if err := g.checkMetered(c); err != nil {
		return err
	}
	if c.Model == "" {
		if g.defaultRoute == nil {
			return &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Param: "model",
				Message: "cannot route " + r.Method + " " + r.URL.Path + ": the request names no model and the gateway has no default_provider"}
		}
		c.route = g.defaultRoute
	}
	return g.call(c)
}

// passthroughExchange forwards one request as it came.
type passthroughExchange struct {
	rewrite  func(upstream string) []byte // the body for another model; nil keeps it
	query    bool                         // the model is in the query string
	header   http.Header                  // the client's headers, credentials and hop-by-hop dropped
	upstream *http.Response
}

func (x *passthroughExchange) parse(c *Call) *openai.Error {
	r := c.r
	model, rewrite, oe := passthroughModel(r.Header.Get("Content-Type"), c.body)
	if oe != nil {
		return oe
	}
	if model == "" && len(c.body) == 0 {
		if model = r.URL.Query().Get("model"); model != "" {
			x.query = true
		}
	}
	c.Model, x.rewrite = strings.Clone(model), rewrite // records outlive the body
	if meterFor(c.Endpoint) == meterTokens && gjson.ValidBytes(c.body) {
		c.maxTokens = gjson.GetBytes(c.body, "max_tokens").Int()
	}
	x.header = forwardHeader(r.Header, isUpgrade(r.Header))
	return nil
}

func (x *passthroughExchange) texts(c *Call) []string {
	if meterFor(c.Endpoint) != meterTokens {
		return nil
	}
	var texts []string
	p := gjson.GetBytes(c.body, "prompt")
	if p.Type == gjson.String {
		return []string{p.Str}
	}
	p.ForEach(func(_, v gjson.Result) bool {
		if v.Type == gjson.String {
			texts = append(texts, v.Str)
		}
		return true
	})
	return texts
}

func (x *passthroughExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	fw, ok := up.Provider.(providers.Forwarder)
	if !ok {
		return nil, &openai.Error{Status: http.StatusNotImplemented, Type: openai.TypeInvalidRequest,
			Message: "provider " + up.ProviderName + " cannot serve " + c.r.URL.Path + ": it does not pass requests through"}
	}
	body, rawQuery := c.body, c.r.URL.RawQuery
	if up.Model != "" && up.Model != c.Model {
		switch {
		case x.rewrite != nil:
			body = x.rewrite(up.Model)
		case x.query:
			q := c.r.URL.Query()
			q.Set("model", up.Model)
			rawQuery = q.Encode()
		}
	}
	resp, err := fw.Forward(ctx, &providers.ForwardRequest{
		Method: c.r.Method, Path: c.Endpoint, RawQuery: rawQuery, Header: x.header, Body: body,
	})
	if err != nil {
		return nil, err
	}
	if providers.RetryableStatus(resp.StatusCode) {
		// Retryable: read the error so the plan can decide.
		return nil, upstreamError(resp, c)
	}
	x.upstream = resp
	return &providers.Response{}, nil
}

func (x *passthroughExchange) reply(c *Call, _ *providers.Response) {
	upstream := x.upstream
	defer upstream.Body.Close()
	h := c.w.Header()
	for k, v := range upstream.Header {
		h[k] = v
	}
	dropHopByHop(h, upstream.StatusCode == http.StatusSwitchingProtocols)
	h.Del("Set-Cookie")
	c.Status = upstream.StatusCode
	if upstream.StatusCode == http.StatusSwitchingProtocols {
		relayUpgrade(c, upstream)
		return
	}
	if m := meterFor(c.Endpoint); m != meterNone {
		x.meteredReply(c, upstream, m)
		return
	}
	c.w.WriteHeader(upstream.StatusCode)
	copyFlushing(c.w, upstream.Body)
}

func (x *passthroughExchange) replay(*Call, cache.Entry) bool { return false }

// copyFlushing copies an upstream body to the client, flushing whenever the
// upstream has nothing more ready, so streamed answers are never held back.
func copyFlushing(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 4096)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if err == nil {
				if ferr := rc.Flush(); ferr != nil {
					return
				}
			}
		}
		if err != nil {
			_ = rc.Flush()
			return
		}
	}
}

// passthroughModel finds the model a pass-through request names, and
// returns a function that rewrites the body for another model name. A JSON
// body must be valid UTF-8.
func passthroughModel(contentType string, body []byte) (string, func(string) []byte, *openai.Error) {
	if len(body) == 0 {
		return "", nil, nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || mt == "" && gjson.ValidBytes(body):
		if !utf8.Valid(body) {
			return "", nil, invalidUTF8
		}
		m := gjson.GetBytes(body, "model")
		if m.Type != gjson.String {
			return "", nil, nil
		}
		return m.Str, func(upstream string) []byte {
			return openai.SetModel(body, m, openai.AppendString(nil, upstream))
		}, nil
	case mt == "multipart/form-data" && params["boundary"] != "":
		boundary := params["boundary"]
		model := multipartField(body, boundary, "model")
		if model == "" {
			return "", nil, nil
		}
		return model, func(upstream string) []byte { return rewriteMultipart(body, boundary, "model", upstream) }, nil
	}
	return "", nil, nil
}

func multipartField(body []byte, boundary, name string) string {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if p.FormName() == name && p.FileName() == "" {
			v, _ := io.ReadAll(io.LimitReader(p, 1024))
			return strings.TrimSpace(string(v))
		}
	}
}

// rewriteMultipart re-encodes a form with field name set to value, keeping
// every other part byte for byte and the same boundary.
func rewriteMultipart(body []byte, boundary, name, value string) []byte {
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if mw.SetBoundary(boundary) != nil {
		return body
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body
		}
		pw, err := mw.CreatePart(p.Header)
		if err != nil {
			return body
		}
		if p.FormName() == name && p.FileName() == "" {
			_, _ = io.WriteString(pw, value)
			continue
		}
		if _, err := io.Copy(pw, p); err != nil {
			return body
		}
	}
	if mw.Close() != nil {
		return body
	}
	return out.Bytes()
}
