package bedrock_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/polygate/polygate/internal/gatewaytest"
	"github.com/polygate/polygate/providers/bedrock"
)

// End-to-end tests: Caddy in-process with a bedrock provider pointed at the
// fake Bedrock (which checks SigV4 signatures made with the static test
// credentials), called with the official OpenAI Go client. Caddy runs one
// config per process: these tests are not parallel.

func TestMain(m *testing.M) { gatewaytest.Main(m) }

// start runs the gateway with one bedrock provider, its credentials from
// the environment as placeholders.
func start(t *testing.T) (*gatewaytest.Gateway, *bedrock.FakeBedrock) {
	fake := bedrock.NewFakeBedrock(t)
	t.Setenv("POLYGATE_TEST_AWS_KEY_ID", bedrock.TestAccessKeyID)
	t.Setenv("POLYGATE_TEST_AWS_SECRET", bedrock.TestSecretAccessKey)
	g := gatewaytest.Start(t, fmt.Sprintf(`
	ai_gateway {
		provider aws bedrock {
			region %s
			base_url %s
			access_key_id {env.POLYGATE_TEST_AWS_KEY_ID}
			secret_access_key {env.POLYGATE_TEST_AWS_SECRET}
		}
		model claude {
			upstream aws anthropic.claude-sonnet-4-5-20250929-v1:0
		}
		model titan {
			upstream aws amazon.titan-embed-text-v2:0
		}
		model cohere {
			upstream aws cohere.embed-english-v3
		}
	}`, bedrock.TestRegion, fake.URL))
	return g, fake
}

func TestGatewayChat(t *testing.T) {
	g, fake := start(t)
	client := g.OpenAI()
	ctx := context.Background()
	var raw *http.Response
	cc, err := client.Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{
		Model: "claude",
		Messages: []openaigo.ChatCompletionMessageParamUnion{
			openaigo.SystemMessage("Be brief."),
			openaigo.UserMessage("Hello gateway"),
		},
		MaxCompletionTokens: openaigo.Int(50),
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Choices) != 1 || cc.Choices[0].Message.Content != "You said: Hello gateway" || cc.Choices[0].FinishReason != "stop" {
		t.Fatalf("answer %+v", cc)
	}
	if cc.Usage.PromptTokens != 4 || cc.Usage.CompletionTokens != 4 || cc.Usage.TotalTokens != 8 {
		t.Errorf("usage %+v", cc.Usage)
	}
	if raw.Header.Get("X-Polygate-Provider") != "aws" {
		t.Errorf("X-Polygate-Provider %q", raw.Header.Get("X-Polygate-Provider"))
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Model != "anthropic.claude-sonnet-4-5-20250929-v1:0" || !strings.Contains(string(calls[0].Body), `"maxTokens":50`) {
		t.Errorf("calls %+v", calls)
	}

	// The saved config keeps the placeholders, not the credentials.
	resp, body := gatewaytest.RoundTrip(t, mustRequest(t, g.Admin+"/config/"))
	if resp.StatusCode != 200 || strings.Contains(body, bedrock.TestSecretAccessKey) || strings.Contains(body, bedrock.TestAccessKeyID) ||
		!strings.Contains(body, "{env.POLYGATE_TEST_AWS_SECRET}") {
		t.Errorf("config (%d) holds credentials or lost the placeholders: %s", resp.StatusCode, body)
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestGatewayStream(t *testing.T) {
	g, _ := start(t)
	client := g.OpenAI()
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:         "claude",
		Messages:      []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("stream me some words")},
		StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)},
	})
	defer stream.Close()
	var acc openaigo.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "You said: stream me some words" || acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("accumulated %+v", acc.ChatCompletion)
	}
	if acc.Usage.PromptTokens != 4 || acc.Usage.CompletionTokens != 6 {
		t.Errorf("usage %+v", acc.Usage)
	}
	if chunks < 7 { // role, six words, finish, usage
		t.Errorf("%d chunks", chunks)
	}
}

func TestGatewayStreamError(t *testing.T) {
	g, fake := start(t)
	fake.FailStreams("modelStreamErrorException")
	client := g.OpenAI()
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "claude",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("a b c")},
	})
	defer stream.Close()
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "The stream failed") {
		t.Errorf("stream error %v", err)
	}
}

func TestGatewayToolCall(t *testing.T) {
	g, _ := start(t)
	client := g.OpenAI()
	ctx := context.Background()
	params := openaigo.ChatCompletionNewParams{
		Model:    "claude",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("Lisbon")},
		Tools: []openaigo.ChatCompletionToolUnionParam{openaigo.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openaigo.String("Current weather"),
			Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	cc, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg := cc.Choices[0].Message
	if cc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" ||
		msg.ToolCalls[0].Function.Arguments != `{"city":"Lisbon"}` {
		t.Fatalf("answer %+v", cc)
	}
	params.Messages = append(params.Messages, msg.ToParam(), openaigo.ToolMessage("21C, windy", msg.ToolCalls[0].ID))
	cc, err = client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Choices[0].Message.Content; got != "The tool returned: 21C, windy" {
		t.Errorf("after the tool result: %q", got)
	}
}

func TestGatewayEmbeddings(t *testing.T) {
	g, fake := start(t)
	client := g.OpenAI()
	ctx := context.Background()
	for _, tc := range []struct {
		model string
		dims  int64
		want  int
	}{{"titan", 256, 256}, {"cohere", 0, 1024}} {
		params := openaigo.EmbeddingNewParams{
			Model: tc.model,
			Input: openaigo.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text here", "second"}},
		}
		if tc.dims > 0 {
			params.Dimensions = openaigo.Int(tc.dims)
		}
		for _, format := range []openaigo.EmbeddingNewParamsEncodingFormat{openaigo.EmbeddingNewParamsEncodingFormatFloat, openaigo.EmbeddingNewParamsEncodingFormatBase64} {
			params.EncodingFormat = format
			e, err := client.Embeddings.New(ctx, params)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.model, format, err)
			}
			if len(e.Data) != 2 || len(e.Data[0].Embedding) != tc.want || e.Data[1].Index != 1 || e.Usage.PromptTokens != 4 {
				t.Errorf("%s %s: %d vectors, usage %+v", tc.model, format, len(e.Data), e.Usage)
			}
		}
	}
	if n := len(fake.Calls()); n != 2*2+2 { // Titan: one call per text
		t.Errorf("%d calls", n)
	}
}

func TestGatewayThrottled(t *testing.T) {
	g, fake := start(t)
	fake.Throttle(100)
	client := g.OpenAI()
	_, err := client.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "claude",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
	})
	var oe *openaigo.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Type != "rate_limit_error" || !strings.Contains(oe.Message, "Too many requests") {
		t.Errorf("got %v", err)
	}
}
