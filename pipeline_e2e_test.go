package polygate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/coder/websocket"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// TestDirectModelNamesDoNotGrowMemory: clients naming thousands of distinct
// direct models (each name 32 KiB) leave the heap where it was: routes for
// direct models are not remembered per name.
func TestDirectModelNamesDoNotGrowMemory(t *testing.T) {
	up := newSkewedUpstream(t) // keeps no request bodies
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		max_request_body 1MiB
		provider up openai {
			base_url %s/v1
		}
	}`, up.URL))
	// Warm up: the first requests set up pools, caches and the database.
	send := func(i int) {
		name := fmt.Sprintf("up/%d-%s", i, strings.Repeat("x", 32<<10))
		resp, body := g.Do("POST", "/v1/chat/completions", "application/json",
			`{"model":"`+name+`","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %.200s", resp.StatusCode, body)
		}
	}
	for i := 0; i < 200; i++ {
		send(i)
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		for i := 0; i < 3; i++ {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := 200; i < 3200; i++ {
		send(i)
	}
	// Usage records wait in memory for the writer: measure once every
	// record is stored.
	rows := usageBy(g, "provider", func(rows map[string]usageRow) bool { return rows["up"].Requests >= 3200 })
	if rows["up"].Requests < 3200 {
		t.Fatalf("only %d of 3200 requests were recorded", rows["up"].Requests)
	}
	after := heap()
	if f := os.Getenv("POLYGATE_HEAP_PROFILE"); f != "" {
		out, _ := os.Create(f)
		_ = pprof.WriteHeapProfile(out)
		out.Close()
	}
	growth := int64(after) - int64(before)
	t.Logf("heap before %d MiB, after 3000 distinct direct models %d MiB", before>>20, after>>20)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB after 3000 distinct direct model names; want at most 16 MiB", growth>>20)
	}
}

// TestInvalidUTF8Refused: a body that is not valid UTF-8 is refused before
// any guardrail, tokenizer or provider reads it.
func TestInvalidUTF8Refused(t *testing.T) {
	g, up := startCore(t)
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"mail john\xff@example.com\"}]}"},
		{"/v1/embeddings", "{\"model\":\"embed\",\"input\":\"caf\xe9\"}"},
		{"/v1/responses", "{\"model\":\"gpt-4o-mini\",\"input\":\"\xc3\x28\"}"},
	} {
		before := up.Count()
		resp, body := g.Do("POST", tc.path, "application/json", tc.body)
		e := gatewaytest.ExpectOpenAIError(t, resp, body, http.StatusBadRequest, "invalid_request_error", "")
		if !strings.Contains(e.Error.Message, "UTF-8") {
			t.Errorf("%s: message %q does not say UTF-8", tc.path, e.Error.Message)
		}
		if up.Count() != before {
			t.Errorf("%s: the invalid body reached the upstream", tc.path)
		}
	}
}

