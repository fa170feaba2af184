package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/telemetry"
)

// traced returns a context holding a recording server span, as Caddy's
// `tracing` makes, and the exporter its spans end up in.
func traced(t *testing.T) (context.Context, trace.Span, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, server := tp.Tracer("caddy").Start(context.Background(), "handler", trace.WithSpanKind(trace.SpanKindServer))
	return ctx, server, exp
}

// byName indexes the exported spans; each name must be unique.
func byName(t *testing.T, exp *tracetest.InMemoryExporter) map[string]tracetest.SpanStub {
	t.Helper()
	m := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if _, dup := m[s.Name]; dup {
			t.Fatalf("two spans named %q", s.Name)
		}
		m[s.Name] = s
	}
	return m
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// expectAttrs checks that s has each attribute with the value given.
func expectAttrs(t *testing.T, s tracetest.SpanStub, want map[string]any) {
	t.Helper()
	got := attrs(s)
	for k, w := range want {
		v, ok := got[attribute.Key(k)]
		if !ok {
			t.Errorf("span %q lacks %s", s.Name, k)
			continue
		}
		if g := v.AsInterface(); !equal(g, w) {
			t.Errorf("span %q: %s = %#v, want %#v", s.Name, k, g, w)
		}
	}
}

func equal(got, want any) bool {
	if w, ok := want.([]string); ok {
		g, ok := got.([]string)
		return ok && strings.Join(g, "\x00") == strings.Join(w, "\x00")
	}
	return got == want
}

func systems(name string) string {
	return map[string]string{"oai": "openai", "claude": "anthropic"}[name]
}

// TestSpanTree walks a request through every span kind and checks the
// tree, kinds, names and the attributes in the GenAI conventions.
func TestSpanTree(t *testing.T) {
	ctx, server, exp := traced(t)
	ctx, req := telemetry.StartRequest(ctx, "chat/completions", "", telemetry.Options{ProviderSystem: systems})
	if req == nil {
		t.Fatal("StartRequest under a recording span returned nil")
	}
	req.SetRequestModel("smart") // known once the body is read
	_, g := req.Guardrail(ctx, "pii", "input")
	g.End("flag", "redact")
	c := req.CacheLookup(ctx)
	c.End(false)

	_, a1 := req.Attempt(ctx, "oai", "gpt-4o-2024-08-06", 1)
	fail := &openai.Error{Status: 503, Type: "server_error", Message: "provider \"oai\" is overloaded"}
	a1.End(503, fail, "status 503", true)
	_, a2 := req.Attempt(ctx, "claude", "claude-sonnet-4-5", 2)
	req.FirstToken()
	req.FirstToken() // recorded once
	a2.End(200, nil, "", false)
	req.Content("What is 2+2?", "4") // not recorded: TraceContent is off
	req.End(telemetry.Result{
		ResponseModel: "claude-sonnet-4-5-20250929", Provider: "claude", ResponseID: "msg_01",
		CallerID: "team-a", InputTokens: 120, OutputTokens: 7, CachedTokens: 100, CacheWriteTokens: 20,
		FinishReasons: []string{"stop"}, CostUSD: 0.0042, Status: 200,
	})
	req.End(telemetry.Result{Status: 500}) // ignored
	server.End()

	spans := byName(t, exp)
	if len(spans) != 6 {
		t.Fatalf("exported %d spans, want 6: %v", len(spans), spans)
	}
	srv, r := spans["handler"], spans["chat smart"]
	if r.Parent.SpanID() != srv.SpanContext.SpanID() || r.SpanKind != trace.SpanKindInternal {
		t.Errorf("request span: parent %s kind %s, want child of the server span, internal", r.Parent.SpanID(), r.SpanKind)
	}
	for name, kind := range map[string]trace.SpanKind{
		"guardrail pii":          trace.SpanKindInternal,
		"cache lookup":           trace.SpanKindInternal,
		"chat gpt-4o-2024-08-06": trace.SpanKindClient,
		"chat claude-sonnet-4-5": trace.SpanKindClient,
	} {
		s, ok := spans[name]
		if !ok {
			t.Errorf("no span %q", name)
			continue
		}
		if s.Parent.SpanID() != r.SpanContext.SpanID() {
			t.Errorf("span %q is not a child of the request span", name)
		}
		if s.SpanKind != kind {
			t.Errorf("span %q kind = %s, want %s", name, s.SpanKind, kind)
		}
		if s.InstrumentationScope.Name != telemetry.ScopeName {
			t.Errorf("span %q scope = %q", name, s.InstrumentationScope.Name)
		}
	}

	expectAttrs(t, r, map[string]any{
		"gen_ai.operation.name":                    "chat",
		"gen_ai.request.model":                     "smart",
		"polygate.endpoint":                        "chat/completions",
		"gen_ai.provider.name":                     "anthropic",
		"polygate.provider":                        "claude",
		"gen_ai.response.model":                    "claude-sonnet-4-5-20250929",
		"gen_ai.response.id":                       "msg_01",
		"gen_ai.response.finish_reasons":           []string{"stop"},
		"gen_ai.usage.input_tokens":                int64(120),
		"gen_ai.usage.output_tokens":               int64(7),
		"gen_ai.usage.cache_read.input_tokens":     int64(100),
		"gen_ai.usage.cache_creation.input_tokens": int64(20),
		"polygate.cost_usd":                        0.0042,
		"polygate.caller.id":                       "team-a",
		"http.response.status_code":                int64(200),
	})
	if ttft, ok := attrs(r)["gen_ai.response.time_to_first_chunk"]; !ok || ttft.AsFloat64() < 0 {
		t.Errorf("gen_ai.response.time_to_first_chunk = %v, %v", ttft.AsInterface(), ok)
	}
	if len(r.Events) != 1 || r.Events[0].Name != "polygate.first_token" {
		t.Errorf("request events = %v, want one polygate.first_token", r.Events)
	}
	if r.Status.Code != codes.Unset {
		t.Errorf("request status = %v, want unset", r.Status)
	}
	for _, k := range []attribute.Key{"gen_ai.input.messages", "gen_ai.output.messages", "error.type"} {
		if _, ok := attrs(r)[k]; ok {
			t.Errorf("request span has %s", k)
		}
	}

	a := spans["chat gpt-4o-2024-08-06"]
	expectAttrs(t, a, map[string]any{
		"gen_ai.operation.name":     "chat",
		"gen_ai.provider.name":      "openai",
		"gen_ai.request.model":      "gpt-4o-2024-08-06",
		"polygate.provider":         "oai",
		"polygate.attempt":          int64(1),
		"http.response.status_code": int64(503),
		"error.type":                "503",
		"polygate.retry_reason":     "status 503",
		"polygate.cooldown":         true,
	})
	if a.Status.Code != codes.Error || a.Status.Description != fail.Message {
		t.Errorf("failed attempt status = %+v", a.Status)
	}
	ok := spans["chat claude-sonnet-4-5"]
	expectAttrs(t, ok, map[string]any{"polygate.attempt": int64(2), "gen_ai.provider.name": "anthropic", "http.response.status_code": int64(200)})
	for _, k := range []attribute.Key{"error.type", "polygate.retry_reason", "polygate.cooldown"} {
		if _, has := attrs(ok)[k]; has {
			t.Errorf("successful attempt has %s", k)
		}
	}
	if ok.Status.Code != codes.Unset {
		t.Errorf("successful attempt status = %v", ok.Status)
	}
	expectAttrs(t, spans["guardrail pii"], map[string]any{
		"polygate.guardrail.name": "pii", "polygate.guardrail.stage": "input",
		"polygate.guardrail.verdict": "flag", "polygate.guardrail.action": "redact",
	})
	expectAttrs(t, spans["cache lookup"], map[string]any{"polygate.cache.hit": false})
}

