package polygate_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	openaigo "github.com/openai/openai-go/v3"
)

// dialectUpstream replays recorded provider payloads (the translators'
// testdata) over HTTP, checking the provider's auth header, and records the
// requests it saw.
type dialectUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []gatewaytest.SeenRequest
}

func (d *dialectUpstream) Last() gatewaytest.SeenRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[len(d.seen)-1]
}

// newDialectUpstream serves the file that route picks for a request.
func newDialectUpstream(t *testing.T, authHeader, authValue string, route func(r *http.Request, body []byte) string) *dialectUpstream {
	d := &dialectUpstream{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, gatewaytest.SeenRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		d.mu.Unlock()
		if r.Header.Get(authHeader) != authValue {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		file := route(r, body)
		if file == "" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("reading %s: %v", file, err)
			w.WriteHeader(500)
			return
		}
		if strings.HasSuffix(file, ".sse") {
			w.Header().Set("Content-Type", "text/event-stream")
			// Send event by event, as a real upstream does.
			for _, ev := range strings.SplitAfter(string(data), "\n\n") {
				_, _ = io.WriteString(w, ev)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}))
	t.Cleanup(d.Close)
	return d
}

// expectedCompletion accumulates a recorded OpenAI answer: a
// chat.completion JSON file or a JSON-lines file of chunks.
func expectedCompletion(t *testing.T, file string) openaigo.ChatCompletion {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(file, ".jsonl") {
		var acc openaigo.ChatCompletionAccumulator
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var chunk openaigo.ChatCompletionChunk
			if err := json.Unmarshal(sc.Bytes(), &chunk); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			acc.AddChunk(chunk)
		}
		return acc.ChatCompletion
	}
	var c openaigo.ChatCompletion
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

func summary(c openaigo.ChatCompletion) string {
	if len(c.Choices) == 0 {
		return "no choices"
	}
	m := c.Choices[0].Message
	var b strings.Builder
	fmt.Fprintf(&b, "content=%q finish=%s", m.Content, c.Choices[0].FinishReason)
	for _, tc := range m.ToolCalls {
		var args any
		_ = json.Unmarshal([]byte(tc.Function.Arguments), &args)
		fmt.Fprintf(&b, " tool=%s(%v)", tc.Function.Name, args)
	}
	return b.String()
}

func chatThrough(t *testing.T, g *gatewaytest.Gateway, model string, tools, stream bool) openaigo.ChatCompletion {
	t.Helper()
	client := g.OpenAI()
	params := openaigo.ChatCompletionNewParams{
		Model: model,
		Messages: []openaigo.ChatCompletionMessageParamUnion{
			openaigo.SystemMessage("Be brief."),
			openaigo.UserMessage("What is the weather?"),
		},
	}
	if tools {
		params.Tools = []openaigo.ChatCompletionToolUnionParam{openaigo.ChatCompletionFunctionTool(openaigo.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: openaigo.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}},
		})}
	}
	if !stream {
		c, err := client.Chat.Completions.New(context.Background(), params)
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		return *c
	}
	s := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openaigo.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("%s stream: %v", model, err)
	}
	return acc.ChatCompletion
}

