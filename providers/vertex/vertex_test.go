package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/polygate/polygate/providers"
)

// newProvider provisions a provider pointed at the fake with its
// credentials file; edit changes the config first.
func newProvider(t testing.TB, f *FakeGoogle, edit func(*Vertex)) *Vertex {
	t.Helper()
	p := &Vertex{
		Settings:        providers.Settings{BaseURL: f.URL()},
		Project:         f.Project,
		Location:        f.Location,
		CredentialsFile: f.CredentialsFile(t),
	}
	if edit != nil {
		edit(p)
	}
	if err := provision(t, p); err != nil {
		t.Fatal(err)
	}
	p.SetName("vtx")
	return p
}

func provision(t testing.TB, p *Vertex) error {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	t.Cleanup(func() { _ = p.Cleanup() })
	return p.Provision(ctx)
}

// jsonEqual compares JSON values, with "created" zeroed in got.
func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON: %v", what, err)
	}
	if m, ok := g.(map[string]any); ok {
		if _, ok := m["created"]; ok {
			m["created"] = float64(0)
		}
	}
	if !reflect.DeepEqual(g, w) {
		gn, _ := json.Marshal(g)
		wn, _ := json.Marshal(w)
		t.Errorf("%s:\n got  %s\n want %s", what, gn, wn)
	}
}

func readStream(t *testing.T, s providers.EventStream) ([][]byte, error) {
	t.Helper()
	defer s.Close()
	var out [][]byte
	for range 1000 {
		b, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, append([]byte(nil), b...))
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func chatRequest(model string, stream bool) *providers.Request {
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is Vertex AI?"}],"temperature":0.2,"stream":%v}`, model, stream)
	return &providers.Request{Body: []byte(body), Model: model, Stream: stream}
}

func TestGeminiChat(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	resp, err := p.ChatCompletions(context.Background(), chatRequest("gemini-2.5-flash", false))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "answer", resp.Body, readTestdata("gemini_generate.want.json"))
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Publisher != "google" || reqs[0].Model != "gemini-2.5-flash" || reqs[0].Method != "generateContent" {
		t.Fatalf("calls: %+v", reqs)
	}
	// The body is the gemini type's: system instruction, contents, config.
	got, _ := json.Marshal(reqs[0].Body)
	want := `{"contents":[{"parts":[{"text":"What is Vertex AI?"}],"role":"user"}],"generationConfig":{"temperature":0.2},"systemInstruction":{"parts":[{"text":"Be brief."}]}}`
	jsonEqual(t, "request", got, []byte(want))
}

func TestGeminiStream(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	resp, err := p.ChatCompletions(context.Background(), chatRequest("gemini-2.5-flash", true))
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, resp, "gemini_stream.want.jsonl")
	if reqs := f.Requests(); len(reqs) != 1 || reqs[0].Method != "streamGenerateContent" {
		t.Fatalf("calls: %+v", reqs)
	}
}

func checkStream(t *testing.T, resp *providers.Response, wantFile string) {
	t.Helper()
	if resp.Stream == nil {
		t.Fatal("no stream")
	}
	got, err := readStream(t, resp.Stream)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Split(bytes.TrimSpace(readTestdata(wantFile)), []byte("\n"))
	if len(got) != len(want) {
		t.Fatalf("got %d chunks, want %d:\n%s", len(got), len(want), bytes.Join(got, []byte("\n")))
	}
	for i := range want {
		jsonEqual(t, fmt.Sprintf("chunk %d", i), got[i], want[i])
	}
}

func TestClaudeChat(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, func(v *Vertex) { v.MaxTokens = 1024 })
	resp, err := p.ChatCompletions(context.Background(), chatRequest("claude-sonnet-4-5@20250929", false))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "answer", resp.Body, readTestdata("claude_message.want.json"))
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Publisher != "anthropic" || reqs[0].Model != "claude-sonnet-4-5@20250929" || reqs[0].Method != "rawPredict" {
		t.Fatalf("calls: %+v", reqs)
	}
	got, _ := json.Marshal(reqs[0].Body)
	want := `{"anthropic_version":"vertex-2023-10-16","max_tokens":1024,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"What is Vertex AI?"}]}],"temperature":0.2}`
	jsonEqual(t, "request", got, []byte(want))
}

func TestClaudeStream(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	resp, err := p.ChatCompletions(context.Background(), chatRequest("claude-sonnet-4-5@20250929", true))
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, resp, "claude_stream.want.jsonl")
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Method != "streamRawPredict" || reqs[0].Body["stream"] != true || reqs[0].Body["max_tokens"] != float64(4096) {
		t.Fatalf("calls: %+v", reqs)
	}

	// An error event ends the stream with Anthropic's error, retryable.
	resp, err = p.ChatCompletions(context.Background(), chatRequest("claude-stream-error", true))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := readStream(t, resp.Stream)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != 529 || pe.Err.Message != "Overloaded" || !providers.Retryable(err) {
		t.Fatalf("after %d chunks: %v", len(chunks), err)
	}
}

