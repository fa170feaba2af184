package polygate_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes what Caddy's
// exporter sends and keeps the spans.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				o.spans = append(o.spans, ss.Spans...)
			}
		}
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *otlpReceiver) all() []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.Span(nil), o.spans...)
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// TestTracingToOTLP: through Caddy's tracing directive to an OTLP
// receiver, a streamed chat that falls back after a 500, a cache hit and a
// guardrail block give the GenAI span tree; no key and no prompt text is
// in any span (trace_content is off).
func TestTracingToOTLP(t *testing.T) {
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.URL+"/v1/traces")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	up := gatewaytest.NewFakeOpenAI(t)
	site := fmt.Sprintf(`	tracing {
		span polygate
	}
	ai_gateway {
		provider up openai {
			base_url %s/v1
			api_key sk-upstream-secret-0123456789
		}
		model flaky {
			upstream up error-500
			fallback ok
		}
		model ok {
			upstream up gpt-4o-mini
		}
		guardrail pii {
			on input
			action redact
			detect email
		}
		guardrail regex {
			on input
			deny "forbidden"
		}
		cache
	}`, up.URL)
	g := gatewaytest.Start(t, site)
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"flaky","stream":true,"messages":[{"role":"user","content":"stream me"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("fallback stream: %d %s", resp.StatusCode, body)
	}
	const prompt = `{"model":"ok","messages":[{"role":"user","content":"secret-prompt-text"}]}`
	g.Do("POST", "/v1/chat/completions", "application/json", prompt)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, _ := g.Do("POST", "/v1/chat/completions", "application/json", prompt); resp.Header.Get("X-Polygate-Cache") == "HIT" {
			break
		}
	}
	if resp, _ := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"ok","messages":[{"role":"user","content":"forbidden"}]}`); resp.StatusCode != 400 {
		t.Fatalf("guardrail block: %d", resp.StatusCode)
	}
	// Unloading the config shuts the tracer provider down, which flushes.
	g.Reload(`	respond "bye"`)
	var spans []*tracepb.Span
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if spans = rcv.all(); len(spans) > 0 {
			break
		}
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	children := func(parent *tracepb.Span) []*tracepb.Span {
		var out []*tracepb.Span
		for _, s := range spans {
			if string(s.ParentSpanId) == string(parent.SpanId) {
				out = append(out, s)
			}
		}
		return out
	}
	var fallback, hit, blocked *tracepb.Span
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), "secret-prompt-text") || strings.Contains(kv.Value.String(), "sk-upstream-secret") {
				t.Errorf("span %q holds a prompt or a key: %s", s.Name, kv)
			}
		}
		switch {
		case s.Name == "chat flaky":
			fallback = s
		case s.Name == "chat ok" && attr(s, "http.response.status_code").GetIntValue() == 400:
			blocked = s
		case s.Name == "chat ok":
			for _, c := range children(s) {
				if c.Name == "cache lookup" && attr(c, "polygate.cache.hit").GetBoolValue() {
					hit = s
				}
			}
		}
	}
	if fallback == nil || hit == nil || blocked == nil {
		names := []string{}
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("missing request spans (fallback %v, cache hit %v, block %v) among %q", fallback != nil, hit != nil, blocked != nil, names)
	}
	if p := byID[string(fallback.ParentSpanId)]; p == nil || p.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the request span is not under Caddy's server span")
	}
	var attempts []*tracepb.Span
	for _, c := range children(fallback) {
		if c.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			attempts = append(attempts, c)
		}
	}
	if len(attempts) != 2 || attempt(attempts, 1) == nil || attempt(attempts, 2) == nil {
		t.Fatalf("fallback attempts: %d client spans", len(attempts))
	}
	first, second := attempt(attempts, 1), attempt(attempts, 2)
	if attr(first, "http.response.status_code").GetIntValue() != 500 || first.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || attr(first, "polygate.retry_reason") == nil {
		t.Errorf("failed attempt: %v", first.Attributes)
	}
	if attr(second, "gen_ai.request.model").GetStringValue() != "gpt-4o-mini" || attr(second, "gen_ai.provider.name").GetStringValue() != "openai" {
		t.Errorf("second attempt: %v", second.Attributes)
	}
	if attr(fallback, "gen_ai.usage.input_tokens").GetIntValue() == 0 || attr(fallback, "gen_ai.response.time_to_first_chunk") == nil {
		t.Errorf("streamed request span: %v", fallback.Attributes)
	}
	// One span per guardrail, in the chain's order: pii passed, regex
	// blocked.
	guards := map[string]*tracepb.Span{}
	for _, c := range children(blocked) {
		if attr(c, "polygate.guardrail.stage").GetStringValue() == "input" {
			guards[attr(c, "polygate.guardrail.name").GetStringValue()] = c
		}
	}
	if pii := guards["pii"]; pii == nil || pii.Name != "guardrail pii" || attr(pii, "polygate.guardrail.verdict").GetStringValue() != "pass" || attr(pii, "polygate.guardrail.action") != nil {
		t.Errorf("pii guardrail span: %v", pii)
	}
	if re := guards["regex"]; re == nil || attr(re, "polygate.guardrail.verdict").GetStringValue() != "block" || attr(re, "polygate.guardrail.action").GetStringValue() != "block" {
		t.Errorf("regex guardrail span: %v", re)
	} else if guards["pii"] != nil && re.StartTimeUnixNano < guards["pii"].EndTimeUnixNano {
		t.Errorf("regex ran before pii ended")
	}
}

func attempt(spans []*tracepb.Span, n int64) *tracepb.Span {
	for _, s := range spans {
		if attr(s, "polygate.attempt").GetIntValue() == n {
			return s
		}
	}
	return nil
}
