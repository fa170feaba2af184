package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// fakeProvider answers by upstream model: "fail-503" and "fail-400" fail
// with that status, anything else answers a chat completion. It keeps the
// bodies it was sent.
type fakeProvider struct {
	mu     sync.Mutex
	bodies []string
}

func (p *fakeProvider) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...)
}

func (p *fakeProvider) answer(req *providers.Request) (*providers.Response, error) {
	p.mu.Lock()
	p.bodies = append(p.bodies, string(req.Body))
	p.mu.Unlock()
	switch req.Model {
	case "fail-503":
		return nil, &providers.Error{Err: &openai.Error{Status: 503, Type: openai.TypeServer, Message: "overloaded"}}
	case "fail-400":
		return nil, &providers.Error{Err: &openai.Error{Status: 400, Type: openai.TypeInvalidRequest, Message: "bad temperature"}}
	}
	return &providers.Response{Body: []byte(`{"id":"c","object":"chat.completion","model":"` + req.Model +
		`","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)}, nil
}

func (p *fakeProvider) ChatCompletions(_ context.Context, req *providers.Request) (*providers.Response, error) {
	return p.answer(req)
}

func (p *fakeProvider) Embeddings(_ context.Context, req *providers.Request) (*providers.Response, error) {
	return p.answer(req)
}

func (p *fakeProvider) Forward(_ context.Context, fr *providers.ForwardRequest) (*http.Response, error) {
	p.mu.Lock()
	p.bodies = append(p.bodies, string(fr.Body))
	p.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"results":[{"flagged":false}]}`))}, nil
}

// testGateway is a gateway over one fake provider with models:
// "ok" (→ up-ok), "retry" (fail-503 then up-ok, one retry),
// "refused" (fail-400, three retries), "down" (fail-503 only).
func testGateway(t *testing.T) (*Gateway, *fakeProvider, func() []*Call) {
	t.Helper()
	p := &fakeProvider{}
	route := func(name string, retries int, models ...string) *routing.Route {
		r := &routing.Route{Name: name, Retries: retries}
		for _, m := range models {
			r.Upstreams = append(r.Upstreams, routing.NewUpstream(t.Name(), p, m, 1))
		}
		return r
	}
	g := &Gateway{
		Routes: map[string]*routing.Route{
			"ok":      route("ok", 0, "up-ok"),
			"retry":   route("retry", 1, "fail-503"),
			"refused": route("refused", 3, "fail-400"),
			"down":    route("down", 0, "fail-503"),
		},
		Providers: map[string]providers.Provider{"fake": p},
	}
	// "retry" falls back to "ok" after its retry.
	g.Routes["retry"].Fallbacks = []*routing.Route{g.Routes["ok"]}
	g.Prepare([]string{"ok", "retry", "refused", "down"}, time.Unix(0, 0))
	t.Cleanup(g.Release)
	var mu sync.Mutex
	var done []*Call
	g.Done = func(_ *http.Request, c *Call) {
		mu.Lock()
		done = append(done, c)
		mu.Unlock()
	}
	return g, p, func() []*Call {
		mu.Lock()
		defer mu.Unlock()
		return append([]*Call(nil), done...)
	}
}

func post(g *Gateway, serve func(http.ResponseWriter, *http.Request), body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	serve(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
	return w
}

// TestPipelineOneExit: every request, answered or refused at any step, is
// finished exactly once, with the status the client got, and every error
// is in OpenAI's shape.
func TestPipelineOneExit(t *testing.T) {
	g, _, done := testGateway(t)
	cases := []struct {
		name, method, body string
		status             int
	}{
		{"answered", "POST", `{"model":"ok","messages":[]}`, 200},
		{"retried then fell back", "POST", `{"model":"retry","messages":[]}`, 200},
		{"method", "GET", ``, 405},
		{"not JSON", "POST", `{"model":`, 400},
		{"not UTF-8", "POST", "{\"model\":\"ok\",\"messages\":[\"\xff\"]}", 400},
		{"no messages", "POST", `{"model":"ok"}`, 400},
		{"unknown model", "POST", `{"model":"nope","messages":[]}`, 404},
		{"upstream refused", "POST", `{"model":"refused","messages":[]}`, 400},
		{"upstream down", "POST", `{"model":"down","messages":[]}`, 503},
	}
	for i, tc := range cases {
		w := httptest.NewRecorder()
		g.ServeChat(w, httptest.NewRequest(tc.method, "/v1/chat/completions", strings.NewReader(tc.body)))
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, w.Code, tc.status, w.Body)
		}
		if tc.status != 200 {
			if e := gjson.GetBytes(w.Body.Bytes(), "error.message"); e.Str == "" {
				t.Errorf("%s: not an OpenAI error: %s", tc.name, w.Body)
			}
		}
		calls := done()
		if len(calls) != i+1 {
			t.Fatalf("%s: %d calls finished after %d requests", tc.name, len(calls), i+1)
		}
		if got := calls[i].Status; got != tc.status {
			t.Errorf("%s: call recorded status %d, client got %d", tc.name, got, tc.status)
		}
	}
	if c := done()[1]; c.Attempts != 3 || !c.Fallback || c.UpstreamModel != "up-ok" {
		t.Errorf("retry: attempts %d, fallback %v, upstream %q", c.Attempts, c.Fallback, c.UpstreamModel)
	}
	if c := done()[7]; c.Attempts != 1 {
		t.Errorf("a 400 from the upstream was tried %d times", c.Attempts)
	}
}

