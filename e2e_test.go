package polygate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const upstreamKey = "sk-upstream-secret-123"

// coreSite is a site block with the gateway in front of up, and a
// "next handler" answer for everything the gateway does not serve.
func coreSite(up string) string {
	return fmt.Sprintf(`	route {
		ai_gateway {
			max_request_body 64KiB
			default_provider up
			provider up openai {
				base_url %s/v1
				api_key {env.POLYGATE_TEST_UPSTREAM_KEY}
				timeout 1s
			}
			provider dead openai {
				base_url http://127.0.0.1:1/v1
			}
			model gpt-4o-mini {
				upstream up gpt-4o-mini-2024-07-18
				price 0.15 0.60
			}
			model tools {
				upstream up tools-model
			}
			model broken {
				upstream dead whatever
			}
			model slow {
				upstream up slow
			}
			model garbage {
				upstream up garbage
			}
			model garbage-stream {
				upstream up garbage-stream
			}
			model hang {
				upstream up hang-stream
			}
			model rejected {
				upstream up error-400
			}
			model failing {
				upstream up error-500
			}
			model embed {
				upstream up text-embedding-3-small
			}
		}
		respond "next handler" 200
	}`, up)
}

func startCore(t *testing.T) (*gatewaytest.Gateway, *gatewaytest.FakeOpenAI) {
	t.Setenv("POLYGATE_TEST_UPSTREAM_KEY", upstreamKey)
	up := gatewaytest.NewFakeOpenAI(t)
	return gatewaytest.Start(t, coreSite(up.URL)), up
}

func TestChatCompletion(t *testing.T) {
	g, up := startCore(t)
	client := g.OpenAI(option.WithJSONSet("x_future_param", map[string]any{"a": 1}))
	completion, err := client.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("Say hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := completion.Choices[0].Message.Content; got != "Hello world" {
		t.Errorf("content = %q", got)
	}
	if completion.Usage.PromptTokens != 12 || completion.Usage.CompletionTokens != 3 {
		t.Errorf("usage = %+v", completion.Usage)
	}
	if !strings.Contains(completion.RawJSON(), `"x_vendor_extra":{"kept":true}`) {
		t.Errorf("unknown response field was dropped: %s", completion.RawJSON())
	}
	seen := up.Last()
	var body map[string]any
	if err := json.Unmarshal(seen.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["model"] != "gpt-4o-mini-2024-07-18" {
		t.Errorf("upstream model = %v", body["model"])
	}
	if _, ok := body["x_future_param"]; !ok {
		t.Errorf("unknown request field was dropped: %s", seen.Body)
	}
	if got := seen.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
		t.Errorf("upstream Authorization = %q, want the provider's key", got)
	}
	if strings.Contains(fmt.Sprint(seen.Header), "sk-client-secret") {
		t.Errorf("client key reached the upstream: %v", seen.Header)
	}
}

func TestChatResponseHeaders(t *testing.T) {
	g, _ := startCore(t)
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Polygate-Provider"); got != "up" {
		t.Errorf("X-Polygate-Provider = %q", got)
	}
	if got := resp.Header.Get("X-Polygate-Attempts"); got != "1" {
		t.Errorf("X-Polygate-Attempts = %q", got)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req_fake" {
		t.Errorf("X-Request-Id = %q", got)
	}
}

func TestChatStreamed(t *testing.T) {
	g, up := startCore(t)
	client := g.OpenAI()
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("Say hello")},
	})
	var acc openaigo.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		chunks++
		if chunk.Usage.TotalTokens != 0 || len(chunk.Choices) == 0 {
			t.Errorf("client got a usage chunk it did not ask for: %s", chunk.RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "Hello world" {
		t.Errorf("content = %q", got)
	}
	if chunks != 4 {
		t.Errorf("got %d chunks, want 4", chunks)
	}
	if !strings.Contains(string(up.Last().Body), `"include_usage":true`) {
		t.Errorf("gateway did not ask the upstream for usage: %s", up.Last().Body)
	}

	// A client that asks for usage gets the usage chunk.
	stream = client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("Say hello")},
		StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)},
	})
	var usage int64
	for stream.Next() {
		usage += stream.Current().Usage.TotalTokens
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if usage != 15 {
		t.Errorf("usage total = %d, want 15", usage)
	}
}

