package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func newProvider(t testing.TB, base string) *Gemini {
	t.Helper()
	p := &Gemini{Settings: providers.Settings{BaseURL: base, APIKey: "test-key"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	p.SetName("google")
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

var generatedCallID = regexp.MustCompile(`^call_[0-9A-Za-z]{24}$`)

// normalize replaces what is random or time-dependent: generated tool call
// ids become "call_X", "created" 0 (in chunks), and a generated completion
// id "chatcmpl-X" when want has that.
func normalize(v any, wantGeneratedID bool) {
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if id, ok := x["id"].(string); ok && generatedCallID.MatchString(id) {
				x["id"] = "call_X"
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if m, ok := v.(map[string]any); ok {
		if wantGeneratedID {
			m["id"] = "chatcmpl-X"
		}
		if m["object"] == "chat.completion.chunk" {
			m["created"] = float64(0)
		}
	}
}

func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON: %v", what, err)
	}
	wm, _ := w.(map[string]any)
	normalize(g, wm != nil && wm["id"] == "chatcmpl-X")
	if !reflect.DeepEqual(g, w) {
		gn, _ := json.Marshal(g)
		wn, _ := json.Marshal(w)
		t.Errorf("%s:\n got  %s\n want %s", what, gn, wn)
	}
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
			out, err := p.translateRequest(&in, in.Model)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(out)
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
		})
	}
}

func TestNeedsSignature(t *testing.T) {
	for model, want := range map[string]bool{
		"gemini-3-pro-preview": true, "gemini-3.1-flash": true, "models/gemini-10-ultra": true,
		"gemini-2.5-flash": false, "gemini-1.5-pro": false, "gemma-3-27b-it": false, "gemini-exp-1206": false,
	} {
		if got := needsSignature(model); got != want {
			t.Errorf("%s: got %v", model, got)
		}
	}
}

func TestConvertSchema(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"type":"object","properties":{}}`, `{"type":"object","properties":{}}`},
		{`{"allOf":[{"type":"string","minLength":2}],"description":"d"}`, `{"type":"string","minLength":2,"description":"d"}`},
		{`{"oneOf":[{"type":"integer"},{"type":"string"}],"not":{"type":"null"}}`, `{"anyOf":[{"type":"integer"},{"type":"string"}]}`},
		{`{"enum":[1,"a",null,true]}`, `{"enum":["1","a","true"],"nullable":true}`},
		{`{"type":"null"}`, `{"nullable":true}`},
		{`{"$ref":"#/definitions/Node","definitions":{"Node":{"type":"object","properties":{"next":{"$ref":"#/definitions/Node"}}}}}`, ``},
		{`{"type":"array","items":[{"type":"string"}],"prefixItems":[]}`, `{"type":"array"}`},
	} {
		out, _, err := convertSchema(json.RawMessage(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if tc.want == "" { // recursive: must terminate and stay valid
			if !json.Valid(out) || bytes.Count(out, []byte(`"next"`)) < 5 {
				t.Errorf("%s: got %s", tc.in, out)
			}
			continue
		}
		var g, w any
		_ = json.Unmarshal(out, &g)
		_ = json.Unmarshal([]byte(tc.want), &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got  %s\n want %s", tc.in, out, tc.want)
		}
	}
	for _, bad := range []string{`[1]`, `{"type":`, `"x"`} {
		if _, _, err := convertSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestRejects(t *testing.T) {
	p := newProvider(t, "")
	user := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		body, param, msg string
	}{
		{`{"n":0,` + user + `}`, "n", "at least 1"},
		{`{"logprobs":true,` + user + `}`, "logprobs", "log probabilities"},
		{`{"top_logprobs":2,` + user + `}`, "top_logprobs", "log probabilities"},
		{`{"logit_bias":{"1":5},` + user + `}`, "logit_bias", "logit_bias"},
		{`{"audio":{"voice":"alloy","format":"mp3"},` + user + `}`, "audio", "audio output"},
		{`{"modalities":["audio"],` + user + `}`, "modalities[0]", "only text output"},
		{`{"web_search_options":{"search_context_size":"low"},` + user + `}`, "web_search_options", "not translated"},
		{`{"function_call":"auto",` + user + `}`, "functions", "use tools"},
		{`{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[1]}},` + user + `}`, "response_format.json_schema.schema", "not a JSON object"},
		{`{"response_format":{"type":"grammar"},` + user + `}`, "response_format", "grammar"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file.file_id", "file ids"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "messages[0].content[0].image_url.url", "gs://"},
		{`{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type", "video"},
		{`{"messages":[{"role":"developer","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0]", "text only"},
		{`{"messages":[{"role":"tool","tool_call_id":"call_9","content":"x"}]}`, "messages[0].tool_call_id", "call_9"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"not json"}}]}]}`, "messages[0].tool_calls[0].function.arguments", "JSON object"},
		{`{"tools":[{"type":"custom","custom":{"name":"x"}}],` + user + `}`, "tools[0].type", "only function tools"},
		{`{"tools":[{"type":"function","function":{"name":"f","parameters":"str"}}],` + user + `}`, "tools[0].function.parameters", "not a JSON object"},
		{`{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{}},` + user + `}`, "tool_choice", "allowed_tools"},
		{`{"messages":[{"role":"function","content":"x","name":"f"}]}`, "messages[0].role", "deprecated"},
	} {
		var in openai.ChatCompletionRequest
		if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		_, err := p.translateRequest(&in, "gemini-2.5-flash")
		var pe *providers.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *providers.Error", tc.body, err)
			continue
		}
		if pe.Err.Status != 400 || pe.Err.Type != openai.TypeInvalidRequest || pe.Err.Param != tc.param {
			t.Errorf("%s: got status %d type %q param %q, want 400 invalid_request_error %q", tc.body, pe.Err.Status, pe.Err.Type, pe.Err.Param, tc.param)
		}
		if !strings.Contains(pe.Err.Message, tc.msg) || !strings.Contains(pe.Err.Message, `provider "google"`) {
			t.Errorf("%s: message %q lacks %q or the provider name", tc.body, pe.Err.Message, tc.msg)
		}
	}
}

