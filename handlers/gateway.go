// Package handlers serves the gateway's endpoints: chat completions,
// embeddings, the model list and the pass-through of other OpenAI paths. It
// composes the providers, guardrails, usage and cache packages; the Caddy
// module in the repository root wires configuration into a Gateway.
package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/telemetry"
)

// DefaultMaxRequestBody bounds a request body unless configured: 8 MiB.
const DefaultMaxRequestBody = 8 << 20

// Placeholders set on every gateway request.
const (
	PlaceholderModel         = "http.ai_gateway.model"
	PlaceholderProvider      = "http.ai_gateway.provider"
	PlaceholderUpstreamModel = "http.ai_gateway.upstream_model"
)

// Response headers that say what happened.
const (
	HeaderProvider = "X-Polygate-Provider"
	HeaderAttempts = "X-Polygate-Attempts"
)

// Gateway serves the OpenAI-compatible endpoints. Its fields are set once
// when the config is loaded and only read afterwards.
type Gateway struct {
	// Routes maps public model names to their routes.
	Routes map[string]*routing.Route
	// Providers maps provider names to providers.
	Providers map[string]providers.Provider
	// DirectModels lets clients address "<provider>/<upstream model>".
	DirectModels bool
	// PriceOf, when set, prices a direct model: the provider's configured
	// name and the upstream model id. Nil prices direct models at zero.
	PriceOf func(provider, model string) providers.Price
	// DefaultProvider serves pass-through requests that name no model.
	DefaultProvider string
	// MaxRequestBody bounds request bodies; 0 means DefaultMaxRequestBody.
	MaxRequestBody int64
	// Logger logs at debug level on the hot path.
	Logger *zap.Logger
	// Accounting identifies callers, enforces plans and records usage;
	// nil means off.
	Accounting *Accounting
	// Cache answers repeated requests; nil means off.
	Cache *cache.Cache
	// Responses keeps Responses API state (previous_response_id, GET
	// /responses/{id}); nil means none is kept.
	Responses ResponseStore
	// Guardrails check input and output; nil means none.
	Guardrails *guardrails.Chain
	// Trace configures the OpenTelemetry spans of requests Caddy traces.
	Trace telemetry.Options
	// Done, if set, is called with every finished call (metrics,
	// accounting). It must not block.
	Done func(r *http.Request, c *Call)

	modelList       []byte // GET /models answer
	anthropicModels []byte // GET /models answer in Anthropic's shape
	modelOrder      []string
	modelsCreated   time.Time
	modelJSON       map[string][]byte // GET /models/{id} answers
	direct          routing.DirectHealth
	// defaultRoute serves pass-through requests that name no model.
	defaultRoute *routing.Route
}

// Prepare precomputes the answers that depend only on configuration; call
// it once after setting the fields. created is the models' creation time.
func (g *Gateway) Prepare(order []string, created time.Time) {
	if g.MaxRequestBody <= 0 {
		g.MaxRequestBody = DefaultMaxRequestBody
	}
	g.modelJSON = make(map[string][]byte, len(order))
	list := []byte(`{"object":"list","data":[`)
	for i, name := range order {
		owner := "polygate"
		if r := g.Routes[name]; r != nil && len(r.Upstreams) > 0 {
			owner = r.Upstreams[0].ProviderName
		}
		m := modelObject(name, owner, created)
		g.modelJSON[name] = m
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, m...)
	}
	g.modelList = append(list, "]}"...)
	g.modelOrder, g.modelsCreated = order, created
	g.anthropicModels = messages.ModelList(order, created)
	if p, ok := g.Providers[g.DefaultProvider]; ok {
		g.defaultRoute = &routing.Route{Name: g.DefaultProvider, Upstreams: []*routing.Upstream{routing.NewUpstream(g.DefaultProvider, p, "", 1)}}
	}
}

// Release gives back what the gateway holds in shared pools (its
// upstreams' health); call it when the config is unloaded.
func (g *Gateway) Release() {
	for _, r := range g.Routes {
		r.Release()
	}
	if g.defaultRoute != nil {
		g.defaultRoute.Release()
	}
}

