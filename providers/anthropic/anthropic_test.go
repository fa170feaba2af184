package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func newProvider(t testing.TB, base string) *Anthropic {
	t.Helper()
	p := &Anthropic{Settings: providers.Settings{BaseURL: base, APIKey: "test-key"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	p.SetName("claude")
	return p
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", what, got, compact(want))
	}
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

func TestTranslateRequest(t *testing.T) {
	p := newProvider(t, "")
	files, _ := filepath.Glob("testdata/req_*.in.json")
	if len(files) == 0 {
		t.Fatal("no request test data")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".in.json")
		t.Run(name, func(t *testing.T) {
			var in openai.ChatCompletionRequest
			if err := json.Unmarshal(readFile(t, name+".in.json"), &in); err != nil {
				t.Fatal(err)
			}
			out, err := p.translateRequest(&in, in.Model, in.Stream)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(out)
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
		})
	}
}

func TestRejects(t *testing.T) {
	p := newProvider(t, "")
	user := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		body, param, msg string
	}{
		{`{"n":2,` + user + `}`, "n", "n must be 1, got 2"},
		{`{"reasoning_effort":"high","temperature":0.2,` + user + `}`, "temperature", "temperature 1"},
		{`{"reasoning_effort":"low","top_p":0.5,` + user + `}`, "top_p", "top_p between 0.95 and 1"},
		{`{"reasoning_effort":"low","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],` + user + `}`, "tool_choice", "cannot be forced"},
		{`{"reasoning_effort":"extreme",` + user + `}`, "reasoning_effort", "must be none, minimal, low, medium or high"},
		{`{"reasoning_effort":"low","max_tokens":1500,` + user + `}`, "reasoning_effort", "needs max_tokens above 2048"},
		{`{"messages":[{"role":"assistant","content":"x","thinking_blocks":[{"type":"thinking","thinking":"t"}]}]}`, "messages[0].thinking_blocks[0].signature", "only signed"},
		{`{"logprobs":true,` + user + `}`, "logprobs", "log probabilities"},
		{`{"top_logprobs":3,` + user + `}`, "top_logprobs", "log probabilities"},
		{`{"logit_bias":{"50256":-100},` + user + `}`, "logit_bias", "logit_bias"},
		{`{"presence_penalty":0.5,` + user + `}`, "presence_penalty", "presence_penalty"},
		{`{"frequency_penalty":-1,` + user + `}`, "frequency_penalty", "frequency_penalty"},
		{`{"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},` + user + `}`, "audio", "audio"},
		{`{"modalities":["text","audio"],` + user + `}`, "modalities[1]", "only produces text"},
		{`{"web_search_options":{},` + user + `}`, "web_search_options", "not translated"},
		{`{"functions":[{"name":"f"}],` + user + `}`, "functions", "use tools"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]}]}`, "messages[0].content[0]", "audio input"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id", "file ids"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:image/tiff;base64,AAAA"}}]}]}`, "messages[0].content[0].file.file_data", "image/tiff"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url", "http(s) URLs"},
		{`{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0]", "text only"},
		{`{"response_format":{"type":"json_object"},` + user + `}`, "response_format", "json_schema"},
		{`{"response_format":{"type":"json_schema","json_schema":{"name":"x"}},` + user + `}`, "response_format.json_schema.schema", "needs a schema"},
		{`{"tools":[{"type":"custom","custom":{"name":"grammar"}}],` + user + `}`, "tools[0].type", "only function tools"},
		{`{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},` + user + `}`, "tool_choice", "allowed_tools"},
		{`{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", "deprecated"},
		{`{"messages":[{"role":"critic","content":"x"}]}`, "messages[0].role", "unknown role"},
		{`{"messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "tool_call_id"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments", "JSON object"},
	} {
		var in openai.ChatCompletionRequest
		if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		_, err := p.translateRequest(&in, "claude-sonnet-4-5", false)
		var pe *providers.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *providers.Error", tc.body, err)
			continue
		}
		if pe.Err.Status != 400 || pe.Err.Type != openai.TypeInvalidRequest || pe.Err.Param != tc.param {
			t.Errorf("%s: got status %d type %q param %q, want 400 invalid_request_error %q", tc.body, pe.Err.Status, pe.Err.Type, pe.Err.Param, tc.param)
		}
		if !strings.Contains(pe.Err.Message, tc.msg) || !strings.Contains(pe.Err.Message, `provider "claude"`) {
			t.Errorf("%s: message %q lacks %q or the provider name", tc.body, pe.Err.Message, tc.msg)
		}
	}
}

func TestTranslateResponse(t *testing.T) {
	files, _ := filepath.Glob("testdata/resp_*.anthropic.json")
	if len(files) == 0 {
		t.Fatal("no response test data")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".anthropic.json")
		t.Run(name, func(t *testing.T) {
			got, err := translateResponse(readFile(t, name+".anthropic.json"), "requested-model", 1700000000)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
		})
	}
	if _, err := translateResponse([]byte(`{"type":"error"}`), "m", 0); err == nil {
		t.Error("a non-message answer was accepted")
	}
	if _, err := translateResponse([]byte(`{"type":`), "m", 0); err == nil {
		t.Error("invalid JSON was accepted")
	}
}

func TestParseError(t *testing.T) {
	e := parseError(529, readFile(t, "error_overloaded.json"))
	if e.Message != "Overloaded" || e.Type != openai.TypeServer || e.Code != "overloaded_error" || e.Status != 529 {
		t.Errorf("overloaded: got %+v", e)
	}
	e = parseError(400, readFile(t, "error_invalid.json"))
	if !strings.HasPrefix(e.Message, "messages: roles must alternate") || e.Type != openai.TypeInvalidRequest || e.Code != "" {
		t.Errorf("invalid request: got %+v", e)
	}
	e = parseError(502, []byte("<html>Bad Gateway</html>"))
	if !strings.Contains(e.Message, "502") || e.Type != openai.TypeServer {
		t.Errorf("HTML body: got %+v", e)
	}
}

// readStream reads every chunk of s, with "created" zeroed.
func readStream(t *testing.T, s providers.EventStream) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	for range 10000 {
		b, err := s.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("chunk %q is not JSON: %v", b, err)
		}
		m["created"] = 0
		norm, _ := json.Marshal(m)
		out = append(out, norm)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func testClient() *providers.Client {
	return &providers.Client{Name: "claude", ParseError: parseError}
}

func TestStream(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_tool_use"} {
		t.Run(name, func(t *testing.T) {
			s := newStream(context.Background(), io.NopCloser(bytes.NewReader(readFile(t, name+".sse"))), testClient(), "claude-x")
			got, err := readStream(t, s)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Split(bytes.TrimSpace(readFile(t, name+".want.jsonl")), []byte("\n"))
			if len(got) != len(want) {
				t.Fatalf("got %d chunks, want %d:\n%s", len(got), len(want), bytes.Join(got, []byte("\n")))
			}
			for i := range want {
				jsonEqual(t, name, got[i], want[i])
			}
			if b, err := s.Next(); err != io.EOF {
				t.Errorf("after the end: got %q, %v", b, err)
			}
			s.Close()
			s.Close()
		})
	}
}

func TestStreamErrors(t *testing.T) {
	s := newStream(context.Background(), io.NopCloser(bytes.NewReader(readFile(t, "stream_error.sse"))), testClient(), "m")
	got, err := readStream(t, s)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Message != "Overloaded" || pe.Err.Status != 529 || !providers.Retryable(err) {
		t.Fatalf("error event: got %v (%#v)", err, pe)
	}
	if len(got) != 2 {
		t.Errorf("got %d chunks before the error, want 2", len(got))
	}

	for name, body := range map[string]string{
		"cut":         "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
		"not JSON":    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n",
		"not object":  "data: [1,2]\n\n",
		"empty":       "",
		"only a ping": "event: ping\ndata: {\"type\":\"ping\"}\n\n",
	} {
		s := newStream(context.Background(), io.NopCloser(strings.NewReader(body)), testClient(), "m")
		_, err := readStream(t, s)
		if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway {
			t.Errorf("%s: got %v, want a 502", name, err)
		}
	}

	// A stream without message_stop but with its finish still ends well.
	body := "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n"
	s = newStream(context.Background(), io.NopCloser(strings.NewReader(body)), testClient(), "m")
	got, err = readStream(t, s)
	if err != nil || len(got) != 2 || !bytes.Contains(got[1], []byte(`"completion_tokens":3`)) || !bytes.Contains(got[0], []byte(`"role":"assistant"`)) {
		t.Errorf("no message_stop: got %s, %v", got, err)
	}
}

func FuzzStream(f *testing.F) {
	for _, name := range []string{"stream_text.sse", "stream_tool_use.sse", "stream_error.sse"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"type\":\"content_block_delta\",\"index\":99999999999,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n"))
	f.Add([]byte("data: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"tool_use\"}}\r\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(data)), testClient(), "m")
		defer s.Close()
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("more chunks than input bytes: the stream does not end")
			}
			s.Buffered()
			b, err := s.Next()
			if err != nil {
				var pe *providers.Error
				if err != io.EOF && !errors.As(err, &pe) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				return
			}
			if !json.Valid(b) {
				t.Fatalf("invalid chunk %q", b)
			}
		}
	})
}

func TestProvider(t *testing.T) {
	var gotBody []byte
	var gotHeader http.Header
	var gotPath string
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		gotHeader = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		var req struct {
			Stream bool   `json:"stream"`
			Model  string `json:"model"`
		}
		_ = json.Unmarshal(gotBody, &req)
		switch {
		case req.Model == "overloaded":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(529)
			w.Write(readFile(t, "error_overloaded.json"))
		case req.Stream:
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.Header().Set("Request-Id", "req_1")
			w.Write(readFile(t, "stream_tool_use.sse"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Request-Id", "req_2")
			w.Write(readFile(t, "resp_tool_use.anthropic.json"))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := newProvider(t, srv.URL+"/")
	ctx := context.Background()

	body := []byte(`{"model":"claude-opus-4-1","messages":[{"role":"user","content":"Weather in SF?"}]}`)
	resp, err := p.ChatCompletions(ctx, &providers.Request{Body: body, Model: "claude-opus-4-1",
		Header: http.Header{"User-Agent": {"test-client"}}})
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/messages" || gotHeader.Get("X-Api-Key") != "test-key" || gotHeader.Get("Anthropic-Version") != DefaultVersion ||
		gotHeader.Get("Content-Type") != "application/json" || gotHeader.Get("User-Agent") != "test-client" {
		t.Errorf("upstream request: path %q headers %v", gotPath, gotHeader)
	}
	jsonEqual(t, "upstream body", gotBody, []byte(`{"model":"claude-opus-4-1","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Weather in SF?"}]}]}`))
	var cc openai.ChatCompletion
	if err := json.Unmarshal(resp.Body, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].FinishReason != "tool_calls" || cc.Usage.PromptTokens != 11311 || resp.Header.Get("X-Request-Id") != "req_2" || cc.Created == 0 {
		t.Errorf("answer: %s", resp.Body)
	}

	resp, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`), Model: "m", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(gotBody, []byte(`"stream":true`)) {
		t.Errorf("stream not asked for: %s", gotBody)
	}
	chunks, err := readStream(t, resp.Stream)
	resp.Stream.Close()
	if err != nil || len(chunks) != 11 { // stream_tool_use.want.jsonl
		t.Errorf("stream: %d chunks, %v", len(chunks), err)
	}

	_, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"overloaded","messages":[{"role":"user","content":"x"}]}`), Model: "overloaded"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != 529 || pe.Err.Message != "Overloaded" || pe.RetryAfter != 3*time.Second || !providers.Retryable(err) {
		t.Errorf("overloaded: got %v", err)
	}

	_, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"m","n":3,"messages":[]}`), Model: "m"})
	if !errors.As(err, &pe) || pe.Err.Status != 400 || pe.Err.Param != "n" {
		t.Errorf("n=3: got %v", err)
	}
	_, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":`), Model: "m"})
	if !errors.As(err, &pe) || pe.Err.Status != 400 {
		t.Errorf("bad body: got %v", err)
	}
	_, err = p.Embeddings(ctx, &providers.Request{Body: []byte(`{"model":"m","input":"x"}`), Model: "m"})
	if !errors.As(err, &pe) || pe.Err.Status != 400 || !strings.Contains(pe.Err.Message, "no embeddings") {
		t.Errorf("embeddings: got %v", err)
	}
	if err := p.Cleanup(); err != nil {
		t.Error(err)
	}
}

