// Package bedrock is the Polygate provider type `bedrock`
// (http.ai_gateway.providers.bedrock): it serves OpenAI chat completions
// with Amazon Bedrock's Converse and ConverseStream APIs, for every model
// family Bedrock serves through them, and embeddings with InvokeModel
// (Amazon Titan and Cohere embedding models). Requests are signed with AWS
// Signature Version 4 (or carry a Bedrock API key), answers, binary event
// streams and errors are translated back into OpenAI's shapes. For Claude
// models it also takes Anthropic Messages requests as they are
// (providers.MessagesForwarder), through InvokeModel,
// InvokeModelWithResponseStream and CountTokens, and answers in
// Anthropic's shapes.
//
// Caddyfile:
//
//	provider <name> bedrock {
//		region <region>
//		profile <shared-config-profile>
//		access_key_id <id>
//		secret_access_key <secret>
//		session_token <token>
//		role_arn <arn>
//		role_session_name <name>
//		external_id <id>
//		api_key <bedrock-api-key>
//		guardrail_identifier <id-or-arn>
//		guardrail_version <version>
//		guardrail_trace enabled|disabled|enabled_full
//		base_url <url>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
//
// The repository README documents what is translated and what is rejected.
package bedrock

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func init() {
	caddy.RegisterModule(Bedrock{})
}

// eventStreamType is the Content-Type of ConverseStream's answer.
const eventStreamType = "application/vnd.amazon.eventstream"

// Bedrock is the provider type for Amazon Bedrock. OpenAI chat completion
// requests are translated into Converse requests and the answers (whole or
// streamed) back into chat.completion objects and chat.completion.chunk
// events; embeddings go through InvokeModel; Anthropic Messages requests
// for Claude models are passed through to InvokeModel (see
// ForwardMessages).
//
// Credentials: with access_key_id and secret_access_key those; otherwise
// the AWS SDK's default chain (environment, shared config and credentials
// files with profile, web identity, ECS/EKS container and EC2 instance
// metadata). role_arn, when set, is assumed with them through STS. All of
// them are cached and refreshed before they expire. A Bedrock API key
// (api_key) replaces signing altogether. Credentials are resolved at the
// first request, never during Provision, so `caddy validate` and `caddy
// adapt` need no AWS access.
type Bedrock struct {
	// Settings are the shared options. base_url defaults to
	// https://bedrock-runtime.{region}.amazonaws.com (set it for a VPC
	// endpoint or a local stand-in); api_key is a Bedrock API key, sent as
	// a bearer token instead of signing the requests.
	providers.Settings
	// Region is the AWS region, e.g. us-east-1. Default: the SDK's
	// (AWS_REGION, AWS_DEFAULT_REGION, the profile's region); one of them
	// is required.
	Region string `json:"region,omitempty"`
	// Profile is the shared config profile the default chain reads.
	// Default: AWS_PROFILE, else "default".
	Profile string `json:"profile,omitempty"`
	// AccessKeyID and SecretAccessKey are static credentials; keep them
	// placeholders such as {env.AWS_ACCESS_KEY_ID}. Default: the SDK's
	// default chain.
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	// SessionToken goes with temporary static credentials.
	SessionToken string `json:"session_token,omitempty"`
	// RoleARN is a role assumed (through STS) with the credentials above.
	// Default: none.
	RoleARN string `json:"role_arn,omitempty"`
	// RoleSessionName names the assumed role's session. Default: polygate.
	RoleSessionName string `json:"role_session_name,omitempty"`
	// ExternalID is the external id the role's trust policy asks for.
	ExternalID string `json:"external_id,omitempty"`
	// GuardrailIdentifier and GuardrailVersion apply a Bedrock guardrail
	// to every Converse call (guardrailConfig). Default: none.
	GuardrailIdentifier string `json:"guardrail_identifier,omitempty"`
	GuardrailVersion    string `json:"guardrail_version,omitempty"`
	// GuardrailTrace is the guardrail's trace setting: enabled, disabled
	// or enabled_full. Default: Bedrock's (disabled).
	GuardrailTrace string `json:"guardrail_trace,omitempty"`

	header    http.Header // constant upstream headers, shared read-only
	client    providers.Client
	auth      *auth
	guardrail *guardrailConfig
}

