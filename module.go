// Package polygate is a Caddy module that turns Caddy into an
// OpenAI-compatible AI gateway: the HTTP handler http.handlers.ai_gateway
// routes each model to its providers, with translation, retries and
// fallbacks. Apps keep their OpenAI SDK and point its base URL at Caddy.
package polygate

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/handlers"
	"github.com/polygate/polygate/pricing"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/telemetry"
	"github.com/polygate/polygate/usage"

	// The usage console handler, ai_gateway_console.
	_ "github.com/polygate/polygate/console"

	// The provider types that ship with Polygate.
	_ "github.com/polygate/polygate/providers/anthropic"
	_ "github.com/polygate/polygate/providers/azure"
	_ "github.com/polygate/polygate/providers/bedrock"
	_ "github.com/polygate/polygate/providers/gemini"
	_ "github.com/polygate/polygate/providers/vertex"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultBasePath is where the OpenAI-compatible API is served: /v1.
const DefaultBasePath = "/v1"

// Handler is an OpenAI-compatible AI gateway. Under its base path it serves
// POST /chat/completions (streamed or not), POST /embeddings, GET /models and
// GET /models/{id}, and passes every other path (responses, completions,
// moderations, images, audio…) through to the provider of the request's
// model or to the default provider. Requests outside the base path go to
// the next handler untouched.
//
// Placeholders set on every gateway request (also access-log fields under
// "ai_gateway"):
//
//	{http.ai_gateway.model}           the public model the client asked for
//	{http.ai_gateway.provider}        the provider that served it
//	{http.ai_gateway.upstream_model}  the provider's model id
type Handler struct {
	// BasePath is the path prefix of the API. Default: /v1.
	BasePath string `json:"base_path,omitempty"`
	// MaxRequestBody bounds request bodies, in bytes; larger ones get 413.
	// Default: 8 MiB.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`
	// DirectModels lets clients address "<provider>/<upstream model>"
	// besides the configured models. Default: true.
	DirectModels *bool `json:"direct_models,omitempty"`
	// DefaultProvider serves pass-through requests that name no model
	// (e.g. GET /v1/files). Default: none (such requests get 400).
	DefaultProvider string `json:"default_provider,omitempty"`
	// ProvidersRaw are the providers by name; the "type" key names the
	// provider module (http.ai_gateway.providers.<type>).
	ProvidersRaw map[string]json.RawMessage `json:"providers,omitempty" caddy:"namespace=http.ai_gateway.providers inline_key=type"`
	// Models are the public models, in the order GET /models lists them.
	Models []*Model `json:"models,omitempty"`
	// GuardrailsRaw are the guardrails, run in this order; the "guardrail"
	// key names the module (http.ai_gateway.guardrails.<name>).
	GuardrailsRaw []json.RawMessage `json:"guardrails,omitempty" caddy:"namespace=http.ai_gateway.guardrails inline_key=guardrail"`
	// Accounting configures callers, plans and quotas, and where usage is
	// recorded; {"disabled": true} turns it off. Default: no
	// authentication, no limits, and every request recorded in a SQLite
	// file in Caddy's data directory.
	Accounting *usage.Config `json:"accounting,omitempty"`
	// Cache configures the exact-match response cache for chat completions
	// and embeddings. Default: off.
	Cache *cache.Config `json:"cache,omitempty"`
	// PricesFile is a file of model prices, in Polygate's format or in
	// LiteLLM's model_prices_and_context_window.json format, merged over
	// the embedded catalogue: its entries win. It prices upstream models
	// whose public model has no price. Default: none.
	PricesFile string `json:"prices_file,omitempty"`
	// PricesCatalogue, when false, leaves the embedded catalogue of list
	// prices out, so that only price lines and PricesFile price models.
	// Default: true.
	PricesCatalogue *bool `json:"prices_catalogue,omitempty"`
	// TraceContent records prompts and completions on the request spans
	// (gen_ai.input.messages, gen_ai.output.messages) when Caddy traces a
	// request. Default: off.
	TraceContent bool `json:"trace_content,omitempty"`
	// Metrics configures the Prometheus metrics (prefix caddy_ai_gateway_,
	// in Caddy's registry, shown at Caddy's /metrics). Default: on,
	// without per-caller labels.
	Metrics *MetricsConfig `json:"metrics,omitempty"`

	providers     map[string]providers.Provider
	providerNames map[string]bool // kept: loading clears ProvidersRaw
	models        map[string]*Model
	guardrails    []guardrails.Guardrail
	usage         *usage.Service
	releaseCache  func()
	metrics       *gatewayMetrics
	genai         *telemetry.Metrics
	systems       map[string]string // provider name → gen_ai.provider.name
	prices        *pricing.Catalogue
	providerTypes map[string]string // provider name → module name (openai, bedrock, …)
	gateway       *handlers.Gateway
	basePath      string
	logger        *zap.Logger
}

