package polygate

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/polygate/polygate/handlers"
)

const metricsNamespace = "caddy_ai_gateway"

// gatewayMetrics are the gateway's Prometheus collectors, registered in the
// registry of the Caddy config that loaded them. Label sets are bounded:
// models are the configured public names (direct "<provider>/<model>"
// requests count as "<provider>/*", unknown models as "unknown"), providers
// the configured names, and callers appear only with `metrics per_key`.
type gatewayMetrics struct {
	requests         *prometheus.CounterVec   // model, provider, status
	tokens           *prometheus.CounterVec   // model, provider, kind (input|output|cached)
	cost             *prometheus.CounterVec   // model, provider
	duration         *prometheus.HistogramVec // model, provider, stream
	ttft             *prometheus.HistogramVec // model, provider
	attempts         *prometheus.CounterVec   // model, provider
	fallbacks        *prometheus.CounterVec   // model
	cache            *prometheus.CounterVec   // model, result
	guardrailActions *prometheus.CounterVec   // guardrail, action, category, stage
	quotaRejections  *prometheus.CounterVec   // plan, limit
	keyRequests      *prometheus.CounterVec   // key (per_key only)
	keyCost          *prometheus.CounterVec   // key (per_key only)
	unpriced         *prometheus.CounterVec   // model

	children sync.Map // childKey → *childSet
}

type childKey struct {
	model, provider string
	status          int
	stream          bool
}

// childSet holds the label-resolved collectors of one label combination,
// so a request costs a map lookup, not a label hash per metric.
type childSet struct {
	requests              prometheus.Counter
	input, output, cached prometheus.Counter
	cost                  prometheus.Counter
	duration, ttft        prometheus.Observer
	attempts              prometheus.Counter
}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// newGatewayMetrics creates the collectors and registers them in reg,
// reusing collectors already registered there by an earlier config or
// another site.
func newGatewayMetrics(reg prometheus.Registerer) (*gatewayMetrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: name, Help: help, Buckets: latencyBuckets}, labels)
	}
	m := &gatewayMetrics{
		requests:         counter("requests_total", "Gateway requests by public model, provider and HTTP status.", "model", "provider", "status"),
		tokens:           counter("tokens_total", "Tokens by public model, provider and kind (input, output, cached, cache_write).", "model", "provider", "kind"),
		cost:             counter("cost_usd_total", "Provider cost in USD by public model and provider.", "model", "provider"),
		duration:         histogram("request_duration_seconds", "Time to serve a gateway request.", "model", "provider", "stream"),
		ttft:             histogram("time_to_first_token_seconds", "Time to the first streamed event sent to the client.", "model", "provider"),
		attempts:         counter("upstream_attempts_total", "Upstream calls made, retries included.", "model", "provider"),
		fallbacks:        counter("fallbacks_total", "Requests served by a fallback model.", "model"),
		cache:            counter("cache_requests_total", "Response cache lookups by result (hit, miss, bypass).", "model", "result"),
		guardrailActions: counter("guardrail_actions_total", "Guardrail verdicts by guardrail, action, category and stage.", "guardrail", "action", "category", "stage"),
		quotaRejections:  counter("quota_rejections_total", "Requests rejected by a plan limit.", "plan", "limit"),
		keyRequests:      counter("key_requests_total", "Requests per caller (only with metrics per_key).", "key"),
		keyCost:          counter("key_cost_usd_total", "Provider cost in USD per caller (only with metrics per_key).", "key"),
		unpriced:         counter("unpriced_requests_total", "Requests that used tokens of a model with no known price (costed at zero).", "model"),
	}
	var err error
	for _, field := range m.fields() {
		switch f := field.(type) {
		case **prometheus.CounterVec:
			register(reg, f, &err)
		case **prometheus.HistogramVec:
			register(reg, f, &err)
		}
	}
	return m, err
}

// fields lists pointers to every collector field.
func (m *gatewayMetrics) fields() []any {
	return []any{&m.requests, &m.tokens, &m.cost, &m.duration, &m.ttft, &m.attempts, &m.fallbacks,
		&m.cache, &m.guardrailActions, &m.quotaRejections, &m.keyRequests, &m.keyCost, &m.unpriced}
}