// TestRequestFailed: an error type marks the request span failed.
func TestRequestFailed(t *testing.T) {
	ctx, server, exp := traced(t)
	_, req := telemetry.StartRequest(ctx, "embeddings", "", telemetry.Options{})
	req.End(telemetry.Result{Status: 429, ErrorType: telemetry.ErrorType(429, nil)})
	server.End()
	r := byName(t, exp)["embeddings"] // no model: the operation alone
	expectAttrs(t, r, map[string]any{"gen_ai.operation.name": "embeddings", "error.type": "429", "http.response.status_code": int64(429)})
	if r.Status.Code != codes.Error {
		t.Errorf("status = %v, want error", r.Status)
	}
	for _, k := range []attribute.Key{"gen_ai.request.model", "gen_ai.provider.name", "gen_ai.usage.input_tokens", "polygate.caller.id"} {
		if _, ok := attrs(r)[k]; ok {
			t.Errorf("span has %s though the result has none", k)
		}
	}
}

// TestGuardrailContext: a model call a guardrail makes is its child.
func TestGuardrailContext(t *testing.T) {
	ctx, server, exp := traced(t)
	ctx, req := telemetry.StartRequest(ctx, "messages", "claude", telemetry.Options{})
	gctx, g := req.Guardrail(ctx, "moderation", "output")
	_, inner := telemetry.StartRequest(gctx, "moderations", "omni-moderation-latest", telemetry.Options{})
	inner.End(telemetry.Result{Status: 200})
	g.End("pass", "")
	req.End(telemetry.Result{Status: 200})
	server.End()
	spans := byName(t, exp)
	if spans["moderations omni-moderation-latest"].Parent.SpanID() != spans["guardrail moderation"].SpanContext.SpanID() {
		t.Error("the guardrail's model call is not a child of the guardrail span")
	}
	expectAttrs(t, spans["chat claude"], map[string]any{"gen_ai.operation.name": "chat", "polygate.endpoint": "messages"})
	if _, ok := attrs(spans["guardrail moderation"])["polygate.guardrail.action"]; ok {
		t.Error("an empty action was recorded")
	}
}

