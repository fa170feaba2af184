package telemetry

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// propagator writes W3C Trace Context (traceparent, tracestate). Caddy's
// `tracing` keeps its propagator to itself (it sets no global one), and
// baggage a client sent is not for the providers, so the gateway sends
// trace context only.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// InjectRequest prepares an outgoing provider request req, which the
// caller owns (a copy made with WithContext will do): when ctx carries a
// span context, req gets a copy of its header with traceparent (and
// tracestate) added, so that a header shared between requests is never
// written, and a recording span in ctx gets server.address and
// server.port. Without a span context it does nothing.
func InjectRequest(ctx context.Context, req *http.Request) {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return
	}
	// A new map holding the same values (never written through) and the
	// trace context: cheaper than cloning every value.
	h := make(http.Header, len(req.Header)+2)
	for k, v := range req.Header {
		h[k] = v
	}
	req.Header = h
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
	if span.IsRecording() && req.URL != nil {
		span.SetAttributes(serverAttrs(req)...)
	}
}

// serverAttrs are the upstream's server.address and server.port.
func serverAttrs(req *http.Request) []attribute.KeyValue {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
	}
	n, _ := strconv.Atoi(port)
	return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(n)}
}
