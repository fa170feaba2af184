package telemetry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/telemetry"
)

// upstream records the traceparent of each request it gets.
func upstream(t *testing.T) (*httptest.Server, chan string) {
	seen := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func traceparent(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// TestProviderRequestsCarryTraceparent: the providers' HTTP client sends
// the attempt span's context upstream, without touching the header the
// provider shares between requests; untraced requests carry none.
func TestProviderRequestsCarryTraceparent(t *testing.T) {
	srv, seen := upstream(t)
	client := &providers.Client{HTTP: srv.Client(), Name: "up"}
	shared := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer sk-upstream"}}

	ctx, server, exp := traced(t)
	ctx, req := telemetry.StartRequest(ctx, "chat/completions", "smart", telemetry.Options{})
	actx, a := req.Attempt(ctx, "up", "gpt-4o", 1)
	resp, err := client.Post(actx, srv.URL+"/v1/chat/completions", []byte(`{}`), shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.End(resp.StatusCode, nil, "", false)
	req.End(telemetry.Result{Status: 200})
	server.End()

	got := <-seen
	attempt := byName(t, exp)["chat gpt-4o"]
	if want := traceparent(attempt.SpanContext); got != want {
		t.Errorf("traceparent = %q, want the attempt span's %q", got, want)
	}
	if len(shared) != 2 || shared.Get("Traceparent") != "" {
		t.Errorf("the shared header was written: %v", shared)
	}
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	expectAttrs(t, attempt, map[string]any{"server.address": "127.0.0.1", "server.port": int64(port)})

	// Passed-through and untraced requests.
	resp, err = client.Post(context.Background(), srv.URL+"/v1/chat/completions", []byte(`{}`), shared, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-seen; got != "" {
		t.Errorf("an untraced request carried traceparent %q", got)
	}
}

// TestUnsampledTraceparent: an unsampled trace still propagates (flags
// 00), so the upstream does not start a trace of its own; no span records.
func TestUnsampledTraceparent(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, span := tp.Tracer("caddy").Start(context.Background(), "handler")
	defer span.End()
	hr, _ := http.NewRequest("POST", "https://api.example.com/v1/chat/completions", nil)
	telemetry.InjectRequest(ctx, hr)
	if got, want := hr.Header.Get("Traceparent"), traceparent(span.SpanContext()); got != want || want[len(want)-2:] != "00" {
		t.Errorf("traceparent = %q, want %q (unsampled)", got, want)
	}
}