func TestChatToolCalls(t *testing.T) {
	g, _ := startCore(t)
	client := g.OpenAI()
	params := openaigo.ChatCompletionNewParams{
		Model:    "tools",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("Weather in Paris?")},
		Tools: []openaigo.ChatCompletionToolUnionParam{openaigo.ChatCompletionFunctionTool(openaigo.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: openaigo.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	completion, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := completion.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("tool calls = %+v", calls)
	}

	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openaigo.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls = acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("streamed tool calls = %+v", calls)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish_reason = %q", acc.Choices[0].FinishReason)
	}
}

func TestEmbeddings(t *testing.T) {
	g, up := startCore(t)
	client := g.OpenAI()
	res, err := client.Embeddings.New(context.Background(), openaigo.EmbeddingNewParams{
		Model: "embed",
		Input: openaigo.EmbeddingNewParamsInputUnion{OfString: openaigo.String("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 1 || len(res.Data[0].Embedding) != 3 || res.Usage.PromptTokens != 4 {
		t.Errorf("embeddings = %+v", res)
	}
	if !strings.Contains(string(up.Last().Body), `"model":"text-embedding-3-small"`) {
		t.Errorf("upstream body = %s", up.Last().Body)
	}
}

func TestModels(t *testing.T) {
	g, _ := startCore(t)
	client := g.OpenAI()
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" {
			t.Errorf("object = %q", m.Object)
		}
	}
	want := "gpt-4o-mini tools broken slow garbage garbage-stream hang rejected failing embed"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("models = %q, want %q", got, want)
	}
	m, err := client.Models.Get(context.Background(), "gpt-4o-mini")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "gpt-4o-mini" || m.OwnedBy != "up" {
		t.Errorf("model = %+v", m)
	}
	_, err = client.Models.Get(context.Background(), "nope")
	var apiErr *openaigo.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

func TestDirectModels(t *testing.T) {
	g, up := startCore(t)
	client := g.OpenAI()
	_, err := client.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "up/some-upstream-model",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(up.Last().Body), `"model":"some-upstream-model"`) {
		t.Errorf("upstream body = %s", up.Last().Body)
	}
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"nope/x","messages":[]}`)
	gatewaytest.ExpectOpenAIError(t, resp, body, 404, "invalid_request_error", "model_not_found")
}

func TestDirectModelsOff(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		direct_models off
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up x
		}
	}`, up.URL))
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"up/x","messages":[]}`)
	gatewaytest.ExpectOpenAIError(t, resp, body, 404, "invalid_request_error", "model_not_found")
}

func TestPassthrough(t *testing.T) {
	g, up := startCore(t)

	// JSON body: routed by model, model rewritten, unknown path kept.
	resp, body := g.Do("POST", "/v1/responses?x=1", "application/json", `{"model":"gpt-4o-mini","input":"hi","some_new_option":true}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"model":"gpt-4o-mini-2024-07-18"`) {
		t.Fatalf("responses: %d %s", resp.StatusCode, body)
	}
	seen := up.Last()
	if seen.Path != "/v1/responses" || seen.RawQuery != "x=1" || !strings.Contains(string(seen.Body), `"some_new_option":true`) {
		t.Errorf("upstream saw %s?%s %s", seen.Path, seen.RawQuery, seen.Body)
	}
	if seen.Header.Get("Authorization") != "Bearer "+upstreamKey {
		t.Errorf("upstream Authorization = %q", seen.Header.Get("Authorization"))
	}

	// Multipart body: the form's model field is rewritten.
	client := g.OpenAI()
	tr, err := client.Audio.Transcriptions.New(context.Background(), openaigo.AudioTranscriptionNewParams{
		Model: "gpt-4o-mini",
		File:  strings.NewReader("RIFF fake audio"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text != "model=gpt-4o-mini-2024-07-18 file=RIFF fake audio" {
		t.Errorf("transcription = %q", tr.Text)
	}

	// No model: the default provider.
	resp, body = g.Do("GET", "/v1/files", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"object":"list"`) {
		t.Errorf("files: %d %s", resp.StatusCode, body)
	}

	// Unknown model in a passthrough request.
	resp, body = g.Do("POST", "/v1/responses", "application/json", `{"model":"nope","input":"hi"}`)
	gatewaytest.ExpectOpenAIError(t, resp, body, 404, "invalid_request_error", "model_not_found")

	// Outside the base path: the next handler.
	resp, body = g.Do("GET", "/other", "", "")
	if body != "next handler" {
		t.Errorf("outside base path: %d %q", resp.StatusCode, body)
	}
	resp, body = g.Do("GET", "/v1x/models", "", "")
	if body != "next handler" {
		t.Errorf("/v1x: %d %q", resp.StatusCode, body)
	}
}

