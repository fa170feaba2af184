package vertex

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func forward(t *testing.T, p *Vertex, path, body string, h http.Header) *http.Response {
	t.Helper()
	resp, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: path, Header: h, Body: []byte(body)})
	if err != nil {
		t.Fatalf("ForwardMessages(%s): %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSpeaksMessages(t *testing.T) {
	p := &Vertex{}
	for model, want := range map[string]bool{
		"claude-sonnet-4-5@20250929": true, "claude-3-5-haiku@20241022": true, "claude-opus-4-1": true,
		"gemini-2.5-pro": false, "gemini-2.0-flash-001": false, "endpoints/1234567890": false, "text-embedding-005": false,
	} {
		if got := p.SpeaksMessages(model); got != want {
			t.Errorf("SpeaksMessages(%q) = %v, want %v", model, got, want)
		}
	}
}

// TestClaudeBody checks the bodies byte for byte.
func TestClaudeBody(t *testing.T) {
	for _, tc := range []struct{ in, drop, want string }{
		{`{"model":"claude-sonnet-4-5@20250929","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`, "model",
			`{"max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Hi"}],"anthropic_version":"vertex-2023-10-16"}`},
		{`{ "anthropic_version": "vertex-2099-01-01", "model": "claude-x", "messages": [] }`, "model",
			`{ "anthropic_version": "vertex-2099-01-01", "messages": [] }`},
		{`{"model":"claude-sonnet-4-5@20250929","system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`, "",
			`{"model":"claude-sonnet-4-5@20250929","system":"Be brief.","messages":[{"role":"user","content":"Hi"}],"anthropic_version":"vertex-2023-10-16"}`},
	} {
		in := []byte(tc.in)
		got, err := claudeBody(in, tc.drop)
		if err != nil || string(got) != tc.want {
			t.Errorf("claudeBody(%s, %q):\n got  %s (%v)\n want %s", tc.in, tc.drop, got, err, tc.want)
		}
		if string(in) != tc.in {
			t.Errorf("the input was modified: %s", in)
		}
	}
	if _, err := claudeBody([]byte(`[1]`), "model"); err == nil {
		t.Error("an array body was accepted")
	}
}

func lastRequest(t *testing.T, f *FakeGoogle) FakeRequest {
	t.Helper()
	r := f.Requests()
	if len(r) == 0 {
		t.Fatal("Vertex AI got no request")
	}
	return r[len(r)-1]
}

func TestForwardMessages(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	h := http.Header{
		"Anthropic-Beta":           {"context-1m-2025-08-07", "interleaved-thinking-2025-05-14"},
		"Anthropic-Version":        {"2023-06-01"},
		"X-Claude-Code-Session-Id": {"b9e0-session"},
	}
	body := `{"model":"claude-sonnet-4-5@20250929","max_tokens":1024,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"What is Vertex AI?"}]}`
	resp := forward(t, p, "messages", body, h)
	out := readAll(t, resp.Body)
	if resp.StatusCode != 200 || out != string(readTestdata("claude_message.json")) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("answer %d %v: %s", resp.StatusCode, resp.Header, out)
	}
	r := lastRequest(t, f)
	if r.Publisher != "anthropic" || r.Model != "claude-sonnet-4-5@20250929" || r.Method != "rawPredict" {
		t.Errorf("called %s %s %s", r.Publisher, r.Model, r.Method)
	}
	if r.Token != "ya29.c.fake-token-1" {
		t.Errorf("bearer token %q", r.Token)
	}
	want := `{"max_tokens":1024,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"What is Vertex AI?"}],"anthropic_version":"vertex-2023-10-16"}`
	if string(r.Raw) != want {
		t.Errorf("body\n got  %s\n want %s", r.Raw, want)
	}
	if got := r.Header.Values("Anthropic-Beta"); strings.Join(got, ",") != "context-1m-2025-08-07,interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta %q", got)
	}
	for _, k := range []string{"Anthropic-Version", "X-Claude-Code-Session-Id"} {
		if v := r.Header.Get(k); v != "" {
			t.Errorf("%s reached Vertex AI: %q", k, v)
		}
	}
}

