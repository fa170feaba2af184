// Package gemini is the Polygate provider type `gemini`
// (http.ai_gateway.providers.gemini): it serves OpenAI chat completions and
// embeddings with Google's Gemini API (generateContent,
// streamGenerateContent and batchEmbedContents), translating requests,
// answers, streams and errors both ways.
//
// Caddyfile:
//
//	provider <name> gemini {
//		base_url <url>
//		api_key <key>
//		api_version <version>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
//
// The repository README documents what is translated and what is rejected.
package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func init() {
	caddy.RegisterModule(Gemini{})
}

// Defaults of the gemini provider type.
const (
	// DefaultBaseURL is the Gemini API's root, without the version path.
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	// DefaultAPIVersion is the version path of the API.
	DefaultAPIVersion = "v1beta"
)

// Gemini is the provider type for Google's Gemini API (Google AI Studio
// keys). OpenAI chat completion requests are translated into
// generateContent requests and the answers (whole or streamed) back into
// chat.completion objects and chat.completion.chunk events; embeddings go
// through batchEmbedContents.
type Gemini struct {
	// Settings are the shared options; base_url defaults to
	// https://generativelanguage.googleapis.com (the API root without the
	// version path) and the key is sent as the x-goog-api-key header, never
	// in the URL.
	providers.Settings
	// APIVersion is the version path of the API. Default: v1beta.
	APIVersion string `json:"api_version,omitempty"`

	root   string // base + "/" + version
	header http.Header
	client providers.Client
}

// CaddyModule returns the Caddy module information.
func (Gemini) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.gemini",
		New: func() caddy.Module { return new(Gemini) },
	}
}

// Provision resolves placeholders and prepares the HTTP client.
func (p *Gemini) Provision(ctx caddy.Context) error {
	setup, err := p.Resolve("gemini", DefaultBaseURL, "X-Goog-Api-Key", "")
	if err != nil {
		return err
	}
	if err := checkBaseURL(setup.BaseURL); err != nil {
		return err
	}
	version := strings.Trim(caddy.NewReplacer().ReplaceAll(p.APIVersion, ""), "/")
	if version == "" {
		version = DefaultAPIVersion
	}
	p.root = setup.BaseURL + "/" + version
	p.header, p.client = setup.Header, setup.Client
	p.client.ParseError = parseError
	return nil
}

// checkBaseURL refuses a base_url whose path ends in an API version
// (https://generativelanguage.googleapis.com/v1beta): base_url is the API
// root, as in Google's SDKs, and the version is api_version.
func checkBaseURL(u string) error {
	if root, version, ok := providers.TrimVersionPath(u); ok {
		return fmt.Errorf("base_url %q ends in the API version; name the API root (%s) and set the version with api_version %s", u, root, version)
	}
	return nil
}

// SetName names the provider in error messages.
func (p *Gemini) SetName(name string) { p.client.Name = name }

// Cleanup closes idle upstream connections.
func (p *Gemini) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// modelURL returns the URL of a model's method: models/{model}:{method},
// or tunedModels/{id}:{method} for a tuned model.
func (p *Gemini) modelURL(model, method string) string {
	model = strings.TrimPrefix(model, "models/")
	coll := "models/"
	if id, ok := strings.CutPrefix(model, "tunedModels/"); ok {
		coll, model = "tunedModels/", id
	}
	return p.root + "/" + coll + url.PathEscape(model) + ":" + method
}

// ChatCompletions implements providers.Provider.
func (p *Gemini) ChatCompletions(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	var in openai.ChatCompletionRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	gr, err := p.translateRequest(&in, req.Model)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "encoding the Gemini request: "+err.Error())}
	}
	target := p.modelURL(req.Model, "generateContent")
	if req.Stream {
		target = p.modelURL(req.Model, "streamGenerateContent") + "?alt=sse"
	}
	resp, err := p.post(ctx, target, body, req.Header)
	if err != nil {
		return nil, err
	}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		return &providers.Response{Stream: newStream(ctx, resp.Body, &p.client, req.Model)}, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	out, err := translateResponse(b, req.Model, time.Now().Unix())
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	return &providers.Response{Body: out}, nil
}

func (p *Gemini) post(ctx context.Context, target string, body []byte, clientHeader http.Header) (*http.Response, error) {
	return p.client.Post(ctx, target, body, p.header, clientHeader)
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> gemini {
//		base_url <url>
//		api_key <key>
//		api_version <version>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
func (p *Gemini) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
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
		case "api_version":
			if err := providers.ParseString(d, &p.APIVersion); err != nil {
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
	_ providers.Provider    = (*Gemini)(nil)
	_ providers.Namer       = (*Gemini)(nil)
	_ caddy.Provisioner     = (*Gemini)(nil)
	_ caddy.CleanerUpper    = (*Gemini)(nil)
	_ caddyfile.Unmarshaler = (*Gemini)(nil)
)
