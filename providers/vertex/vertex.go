// Package vertex is the Polygate provider type `vertex`
// (http.ai_gateway.providers.vertex): it serves OpenAI chat completions and
// embeddings with Google Vertex AI. Gemini models go through generateContent
// and streamGenerateContent, Claude models (ids starting with "claude")
// through Anthropic's rawPredict and streamRawPredict, and embeddings
// through predict. Chat requests, answers and streams are translated by the
// gemini and anthropic provider types' translators; requests carry a Google
// OAuth2 access token from a credentials file or the application default
// credentials, cached until shortly before it expires. Anthropic Messages
// requests for Claude models are passed through to rawPredict,
// streamRawPredict and count-tokens as they are
// (providers.MessagesForwarder), errors answered in Anthropic's shape.
//
// Caddyfile:
//
//	provider <name> vertex {
//		project <project-id>
//		location <location>
//		credentials_file <path>
//		api_version <version>
//		max_tokens <n>
//		base_url <url>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
//
// The repository README documents what is translated and what is rejected.
package vertex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/oauth2"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/anthropic"
	"github.com/polygate/polygate/providers/gemini"
)

func init() {
	caddy.RegisterModule(Vertex{})
}

// Defaults of the vertex provider type.
const (
	// DefaultAPIVersion is the version path of the API.
	DefaultAPIVersion = "v1"
	// AnthropicVersion is the anthropic_version Vertex AI requires in the
	// body of Claude requests.
	AnthropicVersion = "vertex-2023-10-16"
	// Scope is the OAuth2 scope of the access tokens.
	Scope = "https://www.googleapis.com/auth/cloud-platform"
	// tokenTimeout bounds one access token request.
	tokenTimeout = 30 * time.Second
)

// DefaultBaseURL returns the API root of a location, without the version
// path: https://aiplatform.googleapis.com for "global", otherwise
// https://{location}-aiplatform.googleapis.com.
func DefaultBaseURL(location string) string {
	if location == "global" {
		return "https://aiplatform.googleapis.com"
	}
	return "https://" + location + "-aiplatform.googleapis.com"
}

// Vertex is the provider type for Google Vertex AI. OpenAI chat completion
// requests for Gemini models are translated into generateContent requests,
// those for Claude models into Anthropic Messages requests sent with
// rawPredict, and the answers (whole or streamed) back into chat.completion
// objects and chat.completion.chunk events; embeddings go through predict.
type Vertex struct {
	// Settings are the shared options. base_url defaults to the endpoint
	// of the location (https://{location}-aiplatform.googleapis.com, or
	// https://aiplatform.googleapis.com for global), the API root without
	// the version path; set it for a Private Service Connect endpoint or
	// a local stand-in. api_key is refused: Vertex AI takes OAuth2 access
	// tokens, sent as Authorization: Bearer.
	providers.Settings
	// Project is the Google Cloud project id (or number) whose Vertex AI
	// is called. Required; may hold placeholders.
	Project string `json:"project,omitempty"`
	// Location is the region of the models, such as us-central1 or
	// europe-west4, or global. Required; may hold placeholders.
	Location string `json:"location,omitempty"`
	// CredentialsFile is the path of a Google credentials JSON file: a
	// service account key, or an authorized_user, external_account or
	// impersonated_service_account file. It is read when the config is
	// loaded; may hold placeholders. Default: the application default
	// credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
	// application_default_credentials.json, then the metadata server on
	// Google Cloud), looked up at the first request.
	CredentialsFile string `json:"credentials_file,omitempty"`
	// APIVersion is the version path of the API (v1 or v1beta1).
	// Default: v1.
	APIVersion string `json:"api_version,omitempty"`
	// MaxTokens is the max_tokens of Claude requests that set neither
	// max_tokens nor max_completion_tokens (Anthropic requires it).
	// Default: 4096.
	MaxTokens int `json:"max_tokens,omitempty"`

	root   string // {base}/{version}/projects/{project}/locations/{location}
	header http.Header
	client providers.Client
	auth   *auth
	gemini gemini.Translator
	claude *anthropic.Translator
}

// CaddyModule returns the Caddy module information.
func (Vertex) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.vertex",
		New: func() caddy.Module { return new(Vertex) },
	}
}

