// Package telemetry adds OpenTelemetry spans and Prometheus metrics in the
// OpenTelemetry GenAI semantic conventions (semconv v1.41.0) to gateway
// requests.
//
// Spans are made with the tracer provider of the span already in the
// request's context, which is the server span of Caddy's `tracing`
// directive when it is on. Without a recording span there (tracing off, or
// the trace not sampled) StartRequest returns a nil *Request, every method
// of which does nothing and allocates nothing.
//
// The span tree of one request:
//
//	handler                          server    (Caddy's `tracing`)
//	└── chat gpt-4o                  internal  Request: the gateway's operation
//	    ├── guardrail pii            internal  Guardrail
//	    ├── cache lookup             internal  CacheSpan
//	    ├── chat gpt-4o-2024-08-06   client    Attempt 1 (traceparent sent upstream)
//	    └── chat claude-sonnet-4-5   client    Attempt 2 (a retry or fallback)
//
// Prompts and completions are recorded only with Options.TraceContent; keys
// never are. Metrics holds the gen_ai_* Prometheus histograms.
package telemetry

// ScopeName is the instrumentation scope of the gateway's spans.
const ScopeName = "github.com/polygate/polygate"