// register registers *c in reg; when an equal collector is already there
// (an earlier config or another site), *c becomes that one.
func register[T prometheus.Collector](reg prometheus.Registerer, c *T, err *error) {
	e := reg.Register(*c)
	if e == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(e, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			*c = existing
			return
		}
	}
	*err = e
}

func (m *gatewayMetrics) child(k childKey) *childSet {
	if cs, ok := m.children.Load(k); ok {
		return cs.(*childSet)
	}
	status := strconv.Itoa(k.status)
	cs := &childSet{
		requests: m.requests.WithLabelValues(k.model, k.provider, status),
		input:    m.tokens.WithLabelValues(k.model, k.provider, "input"),
		output:   m.tokens.WithLabelValues(k.model, k.provider, "output"),
		cached:   m.tokens.WithLabelValues(k.model, k.provider, "cached"),
		cost:     m.cost.WithLabelValues(k.model, k.provider),
		duration: m.duration.WithLabelValues(k.model, k.provider, strconv.FormatBool(k.stream)),
		ttft:     m.ttft.WithLabelValues(k.model, k.provider),
		attempts: m.attempts.WithLabelValues(k.model, k.provider),
	}
	actual, _ := m.children.LoadOrStore(k, cs)
	return actual.(*childSet)
}

// modelLabel bounds the model label to configured names.
func modelLabel(c *handlers.Call, known map[string]*Model) string {
	if _, ok := known[c.Model]; ok {
		return c.Model
	}
	if p, _, ok := strings.Cut(c.Model, "/"); ok && c.Provider == p {
		return p + "/*"
	}
	return "unknown"
}

// observe records one finished call.
func (m *gatewayMetrics) observe(c *handlers.Call, model string, perKey bool) {
	if c.Provider == "" {
		// Answered before any upstream was chosen: no token series for it.
		m.requests.WithLabelValues(model, "", strconv.Itoa(c.Status)).Inc()
		m.observeCaller(c, perKey)
		return
	}
	cs := m.child(childKey{model: model, provider: c.Provider, status: c.Status, stream: c.Stream})
	cs.requests.Inc()
	if c.InputTokens > 0 {
		cs.input.Add(float64(c.InputTokens))
	}
	if c.OutputTokens > 0 {
		cs.output.Add(float64(c.OutputTokens))
	}
	if c.CachedTokens > 0 {
		cs.cached.Add(float64(c.CachedTokens))
	}
	if c.CacheWriteTokens > 0 {
		// Rare: the series is made on first use, not for every model.
		m.tokens.WithLabelValues(model, c.Provider, "cache_write").Add(float64(c.CacheWriteTokens))
	}
	if c.Cost > 0 {
		cs.cost.Add(c.Cost)
	}
	cs.duration.Observe(c.Duration.Seconds())
	if c.TTFT > 0 {
		cs.ttft.Observe(c.TTFT.Seconds())
	}
	if c.Attempts > 0 {
		cs.attempts.Add(float64(c.Attempts))
	}
	if c.Fallback {
		m.fallbacks.WithLabelValues(model).Inc()
	}
	if c.Cache != "" {
		m.cache.WithLabelValues(model, strings.ToLower(c.Cache)).Inc()
	}
	if c.Unpriced {
		m.unpriced.WithLabelValues(model).Inc()
	}
	m.observeCaller(c, perKey)
}

// observeCaller records what is not tied to an upstream.
func (m *gatewayMetrics) observeCaller(c *handlers.Call, perKey bool) {
	for _, v := range c.Guardrails {
		m.guardrailActions.WithLabelValues(v.Guardrail, v.Action, v.Category, v.Stage.String()).Inc()
	}
	if c.QuotaLimit != "" {
		m.quotaRejections.WithLabelValues(c.Plan, c.QuotaLimit).Inc()
	}
	if perKey && c.CallerID != "" {
		m.keyRequests.WithLabelValues(c.CallerID).Inc()
		if c.Cost > 0 {
			m.keyCost.WithLabelValues(c.CallerID).Add(c.Cost)
		}
	}
}