// TestAttemptBodies: each attempt's body is built for its upstream: the
// model is the upstream's, everything else is the client's, byte for byte.
func TestAttemptBodies(t *testing.T) {
	g, p, _ := testGateway(t)
	w := post(g, g.ServeChat, `{"model":"retry",  "messages":[],"x_unknown":{"kept":[1,2]}}`)
	if w.Code != 200 || w.Header().Get(HeaderAttempts) != "3" {
		t.Fatalf("%d %s attempts %s", w.Code, w.Body, w.Header().Get(HeaderAttempts))
	}
	want := []string{
		`{"model":"fail-503",  "messages":[],"x_unknown":{"kept":[1,2]}}`,
		`{"model":"fail-503",  "messages":[],"x_unknown":{"kept":[1,2]}}`,
		`{"model":"up-ok",  "messages":[],"x_unknown":{"kept":[1,2]}}`,
	}
	if got := p.sent(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("bodies sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEndpointErrorShape: an endpoint with its own error shape answers
// every error in it, from any step.
func TestEndpointErrorShape(t *testing.T) {
	g, _, done := testGateway(t)
	ep := &endpoint{
		name:        "shaped",
		newExchange: func() exchange { return new(chatExchange) },
		writeError: func(w http.ResponseWriter, oe *openai.Error) {
			w.WriteHeader(oe.Status)
			_, _ = io.WriteString(w, `{"type":"error","error":{"message":`+string(openai.AppendString(nil, oe.Message))+`}}`)
		},
	}
	for _, body := range []string{`{"model":"nope","messages":[]}`, `{"model":"down","messages":[]}`, `[]`} {
		w := httptest.NewRecorder()
		g.serve(w, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body)), ep)
		if gjson.GetBytes(w.Body.Bytes(), "type").Str != "error" || gjson.GetBytes(w.Body.Bytes(), "error.message").Str == "" {
			t.Errorf("%s: answered %d %s", body, w.Code, w.Body)
		}
	}
	if n := len(done()); n != 3 {
		t.Errorf("%d calls finished, want 3", n)
	}
}

// TestInternalCall: a guardrail's model call made while checking a request
// goes through the pipeline as its own call, accounted to the request's
// caller with its origin, and is listed under the request.
func TestInternalCall(t *testing.T) {
	g, p, done := testGateway(t)
	parent := g.newCall(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil), chatEndpoint)
	parent.CallerID, parent.Plan = "key:abc", "pro"
	answer, err := g.ModelCaller("judge").Moderate(parent.context(), "ok", []byte(`{"model":"ok","input":["hi"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(answer, []byte(`"flagged":false`)) {
		t.Errorf("answer %s", answer)
	}
	if got := p.sent(); len(got) != 1 || got[0] != `{"model":"up-ok","input":["hi"]}` {
		t.Errorf("the provider got %q", got)
	}
	calls := done()
	if len(calls) != 1 {
		t.Fatalf("%d calls finished", len(calls))
	}
	c := calls[0]
	if c.Endpoint != "moderations" || c.Origin != `guardrail "judge"` || c.CallerID != "key:abc" || c.Plan != "pro" || c.Status != 200 || c.Model != "ok" {
		t.Errorf("internal call recorded as %+v", c)
	}
	if len(parent.internal) != 1 || parent.internal[0] != c {
		t.Errorf("the request lists %d internal calls", len(parent.internal))
	}
	// A failing classifier call is an error for the guardrail, and still
	// one finished call.
	if _, err := g.ModelCaller("judge").Chat(parent.context(), "down", []byte(`{"model":"down","messages":[]}`)); err == nil {
		t.Error("a failed classifier call returned no error")
	}
	if calls := done(); len(calls) != 2 || calls[1].Status != 503 {
		t.Errorf("failed internal call recorded as %+v", calls[len(calls)-1])
	}
}