// CaddyModule returns the Caddy module information.
func (Bedrock) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ai_gateway.providers.bedrock",
		New: func() caddy.Module { return new(Bedrock) },
	}
}

// Provision resolves placeholders and prepares the HTTP client. It makes
// no network call and reads no AWS file: credentials (and a region left to
// the SDK) are resolved at the first request.
func (p *Bedrock) Provision(ctx caddy.Context) error {
	if err := p.check(); err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	region := repl.ReplaceAll(p.Region, "")
	if region != "" && !validRegion.MatchString(region) {
		return fmt.Errorf("region %q is not an AWS region name", region)
	}
	// Resolve checks base_url, prepares the client and sets an API key as
	// a bearer token. Without base_url the endpoint follows the region,
	// which may be known only at the first request: a stand-in passes the
	// check and is then dropped.
	const standIn = "https://bedrock-runtime.amazonaws.com"
	setup, err := p.Resolve("bedrock", standIn, "Authorization", "Bearer ")
	if err != nil {
		return err
	}
	if strings.TrimSpace(repl.ReplaceAll(p.BaseURL, "")) == "" {
		setup.BaseURL = ""
	}
	p.header, p.client = setup.Header, setup.Client
	p.client.ParseError = parseError
	p.client.HTTP.Transport = &errorTransport{base: p.client.HTTP.Transport}
	p.auth = &auth{
		region:          region,
		base:            setup.BaseURL,
		profile:         repl.ReplaceAll(p.Profile, ""),
		accessKeyID:     repl.ReplaceAll(p.AccessKeyID, ""),
		secretAccessKey: repl.ReplaceAll(p.SecretAccessKey, ""),
		sessionToken:    repl.ReplaceAll(p.SessionToken, ""),
		roleARN:         repl.ReplaceAll(p.RoleARN, ""),
		roleSessionName: repl.ReplaceAll(p.RoleSessionName, ""),
		externalID:      repl.ReplaceAll(p.ExternalID, ""),
		apiKey:          repl.ReplaceAll(p.APIKey, ""),
	}
	if p.auth.apiKey == "" && (p.auth.accessKeyID == "") != (p.auth.secretAccessKey == "") {
		return fmt.Errorf("access_key_id and secret_access_key resolved to one without the other")
	}
	if id := repl.ReplaceAll(p.GuardrailIdentifier, ""); id != "" {
		p.guardrail = &guardrailConfig{
			GuardrailIdentifier: id,
			GuardrailVersion:    repl.ReplaceAll(p.GuardrailVersion, ""),
			Trace:               p.GuardrailTrace,
		}
	}
	return nil
}

// Validate checks the options that do not need placeholders resolved.
func (p *Bedrock) Validate() error { return p.check() }