// TestForwardMessagesStream: the stream is Anthropic's already and is
// relayed byte for byte, an error event included.
func TestForwardMessagesStream(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	for model, file := range map[string]string{"claude-sonnet-4-5@20250929": "claude_stream.sse", "claude-stream-error": "claude_stream_error.sse"} {
		resp := forward(t, p, "messages", `{"model":"`+model+`","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, nil)
		if out := readAll(t, resp.Body); resp.StatusCode != 200 || out != string(readTestdata(file)) || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("%s: %d %v\n%s", model, resp.StatusCode, resp.Header, out)
		}
		if r := lastRequest(t, f); r.Method != "streamRawPredict" || r.Body["stream"] != true {
			t.Errorf("%s: called %s with %v", model, r.Method, r.Body)
		}
	}
}

func TestCountTokens(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	body := `{"model":"claude-sonnet-4-5@20250929","system":"You are terse.","messages":[{"role":"user","content":"How many tokens is this?"}]}`
	resp := forward(t, p, "messages/count_tokens", body, http.Header{"Anthropic-Beta": {"token-efficient-tools-2025-02-19"}})
	if out := readAll(t, resp.Body); resp.StatusCode != 200 || gjson.Get(out, "input_tokens").Int() != 8 {
		t.Errorf("count %d %s", resp.StatusCode, out)
	}
	r := lastRequest(t, f)
	if r.Model != "count-tokens" || r.Method != "rawPredict" || r.Publisher != "anthropic" || r.Header.Get("Anthropic-Beta") != "token-efficient-tools-2025-02-19" {
		t.Errorf("called %s %s %s %v", r.Publisher, r.Model, r.Method, r.Header)
	}
	if want := strings.TrimSuffix(body, "}") + `,"anthropic_version":"vertex-2023-10-16"}`; string(r.Raw) != want {
		t.Errorf("body\n got  %s\n want %s", r.Raw, want)
	}
}

// TestForwardMessagesErrors: Google's error answers become Anthropic's
// with the status of Google's status; Claude's own are relayed.
func TestForwardMessagesErrors(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	for _, tc := range []struct {
		file       string
		status     int
		wantStatus int
		wantType   string
		retryAfter string
	}{
		{"error_resource_exhausted.json", 429, 429, "rate_limit_error", ""},
		{"error_quota_retry.json", 429, 429, "rate_limit_error", "27"},
		{"error_unavailable.json", 503, 529, "overloaded_error", ""},
		{"error_permission_denied.json", 403, 403, "permission_error", ""},
		{"error_not_found_array.json", 404, 404, "not_found_error", ""},
		{"error_invalid_argument.json", 400, 400, "invalid_request_error", ""},
		{"error_unauthenticated.json", 401, 401, "authentication_error", ""},
	} {
		model := "claude-fail-" + strings.TrimSuffix(tc.file, ".json")
		f.Fail(model, tc.status, tc.file)
		resp := forward(t, p, "messages", `{"model":"`+model+`","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, nil)
		out := readAll(t, resp.Body)
		src := strings.TrimSpace(string(readTestdata(tc.file)))
		msg := gjson.Get(src, "error.message").Str
		if msg == "" {
			msg = gjson.Get(src, "0.error.message").Str
		}
		want := `{"type":"error","error":{"type":"` + tc.wantType + `","message":` + string(openai.AppendString(nil, msg)) + `}}`
		if resp.StatusCode != tc.wantStatus || out != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: got %d %s\n want %d %s", tc.file, resp.StatusCode, out, tc.wantStatus, want)
		}
		if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("%s: Retry-After %q, want %q", tc.file, got, tc.retryAfter)
		}
	}

	// Claude's own error body is relayed as it came.
	f.Fail("claude-overloaded", 529, "claude_error_overloaded.json")
	resp := forward(t, p, "messages", `{"model":"claude-overloaded","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if out := readAll(t, resp.Body); resp.StatusCode != 529 || out != string(readTestdata("claude_error_overloaded.json")) {
		t.Errorf("overloaded: %d %s", resp.StatusCode, out)
	}
	// Counting for a failing model fails the same way.
	resp = forward(t, p, "messages/count_tokens", `{"model":"claude-fail-error_unavailable","messages":[{"role":"user","content":"hi"}]}`, nil)
	if out := readAll(t, resp.Body); resp.StatusCode != 529 || gjson.Get(out, "error.type").Str != "overloaded_error" {
		t.Errorf("count: %d %s", resp.StatusCode, out)
	}

	// No token: an error, not an answer.
	f.SetTokenFailure(http.StatusInternalServerError)
	q := newProvider(t, f, nil)
	_, err := q.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: "messages",
		Body: []byte(`{"model":"claude-sonnet-4-5@20250929","max_tokens":10,"messages":[]}`)})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway {
		t.Errorf("token failure: %v", err)
	}
	f.SetTokenFailure(0)

	for _, tc := range []struct{ path, body string }{
		{"messages", `{"model":"gemini-2.5-pro","max_tokens":10,"messages":[]}`},
		{"messages", `{"max_tokens":10,"messages":[]}`},
		{"messages/batches", `{"model":"claude-sonnet-4-5@20250929"}`},
	} {
		_, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: tc.path, Body: []byte(tc.body)})
		if !errors.As(err, &pe) || pe.Err.Status/100 != 4 {
			t.Errorf("%s %s: %v", tc.path, tc.body, err)
		}
	}
}

// FuzzErrorAnswer: whatever Vertex AI answers with an error status, the
// client gets Anthropic's error body with an error status.
func FuzzErrorAnswer(f *testing.F) {
	for _, name := range []string{"error_resource_exhausted.json", "error_quota_retry.json", "error_not_found_array.json", "claude_error_overloaded.json", "error_unauthenticated.json"} {
		f.Add(429, readTestdata(name))
	}
	f.Add(502, []byte("<html>Bad Gateway</html>"))
	f.Add(400, []byte(`{"type":"error","error":{"type":7}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 400 || status > 599 {
			return
		}
		resp := errorAnswer(rawError{status: status, body: body}, 0)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode < 400 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		r := gjson.ParseBytes(b)
		if !gjson.ValidBytes(b) || r.Get("type").Str != "error" || r.Get("error.type").Type != gjson.String {
			t.Fatalf("body %q", b)
		}
	})
}
