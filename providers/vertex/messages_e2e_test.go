package vertex_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/gatewaytest"
	"github.com/polygate/polygate/providers/vertex"
)

// TestGatewayMessages drives the gateway's Messages front door with
// Anthropic's official Go client through a vertex provider: Claude models
// are passed through to rawPredict, streamRawPredict and count-tokens
// (the fake checks the OAuth2 token and the bodies), errors come back in
// Anthropic's shape.
func TestGatewayMessages(t *testing.T) {
	f := vertex.NewFakeGoogle(t)
	f.Fail("claude-exhausted", http.StatusTooManyRequests, "error_quota_retry.json")
	g := gatewaytest.Start(t, fmt.Sprintf(`
	ai_gateway {
		accounting off
		provider gcp vertex {
			project %s
			location %s
			credentials_file %s
			base_url %s
		}
		model claude {
			upstream gcp claude-sonnet-4-5@20250929
		}
		model exhausted {
			upstream gcp claude-exhausted
		}
	}`, f.Project, f.Location, f.CredentialsFile(t), f.URL()))
	client := anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey(gatewaytest.ClientKey), aoption.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     "claude",
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is Vertex AI?"))},
	}
	beta := aoption.WithHeader("anthropic-beta", "context-1m-2025-08-07")

	msg, err := client.Messages.New(ctx, params, beta)
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "msg_vrtx_01Kq3qQFx1BvUjk7oHz2ZbXr" || !strings.HasPrefix(msg.Content[0].Text, "Vertex AI is Google Cloud's") || msg.Usage.OutputTokens != 19 {
		t.Errorf("answer %s", msg.RawJSON())
	}
	r := f.Requests()[len(f.Requests())-1]
	if r.Method != "rawPredict" || r.Model != "claude-sonnet-4-5@20250929" || r.Header.Get("Anthropic-Beta") != "context-1m-2025-08-07" ||
		gjson.GetBytes(r.Raw, "model").Exists() || gjson.GetBytes(r.Raw, "anthropic_version").Str != vertex.AnthropicVersion {
		t.Errorf("request %s %s %v %s", r.Method, r.Model, r.Header, r.Raw)
	}

	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != "Vertex AI is Google Cloud's ML platform." || acc.StopReason != "end_turn" {
		t.Errorf("stream %s", acc.RawJSON())
	}

	n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "claude", Messages: params.Messages})
	if err != nil || n.InputTokens != 4 {
		t.Errorf("count_tokens: %v %+v", err, n)
	}
	if r := f.Requests()[len(f.Requests())-1]; r.Model != "count-tokens" || r.Body["model"] != "claude-sonnet-4-5@20250929" {
		t.Errorf("count request %s %v", r.Model, r.Body)
	}

	resp, body := g.Do("POST", "/v1/messages", "application/json", `{"model":"exhausted","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 429 || gjson.Get(body, "type").Str != "error" || gjson.Get(body, "error.type").Str != "rate_limit_error" ||
		!strings.HasPrefix(gjson.Get(body, "error.message").Str, "Quota exceeded") {
		t.Errorf("exhausted: %d %s", resp.StatusCode, body)
	}
}
