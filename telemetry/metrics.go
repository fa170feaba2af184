package telemetry

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The GenAI metrics under their Prometheus names: the OpenTelemetry names
// with dots as underscores and the unit as a suffix ("s" → _seconds,
// "{token}" is an annotation and adds none), as an OpenTelemetry
// Prometheus exporter would name them. Their labels are the attributes,
// named the same way.
const (
	MetricTokenUsage        = "gen_ai_client_token_usage"                 // gen_ai.client.token.usage
	MetricOperationDuration = "gen_ai_client_operation_duration_seconds"  // gen_ai.client.operation.duration
	MetricTimeToFirstToken  = "gen_ai_server_time_to_first_token_seconds" // gen_ai.server.time_to_first_token
)

// Bucket boundaries the conventions advise for each metric.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
)

// Label names: the conventions' attributes, then the gateway's own.
var (
	baseLabels     = []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model", "polygate_endpoint", "polygate_provider"}
	tokenLabels    = append(append([]string{}, baseLabels...), "gen_ai_token_type")
	durationLabels = append(append([]string{}, baseLabels...), "error_type")
)

// maxSeries bounds the cache of label-resolved series; past it a Record
// resolves its series again (slower, still correct).
const maxSeries = 4096

// Metrics are the GenAI histograms, registered in a Prometheus registry
// (Caddy's, ctx.GetMetricsRegistry()). A nil *Metrics records nothing.
type Metrics struct {
	tokens   *prometheus.HistogramVec
	duration *prometheus.HistogramVec
	ttft     *prometheus.HistogramVec

	mu     sync.RWMutex
	series map[seriesKey]*series
}

// seriesKey is one combination of label values.
type seriesKey struct {
	endpoint, provider, system, requestModel, responseModel, errorType string
}

// series holds the label-resolved histograms of one seriesKey, each
// resolved on first use so that no empty series is exported.
type series struct {
	labels                        [7]string // the base labels, then a spare
	input, output, duration, ttft atomic.Pointer[observer]
}

type observer struct{ prometheus.Observer }

// get returns the histogram of vec in slot, resolving it with the base
// labels and, when extra is set, one more label value.
func (s *series) get(slot *atomic.Pointer[observer], vec *prometheus.HistogramVec, extra string, withExtra bool) prometheus.Observer {
	if o := slot.Load(); o != nil {
		return o.Observer
	}
	lv, n := s.labels, len(baseLabels)
	if withExtra {
		lv[n] = extra
		n++
	}
	o := &observer{vec.WithLabelValues(lv[:n]...)}
	slot.Store(o) // a concurrent twin resolves the same child
	return o.Observer
}

// NewMetrics creates the histograms and registers them in registry. A
// collector of the same name already there (registered by another site of
// the same config) is reused, so every Provision may call it; Caddy gives
// each config its own registry, so a reload starts them afresh. A nil
// registry gives nil Metrics.
func NewMetrics(registry prometheus.Registerer) (*Metrics, error) {
	if registry == nil {
		return nil, nil
	}
	m := &Metrics{
		tokens: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricTokenUsage,
			Help:    "Number of input and output tokens used (gen_ai.client.token.usage), per request.",
			Buckets: tokenBuckets,
		}, tokenLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricOperationDuration,
			Help:    "GenAI operation duration (gen_ai.client.operation.duration): the whole gateway request, retries included.",
			Buckets: durationBuckets,
		}, durationLabels),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricTimeToFirstToken,
			Help:    "Time to the first token sent to the client for successful streamed responses (gen_ai.server.time_to_first_token).",
			Buckets: ttftBuckets,
		}, baseLabels),
		series: make(map[seriesKey]*series),
	}
	var errs []error
	for _, h := range []**prometheus.HistogramVec{&m.tokens, &m.duration, &m.ttft} {
		if err := registry.Register(*h); err != nil {
			var are prometheus.AlreadyRegisteredError
			existing, ok := (*prometheus.HistogramVec)(nil), false
			if errors.As(err, &are) {
				existing, ok = are.ExistingCollector.(*prometheus.HistogramVec)
			}
			if !ok {
				errs = append(errs, err)
				continue
			}
			*h = existing
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Observation is one finished gateway request, for Metrics.Record. Every
// label value must come from a bounded set (configured names, the
// upstream's model ids), as the gateway's other metrics' do.
type Observation struct {
	// Endpoint is the gateway endpoint (chat/completions, responses,
	// messages, embeddings...): label polygate_endpoint, and
	// gen_ai_operation_name through Operation.
	Endpoint string
	// Provider is the configured provider name (polygate_provider).
	Provider string
	// System is gen_ai_provider_name (see System); empty means Provider.
	System string
	// RequestModel and ResponseModel are gen_ai_request_model and
	// gen_ai_response_model.
	RequestModel, ResponseModel string
	// InputTokens and OutputTokens are recorded when positive.
	InputTokens, OutputTokens int64
	// Duration is the whole request; TTFT the time to the first token
	// sent, recorded when positive and the request succeeded.
	Duration, TTFT time.Duration
	// ErrorType is error_type, empty when the request succeeded.
	ErrorType string
}

// Record observes one finished request. It does not allocate once the
// label combination has been seen.
func (m *Metrics) Record(o Observation) {
	if m == nil {
		return
	}
	if o.System == "" {
		o.System = o.Provider
	}
	s := m.seriesFor(seriesKey{o.Endpoint, o.Provider, o.System, o.RequestModel, o.ResponseModel, o.ErrorType})
	if o.InputTokens > 0 {
		s.get(&s.input, m.tokens, "input", true).Observe(float64(o.InputTokens))
	}
	if o.OutputTokens > 0 {
		s.get(&s.output, m.tokens, "output", true).Observe(float64(o.OutputTokens))
	}
	s.get(&s.duration, m.duration, o.ErrorType, true).Observe(o.Duration.Seconds())
	if o.TTFT > 0 && o.ErrorType == "" {
		s.get(&s.ttft, m.ttft, "", false).Observe(o.TTFT.Seconds())
	}
}

func (m *Metrics) seriesFor(k seriesKey) *series {
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if ok {
		return s
	}
	s = &series{labels: [7]string{Operation(k.endpoint), k.system, k.requestModel, k.responseModel, k.endpoint, k.provider}}
	m.mu.Lock()
	defer m.mu.Unlock()
	if have, ok := m.series[k]; ok {
		return have
	}
	if len(m.series) < maxSeries {
		m.series[k] = s
	}
	return s
}
