package polygate_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/gatewaytest"
)

func messagesSite(claude *fakeAnthropic, oa *gatewaytest.FakeOpenAI, extra string) string {
	return fmt.Sprintf(`	ai_gateway {
		provider claude anthropic {
			base_url %s
			api_key key-anthropic
		}
		provider oa openai {
			base_url %s/v1
		}
		model claude-sonnet {
			upstream claude claude-sonnet-4-5
			price 3 15 cached 0.3 cache_write 3.75 cache_write_1h 6
		}
		model overloaded {
			upstream claude overloaded
		}
		model gpt-translated {
			upstream oa gpt-4o-mini
			price 1 2
		}
		model gpt-tools {
			upstream oa tools-model
		}
		%s
	}`, claude.URL, oa.URL, extra)
}

func anthropicClient(g *gatewaytest.Gateway, key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

func TestMessagesNativePassthrough(t *testing.T) {
	claude := newFakeAnthropic(t)
	g := gatewaytest.Start(t, messagesSite(claude, gatewaytest.NewFakeOpenAI(t), ""))
	client := anthropicClient(g, "unused")
	ctx := t.Context()

	weather := anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}}}
	params := anthropic.MessageNewParams{
		Model:     "claude-sonnet",
		MaxTokens: 4096,
		Thinking:  anthropic.ThinkingConfigParamOfEnabled(2048),
		System:    []anthropic.TextBlockParam{{Text: "be brief", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Tools:     []anthropic.ToolUnionParam{{OfTool: &weather}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("what is the weather in Paris?"))},
	}
	// Streamed first turn: thinking with its signature, then the tool call.
	stream := client.Messages.NewStreaming(ctx, params, aoption.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Signature != "sig-abc" || msg.Content[1].Type != "tool_use" {
		t.Fatalf("first turn: %s\nsent %s", msg.RawJSON(), claude.last())
	}
	if beta := claude.seenHeader("Anthropic-Beta"); beta != "interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta upstream: %q", beta)
	}
	sent := claude.last()
	if gjson.GetBytes(sent, "model").Str != "claude-sonnet-4-5" || gjson.GetBytes(sent, "system.0.cache_control.type").Str != "ephemeral" {
		t.Errorf("body upstream: %s", sent)
	}
	// Second turn sends the signed thinking back: the fake refuses it
	// without, as Anthropic does.
	params.Messages = append(params.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID, "sunny", false)))
	second, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if second.Content[len(second.Content)-1].Text != "it is sunny" {
		t.Errorf("second turn: %s", second.RawJSON())
	}
	// Cache reads and 5m/1h writes come back as Anthropic sent them.
	if u := second.Usage; u.CacheReadInputTokens != 100 || u.CacheCreationInputTokens != 50 || u.CacheCreation.Ephemeral1hInputTokens != 20 {
		t.Errorf("usage %+v", u)
	}

	// count_tokens asks the provider.
	n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude-sonnet",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil || n.InputTokens != 10 {
		t.Errorf("count_tokens: %v %+v", err, n)
	}
	// Anthropic-shaped errors: the upstream's 529 and the gateway's 400.
	_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "overloaded", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || gjson.Get(apiErr.RawJSON(), "error.type").Str != "overloaded_error" {
		t.Errorf("529: %v", err)
	}
	resp, body := g.Do("POST", "/v1/messages", "application/json", `{"model":"claude-sonnet","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 400 || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "invalid_request_error" ||
		!strings.HasPrefix(gjson.Get(body, "error.message").Str, "max_tokens") {
		t.Errorf("missing max_tokens: %d %s", resp.StatusCode, body)
	}
	// GET /v1/models in Anthropic's shape for Anthropic's clients.
	page, err := client.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil || len(page.Data) == 0 || page.Data[0].ID != "claude-sonnet" || page.Data[0].Type != "model" {
		t.Errorf("models: %v %+v", err, page)
	}
}

func TestMessagesTranslatedToOpenAI(t *testing.T) {
	oa := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, messagesSite(newFakeAnthropic(t), oa, ""))
	client := anthropicClient(g, "unused")
	ctx := t.Context()

	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-translated", MaxTokens: 100,
		System:   []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || msg.Role != "assistant" || msg.Content[0].Text == "" || msg.Usage.InputTokens+msg.Usage.CacheReadInputTokens != 12 {
		t.Errorf("translated answer: %s", msg.RawJSON())
	}
	up := oa.Last()
	if gjson.GetBytes(up.Body, "messages.0.role").Str != "system" || gjson.GetBytes(up.Body, "max_completion_tokens").Int() != 100 {
		t.Errorf("sent upstream: %s", up.Body)
	}
	// Streamed tool input, accumulated by the SDK.
	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "gpt-tools", MaxTokens: 100,
		Tools:    []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}}}}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" || gjson.Get(string(acc.Content[0].Input), "city").Str != "Paris" || acc.StopReason != "tool_use" {
		t.Errorf("streamed tool call: %s", acc.RawJSON())
	}
	// count_tokens is counted by the gateway for a translated model.
	n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "gpt-translated",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}})
	if err != nil || n.InputTokens < 2 {
		t.Errorf("count_tokens: %v %+v", err, n)
	}
}

func TestMessagesAuthAndQuota(t *testing.T) {
	claude := newFakeAnthropic(t)
	g := gatewaytest.Start(t, messagesSite(claude, gatewaytest.NewFakeOpenAI(t), `
		auth keys
		plan tiny {
			requests_per_minute 1
		}`))
	_, key := g.CreateKey("tiny")
	ctx := t.Context()
	params := anthropic.MessageNewParams{Model: "claude-sonnet", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
	var apiErr *anthropic.Error
	wrong := anthropicClient(g, "sk-wrong")
	_, err := wrong.Messages.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || gjson.Get(apiErr.RawJSON(), "error.type").Str != "authentication_error" {
		t.Errorf("wrong key: %v", err)
	}
	client := anthropicClient(g, key) // sent as x-api-key
	if _, err := client.Messages.New(ctx, params); err != nil {
		t.Fatal(err)
	}
	if got := claude.seenHeader("X-Api-Key"); got != "key-anthropic" {
		t.Errorf("the provider got x-api-key %q, not its own", got)
	}
	_, err = client.Messages.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || gjson.Get(apiErr.RawJSON(), "error.type").Str != "rate_limit_error" {
		t.Errorf("over the plan: %v", err)
	}
}

// fakeGemini is Google's Gemini API: it checks x-goog-api-key and
// contents, answers with text (saying whether it got an image) or, when
// tools are given, a function call; streamed as SSE chunks.
func fakeGemini(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Goog-Api-Key") != "key-gemini" {
			w.WriteHeader(403)
			io.WriteString(w, `{"error":{"code":403,"message":"API key not valid.","status":"PERMISSION_DENIED"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := gjson.ParseBytes(body)
		if !req.Get("contents").IsArray() || !strings.HasPrefix(r.URL.Path, "/v1beta/models/") {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`)
			return
		}
		var parts string
		switch {
		case req.Get("tools").Exists():
			parts = `[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]`
		case req.Get(`contents.0.parts.#(inlineData)`).Exists():
			parts = `[{"text":"I see an image of type ` + req.Get(`contents.0.parts.#(inlineData).inlineData.mimeType`).Str + `"}]`
		default:
			parts = `[{"text":"hello from gemini"}]`
		}
		answer := `{"candidates":[{"content":{"role":"model","parts":` + parts + `},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13},"modelVersion":"gemini-2.5-flash"}`
		if strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: %s\r\n\r\n", answer)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMessagesTranslatedToGemini(t *testing.T) {
	gem := fakeGemini(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider gem gemini {
			base_url %s
			api_key key-gemini
		}
		model flash {
			upstream gem gemini-2.5-flash
		}
	}`, gem.URL))
	client := anthropicClient(g, "unused")
	ctx := t.Context()
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{Model: "flash", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "hello from gemini" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 4 {
		t.Errorf("text: %s", msg.RawJSON())
	}
	// An image block reaches Gemini as inline data.
	msg, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "flash", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.NewImageBlockBase64("image/png", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="),
			anthropic.NewTextBlock("what is this?"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "I see an image of type image/png" {
		t.Errorf("image: %s", msg.RawJSON())
	}
	// A streamed tool call, accumulated by the SDK.
	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "flash", MaxTokens: 100,
		Tools:    []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Name != "get_weather" || gjson.Get(string(acc.Content[0].Input), "city").Str != "Paris" || acc.StopReason != "tool_use" {
		t.Errorf("streamed tool call: %s", acc.RawJSON())
	}
}

// TestMessagesUnknownModel: an unknown model is a 404 in Anthropic's shape.
func TestMessagesUnknownModel(t *testing.T) {
	g := gatewaytest.Start(t, messagesSite(newFakeAnthropic(t), gatewaytest.NewFakeOpenAI(t), ""))
	resp, body := g.Do("POST", "/v1/messages", "application/json", `{"model":"nope","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 404 || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "not_found_error" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
