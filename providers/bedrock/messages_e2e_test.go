package bedrock_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// The gateway's Messages front door with a bedrock provider, called with
// Anthropic's official Go client: Claude models are passed through to
// InvokeModel (the fake checks the signature and the Messages body), the
// answers, streams, counts and errors come back in Anthropic's shapes.

func anthropicClient(g *gatewaytest.Gateway) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey(gatewaytest.ClientKey), aoption.WithMaxRetries(0))
}

func messageParams() anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude",
		MaxTokens: 4096,
		Thinking:  anthropic.ThinkingConfigParamOfEnabled(2048),
		System:    []anthropic.TextBlockParam{{Text: "Be brief.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello through the gateway"))},
	}
}

func TestGatewayMessages(t *testing.T) {
	g, fake := start(t)
	client := anthropicClient(g)
	msg, err := client.Messages.New(context.Background(), messageParams(), aoption.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Signature == "" ||
		msg.Content[1].Text != "You said: Hello through the gateway" || msg.Usage.InputTokens != 6 {
		t.Fatalf("answer %s", msg.RawJSON())
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Op != "invoke" || calls[0].Model != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
		t.Fatalf("calls %+v", calls)
	}
	body := string(calls[0].Body)
	if gjson.Get(body, "model").Exists() || gjson.Get(body, "anthropic_version").Str != "bedrock-2023-05-31" ||
		gjson.Get(body, "anthropic_beta").Raw != `["interleaved-thinking-2025-05-14"]` || gjson.Get(body, "system.0.cache_control.type").Str != "ephemeral" {
		t.Errorf("body %s", body)
	}
}

func TestGatewayMessagesStream(t *testing.T) {
	g, fake := start(t)
	client := anthropicClient(g)
	stream := client.Messages.NewStreaming(context.Background(), messageParams())
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Thinking != "The user wants an echo." || msg.Content[0].Signature == "" ||
		msg.Content[1].Text != "You said: Hello through the gateway" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 11 {
		t.Fatalf("accumulated %s", msg.RawJSON())
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Op != "invoke-with-response-stream" {
		t.Errorf("calls %+v", calls)
	}

	// An exception after the first chunk ends the stream with Anthropic's
	// error event, which the client reports.
	fake.FailStreams("throttlingException")
	stream = client.Messages.NewStreaming(context.Background(), messageParams())
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "rate_limit_error") {
		t.Errorf("mid-stream exception: %v", err)
	}
}

func TestGatewayCountTokens(t *testing.T) {
	g, fake := start(t)
	client := anthropicClient(g)
	n, err := client.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude",
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("You are terse.")},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this?"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens != 8 {
		t.Errorf("input_tokens %d", n.InputTokens)
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Op != "count-tokens" {
		t.Errorf("calls %+v", calls)
	}
}

func TestGatewayMessagesErrors(t *testing.T) {
	g, fake := start(t)
	fake.Throttle(100)
	resp, body := g.Do("POST", "/v1/messages", "application/json",
		`{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 429 || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "rate_limit_error" ||
		!strings.Contains(gjson.Get(body, "error.message").Str, "Too many requests") {
		t.Errorf("throttled: %d %s", resp.StatusCode, body)
	}
	fake.Throttle(0)

	// A beta flag Bedrock refuses is its 400, in Anthropic's shape.
	client := anthropicClient(g)
	_, err := client.Messages.New(context.Background(), messageParams(), aoption.WithHeader("anthropic-beta", "mcp-client-2025-04-04"))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.Error(), "invalid beta flag") {
		t.Errorf("refused beta: %v", err)
	}
}
