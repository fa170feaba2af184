package messages_test

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
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
)

// fakeGateway is a Messages front door made of this package's functions,
// in front of a canned hub answer. Like Anthropic, it refuses requests
// without the API key or anthropic-version.
type fakeGateway struct {
	t      *testing.T
	answer string        // testdata file: a hub chat.completion, or a .jsonl stream
	fail   *openai.Error // when set, every request fails with it
	hub    []byte        // the last hub request
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Anthropic takes the key as x-api-key or, as this SDK sends it, as a
	// bearer token.
	if r.Header.Get("X-Api-Key") != "sk-ant-test" && r.Header.Get("Authorization") != "Bearer sk-ant-test" {
		messages.WriteError(w, openai.NewError(http.StatusUnauthorized, openai.TypeAuthentication, "", "invalid x-api-key"))
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		messages.WriteError(w, openai.InvalidRequest("", "anthropic-version: header is required"))
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(messages.ModelList([]string{"claude-sonnet-4-5", "gpt-5-mini", "llama-3.3-70b"}, time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)))
		return
	case r.Method != http.MethodPost || r.URL.Path != "/v1/messages":
		messages.WriteError(w, openai.NewError(http.StatusNotFound, openai.TypeNotFound, "", "not found"))
		return
	}
	if g.fail != nil {
		messages.WriteError(w, g.fail)
		return
	}
	body, _ := io.ReadAll(r.Body)
	hub, info, err := messages.TranslateRequest(body)
	if err != nil {
		messages.WriteError(w, err.(*openai.Error))
		return
	}
	g.hub = hub
	answer := testdata(g.t, g.answer)
	if !info.Stream {
		out, err := messages.TranslateResponse(answer, info)
		if err != nil {
			messages.WriteError(w, err.(*openai.Error))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	s := messages.NewStream(info)
	for _, line := range bytes.Split(bytes.TrimSpace(answer), []byte("\n")) {
		out, _ := s.Chunk(line)
		_, _ = w.Write(out)
		_ = rc.Flush()
	}
	_, _ = w.Write(s.Finish())
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newClient(t *testing.T, g *fakeGateway) anthropic.Client {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-ant-test"), option.WithMaxRetries(0))
}

var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Get the current weather in a given location"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{
			"location": map[string]any{"type": "string"},
			"unit":     map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
		},
		Required: []string{"location"},
	},
}}

