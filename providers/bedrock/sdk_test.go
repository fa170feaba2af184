package bedrock

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// The official AWS SDK is run against the fake Bedrock and the recorded
// streams: the fake accepts the SDK's own signatures (so its check is
// AWS's, not one made to fit this package) and its answers and the
// testdata event streams decode in the SDK as real Bedrock answers do.

func sdkClient(url string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:           TestRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(TestAccessKeyID, TestSecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

func TestSDKAgainstFake(t *testing.T) {
	fake := NewFakeBedrock(t)
	c := sdkClient(fake.URL)
	ctx := context.Background()
	const model = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	msgs := []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Hello from the SDK"}}}}

	out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs})
	if err != nil {
		t.Fatalf("Converse: %v", err)
	}
	m, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok || len(m.Value.Content) != 1 || out.StopReason != types.StopReasonEndTurn || aws.ToInt32(out.Usage.InputTokens) != 4 {
		t.Fatalf("Converse output %+v", out)
	}
	if text, _ := m.Value.Content[0].(*types.ContentBlockMemberText); text == nil || text.Value != "You said: Hello from the SDK" {
		t.Errorf("content %+v", m.Value.Content[0])
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Model != model || calls[0].EscapedModel != strings.ReplaceAll(strings.ReplaceAll(model, ":", "%3A"), "/", "%2F") {
		t.Errorf("calls %+v", calls)
	}

	// Tools: the SDK's toolConfig passes the fake's checks and its toolUse
	// answer decodes.
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}
	tc := &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name: aws.String("get_weather"), InputSchema: &types.ToolInputSchemaMemberJson{Value: documentOf(schema)},
	}}}}
	out, err = c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("anthropic.claude-3-haiku-20240307-v1:0"), Messages: msgs, ToolConfig: tc})
	if err != nil {
		t.Fatalf("Converse with tools: %v", err)
	}
	m = out.Output.(*types.ConverseOutputMemberMessage)
	if tu, _ := m.Value.Content[0].(*types.ContentBlockMemberToolUse); tu == nil || aws.ToString(tu.Value.Name) != "get_weather" || out.StopReason != types.StopReasonToolUse {
		t.Errorf("tool answer %+v", m.Value.Content)
	}

	// ConverseStream: the SDK decodes the fake's event stream.
	so, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("amazon.nova-lite-v1:0"), Messages: msgs})
	if err != nil {
		t.Fatalf("ConverseStream: %v", err)
	}
	text, stop, usage := readSDKStream(so.GetStream())
	if err := so.GetStream().Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if text != "You said: Hello from the SDK" || stop != types.StopReasonEndTurn || usage == nil || aws.ToInt32(usage.OutputTokens) != 6 {
		t.Errorf("stream: %q %q %+v", text, stop, usage)
	}

	// The fake's throttling answer is the SDK's ThrottlingException.
	fake.Throttle(1)
	_, err = c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("amazon.nova-lite-v1:0"), Messages: msgs})
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("throttled: got %v", err)
	}

	// InvokeModel for a Titan embedding.
	inv, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.titan-embed-text-v2:0"), Body: []byte(`{"inputText":"hi there","dimensions":256}`), ContentType: aws.String("application/json")})
	if err != nil || !strings.Contains(string(inv.Body), `"inputTextTokenCount":2`) {
		t.Errorf("InvokeModel: %v", err)
	}
}

func documentOf(v any) document.Interface { return document.NewLazyDocument(v) }

func readSDKStream(s *bedrockruntime.ConverseStreamEventStream) (text string, stop types.StopReason, usage *types.TokenUsage) {
	defer s.Close()
	var b strings.Builder
	for ev := range s.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			if d, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
				b.WriteString(d.Value)
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stop = e.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			usage = e.Value.Usage
		}
	}
	return b.String(), stop, usage
}

// TestSDKDecodesFixtures serves the recorded streams of testdata to the
// SDK: they must decode as Bedrock's, exceptions as the SDK's errors.
func TestSDKDecodesFixtures(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		stop       types.StopReason
		err        string
	}{
		{"stream_text", "Rome, of course.", types.StopReasonEndTurn, ""},
		{"stream_tool_use", "Checking both cities.", types.StopReasonToolUse, ""},
		{"stream_reasoning", "12,231", types.StopReasonEndTurn, ""},
		{"stream_throttled", "Once upon", "", "ThrottlingException"},
		{"stream_model_error", "", "", "ModelStreamErrorException"},
	} {
		body := encodeFixture(t, tc.name)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", eventStreamType)
			w.Write(body)
		}))
		so, err := sdkClient(srv.URL).ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
			ModelId: aws.String("m"), Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "x"}}}},
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		text, stop, _ := readSDKStream(so.GetStream())
		serr := so.GetStream().Err()
		srv.Close()
		if text != tc.text || stop != tc.stop {
			t.Errorf("%s: text %q stop %q", tc.name, text, stop)
		}
		if tc.err == "" && serr != nil || tc.err != "" && (serr == nil || !strings.Contains(serr.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, serr, tc.err)
		}
	}
}
