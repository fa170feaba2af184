package vertex_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"testing"

	openaigo "github.com/openai/openai-go/v3"

	"github.com/polygate/polygate/internal/gatewaytest"
	"github.com/polygate/polygate/providers/vertex"
)

func TestMain(m *testing.M) {
	// No test may reach for real application default credentials (or the
	// metadata server): tests that use them set this themselves.
	os.Setenv("GOOGLE_APPLICATION_CREDENTIALS", os.DevNull+"/no-credentials.json")
	gatewaytest.Main(m)
}

// TestGateway drives the gateway with the official OpenAI client through a
// vertex provider whose credentials file and base_url point at the fakes.
func TestGateway(t *testing.T) {
	f := vertex.NewFakeGoogle(t)
	f.Fail("gemini-fail", http.StatusTooManyRequests, "error_resource_exhausted.json")
	g := gatewaytest.Start(t, fmt.Sprintf(`
	ai_gateway {
		accounting off
		provider gcp vertex {
			project %s
			location %s
			credentials_file %s
			base_url %s
			timeout 30s
		}
		model gemini {
			upstream gcp gemini-2.5-flash
		}
		model claude {
			upstream gcp claude-sonnet-4-5@20250929
		}
		model embed {
			upstream gcp text-embedding-005
		}
		model exhausted {
			upstream gcp gemini-fail
		}
	}`, f.Project, f.Location, f.CredentialsFile(t), f.URL()))
	client := g.OpenAI()
	ctx := context.Background()
	messages := []openaigo.ChatCompletionMessageParamUnion{
		openaigo.SystemMessage("Be brief."),
		openaigo.UserMessage("What is Vertex AI?"),
	}

	t.Run("gemini", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{Model: "gemini", Messages: messages})
		if err != nil {
			t.Fatal(err)
		}
		const want = "Vertex AI is Google Cloud's platform for building, deploying and scaling machine learning models and generative AI applications."
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("choices %+v", resp.Choices)
		}
		if resp.Usage.PromptTokens != 9 || resp.Usage.CompletionTokens != 45 || resp.Usage.CompletionTokensDetails.ReasoningTokens != 25 {
			t.Errorf("usage %+v", resp.Usage)
		}
	})

	t.Run("gemini stream", func(t *testing.T) {
		content, finish, usage := stream(t, client, openaigo.ChatCompletionNewParams{Model: "gemini", Messages: messages,
			StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)}})
		if content != "Vertex AI is Google Cloud's unified platform for ML." || finish != "stop" {
			t.Errorf("content %q, finish %q", content, finish)
		}
		if usage.PromptTokens != 7 || usage.CompletionTokens != 11 || usage.TotalTokens != 18 {
			t.Errorf("usage %+v", usage)
		}
	})

	t.Run("claude", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{Model: "claude", Messages: messages, MaxCompletionTokens: openaigo.Int(512)})
		if err != nil {
			t.Fatal(err)
		}
		const want = "Vertex AI is Google Cloud's managed platform for training, deploying and serving models."
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("choices %+v", resp.Choices)
		}
		if resp.Usage.PromptTokens != 14 || resp.Usage.CompletionTokens != 19 {
			t.Errorf("usage %+v", resp.Usage)
		}
	})

	t.Run("claude stream", func(t *testing.T) {
		content, finish, usage := stream(t, client, openaigo.ChatCompletionNewParams{Model: "claude", Messages: messages,
			StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)}})
		if content != "Vertex AI is Google Cloud's ML platform." || finish != "stop" {
			t.Errorf("content %q, finish %q", content, finish)
		}
		if usage.PromptTokens != 14 || usage.CompletionTokens != 12 {
			t.Errorf("usage %+v", usage)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		resp, err := client.Embeddings.New(ctx, openaigo.EmbeddingNewParams{
			Model:      "embed",
			Input:      openaigo.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"What is Vertex AI?", "Hello"}},
			Dimensions: openaigo.Int(4),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]float64{
			{-0.0077911923, 0.0125343297, -0.0511463322, 0.0313548259},
			{0.0403282568, -0.0187123716, 0.0022613539, -0.0620946065},
		}
		if len(resp.Data) != 2 {
			t.Fatalf("%d embeddings", len(resp.Data))
		}
		for i, d := range resp.Data {
			if d.Index != int64(i) || !reflect.DeepEqual(d.Embedding, want[i]) {
				t.Errorf("embedding %d: %+v", i, d)
			}
		}
		if resp.Usage.PromptTokens != 10 || resp.Usage.TotalTokens != 10 {
			t.Errorf("usage %+v", resp.Usage)
		}
	})

	t.Run("resource exhausted", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openaigo.ChatCompletionNewParams{Model: "exhausted", Messages: messages})
		var apiErr *openaigo.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type != "rate_limit_error" || apiErr.Code != "RESOURCE_EXHAUSTED" {
			t.Fatalf("got %v", err)
		}
	})

	// What Vertex AI was sent: every call with the first token, each to
	// its publisher and method.
	var methods []string
	for _, r := range f.Requests() {
		if r.Method == "rawPredict" && r.Body["max_tokens"] != float64(512) {
			t.Errorf("Claude max_tokens %v, want the client's 512", r.Body["max_tokens"])
		}
		methods = append(methods, r.Publisher+"/"+r.Model+":"+r.Method)
		if r.Token != "ya29.c.fake-token-1" {
			t.Errorf("%s sent token %q", r.Method, r.Token)
		}
	}
	wantMethods := []string{
		"google/gemini-2.5-flash:generateContent",
		"google/gemini-2.5-flash:streamGenerateContent",
		"anthropic/claude-sonnet-4-5@20250929:rawPredict",
		"anthropic/claude-sonnet-4-5@20250929:streamRawPredict",
		"google/text-embedding-005:predict",
	}
	if len(methods) < len(wantMethods) || !reflect.DeepEqual(methods[:len(wantMethods)], wantMethods) {
		t.Errorf("calls %v\nwant %v, then the failing ones", methods, wantMethods)
	}
	if n := f.Fetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

// stream reads a streamed chat completion with the client's accumulator.
func stream(t *testing.T, client openaigo.Client, params openaigo.ChatCompletionNewParams) (content, finish string, usage openaigo.CompletionUsage) {
	t.Helper()
	s := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openaigo.ChatCompletionAccumulator
	chunks := 0
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("chunk %d does not accumulate: %s", chunks, s.Current().RawJSON())
		}
		chunks++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 3 || len(acc.Choices) != 1 {
		t.Fatalf("%d chunks, %d choices", chunks, len(acc.Choices))
	}
	return acc.Choices[0].Message.Content, acc.Choices[0].FinishReason, acc.Usage
}