func TestProvision(t *testing.T) {
	t.Setenv("POLYGATE_TEST_ANTHROPIC_KEY", "sk-ant-secret")
	p := &Anthropic{Settings: providers.Settings{APIKey: "{env.POLYGATE_TEST_ANTHROPIC_KEY}", Headers: map[string]string{"anthropic-beta": "context-1m-2025-08-07"}}, Version: "2099-01-01", MaxTokens: 100}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if p.header.Get("X-Api-Key") != "sk-ant-secret" || p.APIKey != "{env.POLYGATE_TEST_ANTHROPIC_KEY}" {
		t.Errorf("key: header %q, field %q", p.header.Get("X-Api-Key"), p.APIKey)
	}
	if p.header.Get("Anthropic-Version") != "2099-01-01" || p.header.Get("Anthropic-Beta") != "context-1m-2025-08-07" ||
		p.messagesURL != "https://api.anthropic.com/v1/messages" || p.maxTokens != 100 || p.client.Name != "anthropic" {
		t.Errorf("provisioned: %+v %v", p, p.header)
	}
	if err := (&Anthropic{Settings: providers.Settings{BaseURL: "api.anthropic.com"}}).Provision(ctx); err == nil {
		t.Error("a base_url without scheme was accepted")
	}
	t.Setenv("POLYGATE_TEST_ANTHROPIC_URL", "https://api.anthropic.com/v1")
	for _, tc := range []struct {
		base, messages, err string
	}{
		{"", "https://api.anthropic.com/v1/messages", ""},
		{"https://api.anthropic.com", "https://api.anthropic.com/v1/messages", ""},
		{"https://api.anthropic.com/", "https://api.anthropic.com/v1/messages", ""},
		{"https://proxy.example.com/anthropic", "https://proxy.example.com/anthropic/v1/messages", ""},
		{"https://proxy.example.com/v1proxy", "https://proxy.example.com/v1proxy/v1/messages", ""},
		{"https://api.anthropic.com/v1", "", `base_url "https://api.anthropic.com/v1" ends in the API version; name the API root (https://api.anthropic.com)`},
		{"https://api.anthropic.com/v1/", "", `base_url "https://api.anthropic.com/v1" ends in the API version; name the API root (https://api.anthropic.com)`},
		{"https://proxy.example.com/anthropic/v1", "", `name the API root (https://proxy.example.com/anthropic)`},
		{"https://proxy.example.com/V2", "", `ends in the API version; name the API root (https://proxy.example.com)`},
		{"https://proxy.example.com/v1beta", "", `ends in the API version`},
		{"{env.POLYGATE_TEST_ANTHROPIC_URL}", "", `base_url "https://api.anthropic.com/v1" ends in the API version`},
	} {
		p := &Anthropic{Settings: providers.Settings{BaseURL: tc.base}}
		err := p.Provision(ctx)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("base_url %q: %v", tc.base, err)
		case tc.err == "" && p.messagesURL != tc.messages:
			t.Errorf("base_url %q: messages URL %q, want %q", tc.base, p.messagesURL, tc.messages)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("base_url %q: error %v, want one containing %q", tc.base, err, tc.err)
		}
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`anthropic {
		base_url https://proxy.example.com/anthropic
		api_key {env.ANTHROPIC_API_KEY}
		version 2023-06-01
		max_tokens 8192
		header anthropic-beta prompt-caching-2024-07-31
		timeout 5m
		first_byte_timeout 30s
		max_idle_conns_per_host 64
	}`)
	var p Anthropic
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Anthropic{Settings: providers.Settings{BaseURL: "https://proxy.example.com/anthropic", APIKey: "{env.ANTHROPIC_API_KEY}", Headers: map[string]string{"anthropic-beta": "prompt-caching-2024-07-31"}, Timeout: caddy.Duration(5 * time.Minute), FirstByteTimeout: caddy.Duration(30 * time.Second), MaxIdleConnsPerHost: 64}, Version: "2023-06-01", MaxTokens: 8192}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	for _, bad := range []string{
		"anthropic extra",
		"anthropic {\n bogus 1\n}",
		"anthropic {\n max_tokens 0\n}",
		"anthropic {\n max_tokens -5\n}",
		"anthropic {\n base_url ftp://x\n}",
		"anthropic {\n base_url https://api.anthropic.com/v1\n}",
		"anthropic {\n timeout soon\n}",
		"anthropic {\n header X\n}",
		"anthropic {\n api_key\n}",
	} {
		var p Anthropic
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	err := new(Anthropic).UnmarshalCaddyfile(caddyfile.NewTestDispenser("anthropic {\n base_url https://api.anthropic.com/v1/\n}"))
	const wantErr = `base_url "https://api.anthropic.com/v1/" ends in the API version; name the API root (https://api.anthropic.com): the provider adds /v1/messages, at Testfile:2`
	if err == nil || err.Error() != wantErr {
		t.Errorf("base_url with /v1: got %v\nwant %s", err, wantErr)
	}
	// Placeholders are checked when provisioned.
	if err := new(Anthropic).UnmarshalCaddyfile(caddyfile.NewTestDispenser("anthropic {\n base_url {env.ANTHROPIC_BASE_URL}\n}")); err != nil {
		t.Errorf("placeholder base_url: %v", err)
	}
}

func BenchmarkStream(b *testing.B) {
	data, err := os.ReadFile("testdata/stream_text.sse")
	if err != nil {
		b.Fatal(err)
	}
	client := testClient()
	b.ReportAllocs()
	for b.Loop() {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(data)), client, "m")
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// pieces is a body that hands out one piece per Read, as a network would.
type pieces struct{ list []string }

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.list) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.list[0])
	p.list[0] = p.list[0][n:]
	if p.list[0] == "" {
		p.list = p.list[1:]
	}
	return n, nil
}

func TestBuffered(t *testing.T) {
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1}}}\n\n"
	delta := func(s string) string {
		return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + s + "\"}}\n\n"
	}
	idle := "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n: keep-alive\n\n"
	body := &pieces{list: []string{start + delta("a") + delta("b") + idle, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"}}
	s := newStream(context.Background(), io.NopCloser(body), testClient(), "m")
	want := []bool{true, true, false, true}
	for i, w := range want {
		if _, err := s.Next(); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if got := s.Buffered(); got != w {
			t.Errorf("after chunk %d: Buffered %v, want %v", i, got, w)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}
