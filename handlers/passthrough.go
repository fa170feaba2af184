package handlers

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// hop-by-hop and credential headers never forwarded upstream or back.
var (
	dropRequestHeaders = []string{
		"Authorization", "Proxy-Authorization", "Cookie", "Api-Key", "X-Api-Key", "X-Goog-Api-Key",
		"Openai-Organization", "Openai-Project", "Connection", "Keep-Alive", "Proxy-Connection",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Accept-Encoding", "Host",
	}
	dropResponseHeaders = []string{
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie",
	}
)

// ServePassthrough forwards any other OpenAI API request (responses,
// completions, moderations, images, audio, files…) unchanged to the
// provider of the request's model, or to the default provider when the
// request names none. path is relative to the base path, e.g. "responses".
// A JSON body's model, or a multipart form's model field, is rewritten to
// the upstream model.
func (g *Gateway) ServePassthrough(w http.ResponseWriter, r *http.Request, path string) {
	c := newCall(path)
	defer g.finish(r, c)
	if !g.identify(w, r, c) {
		return
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		var oe *openai.Error
		if body, oe = g.readBody(r); oe != nil {
			c.Status = writeError(w, r, oe)
			return
		}
	}
	model, rewrite := passthroughModel(r.Header.Get("Content-Type"), body)
	var route *providers.Route
	switch {
	case model != "":
		c.Model = model
		if route = g.Resolve(model); route == nil {
			setPlaceholders(r, requestInfo{model: model})
			c.Status = writeError(w, r, modelNotFound(model))
			return
		}
	case g.DefaultProvider != "":
		p := g.Providers[g.DefaultProvider]
		route = &providers.Route{Name: g.DefaultProvider, Upstreams: []*providers.Upstream{providers.NewUpstream(g.DefaultProvider, p, "", 1)}}
	default:
		c.Status = writeError(w, r, &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Param: "model",
			Message: "cannot route " + r.Method + " " + r.URL.Path + ": the request names no model and the gateway has no default_provider"})
		return
	}
	c.price = route.Price
	if !g.reserve(w, r, c, 0, func() []string { return nil }) {
		return
	}
	header := r.Header.Clone()
	for _, k := range dropRequestHeaders {
		header.Del(k)
	}
	var upstream *http.Response
	_, err := g.attempt(r.Context(), c, route, body, gjson.Result{Str: model}, func(up *providers.Upstream, _ []byte) (*providers.Response, error) {
		fw, ok := up.Provider.(providers.Forwarder)
		if !ok {
			return nil, &openai.Error{Status: http.StatusNotImplemented, Type: openai.TypeInvalidRequest,
				Message: "provider " + up.ProviderName + " cannot serve " + r.URL.Path + ": it does not pass requests through"}
		}
		upBody := body
		if rewrite != nil && up.Model != "" && up.Model != model {
			upBody = rewrite(up.Model)
		}
		resp, err := fw.Forward(r.Context(), &providers.ForwardRequest{
			Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Header: header, Body: upBody,
		})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			// Retryable: read the error so the plan can decide.
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			oe := openai.ParseError(resp.StatusCode, b)
			return nil, &providers.Error{Err: oe, RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), c.Start)}
		}
		upstream = resp
		return &providers.Response{}, nil
	})
	if err != nil {
		g.fail(w, r, c, err)
		return
	}
	defer upstream.Body.Close()
	g.succeed(w, r, c, nil)
	h := w.Header()
	for k, v := range upstream.Header {
		h[k] = v
	}
	for _, k := range dropResponseHeaders {
		h.Del(k)
	}
	c.Status = upstream.StatusCode
	w.WriteHeader(upstream.StatusCode)
	copyFlushing(w, upstream.Body)
}

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
// returns a function that rewrites the body for another model name.
func passthroughModel(contentType string, body []byte) (string, func(string) []byte) {
	if len(body) == 0 {
		return "", nil
	}
	mt, params, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || mt == "" && gjson.ValidBytes(body):
		m := gjson.GetBytes(body, "model")
		if m.Type != gjson.String {
			return "", nil
		}
		return m.Str, func(upstream string) []byte {
			return openai.SetModel(body, gjson.GetBytes(body, "model"), []byte(jsonQuote(upstream)))
		}
	case mt == "multipart/form-data" && params["boundary"] != "":
		boundary := params["boundary"]
		model := multipartField(body, boundary, "model")
		if model == "" {
			return "", nil
		}
		return model, func(upstream string) []byte { return rewriteMultipart(body, boundary, "model", upstream) }
	}
	return "", nil
}

func jsonQuote(s string) string { return string(openai.AppendString(nil, s)) }

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
