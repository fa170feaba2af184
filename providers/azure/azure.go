// Package azure is the Polygate provider type `azure`
// (http.ai_gateway.providers.azure) for Azure OpenAI: OpenAI's API under
// Azure's URLs and authentication. Bodies pass through unchanged but for the
// model name; the upstream model name is the Azure deployment.
//
// Caddyfile:
//
//	provider <name> azure {
//		base_url <resource endpoint>
//		api_key <key>
//		api_version <version>|v1
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//		stream_usage on|off
//	}
//
// The repository README documents the URLs used.
package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func init() {
	caddy.RegisterModule(Azure{})
}

// DefaultAPIVersion is the api-version sent when none is configured: the
// current GA version of Azure OpenAI's data-plane inference API.
const DefaultAPIVersion = "2024-10-21"

// APIVersionV1 selects Azure OpenAI's version-less v1 API
// ({base_url}/openai/v1/…, the deployment in the body's model).
const APIVersionV1 = "v1"

// deploymentPaths are the API paths Azure serves per deployment
// (/openai/deployments/{deployment}/{path}) in dated API versions.
var deploymentPaths = map[string]bool{
	"chat/completions":     true,
	"completions":          true,
	"embeddings":           true,
	"audio/transcriptions": true,
	"audio/translations":   true,
	"audio/speech":         true,
	"images/generations":   true,
	"images/edits":         true,
}

// Azure is the provider type for Azure OpenAI. Chat completions go to
// {base_url}/openai/deployments/{deployment}/chat/completions?api-version=…
// and embeddings to …/embeddings, where the deployment is the upstream
// model name; with api_version v1 they go to {base_url}/openai/v1/… with
// the deployment as the body's model. Other OpenAI paths are forwarded (see
// Forward).
type Azure struct {
	// Settings are the shared options; base_url is required (the resource
	// endpoint, e.g. https://NAME.openai.azure.com) and the key is sent as
	// the api-key header.
	providers.Settings
	// APIVersion is the api-version query parameter, or "v1" for the
	// version-less v1 API. Default: 2024-10-21.
	APIVersion string `json:"api_version,omitempty"`
	// StreamUsage, when true (the default), asks for the usage chunk at the
	// end of every stream (stream_options.include_usage); the gateway
	// removes it again for clients that did not ask for it. Turn it off for
	// api-versions older than 2024-09-01-preview, which reject
	// stream_options.
	StreamUsage *bool `json:"stream_usage,omitempty"`

	base        string // resolved BaseURL without trailing slash
	version     string
	v1          bool
	header      http.Header
	streamUsage bool
	client      providers.Client
}

// CaddyModule returns the Caddy module information.
func (Azure) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.azure",
		New: func() caddy.Module { return new(Azure) },
	}
}

// Provision resolves placeholders and prepares the HTTP client.
func (p *Azure) Provision(ctx caddy.Context) error {
	if caddy.NewReplacer().ReplaceAll(p.BaseURL, "") == "" {
		return errBaseURLRequired
	}
	setup, err := p.Resolve("azure", "", "Api-Key", "")
	if err != nil {
		return err
	}
	p.base, p.header, p.client = setup.BaseURL, setup.Header, setup.Client
	p.version = caddy.NewReplacer().ReplaceAll(p.APIVersion, "")
	if p.version == "" {
		p.version = DefaultAPIVersion
	}
	p.v1 = p.version == APIVersionV1
	p.streamUsage = p.StreamUsage == nil || *p.StreamUsage
	return nil
}

// errBaseURLRequired says what base_url must be.
var errBaseURLRequired = errors.New("base_url is required: the Azure OpenAI resource endpoint, e.g. https://NAME.openai.azure.com")

// SetName names the provider in error messages.
func (p *Azure) SetName(name string) { p.client.Name = name }