func modelObject(id, owner string, created time.Time) []byte {
	b := []byte(`{"id":`)
	b = openai.AppendString(b, id)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, created.Unix(), 10)
	b = append(b, `,"owned_by":`...)
	b = openai.AppendString(b, owner)
	return append(b, '}')
}

// Resolve finds the route of a public model name, or of
// "<provider>/<upstream model>" when direct models are allowed.
func (g *Gateway) Resolve(model string) *routing.Route {
	if r, ok := g.Routes[model]; ok {
		return r
	}
	if !g.DirectModels {
		return nil
	}
	name, upstream, ok := strings.Cut(model, "/")
	if !ok || upstream == "" {
		return nil
	}
	p, ok := g.Providers[name]
	if !ok {
		return nil
	}
	up := routing.NewDirectUpstream(&g.direct, name, p, upstream)
	if g.PriceOf != nil {
		up.Price = g.PriceOf(name, upstream)
	}
	return &routing.Route{Name: model, Upstreams: []*routing.Upstream{up}}
}

func modelNotFound(model string) *openai.Error {
	return &openai.Error{
		Status:  http.StatusNotFound,
		Type:    openai.TypeInvalidRequest,
		Param:   "model",
		Code:    "model_not_found",
		Message: "The model `" + model + "` does not exist or you do not have access to it.",
	}
}

// readBody reads the whole request body, bounded by MaxRequestBody.
func (g *Gateway) readBody(r *http.Request) ([]byte, *openai.Error) {
	max := g.MaxRequestBody
	tooLarge := func() *openai.Error {
		return &openai.Error{
			Status:  http.StatusRequestEntityTooLarge,
			Type:    openai.TypeInvalidRequest,
			Code:    "request_too_large",
			Message: "request body is larger than the gateway's limit of " + strconv.FormatInt(max, 10) + " bytes",
		}
	}
	if r.ContentLength > max {
		return nil, tooLarge()
	}
	if r.ContentLength >= 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, bodyReadError(err)
		}
		return buf, nil
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(r.Body, max+1)); err != nil {
		return nil, bodyReadError(err)
	}
	if int64(b.Len()) > max {
		return nil, tooLarge()
	}
	return b.Bytes(), nil
}

func bodyReadError(err error) *openai.Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &openai.Error{Status: http.StatusRequestEntityTooLarge, Type: openai.TypeInvalidRequest,
			Code: "request_too_large", Message: "request body is too large"}
	}
	return &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest,
		Message: "reading the request body: " + err.Error()}
}

// getNoCopy is gjson.GetBytes without its copy of the result: the result
// refers to body's memory, which must not change while it is used.
func getNoCopy(body []byte, path string) gjson.Result {
	return gjson.Get(unsafe.String(unsafe.SliceData(body), len(body)), path)
}

// parseObject checks that body is a JSON object and returns it parsed. The
// results refer to body's memory, which must not change while they are used.
func parseObject(body []byte) (gjson.Result, *openai.Error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return gjson.Result{}, openai.InvalidRequest("", "the request body is empty; expected a JSON object")
	}
	s := unsafe.String(unsafe.SliceData(body), len(body))
	if body[0] != '{' || !gjson.Valid(s) {
		return gjson.Result{}, openai.InvalidRequest("", "the request body is not valid JSON; expected a JSON object")
	}
	return gjson.Parse(s), nil
}

// trimmedOffset is how many bytes of leading white space parseObject skipped.
func trimmedOffset(body []byte) int { return len(body) - len(bytes.TrimLeft(body, " \t\r\n")) }

// logFields adds the call's fields to Caddy's access log entry, unless
// the server keeps no access log.
func logFields(r *http.Request, c *Call) {
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.Logs == nil {
		return
	}
	extra, _ := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields)
	if extra == nil {
		return
	}
	extra.Add(zap.Object("ai_gateway", c))
}

func (g *Gateway) debug(msg string, fields ...zap.Field) {
	if g.Logger == nil {
		return
	}
	if ce := g.Logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(fields...)
	}
}