// MetricsConfig configures the gateway's metrics.
type MetricsConfig struct {
	// Disabled turns the gateway's metrics off.
	Disabled bool `json:"disabled,omitempty"`
	// PerKey adds per-caller series (label "key": the caller id, never the
	// key itself). Their number grows with the callers. Default: off.
	PerKey bool `json:"per_key,omitempty"`
}

// Model is a public model name and how it is served.
type Model struct {
	// Name is what clients send as "model".
	Name string `json:"name"`
	// Upstreams serve the model; one is chosen at random by weight.
	Upstreams []Upstream `json:"upstreams"`
	// Price is used for cost accounting, in USD per million tokens.
	// Default: each upstream model's price in the catalogue (the embedded
	// one and prices_file), zero when none matches.
	Price *providers.Price `json:"price,omitempty"`
	// Retries is how many more attempts a failed call gets on this model's
	// upstreams (connection errors, timeouts, 429 and 5xx). Default: 0.
	Retries int `json:"retries,omitempty"`
	// Fallbacks are other public models tried in order once the retries
	// are used up. Their own fallbacks are not followed.
	Fallbacks []string `json:"fallbacks,omitempty"`
	// LBPolicyRaw picks among the upstreams; the "policy" key names the
	// module (http.ai_gateway.selection_policies.<name>: weighted,
	// least_busy, lowest_latency). Default: weighted.
	LBPolicyRaw json.RawMessage `json:"lb_policy,omitempty" caddy:"namespace=http.ai_gateway.selection_policies inline_key=policy"`
	// MaxFails is how many consecutive failures cool an upstream of this
	// model down. Default: 3.
	MaxFails int `json:"max_fails,omitempty"`
	// FailDuration is how long a cooled-down upstream is skipped (longer
	// when its Retry-After says so). Default: 30s.
	FailDuration caddy.Duration `json:"fail_duration,omitempty"`

	policy routing.Policy
}