// Cleanup closes idle upstream connections.
func (p *Azure) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// apiURL returns the URL of an API path (relative to the API root, without
// leading slash) for deployment ("" for paths that are not per
// deployment), with query (already encoded, without api-version).
func (p *Azure) apiURL(path, deployment, query string) string {
	var b strings.Builder
	b.WriteString(p.base)
	switch {
	case p.v1:
		b.WriteString("/openai/v1/")
	case deployment != "":
		b.WriteString("/openai/deployments/")
		b.WriteString(url.PathEscape(deployment))
		b.WriteByte('/')
	default:
		b.WriteString("/openai/")
	}
	b.WriteString(path)
	q := query
	switch {
	case p.v1:
	case query == "":
		q = "api-version=" + url.QueryEscape(p.version)
	default:
		v, err := url.ParseQuery(query)
		if err != nil {
			v = url.Values{}
		}
		v.Set("api-version", p.version)
		q = v.Encode()
	}
	if q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	return b.String()
}

// ChatCompletions implements providers.Provider.
func (p *Azure) ChatCompletions(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	body := req.Body
	if req.Stream && p.streamUsage {
		body = openai.WithStreamUsage(body)
	}
	return p.call(ctx, p.apiURL("chat/completions", req.Model, ""), body, req)
}

// Embeddings implements providers.Provider.
func (p *Azure) Embeddings(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	return p.call(ctx, p.apiURL("embeddings", req.Model, ""), req.Body, req)
}

func (p *Azure) call(ctx context.Context, target string, body []byte, req *providers.Request) (*providers.Response, error) {
	resp, err := p.client.Post(ctx, target, body, p.header, req.Header)
	if err != nil {
		return nil, err
	}
	out := &providers.Response{Header: relayHeaders(resp.Header)}
	if req.Stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
		out.Stream = providers.NewSSEStream(ctx, resp, &p.client)
		return out, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] != '{' || !gjson.ValidBytes(b) {
		return nil, p.client.InvalidResponse("the body is not a JSON object")
	}
	out.Body = b
	return out, nil
}

// Forward implements providers.Forwarder. With a dated api_version, a path
// Azure serves per deployment (chat/completions, completions, embeddings,
// audio/transcriptions, audio/translations, audio/speech,
// images/generations, images/edits) goes to
// /openai/deployments/{model}/{path} when the body (JSON or multipart form)
// names a model, and every other path to /openai/{path}; api-version is
// added to the query. With api_version v1 every path goes to
// /openai/v1/{path} unchanged.
func (p *Azure) Forward(ctx context.Context, fr *providers.ForwardRequest) (*http.Response, error) {
	path := strings.TrimLeft(fr.Path, "/")
	deployment := ""
	if !p.v1 && deploymentPaths[path] {
		deployment = bodyModel(fr.Header.Get("Content-Type"), fr.Body)
	}
	var body io.Reader = http.NoBody
	if len(fr.Body) > 0 {
		body = bytes.NewReader(fr.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, fr.Method, p.apiURL(path, deployment, fr.RawQuery), body)
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

// bodyModel returns the model named by a JSON body or a multipart form's
// "model" field; "" when there is none.
func bodyModel(contentType string, body []byte) string {
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return ""
			}
			if part.FormName() == "model" {
				b, _ := io.ReadAll(io.LimitReader(part, 512))
				return strings.TrimSpace(string(b))
			}
		}
	}
	if len(body) == 0 || body[0] != '{' {
		return ""
	}
	return gjson.GetBytes(body, "model").String()
}

// relayHeaders passes Azure's request id on as X-Request-Id.
func relayHeaders(h http.Header) http.Header {
	id := h.Get("X-Request-Id")
	if id == "" {
		id = h.Get("Apim-Request-Id")
	}
	if id == "" {
		return nil
	}
	return http.Header{"X-Request-Id": {id}}
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> azure {
//		base_url <resource endpoint>
//		api_key <key>
//		api_version <version>|v1
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//		stream_usage on|off
//	}
func (p *Azure) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		switch d.Val() {
		case "api_version":
			if err := providers.ParseString(d, &p.APIVersion); err != nil {
				return err
			}
		case "stream_usage":
			if err := providers.ParseBool(d, &p.StreamUsage); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	if p.BaseURL == "" {
		return d.Err(errBaseURLRequired.Error())
	}
	return nil
}

// Interface guards
var (
	_ providers.Provider    = (*Azure)(nil)
	_ providers.Forwarder   = (*Azure)(nil)
	_ providers.Namer       = (*Azure)(nil)
	_ caddy.Provisioner     = (*Azure)(nil)
	_ caddy.CleanerUpper    = (*Azure)(nil)
	_ caddyfile.Unmarshaler = (*Azure)(nil)
)
