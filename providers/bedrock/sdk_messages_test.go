package bedrock

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	abedrock "github.com/anthropics/anthropic-sdk-go/v2/bedrock"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/providers"
)

// Official clients check both ends of the Messages pass-through: the AWS
// SDK and Anthropic's own Bedrock client are accepted by the fake Bedrock
// (so its checks are Bedrock's, not ones made to fit this package), the
// body this package sends is the one Anthropic's Bedrock client sends,
// and its translation of the event stream reads, in Anthropic's client,
// as the event stream itself read by Anthropic's Bedrock client.

// TestAWSSDKMessagesAgainstFake runs InvokeModel,
// InvokeModelWithResponseStream and CountTokens of the AWS SDK against the
// fake with a Claude body.
func TestAWSSDKMessagesAgainstFake(t *testing.T) {
	fake := NewFakeBedrock(t)
	c := sdkClient(fake.URL)
	ctx := context.Background()
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"Hello from the AWS SDK"}]}`)
	const model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

	inv, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: body, ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
	if err != nil {
		t.Fatalf("InvokeModel: %v", err)
	}
	if got := gjson.GetBytes(inv.Body, "content.0.text").Str; got != "You said: Hello from the AWS SDK" {
		t.Errorf("InvokeModel answer %s", inv.Body)
	}

	so, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatalf("InvokeModelWithResponseStream: %v", err)
	}
	var kinds []string
	var text strings.Builder
	for ev := range so.GetStream().Events() {
		if chunk, ok := ev.(*types.ResponseStreamMemberChunk); ok {
			kinds = append(kinds, gjson.GetBytes(chunk.Value.Bytes, "type").Str)
			text.WriteString(gjson.GetBytes(chunk.Value.Bytes, "delta.text").Str)
		}
	}
	// (Err is not looked at: the SDK may report closing the body it read
	// to its end; every event, message_stop included, arrived.)
	so.GetStream().Close()
	if text.String() != "You said: Hello from the AWS SDK" || kinds[0] != "message_start" || kinds[len(kinds)-1] != "message_stop" {
		t.Errorf("stream: %v %q", kinds, text.String())
	}

	ct, err := c.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String("anthropic.claude-sonnet-4-5-20250929-v1:0"),
		Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: body}}})
	if err != nil || aws.ToInt32(ct.InputTokens) != 5 {
		t.Fatalf("CountTokens: %v %+v", err, ct)
	}
	// The SDK's CountTokens request is what this package sends.
	calls := fake.Calls()
	sdkCount := calls[len(calls)-1].Body
	ours, _ := countTokensBody(body[:len(body):len(body)])
	var a, b any
	_ = json.Unmarshal(sdkCount, &a)
	_ = json.Unmarshal(ours, &b)
	if mustJSON(a) != mustJSON(b) {
		t.Errorf("CountTokens bodies differ:\n SDK  %s\n ours %s", sdkCount, ours)
	}
}

// anthropicBedrock is Anthropic's Bedrock client pointed at url with the
// test credentials.
func anthropicBedrock(t *testing.T, url string) anthropic.Client {
	t.Setenv("ANTHROPIC_BEDROCK_BASE_URL", url)
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "")
	cfg := aws.Config{Region: TestRegion, Credentials: credentials.NewStaticCredentialsProvider(TestAccessKeyID, TestSecretAccessKey, "")}
	return anthropic.NewClient(abedrock.WithConfig(cfg), aoption.WithMaxRetries(0),
		aoption.WithHeader("anthropic-version", AnthropicVersionForTests))
}

// AnthropicVersionForTests is the version Anthropic's Bedrock client is
// told to send (it moves the anthropic-version header into the body).
const AnthropicVersionForTests = "bedrock-2023-05-31"

// capture is a stand-in for Anthropic's API that keeps the request bodies
// Anthropic's first-party client sends.
type capture struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	header []http.Header
	answer func(w http.ResponseWriter, r *http.Request)
}

func newCapture(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *capture {
	c := &capture{answer: answer}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies, c.header = append(c.bodies, b), append(c.header, r.Header.Clone())
		c.mu.Unlock()
		c.answer(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func params(model string) anthropic.MessageNewParams {
	weather := anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}}}
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 4096,
		Thinking:  anthropic.ThinkingConfigParamOfEnabled(2048),
		System:    []anthropic.TextBlockParam{{Text: "Be brief.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Tools:     []anthropic.ToolUnionParam{{OfTool: &weather}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris?"))},
	}
}

// TestBodyMatchesAnthropicBedrockClient sends the same request with
// Anthropic's Bedrock client and, as a gateway would, with Anthropic's
// first-party client through ForwardMessages: Bedrock receives the same
// bytes, streamed or not.
func TestBodyMatchesAnthropicBedrockClient(t *testing.T) {
	const model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	cp := newCapture(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "captured", http.StatusTeapot) })
	first := anthropic.NewClient(aoption.WithBaseURL(cp.URL), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	direct := anthropicBedrock(t, fake.URL)
	beta := aoption.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14")
	ctx := context.Background()

	for _, stream := range []bool{false, true} {
		// Anthropic's Bedrock client, straight to the fake.
		if stream {
			s := direct.Messages.NewStreaming(ctx, params(model), beta)
			for s.Next() {
			}
			if err := s.Err(); err != nil {
				t.Fatalf("Anthropic's Bedrock client, streamed: %v", err)
			}
		} else if _, err := direct.Messages.New(ctx, params(model), beta); err != nil {
			t.Fatalf("Anthropic's Bedrock client: %v", err)
		}
		calls := fake.Calls()
		theirs := calls[len(calls)-1]

		// The first-party client's request, forwarded by this package.
		if stream {
			s := first.Messages.NewStreaming(ctx, params(model), beta)
			for s.Next() {
			}
		} else {
			_, _ = first.Messages.New(ctx, params(model), beta)
		}
		body, header := cp.bodies[len(cp.bodies)-1], cp.header[len(cp.header)-1]
		resp, err := p.ForwardMessages(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: "messages", Header: header, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		calls = fake.Calls()
		ours := calls[len(calls)-1]

		// (The model's escaping differs: ours is the AWS SDK's, which
		// escapes ':' too.)
		if ours.Op != theirs.Op || ours.Model != theirs.Model {
			t.Errorf("stream %v: we called %s %s, Anthropic's client %s %s", stream, ours.Op, ours.Model, theirs.Op, theirs.Model)
		}
		if string(ours.Body) != string(theirs.Body) {
			t.Errorf("stream %v: bodies differ:\n ours   %s\n theirs %s", stream, ours.Body, theirs.Body)
		}
	}
}

// TestStreamMatchesAnthropicBedrockClient reads each recorded event
// stream with Anthropic's Bedrock client, and this package's translation
// of it with Anthropic's first-party client: the accumulated messages are
// the same.
func TestStreamMatchesAnthropicBedrockClient(t *testing.T) {
	for _, name := range []string{"invoke_stream_tools", "invoke_stream_throttled", "invoke_stream_overloaded"} {
		src := encodeFixture(t, name)
		raw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", eventStreamType)
			w.Write(src)
		}))
		translated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			s := newMessagesStream(context.Background(), io.NopCloser(strings.NewReader(string(src))), testClient())
			io.Copy(w, s)
		}))
		accumulate := func(c anthropic.Client) (anthropic.Message, error) {
			var m anthropic.Message
			s := c.Messages.NewStreaming(context.Background(), params("anthropic.claude-sonnet-4-5-20250929-v1:0"))
			for s.Next() {
				if err := m.Accumulate(s.Current()); err != nil {
					return m, err
				}
			}
			return m, s.Err()
		}
		theirs, theirErr := accumulate(anthropicBedrock(t, raw.URL))
		ours, ourErr := accumulate(anthropic.NewClient(aoption.WithBaseURL(translated.URL), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0)))
		raw.Close()
		translated.Close()
		if (theirErr == nil) != (ourErr == nil) {
			t.Errorf("%s: errors %v and %v", name, theirErr, ourErr)
		}
		if theirs.RawJSON() == "" && len(theirs.Content) == 0 && name == "invoke_stream_tools" {
			t.Fatalf("%s: Anthropic's Bedrock client read nothing", name)
		}
		tj, _ := json.Marshal(theirs)
		oj, _ := json.Marshal(ours)
		if string(tj) != string(oj) {
			t.Errorf("%s: accumulated messages differ:\n ours   %s\n theirs %s", name, oj, tj)
		}
		if name == "invoke_stream_tools" && (len(ours.Content) != 3 || ours.Content[2].Name != "get_weather" || ours.StopReason != "tool_use") {
			t.Errorf("%s: %s", name, oj)
		}
	}
}