func TestTranslateResponse(t *testing.T) {
	files, _ := filepath.Glob("testdata/resp_*.gemini.json")
	if len(files) == 0 {
		t.Fatal("no response test data")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".gemini.json")
		t.Run(name, func(t *testing.T) {
			got, err := translateResponse(readFile(t, name+".gemini.json"), "requested-model", 1700000000)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
		})
	}
	if _, err := translateResponse([]byte(`{"candidates":[]}`), "m", 0); err == nil {
		t.Error("an answer without candidates was accepted")
	}
	if _, err := translateResponse([]byte(`[`), "m", 0); err == nil {
		t.Error("invalid JSON was accepted")
	}
}

func TestParseError(t *testing.T) {
	e := parseError(429, readFile(t, "error_429.json"))
	if !strings.HasPrefix(e.Message, "You exceeded your current quota") || e.Type != openai.TypeRateLimit || e.Code != "RESOURCE_EXHAUSTED" {
		t.Errorf("429: got %+v", e)
	}
	e = parseError(400, readFile(t, "error_400_array.json"))
	if e.Message != "API key not valid. Please pass a valid API key." || e.Type != openai.TypeInvalidRequest || e.Code != "INVALID_ARGUMENT" {
		t.Errorf("400 array: got %+v", e)
	}
	e = parseError(500, []byte("upstream connect error"))
	if !strings.Contains(e.Message, "500") || e.Type != openai.TypeServer {
		t.Errorf("text body: got %+v", e)
	}
}

func testClient() *providers.Client {
	return &providers.Client{Name: "google", ParseError: parseError}
}

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
		if !json.Valid(b) {
			t.Fatalf("chunk %q is not JSON", b)
		}
		out = append(out, append([]byte(nil), b...))
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func TestStream(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_tools", "stream_blocked"} {
		t.Run(name, func(t *testing.T) {
			s := newStream(context.Background(), io.NopCloser(bytes.NewReader(readFile(t, name+".sse"))), testClient(), "requested")
			got, err := readStream(t, s)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Split(bytes.TrimSpace(readFile(t, name+".want.jsonl")), []byte("\n"))
			if len(got) != len(want) {
				t.Fatalf("got %d chunks, want %d:\n%s", len(got), len(want), bytes.Join(got, []byte("\n")))
			}
			for i := range want {
				jsonEqual(t, fmt.Sprintf("%s chunk %d", name, i), got[i], want[i])
			}
			if _, err := s.Next(); err != io.EOF {
				t.Errorf("after the end: %v", err)
			}
			s.Close()
		})
	}
}