func TestBadInput(t *testing.T) {
	g, _ := startCore(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		typ, code, param         string
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", `{"model":`, 400, "invalid_request_error", "", ""},
		{"not an object", "POST", "/v1/chat/completions", `[1,2]`, 400, "invalid_request_error", "", ""},
		{"empty body", "POST", "/v1/chat/completions", ``, 400, "invalid_request_error", "", ""},
		{"missing model", "POST", "/v1/chat/completions", `{"messages":[]}`, 400, "invalid_request_error", "", "model"},
		{"model not a string", "POST", "/v1/chat/completions", `{"model":5,"messages":[]}`, 400, "invalid_request_error", "", "model"},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini"}`, 400, "invalid_request_error", "", "messages"},
		{"embeddings without input", "POST", "/v1/embeddings", `{"model":"embed"}`, 400, "invalid_request_error", "", "input"},
		{"too large", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[],"pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "invalid_request_error", "request_too_large", ""},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"nope","messages":[]}`, 404, "invalid_request_error", "model_not_found", "model"},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "invalid_request_error", "method_not_allowed", ""},
		{"wrong method models", "POST", "/v1/models", `{}`, 405, "invalid_request_error", "method_not_allowed", ""},
		{"upstream unreachable", "POST", "/v1/chat/completions", `{"model":"broken","messages":[]}`, 502, "upstream_error", "upstream_unreachable", ""},
		{"upstream timeout", "POST", "/v1/chat/completions", `{"model":"slow","messages":[]}`, 504, "timeout_error", "upstream_timeout", ""},
		{"upstream error", "POST", "/v1/chat/completions", `{"model":"rejected","messages":[]}`, 400, "invalid_request_error", "invalid_value", "temperature"},
		{"upstream 500 plain text", "POST", "/v1/chat/completions", `{"model":"failing","messages":[]}`, 500, "server_error", "", ""},
		{"upstream not JSON", "POST", "/v1/chat/completions", `{"model":"garbage","messages":[]}`, 502, "upstream_error", "upstream_invalid_response", ""},
		{"upstream stream not SSE JSON", "POST", "/v1/chat/completions", `{"model":"garbage-stream","stream":true,"messages":[]}`, 502, "upstream_error", "upstream_invalid_response", ""},
		{"upstream unreachable, streamed", "POST", "/v1/chat/completions", `{"model":"broken","stream":true,"messages":[]}`, 502, "upstream_error", "upstream_unreachable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := g.Do(tc.method, tc.path, "application/json", tc.body)
			e := gatewaytest.ExpectOpenAIError(t, resp, body, tc.status, tc.typ, tc.code)
			if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
				t.Errorf("param = %v, want %q", e.Error.Param, tc.param)
			}
			if strings.Contains(body, upstreamKey) || strings.Contains(body, "sk-client-secret") {
				t.Errorf("a key leaked into the error: %s", body)
			}
		})
	}
	// The upstream's message reaches the client unchanged.
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"rejected","messages":[]}`)
	if e := gatewaytest.ExpectOpenAIError(t, resp, body, 400, "", ""); e.Error.Message != "temperature must be at most 2" {
		t.Errorf("message = %q", e.Error.Message)
	}
	resp, body = g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"failing","messages":[]}`)
	if e := gatewaytest.ExpectOpenAIError(t, resp, body, 500, "", ""); !strings.Contains(e.Error.Message, "internal trouble") {
		t.Errorf("message = %q", e.Error.Message)
	}
}

func TestBadInputThroughSDK(t *testing.T) {
	g, _ := startCore(t)
	client := g.OpenAI()
	_, err := client.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "nope",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
	})
	var apiErr *openaigo.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
		t.Fatalf("err = %v", err)
	}
}