// TestModerationCallAccounted: the moderation guardrail's classifier call
// goes through the pipeline: it is accounted to the caller (a usage row for
// the classifier model), counted in metrics and logged under the request
// it was made for.
func TestModerationCallAccounted(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g, logFile := gatewaytest.StartLogged(t, fmt.Sprintf(`	log
	metrics /metrics
	ai_gateway {
		database sqlite %s
		auth keys
		provider up openai {
			base_url %s/v1
		}
		model chat {
			upstream up gpt-4o-mini
		}
		model mod {
			upstream up omni-moderation-latest
			price 1 0
		}
		guardrail moderation {
			model mod
			format openai
		}
	}`, t.TempDir()+"/usage.db", up.URL))
	_, key := g.CreateKey("")
	resp, body := g.DoKey(key, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hello there"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	resp, body = g.DoKey(key, "POST", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"plan an attack"}]}`, nil)
	gatewaytest.ExpectOpenAIError(t, resp, body, http.StatusBadRequest, "invalid_request_error", "content_filter")
	if up.Last().Path != "/v1/moderations" {
		t.Fatalf("the flagged request went on to %s", up.Last().Path)
	}

	// Usage: two classifier calls for this key, next to one chat call.
	rows := usageBy(g, "model", func(rows map[string]usageRow) bool { return rows["mod"].Requests == 2 && rows["chat"].Requests == 2 })
	if rows["mod"].Requests != 2 {
		t.Errorf("usage of the classifier model = %+v, want 2 requests", rows["mod"])
	}
	// Metrics.
	metrics := scrape(t, g.URL+"/metrics")
	if !strings.Contains(metrics, `caddy_ai_gateway_requests_total{model="mod",provider="up",status="200"} 2`) {
		t.Errorf("metrics do not count the classifier calls:\n%s", grepLines(metrics, "requests_total"))
	}
	// Log: the access-log entry of the blocked request names its
	// classifier call.
	line, _ := gatewaytest.WaitLog(t, logFile, func(l map[string]any) bool {
		ai, _ := l["ai_gateway"].(map[string]any)
		return ai != nil && ai["internal_calls"] != nil && l["status"] == float64(400)
	})
	ai := line["ai_gateway"].(map[string]any)
	calls := ai["internal_calls"].([]any)
	call := calls[0].(map[string]any)
	if call["model"] != "mod" || call["endpoint"] != "moderations" || call["origin"] != `guardrail "moderation"` || call["provider"] != "up" {
		t.Errorf("internal call logged as %v", call)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestModelsLogged: GET /models is an identified, logged call.
func TestModelsLogged(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g, logFile := gatewaytest.StartLogged(t, fmt.Sprintf(`	log
	ai_gateway {
		accounting off
		provider up openai {
			base_url %s/v1
		}
		model chat {
			upstream up gpt-4o-mini
		}
	}`, up.URL))
	resp, body := g.Do("GET", "/v1/models", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"chat"`) {
		t.Fatalf("GET /v1/models: %d %s", resp.StatusCode, body)
	}
	line, _ := gatewaytest.WaitLog(t, logFile, func(l map[string]any) bool {
		req, _ := l["request"].(map[string]any)
		return req != nil && req["uri"] == "/v1/models"
	})
	ai, _ := line["ai_gateway"].(map[string]any)
	if ai == nil || ai["endpoint"] != "models" {
		t.Errorf("the access log of GET /v1/models has no ai_gateway fields: %v", line)
	}
}

// skewedUpstream answers chat completions after a delay chosen by the
// model name ("delay-<ms>") and counts the calls per model.
type skewedUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newSkewedUpstream(t *testing.T) *skewedUpstream {
	s := &skewedUpstream{calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var model string
		var ms int
		b := make([]byte, 4096)
		n, _ := r.Body.Read(b)
		if i := strings.Index(string(b[:n]), `"model":"`); i >= 0 {
			model = strings.SplitN(string(b[i+9:n]), `"`, 2)[0]
		}
		fmt.Sscanf(model, "delay-%d", &ms)
		if len(model) > 64 {
			model = "long" // counted, not kept
		}
		s.mu.Lock()
		s.calls[model]++
		s.mu.Unlock()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, model)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *skewedUpstream) count(model string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[model]
}

// TestSelectionPolicies: least_busy and lowest_latency send most traffic
// to the upstream that answers faster, where weighted would split it.
func TestSelectionPolicies(t *testing.T) {
	up := newSkewedUpstream(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		accounting off
		provider up openai {
			base_url %s/v1
		}
		model busy {
			upstream up delay-150
			upstream up delay-1
			lb_policy least_busy
		}
		model latency {
			upstream up delay-60
			upstream up delay-2
			lb_policy lowest_latency
		}
	}`, up.URL))
	chat := func(model string) {
		resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", model, resp.StatusCode, body)
		}
	}
	// least_busy: 8 clients at once; the slow upstream holds its calls
	// longer, so new calls go to the fast one.
	var wg sync.WaitGroup
	var next atomic.Int32
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 120 {
				chat("busy")
			}
		}()
	}
	wg.Wait()
	slow, fast := up.count("delay-150"), up.count("delay-1")
	t.Logf("least_busy: slow upstream %d calls, fast %d", slow, fast)
	if fast < 3*slow {
		t.Errorf("least_busy sent %d calls to the slow upstream and %d to the fast one; want the fast one to take most", slow, fast)
	}
	// lowest_latency: one client; after each upstream's first answer the
	// fast one is preferred.
	for i := 0; i < 40; i++ {
		chat("latency")
	}
	slow, fast = up.count("delay-60"), up.count("delay-2")
	t.Logf("lowest_latency: slow upstream %d calls, fast %d", slow, fast)
	if slow > 3 || fast < 35 {
		t.Errorf("lowest_latency sent %d calls to the slow upstream and %d to the fast one", slow, fast)
	}
}

// TestSameNamedProvidersOnTwoSites: two sites each call a provider
// "openai", with different upstreams; one failing does not cool the other
// down.
func TestSameNamedProvidersOnTwoSites(t *testing.T) {
	bad := newFlakyUpstream(t)
	good := gatewaytest.NewFakeOpenAI(t)
	portA, portB, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	site := func(port int, upURL, model string) string {
		return fmt.Sprintf(`:%d {
	ai_gateway {
		accounting off
		provider openai openai {
			base_url %s/v1
		}
		provider spare openai {
			base_url %s/v1
		}
		model m {
			upstream openai %s
			fallback backup
		}
		model backup {
			upstream spare backup-model
		}
	}
}
`, port, upURL, good.URL, model)
	}
	cf := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n\tgrace_period 1ns\n}\n", admin) +
		site(portA, bad.URL, "500-always") + site(portB, good.URL, "good-model")
	cfg, err := gatewaytest.Adapt(cf)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	a := &gatewaytest.Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", portA)}
	b := &gatewaytest.Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", portB)}
	for i := 0; i < 5; i++ {
		a.Do("POST", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	}
	if n := bad.count("500-always"); n == 0 || n > 3 {
		t.Fatalf("site A's failing upstream was called %d times; want it cooled down after 1..3", n)
	}
	before := good.Count()
	for i := 0; i < 5; i++ {
		resp, body := b.Do("POST", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("site B: %d %s", resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Polygate-Provider"); got != "openai" {
			t.Errorf("site B was served by %q: site A's cooldown reached it", got)
		}
	}
	if good.Count()-before != 5 {
		t.Errorf("site B's upstream got %d of 5 calls", good.Count()-before)
	}
}

// TestRealtimeWebSocket: a WebSocket upgrade on /v1/realtime is relayed
// both ways to the model's provider, with the provider's key in place of
// the client's.
func TestRealtimeWebSocket(t *testing.T) {
	t.Setenv("POLYGATE_TEST_UPSTREAM_KEY", upstreamKey)
	var seenAuth, seenModel atomic.Value
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenAuth.Store(r.Header.Get("Authorization"))
		seenModel.Store(r.URL.Query().Get("model"))
		if r.URL.Path != "/v1/realtime" || r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), data...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(echo.Close)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		accounting off
		provider oa openai {
			base_url %s/v1
			api_key {env.POLYGATE_TEST_UPSTREAM_KEY}
		}
		model realtime {
			upstream oa gpt-realtime-2025-08-28
		}
	}`, echo.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, strings.Replace(g.URL, "http", "ws", 1)+"/v1/realtime?model=realtime",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + gatewaytest.ClientKey}}})
	if err != nil {
		t.Fatalf("dialing through the gateway: %v (response %v)", err, resp)
	}
	defer conn.CloseNow()
	for _, msg := range []struct {
		typ  websocket.MessageType
		data []byte
	}{{websocket.MessageText, []byte(`{"type":"session.update"}`)}, {websocket.MessageBinary, []byte{0, 1, 2, 0xff}}} {
		if err := conn.Write(ctx, msg.typ, msg.data); err != nil {
			t.Fatal(err)
		}
		typ, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != msg.typ || string(data) != "echo:"+string(msg.data) {
			t.Errorf("got %v %q, want %v %q", typ, data, msg.typ, "echo:"+string(msg.data))
		}
	}
	conn.Close(websocket.StatusNormalClosure, "")
	if got := seenAuth.Load(); got != "Bearer "+upstreamKey {
		t.Errorf("upstream saw Authorization %q", got)
	}
	if got := seenModel.Load(); got != "gpt-realtime-2025-08-28" {
		t.Errorf("upstream saw model %q, want the upstream model", got)
	}
}