var (
	// locationPattern matches a Google Cloud location (it becomes part of
	// a host name): us-central1, europe-west4, global…
	locationPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	// projectPattern matches project ids (my-project, or domain-scoped
	// example.com:my-project) and project numbers.
	projectPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]*$`)
)

// Provision resolves placeholders, reads the credentials file if one is
// set and prepares the HTTP client. It makes no network call: access
// tokens (and the application default credentials) are fetched at the
// first request.
func (p *Vertex) Provision(ctx caddy.Context) error {
	if p.APIKey != "" {
		return errors.New(apiKeyRefused)
	}
	repl := caddy.NewReplacer()
	project := strings.TrimSpace(repl.ReplaceAll(p.Project, ""))
	location := strings.TrimSpace(repl.ReplaceAll(p.Location, ""))
	if err := checkProject(project); err != nil {
		return err
	}
	if err := checkLocation(location); err != nil {
		return err
	}
	setup, err := p.Resolve("vertex", DefaultBaseURL(location), "", "")
	if err != nil {
		return err
	}
	if err := checkBaseURL(setup.BaseURL); err != nil {
		return err
	}
	version := strings.Trim(repl.ReplaceAll(p.APIVersion, ""), "/")
	if version == "" {
		version = DefaultAPIVersion
	}
	if p.MaxTokens < 0 {
		return errors.New("max_tokens must be positive")
	}
	p.root = setup.BaseURL + "/" + version + "/projects/" + url.PathEscape(project) + "/locations/" + url.PathEscape(location)
	p.header, p.client = setup.Header, setup.Client

	// Token requests share the upstream transport, with a time limit of
	// their own.
	tokenHTTP := &http.Client{Transport: &tokenTransport{base: p.client.HTTP.Transport}, Timeout: tokenTimeout}
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, tokenHTTP)
	if file := repl.ReplaceAll(p.CredentialsFile, ""); file != "" {
		if p.auth, err = fileAuth(tokenCtx, file); err != nil {
			return err
		}
	} else {
		p.auth = defaultAuth(tokenCtx)
	}
	p.claude = anthropic.NewTranslator(p.MaxTokens)
	p.SetName("vertex")
	return nil
}

const apiKeyRefused = "api_key is not supported: Vertex AI takes OAuth2 access tokens; set credentials_file or use application default credentials"

func checkProject(project string) error {
	switch {
	case project == "":
		return errors.New("project is required")
	case !projectPattern.MatchString(project):
		return fmt.Errorf("project %q is not a Google Cloud project id or number", project)
	}
	return nil
}

func checkLocation(location string) error {
	switch {
	case location == "":
		return errors.New("location is required")
	case !locationPattern.MatchString(location):
		return fmt.Errorf("location %q is not a Google Cloud location such as us-central1 or global", location)
	}
	return nil
}

// checkBaseURL refuses a base_url whose path ends in an API version
// (https://us-central1-aiplatform.googleapis.com/v1): base_url is the API
// root, and the version is api_version.
func checkBaseURL(u string) error {
	if root, version, ok := providers.TrimVersionPath(u); ok {
		return fmt.Errorf("base_url %q ends in the API version; name the API root (%s) and set the version with api_version %s", u, root, version)
	}
	return nil
}

// SetName names the provider in error messages.
func (p *Vertex) SetName(name string) {
	p.client.Name = name
	p.gemini.SetName(name)
	if p.claude != nil {
		p.claude.SetName(name)
	}
}

// Cleanup closes idle upstream connections.
func (p *Vertex) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// isClaude reports whether model is served by Anthropic's publisher.
func isClaude(model string) bool { return strings.HasPrefix(model, "claude") }

// modelURL returns the URL of a publisher model's method:
// …/publishers/{publisher}/models/{model}:{method}, or
// …/endpoints/{id}:{method} for a model given as "endpoints/{id}" (a tuned
// or deployed model).
func (p *Vertex) modelURL(publisher, model, method string) string {
	if id, ok := strings.CutPrefix(model, "endpoints/"); ok {
		return p.root + "/endpoints/" + url.PathEscape(id) + ":" + method
	}
	return p.root + "/publishers/" + publisher + "/models/" + url.PathEscape(model) + ":" + method
}

// ChatCompletions implements providers.Provider: Claude models go to
// Anthropic's publisher, every other model to Google's.
func (p *Vertex) ChatCompletions(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	var in openai.ChatCompletionRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	if isClaude(req.Model) {
		return p.claudeChat(ctx, req, &in)
	}
	return p.geminiChat(ctx, req, &in)
}

// Interface guards
var (
	_ providers.Provider = (*Vertex)(nil)
	_ providers.Namer    = (*Vertex)(nil)
	_ caddy.Provisioner  = (*Vertex)(nil)
	_ caddy.CleanerUpper = (*Vertex)(nil)
)