func TestStreamErrors(t *testing.T) {
	s := newStream(context.Background(), io.NopCloser(bytes.NewReader(readFile(t, "stream_error.sse"))), testClient(), "m")
	got, err := readStream(t, s)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != 503 || pe.Err.Code != "UNAVAILABLE" || !strings.Contains(pe.Err.Message, "overloaded") || !providers.Retryable(err) {
		t.Fatalf("error event: got %v", err)
	}
	if len(got) != 1 {
		t.Errorf("got %d chunks before the error, want 1", len(got))
	}
	for name, body := range map[string]string{
		"cut":          "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\n",
		"not JSON":     "data: {\"candidates\":\n\n",
		"array framed": "data: [{\"candidates\":[]}]\n\n",
		"bad index":    "data: {\"candidates\":[{\"index\":4000000000,\"finishReason\":\"STOP\"}]}\n\n",
		"empty":        "",
	} {
		s := newStream(context.Background(), io.NopCloser(strings.NewReader(body)), testClient(), "m")
		if _, err := readStream(t, s); !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway {
			t.Errorf("%s: got %v, want a 502", name, err)
		}
	}
}

func FuzzStream(f *testing.F) {
	for _, name := range []string{"stream_text.sse", "stream_tools.sse", "stream_blocked.sse", "stream_error.sse"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"candidates\":[{\"index\":15,\"content\":{\"parts\":[{\"functionCall\":{\"name\":1,\"args\":[]}}]},\"finishReason\":\"STOP\"}]}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(data)), testClient(), "m")
		defer s.Close()
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatal("more chunks than input bytes: the stream does not end")
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
	var gotURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL = r.URL.String()
		gotHeader = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		switch {
		case strings.Contains(r.URL.Path, "quota"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			w.Write(readFile(t, "error_429.json"))
		case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(readFile(t, "stream_tools.sse"))
		case strings.HasSuffix(r.URL.Path, ":generateContent"):
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.Write(readFile(t, "resp_text.gemini.json"))
		case strings.HasSuffix(r.URL.Path, ":batchEmbedContents"):
			var req batchEmbedRequest
			_ = json.Unmarshal(gotBody, &req)
			fmt.Fprint(w, `{"embeddings":[`)
			for i := range req.Requests {
				if i > 0 {
					fmt.Fprint(w, ",")
				}
				fmt.Fprintf(w, "{\n \"values\": [\n %d, 0.5 ]}", i)
			}
			fmt.Fprint(w, `]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := newProvider(t, srv.URL)
	ctx := context.Background()

	resp, err := p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Hi"}],"max_tokens":10}`), Model: "gemini-2.5-flash"})
	if err != nil {
		t.Fatal(err)
	}
	if gotURL != "/v1beta/models/gemini-2.5-flash:generateContent" || gotHeader.Get("X-Goog-Api-Key") != "test-key" || strings.Contains(gotURL, "key=") {
		t.Errorf("upstream request: %s %v", gotURL, gotHeader)
	}
	jsonEqual(t, "upstream body", gotBody, []byte(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"generationConfig":{"maxOutputTokens":10}}`))
	var cc openai.ChatCompletion
	if err := json.Unmarshal(resp.Body, &cc); err != nil || cc.Usage.TotalTokens != 52 || cc.Choices[0].Message.Content.Text == "" {
		t.Errorf("answer %s: %v", resp.Body, err)
	}

	resp, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"x","stream":true,"messages":[{"role":"user","content":"Hi"}]}`), Model: "models/gemini-3-pro-preview", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if gotURL != "/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse" {
		t.Errorf("stream URL %s", gotURL)
	}
	chunks, err := readStream(t, resp.Stream)
	resp.Stream.Close()
	if err != nil || len(chunks) != 3 {
		t.Errorf("stream: %d chunks, %v", len(chunks), err)
	}

	_, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"messages":[{"role":"user","content":"Hi"}]}`), Model: "tunedModels/quota-1"})
	var pe *providers.Error
	if gotURL != "/v1beta/tunedModels/quota-1:generateContent" || !errors.As(err, &pe) || pe.Err.Status != 429 || pe.Err.Code != "RESOURCE_EXHAUSTED" || !providers.Retryable(err) {
		t.Errorf("429 at %s: got %v", gotURL, err)
	}

	// Embeddings: 150 inputs take two batches; base64 output.
	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = strings.Repeat("x", i%9)
	}
	in, _ := json.Marshal(map[string]any{"model": "e", "input": inputs, "dimensions": 2, "encoding_format": "base64"})
	resp, err = p.Embeddings(ctx, &providers.Request{Body: in, Model: "gemini-embedding-001"})
	if err != nil {
		t.Fatal(err)
	}
	if gotURL != "/v1beta/models/gemini-embedding-001:batchEmbedContents" ||
		!bytes.Contains(gotBody, []byte(`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"xxxxx"}]},"outputDimensionality":2}`)) {
		t.Errorf("embed request %s: %.300s", gotURL, gotBody)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		t.Fatalf("%s: %v", resp.Body, err)
	}
	if len(list.Data) != 150 || list.Data[149].Index != 149 || list.Model != "gemini-embedding-001" || list.Usage.PromptTokens != 198 {
		t.Errorf("embeddings: %d items, model %q, usage %d", len(list.Data), list.Model, list.Usage.PromptTokens)
	}
	raw, _ := base64.StdEncoding.DecodeString(list.Data[101].Embedding)
	if len(raw) != 8 || math.Float32frombits(binary.LittleEndian.Uint32(raw)) != 1 || math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])) != 0.5 {
		t.Errorf("base64 vector %q", list.Data[101].Embedding)
	}

	resp, err = p.Embeddings(ctx, &providers.Request{Body: []byte(`{"model":"e","input":"hello world"}`), Model: "text-embedding-004"})
	if err != nil || string(resp.Body) != `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0,0.5]}],"model":"text-embedding-004","usage":{"prompt_tokens":3,"total_tokens":3}}` {
		t.Errorf("float embeddings: %s, %v", resp.Body, err)
	}
	for _, bad := range []string{`{"input":[[1,2,3]]}`, `{"input":[]}`, `{"input":5}`, `{"input":"x","encoding_format":"int8"}`, `{"input":`} {
		_, err := p.Embeddings(ctx, &providers.Request{Body: []byte(bad), Model: "e"})
		if !errors.As(err, &pe) || pe.Err.Status != 400 {
			t.Errorf("%s: got %v", bad, err)
		}
	}
	if err := p.Cleanup(); err != nil {
		t.Error(err)
	}
}

func TestProvision(t *testing.T) {
	t.Setenv("POLYGATE_TEST_GEMINI_KEY", "AIza-secret")
	p := &Gemini{Settings: providers.Settings{APIKey: "{env.POLYGATE_TEST_GEMINI_KEY}"}, APIVersion: "v1"}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if p.header.Get("X-Goog-Api-Key") != "AIza-secret" || p.APIKey != "{env.POLYGATE_TEST_GEMINI_KEY}" || p.root != "https://generativelanguage.googleapis.com/v1" || p.client.Name != "gemini" {
		t.Errorf("provisioned: root %q header %v field %q", p.root, p.header, p.APIKey)
	}
	if err := (&Gemini{Settings: providers.Settings{BaseURL: "//nohost"}}).Provision(ctx); err == nil {
		t.Error("a bad base_url was accepted")
	}
	t.Setenv("POLYGATE_TEST_GEMINI_URL", "https://generativelanguage.googleapis.com/v1beta")
	for _, tc := range []struct {
		base, root, err string
	}{
		{"", "https://generativelanguage.googleapis.com/v1beta", ""},
		{"https://generativelanguage.googleapis.com/", "https://generativelanguage.googleapis.com/v1beta", ""},
		{"https://gateway.example.com/google", "https://gateway.example.com/google/v1beta", ""},
		{"https://gateway.example.com/v1beta-proxy", "https://gateway.example.com/v1beta-proxy/v1beta", ""},
		{"https://generativelanguage.googleapis.com/v1beta", "", `base_url "https://generativelanguage.googleapis.com/v1beta" ends in the API version; name the API root (https://generativelanguage.googleapis.com) and set the version with api_version v1beta`},
		{"https://generativelanguage.googleapis.com/v1/", "", `base_url "https://generativelanguage.googleapis.com/v1" ends in the API version; name the API root (https://generativelanguage.googleapis.com) and set the version with api_version v1`},
		{"https://generativelanguage.googleapis.com/v1alpha", "", `api_version v1alpha`},
		{"https://gateway.example.com/google/v2", "", `name the API root (https://gateway.example.com/google) and set the version with api_version v2`},
		{"https://gateway.example.com/v1beta2", "", `api_version v1beta2`},
		{"{env.POLYGATE_TEST_GEMINI_URL}", "", `base_url "https://generativelanguage.googleapis.com/v1beta" ends in the API version`},
	} {
		p := &Gemini{Settings: providers.Settings{BaseURL: tc.base}}
		err := p.Provision(ctx)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("base_url %q: %v", tc.base, err)
		case tc.err == "" && p.root != tc.root:
			t.Errorf("base_url %q: root %q, want %q", tc.base, p.root, tc.root)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("base_url %q: error %v, want one containing %q", tc.base, err, tc.err)
		}
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`gemini {
		base_url https://gateway.example.com/google
		api_key {env.GEMINI_API_KEY}
		api_version v1alpha
		header x-goog-user-project my-project
		timeout 2m
		first_byte_timeout 20s
		max_idle_conns_per_host 256
	}`)
	var p Gemini
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Gemini{Settings: providers.Settings{BaseURL: "https://gateway.example.com/google", APIKey: "{env.GEMINI_API_KEY}", Headers: map[string]string{"x-goog-user-project": "my-project"}, Timeout: caddy.Duration(2 * time.Minute), FirstByteTimeout: caddy.Duration(20 * time.Second), MaxIdleConnsPerHost: 256}, APIVersion: "v1alpha"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	for _, bad := range []string{"gemini x", "gemini {\n nope\n}", "gemini {\n base_url gemini.google.com\n}", "gemini {\n base_url https://generativelanguage.googleapis.com/v1beta\n}", "gemini {\n base_url https://generativelanguage.googleapis.com/v1\n}", "gemini {\n max_idle_conns_per_host many\n}", "gemini {\n api_version\n}"} {
		var p Gemini
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	err := new(Gemini).UnmarshalCaddyfile(caddyfile.NewTestDispenser("gemini {\n api_version v1\n base_url https://generativelanguage.googleapis.com/v1alpha\n}"))
	const wantErr = `base_url "https://generativelanguage.googleapis.com/v1alpha" ends in the API version; name the API root (https://generativelanguage.googleapis.com) and set the version with api_version v1alpha, at Testfile:3`
	if err == nil || err.Error() != wantErr {
		t.Errorf("base_url with /v1alpha: got %v\nwant %s", err, wantErr)
	}
	// Placeholders are checked when provisioned.
	if err := new(Gemini).UnmarshalCaddyfile(caddyfile.NewTestDispenser("gemini {\n base_url {env.GEMINI_BASE_URL}\n}")); err != nil {
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

func TestAppendVector(t *testing.T) {
	var br batchEmbedResponse
	if err := json.Unmarshal(readFile(t, "embed_response.gemini.json"), &br); err != nil || len(br.Embeddings) != 2 {
		t.Fatalf("%v", err)
	}
	got, err := openai.AppendEmbedding(nil, br.Embeddings[0].Values, false)
	if err != nil || string(got) != `[0.0123,-0.5,0.25]` {
		t.Errorf("float: %s %v", got, err)
	}
	got, err = openai.AppendEmbedding(nil, br.Embeddings[1].Values, true)
	want := base64.StdEncoding.EncodeToString([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xbe})
	if err != nil || string(got) != `"`+want+`"` {
		t.Errorf("base64: %s %v, want %s", got, err, want)
	}
	if _, err := openai.AppendEmbedding(nil, json.RawMessage(`{}`), false); err == nil {
		t.Error("an object was accepted")
	}
}