// TestSDKToolLoopWithThinking runs a tool loop with thinking through the
// official SDK: a streamed turn with signed thinking and two tool calls,
// then the next turn, built by the SDK from the accumulated message, must
// reach the hub with the signature unchanged and the tool results
// answering the calls.
func TestSDKToolLoopWithThinking(t *testing.T) {
	g := &fakeGateway{t: t, answer: "stream_thinking_tool.jsonl"}
	client := newClient(t, g)
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     "claude-opus-4-1",
		MaxTokens: 16000,
		Thinking:  anthropic.ThinkingConfigParamOfEnabled(10000),
		Tools:     []anthropic.ToolUnionParam{weatherTool},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather in Paris and in Rome?"))},
	}
	stream := client.Messages.NewStreaming(ctx, params)
	var turn anthropic.Message
	for stream.Next() {
		if err := turn.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	var first struct {
		ReasoningEffort string `json:"reasoning_effort"`
		StreamOptions   struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(g.hub, &first); err != nil || first.ReasoningEffort != "medium" || !first.StreamOptions.IncludeUsage {
		t.Errorf("first hub request %s", g.hub)
	}
	if len(turn.Content) != 4 || turn.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("turn: %d blocks, stop %q", len(turn.Content), turn.StopReason)
	}
	signature := turn.Content[0].Signature
	if signature == "" || turn.Usage.InputTokens != 210 || turn.Usage.CacheReadInputTokens != 3000 {
		t.Fatalf("signature %q usage %+v", signature, turn.Usage)
	}

	params.Messages = append(params.Messages, turn.ToParam(), anthropic.NewUserMessage(
		anthropic.NewToolResultBlock(turn.Content[2].ID, "15°C, partly cloudy", false),
		anthropic.NewToolResultBlock(turn.Content[3].ID, "weather service timed out", true),
	))
	g.answer = "resp_text.hub.json"
	final, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if final.Content[0].Text == "" || final.Model != "claude-opus-4-1" {
		t.Errorf("final answer %+v", final)
	}
	var next struct {
		Messages []struct {
			Role           string `json:"role"`
			Content        any    `json:"content"`
			ToolCallID     string `json:"tool_call_id"`
			ThinkingBlocks []struct {
				Type, Thinking, Signature string
			} `json:"thinking_blocks"`
			ToolCalls []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(g.hub, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.Messages) != 4 {
		t.Fatalf("hub messages: %s", g.hub)
	}
	asst := next.Messages[1]
	if len(asst.ThinkingBlocks) != 1 || asst.ThinkingBlocks[0].Signature != signature || asst.ThinkingBlocks[0].Thinking != turn.Content[0].Thinking {
		t.Errorf("thinking blocks sent back: %+v, want signature %q", asst.ThinkingBlocks, signature)
	}
	if len(asst.ToolCalls) != 2 || next.Messages[2].ToolCallID != asst.ToolCalls[0].ID || next.Messages[3].ToolCallID != asst.ToolCalls[1].ID {
		t.Errorf("tool calls and results do not match: %s", g.hub)
	}
	if next.Messages[3].Content != "Error: weather service timed out" {
		t.Errorf("error result %v", next.Messages[3].Content)
	}
}

// TestSDKErrors checks that the SDK sees each error with Anthropic's status
// and type.
func TestSDKErrors(t *testing.T) {
	tests := []struct {
		name   string
		fail   *openai.Error
		params func(*anthropic.MessageNewParams)
		status int
		typ    string
	}{
		{"rate limit", openai.NewError(429, openai.TypeRateLimit, "", "rate limit exceeded for key"), nil, 429, "rate_limit_error"},
		{"no upstream", openai.NewError(503, openai.TypeServer, "", "no upstream available"), nil, 529, "overloaded_error"},
		{"upstream overloaded", openai.NewError(529, openai.TypeServer, "overloaded_error", "Overloaded"), nil, 529, "overloaded_error"},
		{"bad gateway", openai.NewError(502, openai.TypeUpstream, "", "upstream returned status 502"), nil, 502, "api_error"},
		{"budget", openai.NewError(403, openai.TypePermission, "", "budget exhausted"), nil, 403, "permission_error"},
		{"too large", openai.NewError(413, openai.TypeInvalidRequest, "", "request body too large"), nil, 413, "request_too_large"},
		{"server tool", nil, func(p *anthropic.MessageNewParams) {
			p.Tools = []anthropic.ToolUnionParam{weatherTool, {OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{}}}
		}, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newClient(t, &fakeGateway{t: t, answer: "resp_text.hub.json", fail: tt.fail})
			params := anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
			}
			if tt.params != nil {
				tt.params(&params)
			}
			_, err := client.Messages.New(context.Background(), params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an API error", err)
			}
			if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.typ || apiErr.Message == "" {
				t.Errorf("status %d type %q message %q, want %d %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tt.status, tt.typ)
			}
		})
	}
}

// TestSDKStreamError checks that a failure mid-stream reaches the SDK as
// the stream's error, after the text that came before it.
func TestSDKStreamError(t *testing.T) {
	client := newClient(t, &fakeGateway{t: t, answer: "stream_error.jsonl"})
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var text string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text += ev.Delta.Text
		}
	}
	err := stream.Err()
	if err == nil || text != "Partial answer" {
		t.Fatalf("text %q, error %v", text, err)
	}
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) && string(apiErr.Type()) != "api_error" {
		t.Errorf("error type %q", apiErr.Type())
	}
}

// TestSDKModels lists models with the SDK.
func TestSDKModels(t *testing.T) {
	client := newClient(t, &fakeGateway{t: t})
	page, err := client.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.DisplayName != m.ID || !m.CreatedAt.Equal(time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)) || m.Type != "model" {
			t.Errorf("model %+v", m)
		}
	}
	if len(ids) != 3 || ids[0] != "claude-sonnet-4-5" || page.FirstID != "claude-sonnet-4-5" || page.LastID != "llama-3.3-70b" || page.HasMore {
		t.Errorf("page %v first %q last %q more %v", ids, page.FirstID, page.LastID, page.HasMore)
	}
}
