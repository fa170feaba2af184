package providers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

func init() {
	caddy.RegisterModule(OpenAI{})
}

// DefaultOpenAIBaseURL is the API root of OpenAI.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

// OpenAI is the provider type for OpenAI and every vendor with an
// OpenAI-compatible API (Groq, Mistral, Together, DeepSeek, OpenRouter,
// vLLM, Ollama…). Request and response bodies pass through unchanged but for
// the model name, so parameters the gateway does not know keep working.
type OpenAI struct {
	// Settings are the shared options; base_url defaults to
	// https://api.openai.com/v1 (the API root with its version path) and
	// the key is sent as "Authorization: Bearer <key>".
	Settings
	// StreamUsage, when true (the default), asks the upstream for the usage
	// chunk at the end of every stream (stream_options.include_usage) so
	// streamed calls are accounted exactly; the gateway removes that chunk
	// again for clients that did not ask for it. Turn it off for
	// servers that reject stream_options.
	StreamUsage *bool `json:"stream_usage,omitempty"`
	// Responses, when true (the default), says the upstream serves
	// OpenAI's Responses API: POST /responses passes through. Turn it off
	// for servers that only speak chat completions (vLLM, Ollama, most
	// vendors): the gateway then translates Responses to chat completions.
	Responses *bool `json:"responses,omitempty"`

	base        string // resolved BaseURL without trailing slash
	chatURL     string
	embedURL    string
	header      http.Header // constant upstream headers, shared read-only
	streamUsage bool
	client      Client
}

// CaddyModule returns the Caddy module information.
func (OpenAI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.openai",
		New: func() caddy.Module { return new(OpenAI) },
	}
}

// Provision resolves placeholders and prepares the HTTP client.
func (p *OpenAI) Provision(ctx caddy.Context) error {
	setup, err := p.Resolve("openai", DefaultOpenAIBaseURL, "Authorization", "Bearer ")
	if err != nil {
		return err
	}
	p.base, p.header, p.client = setup.BaseURL, setup.Header, setup.Client
	p.chatURL = p.base + "/chat/completions"
	p.embedURL = p.base + "/embeddings"
	p.streamUsage = p.StreamUsage == nil || *p.StreamUsage
	return nil
}

// SpeaksResponses implements ResponsesSpeaker.
func (p *OpenAI) SpeaksResponses() bool { return p.Responses == nil || *p.Responses }

// SetName names the provider in error messages.
func (p *OpenAI) SetName(name string) { p.client.Name = name }

// Cleanup closes idle upstream connections.
func (p *OpenAI) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// CheckBaseURL reports whether u is an absolute http(s) URL with a host.
func CheckBaseURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("parsing base_url %q: %v", u, err)
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" || parsed.Host == "" {
		return fmt.Errorf("base_url %q: must be an absolute http:// or https:// URL", u)
	}
	return nil
}

// ChatCompletions implements Provider.
func (p *OpenAI) ChatCompletions(ctx context.Context, req *Request) (*Response, error) {
	body := req.Body
	if req.Stream && p.streamUsage {
		body = openai.WithStreamUsage(body)
	}
	return p.call(ctx, p.chatURL, body, req)
}

// Embeddings implements Provider.
func (p *OpenAI) Embeddings(ctx context.Context, req *Request) (*Response, error) {
	return p.call(ctx, p.embedURL, req.Body, req)
}

func (p *OpenAI) call(ctx context.Context, target string, body []byte, req *Request) (*Response, error) {
	resp, err := p.client.Post(ctx, target, body, p.header, req.Header)
	if err != nil {
		return nil, err
	}
	out := &Response{Header: relayHeaders(resp.Header)}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		out.Stream = NewSSEStream(ctx, resp, &p.client)
		return out, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	if !gjson.ValidBytes(b) || len(b) == 0 || b[0] != '{' {
		return nil, p.client.InvalidResponse("the body is not a JSON object")
	}
	out.Body = b
	return out, nil
}