// Upstream is one provider model serving a public model.
type Upstream struct {
	// Provider is the name of a configured provider.
	Provider string `json:"provider"`
	// Model is the provider's model id.
	Model string `json:"model"`
	// Weight is the upstream's relative share of traffic. Default: 1.
	Weight int `json:"weight,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_gateway",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the providers and builds the routes.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.providerNames = make(map[string]bool, len(h.ProvidersRaw))
	for name := range h.ProvidersRaw {
		h.providerNames[name] = true
	}
	if err := h.checkConfig(); err != nil {
		return err
	}
	h.basePath = strings.TrimRight(h.BasePath, "/")
	if h.BasePath == "" {
		h.basePath = DefaultBasePath
	}
	h.providers = make(map[string]providers.Provider, len(h.ProvidersRaw))
	h.providerTypes = make(map[string]string, len(h.ProvidersRaw))
	if len(h.ProvidersRaw) > 0 {
		mods, err := ctx.LoadModule(h, "ProvidersRaw")
		if err != nil {
			return fmt.Errorf("loading providers: %v", err)
		}
		for name, mod := range mods.(map[string]any) {
			p, ok := mod.(providers.Provider)
			if !ok {
				return fmt.Errorf("loading provider %q: module %T is not a provider", name, mod)
			}
			if n, ok := p.(providers.Namer); ok {
				n.SetName(name)
			}
			h.providers[name] = p
			if m, ok := mod.(caddy.Module); ok {
				h.providerTypes[name] = m.CaddyModule().ID.Name()
			}
		}
	}
	if err := h.loadPrices(); err != nil {
		return err
	}
	var chain *guardrails.Chain
	if len(h.GuardrailsRaw) > 0 {
		mods, err := ctx.LoadModule(h, "GuardrailsRaw")
		if err != nil {
			return fmt.Errorf("loading guardrails: %v", err)
		}
		var gs []guardrails.Guardrail
		for i, mod := range mods.([]any) {
			gr, ok := mod.(guardrails.Guardrail)
			if !ok {
				return fmt.Errorf("loading guardrail %d: module %T is not a guardrail", i, mod)
			}
			if !guardrails.Runs(gr) {
				return fmt.Errorf("loading guardrail %q: module %T implements neither guardrails.RequestChecker nor guardrails.OutputChecker", gr.Settings().Name, mod)
			}
			gs = append(gs, gr)
		}
		chain = guardrails.NewChain(gs)
		h.guardrails = gs
	}
	for _, m := range h.Models {
		if m.LBPolicyRaw == nil {
			continue
		}
		mod, err := ctx.LoadModule(m, "LBPolicyRaw")
		if err != nil {
			return fmt.Errorf("model %q: loading lb_policy: %v", m.Name, err)
		}
		p, ok := mod.(routing.Policy)
		if !ok {
			return fmt.Errorf("model %q: lb_policy: module %T is not a selection policy", m.Name, mod)
		}
		m.policy = p
	}
	routes, order := h.buildRoutes()
	h.gateway = &handlers.Gateway{
		Routes:          routes,
		Providers:       h.providers,
		DirectModels:    h.DirectModels == nil || *h.DirectModels,
		DefaultProvider: h.DefaultProvider,
		MaxRequestBody:  h.MaxRequestBody,
		Logger:          h.logger,
		Guardrails:      chain,
		Responses:       memoryResponses,
	}
	if h.prices.Len() > 0 {
		h.gateway.PriceOf = h.catalogPrice
	}
	for _, gr := range h.guardrails {
		if u, ok := gr.(guardrails.ModelUser); ok {
			for _, name := range u.ModelNames() {
				if h.gateway.Resolve(name) == nil {
					return fmt.Errorf("guardrail %q: model %q is not a model of this gateway", gr.Settings().Name, name)
				}
			}
		}
	}
	if h.Cache != nil {
		c, release, err := cache.Open(*h.Cache)
		if err != nil {
			return fmt.Errorf("opening response cache: %v", err)
		}
		h.gateway.Cache, h.releaseCache = c, release
	}
	if h.Accounting == nil || !h.Accounting.Disabled {
		cfg := h.Accounting
		if cfg == nil {
			cfg = new(usage.Config)
		}
		svc, err := usage.Open(ctx, cfg)
		if err != nil {
			return fmt.Errorf("opening usage accounting: %v", err)
		}
		h.usage = svc
		acc := &handlers.Accounting{Service: svc, DefaultPlan: cfg.DefaultPlan}
		if cfg.Auth != nil {
			acc.Identity, acc.Plan = cfg.Auth.Identity, cfg.Auth.Plan
		}
		h.gateway.Accounting = acc
		h.gateway.Responses = handlers.UsageResponses{Service: svc}
	}
	for _, gr := range h.guardrails {
		if s, ok := gr.(guardrails.ModelCallerSetter); ok {
			s.SetModelCaller(h.gateway.ModelCaller(gr.Settings().Name))
		}
	}
	h.gateway.Prepare(order, time.Now())
	h.models = make(map[string]*Model, len(h.Models))
	for _, m := range h.Models {
		h.models[m.Name] = m
	}
	if h.Metrics == nil || !h.Metrics.Disabled {
		m, err := newGatewayMetrics(ctx.GetMetricsRegistry())
		if err != nil {
			return fmt.Errorf("registering metrics: %v", err)
		}
		h.metrics = m
		if h.genai, err = telemetry.NewMetrics(ctx.GetMetricsRegistry()); err != nil {
			return fmt.Errorf("registering metrics: %v", err)
		}
	}
	h.systems = make(map[string]string, len(h.providers))
	for name, p := range h.providers {
		h.systems[name] = telemetry.SystemOf(p)
	}
	h.gateway.Trace = telemetry.Options{TraceContent: h.TraceContent, ProviderSystem: func(name string) string { return h.systems[name] }}
	h.gateway.Done = h.done
	return nil
}

// done is called with every finished gateway call.
func (h *Handler) done(_ *http.Request, c *handlers.Call) {
	if h.metrics != nil {
		model := modelLabel(c, h.models)
		h.metrics.observe(c, model, h.Metrics != nil && h.Metrics.PerKey)
		if c.Provider != "" && c.Provider != "cache" {
			errType := ""
			if c.Status >= 400 {
				errType = telemetry.ErrorType(c.Status, nil)
			}
			h.genai.Record(telemetry.Observation{Endpoint: endpointLabel(c.Endpoint), Provider: c.Provider, System: h.systems[c.Provider],
				RequestModel: model, ResponseModel: h.upstreamModelLabel(c), InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
				Duration: c.Duration, TTFT: c.TTFT, ErrorType: errType})
		}
	}
	if c.Unpriced && unpricedWarned.first(c.Provider, c.UpstreamModel) {
		model := c.UpstreamModel
		if len(model) > 200 {
			model = model[:200] + "…"
		}
		h.logger.Warn("model has no price: its requests are costed at zero; add a price line or a prices_file entry",
			zap.String("provider", c.Provider), zap.String("upstream_model", model))
	}
}

// memoryResponses keeps Responses API state for gateways without
// accounting, across config reloads (bounded: 64 MiB).
var memoryResponses = &handlers.MemoryResponses{}

// endpointLabel bounds the endpoint label: a passed-through path keeps
// its first segment only ("files/file-abc" is "files"), except the
// two-segment API families (images/…, audio/…, messages/…).
func endpointLabel(endpoint string) string {
	first, rest, ok := strings.Cut(endpoint, "/")
	if !ok {
		return endpoint
	}
	switch first {
	case "chat", "images", "audio", "messages", "fine_tuning":
		second, _, _ := strings.Cut(rest, "/")
		return endpoint[:len(first)+1+len(second)]
	}
	return first
}

// upstreamModelLabel bounds the response-model label: the configured
// upstream model of a configured public model; direct models (whose
// names clients choose) share one label per provider.
func (h *Handler) upstreamModelLabel(c *handlers.Call) string {
	if _, ok := h.models[c.Model]; ok {
		return c.UpstreamModel
	}
	return c.Provider + "/*"
}

// unpricedWarned remembers the upstream models already warned about as
// unpriced, once per process.
var unpricedWarned = &warnedSet{seed: maphash.MakeSeed(), seen: make(map[uint64]struct{})}

// warnedSet is a set of hashed names, bounded (maxWarned): clients naming
// direct models cannot grow it, and past the bound nothing more is warned
// (the unpriced metric still counts).
type warnedSet struct {
	mu   sync.Mutex
	seed maphash.Seed
	seen map[uint64]struct{}
}

const maxWarned = 1024

// first reports whether provider/model is seen for the first time.
func (w *warnedSet) first(provider, model string) bool {
	k := maphash.String(w.seed, provider+"\x00"+model)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[k]; ok || len(w.seen) >= maxWarned {
		return false
	}
	w.seen[k] = struct{}{}
	return true
}

func (h *Handler) buildRoutes() (map[string]*routing.Route, []string) {
	routes := make(map[string]*routing.Route, len(h.Models))
	order := make([]string, 0, len(h.Models))
	for _, m := range h.Models {
		r := &routing.Route{Name: m.Name, Retries: m.Retries, Policy: m.policy}
		if m.Price != nil {
			r.Price = *m.Price
		}
		for _, u := range m.Upstreams {
			up := routing.NewUpstream(u.Provider, h.providers[u.Provider], u.Model, u.Weight)
			up.Price = h.catalogPrice(u.Provider, u.Model)
			r.Upstreams = append(r.Upstreams, up)
		}
		r.SetHealth(m.MaxFails, time.Duration(m.FailDuration))
		routes[m.Name] = r
		order = append(order, m.Name)
	}
	for _, m := range h.Models {
		for _, f := range m.Fallbacks {
			routes[m.Name].Fallbacks = append(routes[m.Name].Fallbacks, routes[f])
		}
	}
	return routes, order
}

// loadPrices builds the catalogue that prices upstream models whose
// public model has no price line: the embedded one (unless
// prices_catalogue is off) with prices_file merged over it.
func (h *Handler) loadPrices() error {
	h.prices = nil
	if h.PricesCatalogue == nil || *h.PricesCatalogue {
		h.prices = pricing.Embedded()
	}
	if h.PricesFile != "" {
		file, err := pricing.LoadFile(h.PricesFile)
		if err != nil {
			return fmt.Errorf("loading prices: %v", err)
		}
		h.prices = h.prices.Merge(file)
	}
	return nil
}

// catalogPrice is the catalogue's price of a provider's upstream model,
// zero when no entry matches.
func (h *Handler) catalogPrice(provider, model string) providers.Price {
	e, _ := h.prices.Find(h.providerTypes[provider], model)
	return e.Price
}

// checkConfig finds mistakes in the configuration alone.
func (h *Handler) checkConfig() error {
	if h.providerNames == nil {
		h.providerNames = make(map[string]bool, len(h.ProvidersRaw))
		for name := range h.ProvidersRaw {
			h.providerNames[name] = true
		}
	}
	if h.BasePath != "" && !strings.HasPrefix(h.BasePath, "/") {
		return fmt.Errorf("base_path %q: must start with /", h.BasePath)
	}
	if h.MaxRequestBody < 0 {
		return fmt.Errorf("max_request_body: must not be negative")
	}
	if h.DefaultProvider != "" {
		if !h.providerNames[h.DefaultProvider] {
			return fmt.Errorf("default_provider %q: no such provider", h.DefaultProvider)
		}
	}
	names := make(map[string]bool, len(h.Models))
	for _, m := range h.Models {
		if m == nil || m.Name == "" {
			return fmt.Errorf("model: a name is required")
		}
		if names[m.Name] {
			return fmt.Errorf("model %q: defined more than once", m.Name)
		}
		names[m.Name] = true
		if len(m.Upstreams) == 0 {
			return fmt.Errorf("model %q: at least one upstream is required", m.Name)
		}
		if m.Retries < 0 {
			return fmt.Errorf("model %q: retries must not be negative", m.Name)
		}
		if m.MaxFails < 0 {
			return fmt.Errorf("model %q: max_fails must not be negative", m.Name)
		}
		if m.FailDuration < 0 {
			return fmt.Errorf("model %q: fail_duration must not be negative", m.Name)
		}
		if p := m.Price; p != nil && min(p.Input, p.Output, p.Cached, p.CacheWrite, p.CacheWrite1h, p.Image, p.AudioMinute, p.TTSChars) < 0 {
			return fmt.Errorf("model %q: price must not be negative", m.Name)
		}
		for _, u := range m.Upstreams {
			if !h.providerNames[u.Provider] {
				return fmt.Errorf("model %q: upstream names unknown provider %q", m.Name, u.Provider)
			}
			if u.Model == "" {
				return fmt.Errorf("model %q: upstream of provider %q names no model", m.Name, u.Provider)
			}
			if u.Weight < 0 {
				return fmt.Errorf("model %q: upstream weight must not be negative", m.Name)
			}
		}
	}
	for _, m := range h.Models {
		for _, f := range m.Fallbacks {
			if f == m.Name {
				return fmt.Errorf("model %q: cannot fall back to itself", m.Name)
			}
			if !names[f] {
				return fmt.Errorf("model %q: fallback names unknown model %q", m.Name, f)
			}
		}
	}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error { return h.checkConfig() }

// Cleanup releases the shared response cache and accounting engine; the
// last config using a database flushes its records (or spills them) and
// closes it. Providers
// and guardrails are cleaned up by Caddy.
func (h *Handler) Cleanup() error {
	if h.gateway != nil {
		h.gateway.Release()
	}
	if h.releaseCache != nil {
		h.releaseCache()
	}
	if h.usage != nil {
		return h.usage.Release()
	}
	return nil
}

// ServeHTTP serves the gateway's API under the base path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := strings.CutPrefix(r.URL.Path, h.basePath)
	if !ok || rest == "" || rest[0] != '/' {
		return next.ServeHTTP(w, r)
	}
	g := h.gateway
	switch rest {
	case "/chat/completions":
		g.ServeChat(w, r)
	case "/embeddings":
		g.ServeEmbeddings(w, r)
	case "/models":
		g.ServeModels(w, r, "")
	case "/responses":
		g.ServeResponses(w, r)
	case "/messages":
		g.ServeMessages(w, r)
	case "/messages/count_tokens":
		g.ServeCountTokens(w, r)
	default:
		if id, ok := strings.CutPrefix(rest, "/models/"); ok {
			g.ServeModels(w, r, id)
		} else if id, ok := strings.CutPrefix(rest, "/responses/"); ok {
			g.ServeResponseObject(w, r, id)
		} else {
			g.ServePassthrough(w, r, rest[1:])
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
