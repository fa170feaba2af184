// Package anthropic is the Polygate provider type `anthropic`
// (http.ai_gateway.providers.anthropic): it serves OpenAI chat completions
// with Anthropic's Messages API, translating requests, answers, streams and
// errors both ways.
//
// Caddyfile:
//
//	provider <name> anthropic {
//		base_url <url>
//		api_key <key>
//		version <anthropic-version>
//		max_tokens <n>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
//
// The repository README documents what is translated and what is rejected.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func init() {
	caddy.RegisterModule(Anthropic{})
}

// Defaults of the anthropic provider type.
const (
	// DefaultBaseURL is Anthropic's API root, without the version path.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultVersion is the anthropic-version header sent upstream.
	DefaultVersion = "2023-06-01"
	// DefaultMaxTokens is max_tokens for requests that set none (Anthropic
	// requires it).
	DefaultMaxTokens = 4096
)

// Anthropic is the provider type for Anthropic's Messages API. OpenAI chat
// completion requests are translated into Messages requests and the answers
// (whole or streamed) back into chat.completion objects and
// chat.completion.chunk events. Anthropic offers no embeddings.
type Anthropic struct {
	// BaseURL is the API root without the version path. Default:
	// https://api.anthropic.com. May hold placeholders such as {env.X}.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is sent as the x-api-key header. Keep it a placeholder like
	// {env.ANTHROPIC_API_KEY}: it is resolved when the config is loaded, so
	// the saved JSON never holds the key.
	APIKey string `json:"api_key,omitempty"`
	// Version is the anthropic-version header. Default: 2023-06-01.
	Version string `json:"version,omitempty"`
	// MaxTokens is the max_tokens of requests that set neither max_tokens
	// nor max_completion_tokens. Default: 4096.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Headers are extra headers sent upstream on every request (values may
	// hold placeholders), e.g. anthropic-beta.
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one upstream call, a whole stream included. Default: 10m.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// FirstByteTimeout bounds the wait for the upstream's response headers.
	// Default: none (only Timeout applies).
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
	// MaxIdleConnsPerHost is how many idle connections to keep open to the
	// upstream. Default: 1024.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`

	messagesURL string
	header      http.Header // constant upstream headers, shared read-only
	maxTokens   int
	client      providers.Client
}

// CaddyModule returns the Caddy module information.
func (Anthropic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.anthropic",
		New: func() caddy.Module { return new(Anthropic) },
	}
}

// Provision resolves placeholders and prepares the HTTP client.
func (p *Anthropic) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	base := strings.TrimRight(repl.ReplaceAll(p.BaseURL, ""), "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if err := providers.CheckBaseURL(base); err != nil {
		return err
	}
	p.messagesURL = base + "/v1/messages"
	version := repl.ReplaceAll(p.Version, "")
	if version == "" {
		version = DefaultVersion
	}
	p.maxTokens = p.MaxTokens
	if p.maxTokens <= 0 {
		p.maxTokens = DefaultMaxTokens
	}
	p.header = make(http.Header, len(p.Headers)+3)
	for k, v := range p.Headers {
		p.header.Set(k, repl.ReplaceAll(v, ""))
	}
	if key := repl.ReplaceAll(p.APIKey, ""); key != "" {
		p.header.Set("X-Api-Key", key)
	}
	p.header.Set("Anthropic-Version", version)
	p.header.Set("Content-Type", "application/json")
	name := p.client.Name
	if name == "" {
		name = "anthropic"
	}
	p.client = providers.Client{
		HTTP:             &http.Client{Transport: providers.NewTransport(p.MaxIdleConnsPerHost)},
		Timeout:          time.Duration(p.Timeout),
		FirstByteTimeout: time.Duration(p.FirstByteTimeout),
		Name:             name,
		ParseError:       parseError,
	}
	return nil
}

// SetName names the provider in error messages.
func (p *Anthropic) SetName(name string) { p.client.Name = name }

// Cleanup closes idle upstream connections.
func (p *Anthropic) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// ChatCompletions implements providers.Provider.
func (p *Anthropic) ChatCompletions(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	var in openai.ChatCompletionRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	msg, err := p.translateRequest(&in, req.Model, req.Stream)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "encoding the Anthropic request: "+err.Error())}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.messagesURL, bytes.NewReader(body))
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	hr.Header = p.header
	if len(req.Header) > 0 {
		hr.Header = p.header.Clone()
		for k, v := range req.Header {
			if hr.Header.Get(k) == "" {
				hr.Header[k] = v
			}
		}
	}
	resp, err := p.client.Do(ctx, hr)
	if err != nil {
		return nil, err
	}
	out := &providers.Response{Header: relayHeaders(resp.Header)}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		out.Stream = newStream(ctx, resp.Body, &p.client, req.Model)
		return out, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	out.Body, err = translateResponse(b, req.Model, time.Now().Unix())
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	return out, nil
}

// Embeddings implements providers.Provider: Anthropic has no embeddings
// API, so every call fails with 400.
func (p *Anthropic) Embeddings(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	return nil, &providers.Error{Err: openai.InvalidRequest("model",
		"provider "+quote(p.client.Name)+" (Anthropic) offers no embeddings; route model "+quote(req.Model)+" to an embeddings provider")}
}

// relayHeaders passes Anthropic's request id on as X-Request-Id.
func relayHeaders(h http.Header) http.Header {
	if id := h.Get("Request-Id"); id != "" {
		return http.Header{"X-Request-Id": {id}}
	}
	return nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> anthropic {
//		base_url <url>
//		api_key <key>
//		version <anthropic-version>
//		max_tokens <n>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
func (p *Anthropic) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "base_url":
			if err := providers.ParseString(d, &p.BaseURL); err != nil {
				return err
			}
			if !strings.Contains(p.BaseURL, "{") {
				if err := providers.CheckBaseURL(p.BaseURL); err != nil {
					return d.Err(err.Error())
				}
			}
		case "api_key":
			if err := providers.ParseString(d, &p.APIKey); err != nil {
				return err
			}
		case "version":
			if err := providers.ParseString(d, &p.Version); err != nil {
				return err
			}
		case "max_tokens":
			if err := providers.ParseInt(d, &p.MaxTokens); err != nil {
				return err
			}
			if p.MaxTokens == 0 {
				return d.Err("max_tokens must be positive")
			}
		case "header":
			var k, v string
			if !d.Args(&k, &v) {
				return d.ArgErr()
			}
			if p.Headers == nil {
				p.Headers = make(map[string]string)
			}
			p.Headers[k] = v
		case "timeout":
			if err := providers.ParseDuration(d, &p.Timeout); err != nil {
				return err
			}
		case "first_byte_timeout":
			if err := providers.ParseDuration(d, &p.FirstByteTimeout); err != nil {
				return err
			}
		case "max_idle_conns_per_host":
			if err := providers.ParseInt(d, &p.MaxIdleConnsPerHost); err != nil {
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
	_ providers.Provider    = (*Anthropic)(nil)
	_ providers.Namer       = (*Anthropic)(nil)
	_ caddy.Provisioner     = (*Anthropic)(nil)
	_ caddy.CleanerUpper    = (*Anthropic)(nil)
	_ caddyfile.Unmarshaler = (*Anthropic)(nil)
)
