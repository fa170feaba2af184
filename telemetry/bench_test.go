package telemetry_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/polygate/polygate/telemetry"
)

type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkRequest is what the gateway adds to a traced chat request: its
// request span and one attempt span, with trace context sent upstream,
// under a batching tracer provider as Caddy's `tracing` builds. The server
// span is Caddy's, and counted apart (BenchmarkServerSpan).
func BenchmarkRequest(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
	defer tp.Shutdown(context.Background())
	u, _ := url.Parse("http://127.0.0.1:9999/v1/chat/completions")
	hdr := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer x"}}
	b.ReportAllocs()
	for b.Loop() {
		ctx, server := tp.Tracer("caddy").Start(context.Background(), "handler", trace.WithSpanKind(trace.SpanKindServer))
		ctx, r := telemetry.StartRequest(ctx, "chat/completions", "", telemetry.Options{})
		r.SetRequestModel("gpt-4o-mini")
		actx, a := r.Attempt(ctx, "openai", "gpt-4o-mini", 1)
		req := &http.Request{Method: "POST", URL: u, Header: hdr}
		telemetry.InjectRequest(actx, req)
		a.End(200, nil, "", false)
		r.FirstToken()
		r.End(telemetry.Result{Provider: "openai", ResponseModel: "gpt-4o-mini-2024-07-18", ResponseID: "chatcmpl-1", FinishReasons: []string{"stop"}, InputTokens: 20, OutputTokens: 30, CostUSD: 0.0001, CallerID: "k1", Status: 200})
		server.End()
	}
}

// BenchmarkServerSpan is Caddy's server span alone, for scale.
func BenchmarkServerSpan(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
	defer tp.Shutdown(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		_, server := tp.Tracer("caddy").Start(context.Background(), "handler", trace.WithSpanKind(trace.SpanKindServer))
		server.End()
	}
}