func TestClientGoneCancelsUpstream(t *testing.T) {
	g, up := startCore(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"hang","stream":true,"messages":[]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(buf), "data: ") {
		t.Fatalf("first bytes = %q", buf)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-up.ClientGone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not canceled after the client left")
	}
}

func TestSecretsStayOutOfConfig(t *testing.T) {
	g, up := startCore(t)
	resp, err := http.Get(g.Admin + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cfg, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(cfg), upstreamKey) {
		t.Fatalf("the provider key is in the running config: %s", cfg)
	}
	if !strings.Contains(string(cfg), "{env.POLYGATE_TEST_UPSTREAM_KEY}") {
		t.Fatalf("the key placeholder is not in the running config: %s", cfg)
	}
	g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"gpt-4o-mini","messages":[]}`)
	if got := up.Last().Header.Get("Authorization"); got != "Bearer "+upstreamKey {
		t.Errorf("upstream Authorization = %q", got)
	}
}

func TestPlaceholders(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	header >X-Model {http.ai_gateway.model}
	header >X-Provider {http.ai_gateway.provider}
	header >X-Upstream-Model {http.ai_gateway.upstream_model}
	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up upstream-m
		}
		guardrail regex {
			on input
			deny "forbidden"
		}
		cache
	}`, up.URL))
	check := func(what, body string, status int, model, provider, upstream string) {
		t.Helper()
		resp, out := g.Do("POST", "/v1/chat/completions", "application/json", body)
		if resp.StatusCode != status {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, out)
		}
		h := resp.Header
		if h.Get("X-Model") != model || h.Get("X-Provider") != provider || h.Get("X-Upstream-Model") != upstream {
			t.Errorf("%s: X-Model %q, X-Provider %q, X-Upstream-Model %q; want %q, %q, %q", what,
				h.Get("X-Model"), h.Get("X-Provider"), h.Get("X-Upstream-Model"), model, provider, upstream)
		}
	}
	const ok = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	check("upstream answer", ok, 200, "m", "up", "upstream-m")
	// The cache stores in the background: wait until the answer is there.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, _ := g.Do("POST", "/v1/chat/completions", "application/json", ok); resp.Header.Get("X-Polygate-Cache") == "HIT" {
			break
		}
	}
	check("cache hit", ok, 200, "m", "cache", "")
	check("cache hit, streamed", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200, "m", "cache", "")
	check("guardrail block", `{"model":"m","messages":[{"role":"user","content":"forbidden"}]}`, 400, "m", "", "")
	check("unknown model", `{"model":"nope","messages":[]}`, 404, "nope", "", "")
}

func TestAccessLogFields(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	logFile := t.TempDir() + "/access.log"
	g := gatewaytest.Start(t, fmt.Sprintf(`	log {
		output file %s
		format json
	}
	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up upstream-m
			price 1 2
		}
	}`, logFile, up.URL))
	chatOK(t, g, "m", true)
	var entry struct {
		AIGateway struct {
			Model         string  `json:"model"`
			Provider      string  `json:"provider"`
			UpstreamModel string  `json:"upstream_model"`
			Stream        bool    `json:"stream"`
			Attempts      int     `json:"attempts"`
			InputTokens   int     `json:"input_tokens"`
			OutputTokens  int     `json:"output_tokens"`
			CostUSD       float64 `json:"cost_usd"`
		} `json:"ai_gateway"`
	}
	var raw []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		raw, _ = os.ReadFile(logFile)
		if len(raw) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := json.Unmarshal(raw, &entry); err != nil {
		t.Fatalf("access log: %v: %s", err, raw)
	}
	a := entry.AIGateway
	if a.Model != "m" || a.Provider != "up" || a.UpstreamModel != "upstream-m" || !a.Stream || a.Attempts != 1 ||
		a.InputTokens != 12 || a.OutputTokens != 3 || a.CostUSD != (12*1+3*2)/1e6 {
		t.Errorf("access log fields = %+v", a)
	}
	if strings.Contains(string(raw), "sk-client-secret") {
		t.Errorf("the client's key is in the access log: %s", raw)
	}
}