// Forward implements Forwarder: the request goes to BaseURL + "/" + path
// with the provider's headers in place of the client's credentials.
func (p *OpenAI) Forward(ctx context.Context, fr *ForwardRequest) (*http.Response, error) {
	target := p.base + "/" + strings.TrimLeft(fr.Path, "/")
	if fr.RawQuery != "" {
		target += "?" + fr.RawQuery
	}
	var body io.Reader = http.NoBody
	if len(fr.Body) > 0 {
		body = bytes.NewReader(fr.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, fr.Method, target, body)
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	hr.Header = fr.Header.Clone()
	if hr.Header == nil {
		hr.Header = make(http.Header)
	}
	for k, v := range p.header {
		if k == "Content-Type" && hr.Header.Get(k) != "" {
			continue // multipart uploads keep their own
		}
		hr.Header[k] = v
	}
	return p.client.DoRaw(ctx, hr)
}

// relayHeaders picks the upstream headers a client may want to see.
func relayHeaders(h http.Header) http.Header {
	if id := h.Get("X-Request-Id"); id != "" {
		return http.Header{"X-Request-Id": {id}}
	}
	return nil
}

// SSEStream reads an OpenAI-style chat.completion.chunk stream.
type SSEStream struct {
	ctx      context.Context
	resp     *http.Response
	events   *openai.EventReader
	client   *Client
	finished bool // a choice reported its finish_reason
	done     bool
}

// NewSSEStream returns the events of resp's body; resp must be an event stream.
func NewSSEStream(ctx context.Context, resp *http.Response, client *Client) *SSEStream {
	return &SSEStream{
		ctx:    ctx,
		resp:   resp,
		events: openai.NewEventReader(bufioReader(resp.Body)),
		client: client,
	}
}

// finishReasonMarker finds a finished choice ("finish_reason":"stop"; an
// unfinished one has null). It starts after the opening quote: JSON is
// full of quotes, and searching for one as the first byte takes several
// times longer on every event.
var finishReasonMarker = []byte(`finish_reason":"`)

// Next implements EventStream. A stream that ends before [DONE] and before
// any choice finished is reported as cut off; an {"error":…} event becomes
// the upstream's error.
func (s *SSEStream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	ev, err := s.events.Next()
	if err != nil {
		s.done = true
		if err == io.EOF {
			if s.finished {
				return nil, io.EOF
			}
			err = io.ErrUnexpectedEOF
		}
		return nil, s.client.StreamError(s.ctx, err)
	}
	data := ev.Data
	if openai.IsDone(data) {
		s.done = true
		return nil, io.EOF
	}
	if !gjson.ValidBytes(data) {
		s.done = true
		return nil, s.client.InvalidResponse("a stream event is not JSON")
	}
	if bytes.HasPrefix(data, []byte(`{"error"`)) || string(ev.Name) == "error" {
		s.done = true
		oe := openai.ParseError(http.StatusBadGateway, data)
		return nil, &Error{Err: oe}
	}
	if !s.finished && bytes.Contains(data, finishReasonMarker) {
		s.finished = true
	}
	return data, nil
}

// Buffered implements EventStream.
func (s *SSEStream) Buffered() bool { return s.events.Buffered() }

// Close implements EventStream.
func (s *SSEStream) Close() error {
	s.done = true
	return s.resp.Body.Close()
}

// DoRaw sends req like Do but hands back upstream error statuses as they
// are, for requests passed through unchanged.
func (c *Client) DoRaw(ctx context.Context, req *http.Request) (*http.Response, error) {
	return c.do(ctx, req)
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> openai {
//		base_url <url>
//		api_key <key>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//		stream_usage on|off
//		responses on|off
//	}
func (p *OpenAI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		switch d.Val() {
		case "stream_usage":
			if err := ParseBool(d, &p.StreamUsage); err != nil {
				return err
			}
		case "responses":
			if err := ParseBool(d, &p.Responses); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ Provider              = (*OpenAI)(nil)
	_ Forwarder             = (*OpenAI)(nil)
	_ ResponsesSpeaker      = (*OpenAI)(nil)
	_ caddy.Provisioner     = (*OpenAI)(nil)
	_ caddy.CleanerUpper    = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*OpenAI)(nil)
)
