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
	"context"
	"encoding/json"
	"fmt"
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
	// Settings are the shared options; base_url defaults to
	// https://api.anthropic.com (the API root without the version path)
	// and the key is sent as the x-api-key header.
	providers.Settings
	// Version is the anthropic-version header. Default: 2023-06-01.
	Version string `json:"version,omitempty"`
	// MaxTokens is the max_tokens of requests that set neither max_tokens
	// nor max_completion_tokens. Default: 4096.
	MaxTokens int `json:"max_tokens,omitempty"`

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
	setup, err := p.Resolve("anthropic", DefaultBaseURL, "X-Api-Key", "")
	if err != nil {
		return err
	}
	if err := checkBaseURL(setup.BaseURL); err != nil {
		return err
	}
	p.messagesURL = setup.BaseURL + "/v1/messages"
	p.header, p.client = setup.Header, setup.Client
	p.client.ParseError = parseError
	version := caddy.NewReplacer().ReplaceAll(p.Version, "")
	if version == "" {
		version = DefaultVersion
	}
	p.header.Set("Anthropic-Version", version)
	p.maxTokens = p.MaxTokens
	if p.maxTokens <= 0 {
		p.maxTokens = DefaultMaxTokens
	}
	return nil
}

// checkBaseURL refuses a base_url whose path ends in the API version
// (https://api.anthropic.com/v1): base_url is the API root, as in
// Anthropic's SDKs, and the provider adds /v1/messages itself.
func checkBaseURL(u string) error {
	if root, _, ok := providers.TrimVersionPath(u); ok {
		return fmt.Errorf("base_url %q ends in the API version; name the API root (%s): the provider adds /v1/messages", u, root)
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
	resp, err := p.client.Post(ctx, p.messagesURL, body, p.header, req.Header)
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
		sub := d.Val()
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			if sub == "base_url" && !strings.Contains(p.BaseURL, "{") {
				if err := checkBaseURL(p.BaseURL); err != nil {
					return d.Err(err.Error())
				}
			}
			continue
		}
		switch d.Val() {
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