// validRegion is the shape of an AWS region name (it becomes part of the
// default endpoint's host name).
var validRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-\d+$`)

// check reports contradictory or incomplete options.
func (p *Bedrock) check() error {
	static := p.AccessKeyID != "" || p.SecretAccessKey != ""
	switch {
	case (p.AccessKeyID == "") != (p.SecretAccessKey == ""):
		return fmt.Errorf("access_key_id and secret_access_key go together")
	case p.SessionToken != "" && !static:
		return fmt.Errorf("session_token needs access_key_id and secret_access_key")
	case static && p.Profile != "":
		return fmt.Errorf("profile and static credentials (access_key_id) exclude each other")
	case p.APIKey != "" && (static || p.Profile != "" || p.RoleARN != ""):
		return fmt.Errorf("api_key (a Bedrock API key) replaces AWS credentials: drop access_key_id, profile and role_arn, or api_key")
	case p.RoleARN == "" && (p.RoleSessionName != "" || p.ExternalID != ""):
		return fmt.Errorf("role_session_name and external_id need role_arn")
	case p.GuardrailIdentifier == "" && (p.GuardrailVersion != "" || p.GuardrailTrace != ""):
		return fmt.Errorf("guardrail_version and guardrail_trace need guardrail_identifier")
	case p.GuardrailIdentifier != "" && p.GuardrailVersion == "":
		return fmt.Errorf("guardrail_identifier needs guardrail_version (a number or DRAFT)")
	}
	switch p.GuardrailTrace {
	case "", "enabled", "disabled", "enabled_full":
	default:
		return fmt.Errorf("guardrail_trace must be enabled, disabled or enabled_full, not %q", p.GuardrailTrace)
	}
	return nil
}

// SetName names the provider in error messages.
func (p *Bedrock) SetName(name string) { p.client.Name = name }

// Cleanup closes idle upstream connections.
func (p *Bedrock) Cleanup() error {
	if p.client.HTTP != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// modelURL returns {base}/model/{modelId}/{op}, the model id escaped as the
// AWS SDK escapes it (inference profile and model ARNs hold ':' and '/').
func modelURL(base, model, op string) string {
	return base + "/model/" + httpbinding.EscapePath(model, true) + "/" + op
}

// ChatCompletions implements providers.Provider.
func (p *Bedrock) ChatCompletions(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	var in hubRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	cr, err := p.translateRequest(&in, req.Model)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(cr)
	if err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "encoding the Converse request: "+err.Error())}
	}
	op, accept := "converse", "application/json"
	if req.Stream {
		op, accept = "converse-stream", eventStreamType
	}
	resp, err := p.post(ctx, req.Model, op, accept, body, req.Header)
	if err != nil {
		return nil, err
	}
	out := &providers.Response{Header: relayHeaders(resp.Header)}
	id := completionID(resp.Header)
	if req.Stream {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != eventStreamType {
			resp.Body.Close()
			return nil, p.client.InvalidResponse("a ConverseStream call was answered with Content-Type " +
				strconv.Quote(resp.Header.Get("Content-Type")) + ", not " + eventStreamType)
		}
		out.Stream = newStream(ctx, resp.Body, &p.client, id, req.Model)
		return out, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	out.Body, err = translateResponse(b, id, req.Model, time.Now().Unix())
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	return out, nil
}

// post sends a signed POST of body to the model's operation op.
func (p *Bedrock) post(ctx context.Context, model, op, accept string, body []byte, extra http.Header) (*http.Response, error) {
	return p.send(ctx, &p.client, model, op, accept, body, extra)
}

// send is post with client c (a copy of the provider's whose ParseError
// may note that the upstream answered with an error).
func (p *Bedrock) send(ctx context.Context, c *providers.Client, model, op, accept string, body []byte, extra http.Header) (*http.Response, error) {
	ep, err := p.auth.endpoint(ctx, p.client.Name)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, modelURL(ep.base, model, op), bytesReader(body))
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	hr.Header = p.header.Clone()
	for k, v := range extra {
		if hr.Header.Get(k) == "" {
			hr.Header[k] = v
		}
	}
	hr.Header.Set("Accept", accept)
	if err := ep.sign(ctx, hr, body, p.client.Name); err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, hr)
	if err != nil {
		ep.scrub(err)
		return nil, err
	}
	return resp, nil
}

// completionID is chatcmpl- and Bedrock's request id (random without one).
func completionID(h http.Header) string {
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return "chatcmpl-" + id
	}
	return "chatcmpl-" + strconv.FormatUint(rand.Uint64(), 36)
}

// relayHeaders passes Bedrock's request id on as X-Request-Id.
func relayHeaders(h http.Header) http.Header {
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return http.Header{"X-Request-Id": {id}}
	}
	return nil
}

// Interface guards
var (
	_ providers.Provider          = (*Bedrock)(nil)
	_ providers.MessagesForwarder = (*Bedrock)(nil)
	_ providers.Namer             = (*Bedrock)(nil)
	_ caddy.Provisioner           = (*Bedrock)(nil)
	_ caddy.Validator             = (*Bedrock)(nil)
	_ caddy.CleanerUpper          = (*Bedrock)(nil)
	_ caddyfile.Unmarshaler       = (*Bedrock)(nil)
)