// TestContent: prompts and completions are recorded only with
// TraceContent, as the conventions' message JSON, cut to MaxContentBytes.
func TestContent(t *testing.T) {
	for _, on := range []bool{false, true} {
		ctx, server, exp := traced(t)
		_, req := telemetry.StartRequest(ctx, "responses", "gpt-4o", telemetry.Options{TraceContent: on})
		prompt := "Say hi to Zoë. " + strings.Repeat("é", telemetry.MaxContentBytes) // cut inside the é's
		req.Content(prompt, "Hi Zoë!")
		req.End(telemetry.Result{Status: 200, FinishReasons: []string{"stop"}})
		server.End()
		a := attrs(byName(t, exp)["chat gpt-4o"])
		in, hasIn := a["gen_ai.input.messages"]
		out, hasOut := a["gen_ai.output.messages"]
		if !on {
			if hasIn || hasOut {
				t.Errorf("content recorded without TraceContent: %v %v", in.AsString(), out.AsString())
			}
			continue
		}
		if !hasIn || !hasOut {
			t.Fatalf("content missing with TraceContent: %v", a)
		}
		type msg struct {
			Role         string `json:"role"`
			FinishReason string `json:"finish_reason"`
			Parts        []struct{ Type, Content string }
		}
		var ins, outs []msg
		if err := json.Unmarshal([]byte(in.AsString()), &ins); err != nil || len(ins) != 1 || ins[0].Role != "user" || len(ins[0].Parts) != 1 || ins[0].Parts[0].Type != "text" {
			t.Fatalf("gen_ai.input.messages = %.200s (%v)", in.AsString(), err)
		}
		got := ins[0].Parts[0].Content
		if len(got) > telemetry.MaxContentBytes || !strings.HasPrefix(prompt, got) || len(got) < telemetry.MaxContentBytes-1 {
			t.Errorf("recorded prompt has %d bytes, want the prompt cut to at most %d on a rune boundary", len(got), telemetry.MaxContentBytes)
		}
		if err := json.Unmarshal([]byte(out.AsString()), &outs); err != nil || len(outs) != 1 || outs[0].Role != "assistant" ||
			outs[0].FinishReason != "stop" || outs[0].Parts[0].Content != "Hi Zoë!" {
			t.Errorf("gen_ai.output.messages = %s (%v)", out.AsString(), err)
		}
		if v := a["polygate.content.truncated"]; !v.AsBool() {
			t.Error("a cut prompt is not marked polygate.content.truncated")
		}
	}
}

// TestNoRecordingSpan: without tracing, or with an unsampled trace, there
// is no Request, every method is safe on nil and nothing allocates.
func TestNoRecordingSpan(t *testing.T) {
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	uctx, uspan := unsampled.Tracer("caddy").Start(context.Background(), "handler")
	defer uspan.End()
	if !uspan.SpanContext().IsValid() || uspan.IsRecording() {
		t.Fatal("the unsampled span should be valid and not recording")
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	hreq, _ := http.NewRequest("POST", "https://api.example.com/v1/chat/completions", nil)
	hreq.Header = hdr
	res := telemetry.Result{Provider: "p", InputTokens: 3, FinishReasons: []string{"stop"}, Status: 200}
	err := errors.New("boom")

	for name, ctx := range map[string]context.Context{"no span": context.Background(), "unsampled": uctx} {
		run := func() {
			rctx, req := telemetry.StartRequest(ctx, "chat/completions", "gpt-4o", telemetry.Options{TraceContent: true})
			if req != nil || rctx != ctx {
				t.Fatalf("%s: StartRequest = %v, %v; want the same context and nil", name, rctx, req)
			}
			req.SetRequestModel("gpt-4o")
			gctx, g := req.Guardrail(rctx, "pii", "input")
			g.End("pass", "")
			req.CacheLookup(gctx).End(true)
			actx, a := req.Attempt(rctx, "p", "m", 1)
			if actx != ctx || a != nil {
				t.Fatalf("%s: Attempt made a span", name)
			}
			a.End(500, err, "status 500", true)
			req.FirstToken()
			req.Content("prompt", "completion")
			req.End(res)
		}
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, n)
		}
	}
	// Without a span context the outgoing request is left alone.
	if n := testing.AllocsPerRun(100, func() { telemetry.InjectRequest(context.Background(), hreq) }); n != 0 {
		t.Errorf("InjectRequest without a span: %v allocations, want 0", n)
	}
	if len(hreq.Header) != 1 || hreq.Header.Get("Traceparent") != "" {
		t.Errorf("header changed without a span: %v", hreq.Header)
	}
}