func TestRejectedParameter(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	for model, body := range map[string]string{
		"gemini-2.5-flash":  `{"messages":[{"role":"user","content":"hi"}],"logit_bias":{"1":2}}`,
		"claude-opus-4-1":   `{"messages":[{"role":"user","content":"hi"}],"n":3}`,
		"gemini-2.5-pro":    `{"messages":`,
		"claude-3-5-haiku@": `{"messages":[{"role":"function","content":"x"}]}`,
	} {
		_, err := p.ChatCompletions(context.Background(), &providers.Request{Body: []byte(body), Model: model})
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadRequest {
			t.Errorf("%s %s: got %v, want a 400", model, body, err)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d calls reached Vertex AI", n)
	}
}

func TestEmbeddings(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	body := `{"model":"text-embedding-005","input":["What is Vertex AI?","Hello"],"dimensions":4}`
	resp, err := p.Embeddings(context.Background(), &providers.Request{Body: []byte(body), Model: "text-embedding-005"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "answer", resp.Body, readTestdata("embed.want.json"))
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Method != "predict" || reqs[0].Model != "text-embedding-005" {
		t.Fatalf("calls: %+v", reqs)
	}
	got, _ := json.Marshal(reqs[0].Body)
	jsonEqual(t, "request", got, []byte(`{"instances":[{"content":"What is Vertex AI?"},{"content":"Hello"}],"parameters":{"outputDimensionality":4}}`))

	// base64: little-endian float32s of the same values.
	body = `{"input":["What is Vertex AI?","Hello"],"encoding_format":"base64"}`
	resp, err = p.Embeddings(context.Background(), &providers.Request{Body: []byte(body), Model: "text-embedding-005"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct{ Embedding string }
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil || len(out.Data) != 2 || len(out.Data[0].Embedding) != 24 {
		t.Fatalf("base64 answer %s: %v", resp.Body, err)
	}
}

func TestEmbeddingsBatches(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	texts := []string{"a", "bb", "ccc dd", "eeee", "fffff"}
	in, _ := json.Marshal(map[string]any{"input": texts})
	// gemini-embedding models take one text per call.
	resp, err := p.Embeddings(context.Background(), &providers.Request{Body: in, Model: "gemini-embedding-001"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct {
			Index     int
			Embedding []float64
		}
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != len(texts) {
		t.Fatalf("%d embeddings for %d texts", len(out.Data), len(texts))
	}
	for i, d := range out.Data {
		if d.Index != i || len(d.Embedding) != 3 || d.Embedding[0] != float64(len(texts[i])) {
			t.Errorf("embedding %d = %+v, want the vector of %q", i, d, texts[i])
		}
	}
	if out.Usage.PromptTokens != 6 || out.Usage.TotalTokens != 6 {
		t.Errorf("usage = %+v, want 6 tokens (one per word)", out.Usage)
	}
	if n := len(f.Requests()); n != len(texts) {
		t.Errorf("%d predict calls, want %d", n, len(texts))
	}

	// One failing call fails the request with its error.
	f.Fail("gemini-embedding-001", http.StatusTooManyRequests, "error_resource_exhausted.json")
	_, err = p.Embeddings(context.Background(), &providers.Request{Body: in, Model: "gemini-embedding-001"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusTooManyRequests || pe.Err.Code != "RESOURCE_EXHAUSTED" {
		t.Fatalf("got %v, want the 429", err)
	}
}

func TestSplitBatches(t *testing.T) {
	long := strings.Repeat("x", maxBatchBytes)
	for _, tc := range []struct {
		texts []string
		limit int
		want  []batch
	}{
		{[]string{"a"}, 250, []batch{{0, 1}}},
		{[]string{"a", "b", "c"}, 1, []batch{{0, 1}, {1, 2}, {2, 3}}},
		{[]string{"a", "b", "c"}, 2, []batch{{0, 2}, {2, 3}}},
		{[]string{"a", long, "b"}, 250, []batch{{0, 1}, {1, 2}, {2, 3}}},
		{[]string{long, long}, 250, []batch{{0, 1}, {1, 2}}},
	} {
		if got := splitBatches(tc.texts, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d texts, limit %d: got %v, want %v", len(tc.texts), tc.limit, got, tc.want)
		}
	}
}

func TestEmbeddingsRejects(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	for _, tc := range []struct{ model, body string }{
		{"text-embedding-005", `{"input":[1,2,3]}`},
		{"text-embedding-005", `{"input":[]}`},
		{"text-embedding-005", `{"input":"x","encoding_format":"int8"}`},
		{"claude-sonnet-4-5", `{"input":"x"}`},
	} {
		_, err := p.Embeddings(context.Background(), &providers.Request{Body: []byte(tc.body), Model: tc.model})
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadRequest {
			t.Errorf("%s %s: got %v, want a 400", tc.model, tc.body, err)
		}
	}
}

// TestErrors checks that Vertex AI's errors reach the client in OpenAI's
// shape with the status of Google's status, retryable where routing should
// retry.
func TestErrors(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	for _, tc := range []struct {
		file       string
		sent, want int // the HTTP status sent and the one the client sees
		typ, code  string
		retryable  bool
	}{
		{"error_resource_exhausted.json", 429, 429, "rate_limit_error", "RESOURCE_EXHAUSTED", true},
		// Google's status decides, whatever the HTTP status says.
		{"error_resource_exhausted.json", 400, 429, "rate_limit_error", "RESOURCE_EXHAUSTED", true},
		{"error_unavailable.json", 503, 503, "server_error", "UNAVAILABLE", true},
		{"error_permission_denied.json", 403, 403, "permission_error", "PERMISSION_DENIED", false},
		{"error_not_found_array.json", 404, 404, "not_found_error", "NOT_FOUND", false},
		{"error_invalid_argument.json", 400, 400, "invalid_request_error", "INVALID_ARGUMENT", false},
		{"error_unauthenticated.json", 401, 401, "authentication_error", "UNAUTHENTICATED", false},
		{"claude_error_overloaded.json", 529, 529, "server_error", "overloaded_error", true},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.file, tc.sent), func(t *testing.T) {
			model := "gemini-fail"
			if strings.HasPrefix(tc.file, "claude") {
				model = "claude-fail"
			}
			f.Fail(model, tc.sent, tc.file)
			_, err := p.ChatCompletions(context.Background(), chatRequest(model, false))
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v", err)
			}
			if pe.Err.Status != tc.want || pe.Err.Type != tc.typ || pe.Err.Code != tc.code || providers.Retryable(err) != tc.retryable {
				t.Errorf("got status %d type %q code %q retryable %v", pe.Err.Status, pe.Err.Type, pe.Err.Code, providers.Retryable(err))
			}
			var ge googleError
			if json.Unmarshal(readTestdata(tc.file), &ge) == nil && ge.Error.Message != "" && pe.Err.Message != ge.Error.Message {
				t.Errorf("message %q, want Google's %q", pe.Err.Message, ge.Error.Message)
			}
		})
	}

	// RetryInfo stands in for Retry-After.
	f.Fail("gemini-quota", 429, "error_quota_retry.json")
	_, err := p.ChatCompletions(context.Background(), chatRequest("gemini-quota", true))
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != 429 || pe.RetryAfter.Seconds() != 27 {
		t.Fatalf("got %v (%+v)", err, pe)
	}
}

func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		wantStatus int
		code, msg  string
	}{
		{429, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`, 429, "RESOURCE_EXHAUSTED", "slow down"},
		{500, `[{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]`, 503, "UNAVAILABLE", "busy"},
		{403, `{"error":{"code":403,"message":"no","status":"PERMISSION_DENIED"}}`, 403, "PERMISSION_DENIED", "no"},
		{400, `{"error":{"code":400,"message":"odd","status":"SOMETHING_NEW"}}`, 400, "SOMETHING_NEW", "odd"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 529, "overloaded_error", "Overloaded"},
		{429, `{"error":{"message":"Rate limit","type":"rate_limit_error","code":"rate_limit_exceeded"}}`, 429, "rate_limit_exceeded", "Rate limit"},
		{502, `<html>Bad Gateway</html>`, 502, "", "upstream returned status 502: <html>Bad Gateway</html>"},
		{500, `[]`, 500, "", "upstream returned status 500: []"},
	} {
		oe, _ := parseError(tc.status, []byte(tc.body))
		if oe.Status != tc.wantStatus || oe.Code != tc.code || oe.Message != tc.msg {
			t.Errorf("%d %s: got %+v", tc.status, tc.body, oe)
		}
	}
}

func FuzzParseError(f *testing.F) {
	for _, name := range []string{"error_resource_exhausted.json", "error_quota_retry.json", "error_not_found_array.json", "error_permission_denied.json", "claude_error_overloaded.json"} {
		f.Add(500, readTestdata(name))
	}
	f.Add(429, []byte(`[{"error":{"code":1}}]`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		oe, info := parseError(status, body)
		if oe == nil || oe.Message == "" || oe.Type == "" {
			t.Fatalf("parseError(%d, %q) = %+v", status, body, oe)
		}
		if info.retryAfter < 0 || (info.status != 0 && info.status != oe.Status) {
			t.Fatalf("info %+v for %+v", info, oe)
		}
	})
}

func FuzzReadPredictions(f *testing.F) {
	f.Add(readTestdata("embed_predict.json"), 2, false)
	f.Add(readTestdata("embed_predict.json"), 2, true)
	f.Add([]byte(`{"predictions":[{"embeddings":{"values":[1e400]}}]}`), 1, true)
	f.Add([]byte(`{"predictions":[{"embeddings":{"values":"x","statistics":{"token_count":-1}}}]}`), 1, false)
	f.Fuzz(func(t *testing.T, body []byte, n int, b64 bool) {
		if n < 0 || n > 64 {
			return
		}
		texts := make([]string, n)
		vectors, tokens, err := readPredictions(body, texts, b64)
		if err != nil {
			return
		}
		if len(vectors) != n || tokens < 0 {
			t.Fatalf("%d vectors, %d tokens for %d texts", len(vectors), tokens, n)
		}
		for _, v := range vectors {
			if !json.Valid(v) {
				t.Fatalf("vector %q is not JSON", v)
			}
		}
	})
}