func TestAnthropicThroughGateway(t *testing.T) {
	const dir = "providers/anthropic/testdata/"
	up := newDialectUpstream(t, "X-Api-Key", "sk-ant-test", func(r *http.Request, body []byte) string {
		if r.URL.Path != "/v1/messages" || r.Header.Get("Anthropic-Version") == "" {
			return ""
		}
		var req struct {
			Stream bool
			Tools  []any
		}
		_ = json.Unmarshal(body, &req)
		switch {
		case req.Stream && len(req.Tools) > 0:
			return dir + "stream_tool_use.sse"
		case req.Stream:
			return dir + "stream_text.sse"
		case len(req.Tools) > 0:
			return dir + "resp_tool_use.anthropic.json"
		}
		return dir + "resp_text.anthropic.json"
	})
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider claude anthropic {
			base_url %s
			api_key sk-ant-test
		}
		model smart {
			upstream claude claude-sonnet-4-5
		}
	}`, up.URL))
	cases := []struct {
		tools, stream bool
		want          string
	}{
		{false, false, dir + "resp_text.want.json"},
		{true, false, dir + "resp_tool_use.want.json"},
		{false, true, dir + "stream_text.want.jsonl"},
		{true, true, dir + "stream_tool_use.want.jsonl"},
	}
	for _, tc := range cases {
		got := chatThrough(t, g, "smart", tc.tools, tc.stream)
		if want := expectedCompletion(t, tc.want); summary(got) != summary(want) {
			t.Errorf("tools=%v stream=%v:\n got %s\nwant %s", tc.tools, tc.stream, summary(got), summary(want))
		}
		var sent struct {
			Model  string
			System any
		}

		_ = json.Unmarshal(up.Last().Body, &sent)
		if sent.Model != "claude-sonnet-4-5" || sent.System == nil {
			t.Errorf("upstream request = %s", up.Last().Body)
		}
	}
}

// TestUnexpressibleRequest: what a provider cannot express is a 400
// naming the parameter, and the provider is not called.
func TestUnexpressibleRequest(t *testing.T) {
	var calls atomic.Int32
	up := newDialectUpstream(t, "X-Api-Key", "k", func(*http.Request, []byte) string { calls.Add(1); return "" })
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider claude anthropic {
			base_url %s
			api_key k
		}
		model smart {
			upstream claude claude-sonnet-4-5
		}
	}`, up.URL))
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"smart","n":2,"messages":[{"role":"user","content":"hi"}]}`)
	e := gatewaytest.ExpectOpenAIError(t, resp, body, 400, "invalid_request_error", "")
	if e.Error.Param == nil || *e.Error.Param != "n" || !strings.Contains(e.Error.Message, "n must be 1") {
		t.Errorf("error = %s", body)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the provider was called %d times", n)
	}
}

func TestGeminiThroughGateway(t *testing.T) {
	const dir = "providers/gemini/testdata/"
	up := newDialectUpstream(t, "X-Goog-Api-Key", "gm-test", func(r *http.Request, body []byte) string {
		tools := strings.Contains(string(body), "functionDeclarations")
		switch {
		case strings.HasSuffix(r.URL.Path, "/models/gemini-2.5-flash:streamGenerateContent") && r.URL.Query().Get("alt") == "sse":
			if tools {
				return dir + "stream_tools.sse"
			}
			return dir + "stream_text.sse"
		case strings.HasSuffix(r.URL.Path, "/models/gemini-2.5-flash:generateContent"):
			if tools {
				return dir + "resp_tools.gemini.json"
			}
			return dir + "resp_text.gemini.json"
		case strings.HasSuffix(r.URL.Path, "/models/text-embedding-004:batchEmbedContents"):
			return dir + "embed_response.gemini.json"
		}
		return ""
	})
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider google gemini {
			base_url %s
			api_key gm-test
		}
		model fast {
			upstream google gemini-2.5-flash
		}
		model embed {
			upstream google text-embedding-004
		}
	}`, up.URL))
	cases := []struct {
		tools, stream bool
		want          string
	}{
		{false, false, dir + "resp_text.want.json"},
		{true, false, dir + "resp_tools.want.json"},
		{false, true, dir + "stream_text.want.jsonl"},
		{true, true, dir + "stream_tools.want.jsonl"},
	}
	for _, tc := range cases {
		got := chatThrough(t, g, "fast", tc.tools, tc.stream)
		if want := expectedCompletion(t, tc.want); summary(got) != summary(want) {
			t.Errorf("tools=%v stream=%v:\n got %s\nwant %s", tc.tools, tc.stream, summary(got), summary(want))
		}
		if strings.Contains(up.Last().RawQuery, "key=") {
			t.Errorf("the Gemini key went into the URL: %s", up.Last().RawQuery)
		}
	}
	client := g.OpenAI()
	emb, err := client.Embeddings.New(context.Background(), openaigo.EmbeddingNewParams{
		Model: "embed",
		Input: openaigo.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) == 0 || len(emb.Data[0].Embedding) == 0 {
		t.Errorf("embeddings = %+v", emb)
	}
}

func TestAzureThroughGateway(t *testing.T) {
	const dir = "providers/azure/testdata/"
	up := newDialectUpstream(t, "Api-Key", "az-test", func(r *http.Request, body []byte) string {
		if r.URL.Query().Get("api-version") == "" {
			return ""
		}
		switch r.URL.Path {
		case "/openai/deployments/gpt4o-prod/chat/completions":
			if strings.Contains(string(body), `"stream":true`) {
				return dir + "chat_stream.sse"
			}
			return dir + "chat_response.json"
		case "/openai/deployments/embed-prod/embeddings":
			return dir + "embeddings_response.json"
		}
		return ""
	})
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider az azure {
			base_url %s
			api_key az-test
		}
		model gpt-4o {
			upstream az gpt4o-prod
		}
		model embed {
			upstream az embed-prod
		}
	}`, up.URL))
	for _, stream := range []bool{false, true} {
		got := chatThrough(t, g, "gpt-4o", false, stream)
		if len(got.Choices) == 0 || got.Choices[0].Message.Content == "" {
			t.Errorf("stream=%v: %s", stream, summary(got))
		}
	}
	client := g.OpenAI()
	if _, err := client.Embeddings.New(context.Background(), openaigo.EmbeddingNewParams{
		Model: "embed",
		Input: openaigo.EmbeddingNewParamsInputUnion{OfString: openaigo.String("a")},
	}); err != nil {
		t.Fatal(err)
	}
}
