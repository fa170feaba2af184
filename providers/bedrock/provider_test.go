package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/caddyserver/caddy/v2"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// fakeProvider is a provider with the test credentials pointed at fake.
func fakeProvider(t testing.TB, fake *FakeBedrock, p *Bedrock) *Bedrock {
	t.Helper()
	if p == nil {
		p = &Bedrock{}
	}
	p.BaseURL = fake.URL
	return newProvider(t, p)
}

func chat(t *testing.T, p *Bedrock, model, body string, stream bool) (*providers.Response, error) {
	t.Helper()
	return p.ChatCompletions(context.Background(), &providers.Request{Body: []byte(body), Model: model, Stream: stream})
}

type answer struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content          *string                `json:"content"`
			ReasoningContent *string                `json:"reasoning_content"`
			ThinkingBlocks   []openai.ThinkingBlock `json:"thinking_blocks"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		PromptTokensDetails struct {
			CachedTokens     int `json:"cached_tokens"`
			CacheWriteTokens int `json:"cache_write_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func decodeAnswer(t *testing.T, resp *providers.Response) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(resp.Body, &a); err != nil || len(a.Choices) != 1 {
		t.Fatalf("answer %s: %v", resp.Body, err)
	}
	return a
}

func TestChat(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	const model = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	resp, err := chat(t, p, model, `{"model":"x","messages":[
		{"role":"system","content":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]},
		{"role":"user","content":"Hello there"}],"thinking":{"type":"enabled","budget_tokens":1024}}`, false)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, resp)
	m := a.Choices[0].Message
	if m.Content == nil || *m.Content != "You said: Hello there" || a.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %s", resp.Body)
	}
	if m.ReasoningContent == nil || *m.ReasoningContent == "" || !strings.Contains(string(resp.Body), `"signature":"EqQB`) {
		t.Errorf("no signed reasoning: %s", resp.Body)
	}
	// 4 words in, cache reads 100 and writes 20 on top.
	if u := a.Usage; u.PromptTokens != 4+120 || u.PromptTokensDetails.CachedTokens != 100 || u.PromptTokensDetails.CacheWriteTokens != 20 {
		t.Errorf("usage %+v", u)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Op != "converse" || calls[0].Model != model {
		t.Fatalf("calls %+v", calls)
	}
	if esc := calls[0].EscapedModel; !strings.Contains(esc, "%2F") || !strings.Contains(esc, "%3A") {
		t.Errorf("the model id was not path-escaped: %s", esc)
	}
	if !strings.HasPrefix(a.ID, "chatcmpl-5d1e5a3c-") || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("id %q, header %v", a.ID, resp.Header)
	}
	if a.Model != model {
		t.Errorf("model %q", a.Model)
	}
}

func TestChatMaxTokens(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	resp, err := chat(t, p, "meta.llama3-1-8b-instruct-v1:0", `{"messages":[{"role":"user","content":"one two three four"}],"max_tokens":2}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if a := decodeAnswer(t, resp); a.Choices[0].FinishReason != "length" || *a.Choices[0].Message.Content != "You said:" {
		t.Errorf("answer %s", resp.Body)
	}
}

func TestToolRoundTrip(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	resp, err := chat(t, p, "anthropic.claude-3-5-sonnet-20241022-v2:0", `{"messages":[{"role":"user","content":"Paris"}],`+tools+`}`, false)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, resp)
	calls := a.Choices[0].Message.ToolCalls
	if a.Choices[0].FinishReason != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("answer %s", resp.Body)
	}
	// The call and its result go back; the fake checks that the result
	// answers the call of the previous turn.
	next := `{"messages":[{"role":"user","content":"Paris"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"` + calls[0].ID + `","type":"function","function":{"name":"get_weather","arguments":` + jsonString(calls[0].Function.Arguments) + `}}]},
		{"role":"tool","tool_call_id":"` + calls[0].ID + `","content":"18C and sunny"}],` + tools + `}`
	resp, err = chat(t, p, "anthropic.claude-3-5-sonnet-20241022-v2:0", next, false)
	if err != nil {
		t.Fatal(err)
	}
	if a := decodeAnswer(t, resp); *a.Choices[0].Message.Content != "The tool returned: 18C and sunny" {
		t.Errorf("answer %s", resp.Body)
	}
	// A result for a call that was never made is refused by the fake, as
	// by Bedrock: a 400 with Bedrock's message.
	bad := strings.Replace(next, `"tool_call_id":"`+calls[0].ID, `"tool_call_id":"tooluse_other`, 1)
	_, err = chat(t, p, "anthropic.claude-3-5-sonnet-20241022-v2:0", bad, false)
	if pe := asProviderError(t, err); pe != nil && (pe.Err.Status != 400 || pe.Err.Code != "ValidationException") {
		t.Errorf("got %+v", pe.Err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestChatStream(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	resp, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"stream this please"}],"stream":true}`, true)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := readStream(t, resp.Stream)
	resp.Stream.Close()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	finish, usage := "", ""
	for _, c := range chunks {
		var ch struct {
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Usage json.RawMessage
		}
		json.Unmarshal(c, &ch)
		for _, x := range ch.Choices {
			text.WriteString(x.Delta.Content)
			if x.FinishReason != "" {
				finish = x.FinishReason
			}
		}
		if len(ch.Usage) > 0 {
			usage = string(ch.Usage)
		}
	}
	if text.String() != "You said: stream this please" || finish != "stop" {
		t.Errorf("text %q finish %q", text.String(), finish)
	}
	if !strings.Contains(usage, `"prompt_tokens":3`) || !strings.Contains(string(chunks[len(chunks)-1]), `"usage"`) {
		t.Errorf("the last chunk is not the usage chunk: %s", chunks[len(chunks)-1])
	}
	if c := fake.Calls(); len(c) != 1 || c[0].Op != "converse-stream" || c[0].Header.Get("Accept") != eventStreamType {
		t.Errorf("calls %+v", c)
	}
}

func TestStreamExceptionMidStream(t *testing.T) {
	fake := NewFakeBedrock(t)
	fake.FailStreams("throttlingException")
	p := fakeProvider(t, fake, nil)
	resp, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"a b c d"}]}`, true)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Stream.Close()
	chunks, err := readStream(t, resp.Stream)
	pe := asProviderError(t, err)
	if pe == nil {
		return
	}
	if pe.Err.Status != 429 || !providers.Retryable(err) || len(chunks) != 3 { // role and two deltas
		t.Errorf("got %+v after %d chunks", pe.Err, len(chunks))
	}
}

func TestThrottling(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	fake.Throttle(1)
	_, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	pe := asProviderError(t, err)
	if pe != nil && (pe.Err.Status != 429 || pe.Err.Type != "rate_limit_error" || !providers.Retryable(err)) {
		t.Errorf("got %+v", pe.Err)
	}
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Errorf("after the throttled call: %v", err)
	}
}

// TestSignatureChecked: the fake refuses a request signed with another
// secret, so the tests that pass prove a valid signature.
func TestSignatureChecked(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, &Bedrock{AccessKeyID: TestAccessKeyID, SecretAccessKey: "not-the-secret"})
	_, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	pe := asProviderError(t, err)
	if pe != nil && (pe.Err.Status != 401 || pe.Err.Code != "InvalidSignatureException") {
		t.Errorf("got %+v", pe.Err)
	}
	// Another region's signature is refused too.
	p = fakeProvider(t, fake, &Bedrock{Region: "eu-west-1"})
	_, err = chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	if pe := asProviderError(t, err); pe != nil && pe.Err.Code != "InvalidSignatureException" {
		t.Errorf("got %+v", pe.Err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("the fake accepted %d badly signed calls", n)
	}
}

func TestSessionToken(t *testing.T) {
	fake := NewFakeBedrock(t)
	fake.SessionToken = "FwoGZXIvYXdzEXAMPLESESSION"
	t.Setenv("POLYGATE_TEST_SESSION", fake.SessionToken)
	p := fakeProvider(t, fake, &Bedrock{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey, SessionToken: "{env.POLYGATE_TEST_SESSION}"})
	if p.SessionToken != "{env.POLYGATE_TEST_SESSION}" {
		t.Errorf("Provision rewrote the placeholder: %q", p.SessionToken)
	}
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Fatal(err)
	}
	if got := fake.Calls()[0].Header.Get("X-Amz-Security-Token"); got != fake.SessionToken {
		t.Errorf("session token %q", got)
	}
	p = fakeProvider(t, fake, nil) // no session token
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err == nil {
		t.Error("a call without the session token was accepted")
	}
}

func TestBedrockAPIKey(t *testing.T) {
	fake := NewFakeBedrock(t)
	t.Setenv("POLYGATE_TEST_BEDROCK_KEY", TestAPIKey)
	p := fakeProvider(t, fake, &Bedrock{Settings: providers.Settings{APIKey: "{env.POLYGATE_TEST_BEDROCK_KEY}"}})
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Fatal(err)
	}
	if h := fake.Calls()[0].Header; h.Get("Authorization") != "Bearer "+TestAPIKey || h.Get("X-Amz-Date") != "" {
		t.Errorf("headers %v", h)
	}
	p = fakeProvider(t, fake, &Bedrock{Settings: providers.Settings{APIKey: "wrong"}})
	_, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	if pe := asProviderError(t, err); pe != nil && pe.Err.Status != 401 {
		t.Errorf("got %+v", pe.Err)
	}
}

func TestGuardrailSent(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, &Bedrock{GuardrailIdentifier: "gr-abc123", GuardrailVersion: "2"})
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, true); err != nil {
		t.Fatal(err)
	}
	if b := string(fake.Calls()[0].Body); !strings.Contains(b, `"guardrailConfig":{"guardrailIdentifier":"gr-abc123","guardrailVersion":"2"}`) {
		t.Errorf("body %s", b)
	}
}

func TestNotFound(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	_, err := chat(t, p, "missing.model-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	if pe := asProviderError(t, err); pe != nil && (pe.Err.Status != 404 || pe.Err.Code != "ResourceNotFoundException") {
		t.Errorf("got %+v", pe.Err)
	}
}

func embed(t *testing.T, p *Bedrock, model, body string) (*providers.Response, error) {
	t.Helper()
	return p.Embeddings(context.Background(), &providers.Request{Body: []byte(body), Model: model})
}

type embeddingsAnswer struct {
	Object string `json:"object"`
	Data   []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func TestEmbeddingsTitan(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	resp, err := embed(t, p, "amazon.titan-embed-text-v2:0", `{"input":["the quick brown fox","jumps"],"dimensions":256}`)
	if err != nil {
		t.Fatal(err)
	}
	var a embeddingsAnswer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.Object != "list" || len(a.Data) != 2 {
		t.Fatalf("answer %.300s: %v", resp.Body, err)
	}
	var v []float64
	json.Unmarshal(a.Data[1].Embedding, &v)
	want := vector("jumps", 256)
	if len(v) != 256 || v[0] != want[0] || v[255] != want[255] || a.Data[1].Index != 1 {
		t.Errorf("the second vector is not the second text's")
	}
	if a.Usage.PromptTokens != 5 || a.Usage.TotalTokens != 5 {
		t.Errorf("usage %+v", a.Usage)
	}
	if n := len(fake.Calls()); n != 2 {
		t.Errorf("%d calls, want one per text", n)
	}

	// base64: little-endian float32s.
	resp, err = embed(t, p, "amazon.titan-embed-text-v2:0", `{"input":"jumps","dimensions":256,"encoding_format":"base64"}`)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(resp.Body, &a)
	var s string
	json.Unmarshal(a.Data[0].Embedding, &s)
	raw, _ := base64.StdEncoding.DecodeString(s)
	if len(raw) != 4*256 || math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])) != float32(want[1]) {
		t.Errorf("base64 vector of %d bytes", len(raw))
	}

	// Titan v1 has no dimensions: Bedrock's 400 comes through.
	_, err = embed(t, p, "amazon.titan-embed-text-v1", `{"input":"x","dimensions":256}`)
	if pe := asProviderError(t, err); pe != nil && (pe.Err.Status != 400 || !strings.Contains(pe.Err.Message, "extraneous key [dimensions]")) {
		t.Errorf("got %+v", pe.Err)
	}
}

func TestEmbeddingsCohere(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	inputs := make([]string, 100)
	for i := range inputs {
		inputs[i] = "text number " + strings.Repeat("x", i%7+1)
	}
	body, _ := json.Marshal(map[string]any{"input": inputs, "input_type": "search_query"})
	resp, err := embed(t, p, "cohere.embed-multilingual-v3", string(body))
	if err != nil {
		t.Fatal(err)
	}
	var a embeddingsAnswer
	if err := json.Unmarshal(resp.Body, &a); err != nil || len(a.Data) != 100 {
		t.Fatalf("answer: %v", err)
	}
	var v []float64
	json.Unmarshal(a.Data[99].Embedding, &v)
	if want := vector(inputs[99], 1024); len(v) != 1024 || v[3] != want[3] {
		t.Errorf("vector 99 is not text 99's")
	}
	if a.Usage.PromptTokens != 300 { // three words each
		t.Errorf("usage %+v", a.Usage)
	}
	calls := fake.Calls()
	if len(calls) != 2 || !strings.Contains(string(calls[0].Body), `"input_type":"search_query"`) {
		t.Fatalf("calls: %d", len(calls))
	}
	var first struct{ Texts []string }
	json.Unmarshal(calls[0].Body, &first)
	if len(first.Texts) != 96 {
		t.Errorf("first batch of %d texts", len(first.Texts))
	}

	// Cohere v4 takes output_dimension.
	resp, err = embed(t, p, "us.cohere.embed-v4:0", `{"input":"hello","dimensions":512}`)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(resp.Body, &a)
	json.Unmarshal(a.Data[0].Embedding, &v)
	if len(v) != 512 || !strings.Contains(string(fake.Calls()[2].Body), `"input_type":"search_document"`) {
		t.Errorf("v4: %d dimensions, body %s", len(v), fake.Calls()[2].Body)
	}
}

func TestEmbeddingsRejects(t *testing.T) {
	p := newProvider(t, nil)
	for _, tc := range []struct{ model, body, param string }{
		{"meta.llama3-8b-instruct-v1:0", `{"input":"x"}`, "model"},
		{"amazon.titan-embed-text-v2:0", `{"input":[1,2,3]}`, "input"},
		{"amazon.titan-embed-text-v2:0", `{"input":[]}`, "input"},
		{"amazon.titan-embed-text-v2:0", `{"input":["a",""]}`, "input[1]"},
		{"amazon.titan-embed-text-v2:0", `{"input":"x","encoding_format":"int8"}`, "encoding_format"},
		{"amazon.titan-embed-text-v2:0", `{"input":"x","input_type":"search_query"}`, "input_type"},
		{"cohere.embed-english-v3", `{"input":"x","input_type":"poetry"}`, "input_type"},
	} {
		_, err := embed(t, p, tc.model, tc.body)
		if pe := asProviderError(t, err); pe != nil && (pe.Err.Status != 400 || pe.Err.Param != tc.param) {
			t.Errorf("%s %s: got %+v", tc.model, tc.body, pe.Err)
		}
	}
}

// awsEnv points the SDK's default chain at temporary files and clears the
// AWS environment, with instance metadata off (no network).
func awsEnv(t *testing.T) string {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_BEARER_TOKEN_BEDROCK"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return dir
}

func provision(t *testing.T, p *Bedrock) error {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		return err
	}
	p.SetName("aws")
	return nil
}

// TestEnvironmentCredentials: without static credentials the SDK's
// default chain is used, here its environment step (region included).
func TestEnvironmentCredentials(t *testing.T) {
	awsEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", TestAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", TestSecretAccessKey)
	t.Setenv("AWS_REGION", TestRegion)
	fake := NewFakeBedrock(t)
	p := &Bedrock{Settings: providers.Settings{BaseURL: fake.URL}}
	if err := provision(t, p); err != nil {
		t.Fatal(err)
	}
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Fatal(err)
	}
}

// TestProfileCredentials: the shared credentials and config files of a
// named profile, region from the profile.
func TestProfileCredentials(t *testing.T) {
	dir := awsEnv(t)
	os.WriteFile(filepath.Join(dir, "credentials"), []byte("[bedrock-test]\naws_access_key_id = "+TestAccessKeyID+"\naws_secret_access_key = "+TestSecretAccessKey+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "config"), []byte("[profile bedrock-test]\nregion = "+TestRegion+"\n"), 0o600)
	fake := NewFakeBedrock(t)
	p := &Bedrock{Settings: providers.Settings{BaseURL: fake.URL}, Profile: "bedrock-test"}
	if err := provision(t, p); err != nil {
		t.Fatal(err)
	}
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Fatal(err)
	}
}

// TestLazyCredentials: Provision succeeds with nothing to sign with (as
// during caddy validate); the first request fails with a 502 that names the
// problem, and a later one succeeds once credentials appear.
func TestLazyCredentials(t *testing.T) {
	dir := awsEnv(t)
	fake := NewFakeBedrock(t)
	p := &Bedrock{Settings: providers.Settings{BaseURL: fake.URL}, Profile: "later"}
	if err := provision(t, p); err != nil {
		t.Fatalf("Provision failed without credentials: %v", err)
	}
	_, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	pe := asProviderError(t, err)
	if pe != nil && (pe.Err.Status != http.StatusBadGateway || pe.Err.Code != "aws_credentials_unavailable" || !providers.Retryable(err)) {
		t.Errorf("got %+v", pe.Err)
	}
	os.WriteFile(filepath.Join(dir, "credentials"), []byte("[later]\naws_access_key_id = "+TestAccessKeyID+"\naws_secret_access_key = "+TestSecretAccessKey+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "config"), []byte("[profile later]\nregion = "+TestRegion+"\n"), 0o600)
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Errorf("after the profile appeared: %v", err)
	}
}

// TestCredentialsRefreshed: temporary credentials from the container
// credentials endpoint (as on ECS or EKS) expire; the next request after
// expiry fetches new ones before it is signed, and no request fails.
func TestCredentialsRefreshed(t *testing.T) {
	awsEnv(t)
	var mu sync.Mutex
	issued := map[string]struct {
		creds   aws.Credentials
		expires time.Time
	}{}
	fetches := 0
	creds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		c := aws.Credentials{AccessKeyID: fmt.Sprintf("ASIATEST%08d", fetches), SecretAccessKey: fmt.Sprintf("secret-%d", fetches), SessionToken: fmt.Sprintf("token-%d", fetches)}
		exp := time.Now().Add(1500 * time.Millisecond)
		issued[c.AccessKeyID] = struct {
			creds   aws.Credentials
			expires time.Time
		}{c, exp}
		json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey,
			"Token": c.SessionToken, "Expiration": exp.UTC().Format(time.RFC3339Nano)})
	}))
	t.Cleanup(creds.Close)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", creds.URL+"/v2/credentials")
	t.Setenv("AWS_REGION", TestRegion)
	fake := NewFakeBedrock(t)
	fake.Credentials = func(id string) (aws.Credentials, bool) {
		mu.Lock()
		defer mu.Unlock()
		c, ok := issued[id]
		return c.creds, ok && time.Now().Before(c.expires)
	}
	p := &Bedrock{Settings: providers.Settings{BaseURL: fake.URL}}
	if err := provision(t, p); err != nil {
		t.Fatal(err)
	}
	keyOf := func() string {
		calls := fake.Calls()
		m := credentialField.FindStringSubmatch(calls[len(calls)-1].Header.Get("Authorization"))
		return m[1]
	}
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false); err != nil {
		t.Fatal(err)
	}
	first := keyOf()
	time.Sleep(2 * time.Second) // past the first credentials' expiry
	if _, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"again"}]}`, false); err != nil {
		t.Fatalf("after the credentials expired: %v", err)
	}
	mu.Lock()
	n := fetches
	mu.Unlock()
	if second := keyOf(); second == first || n != 2 {
		t.Errorf("signed with %s then %s after %d fetches; want new credentials from a second fetch", first, second, n)
	}
}

func TestNoRegion(t *testing.T) {
	awsEnv(t)
	p := &Bedrock{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey}
	if err := provision(t, p); err != nil {
		t.Fatal(err)
	}
	_, err := chat(t, p, "amazon.nova-lite-v1:0", `{"messages":[{"role":"user","content":"hi"}]}`, false)
	if pe := asProviderError(t, err); pe != nil && !strings.Contains(pe.Err.Message, "no region") {
		t.Errorf("got %+v", pe.Err)
	}
}

func TestDefaultBaseURL(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "https://bedrock-runtime.us-east-1.amazonaws.com",
		"cn-north-1":    "https://bedrock-runtime.cn-north-1.amazonaws.com.cn",
		"us-gov-west-1": "https://bedrock-runtime.us-gov-west-1.amazonaws.com",
	} {
		if got := defaultBaseURL(region); got != want {
			t.Errorf("%s: %s", region, got)
		}
	}
	p := newProvider(t, &Bedrock{Region: "eu-central-1"})
	ep, err := p.auth.endpoint(context.Background(), "aws")
	if err != nil || modelURL(ep.base, "anthropic.claude-3-haiku-20240307-v1:0", "converse") !=
		"https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse" {
		t.Errorf("endpoint %+v, %v", ep, err)
	}
}

func TestProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		p   Bedrock
		msg string
	}{
		{Bedrock{AccessKeyID: "a"}, "go together"},
		{Bedrock{SessionToken: "t"}, "session_token needs"},
		{Bedrock{AccessKeyID: "a", SecretAccessKey: "s", Profile: "x"}, "exclude each other"},
		{Bedrock{Settings: providers.Settings{APIKey: "k"}, RoleARN: "arn:aws:iam::1:role/r"}, "api_key"},
		{Bedrock{ExternalID: "e"}, "need role_arn"},
		{Bedrock{GuardrailVersion: "1"}, "need guardrail_identifier"},
		{Bedrock{GuardrailIdentifier: "g"}, "needs guardrail_version"},
		{Bedrock{GuardrailIdentifier: "g", GuardrailVersion: "1", GuardrailTrace: "loud"}, "guardrail_trace"},
		{Bedrock{Region: "Mars"}, "not an AWS region"},
		{Bedrock{Settings: providers.Settings{BaseURL: "ftp://x"}}, "base_url"},
		{Bedrock{AccessKeyID: "{env.POLYGATE_TEST_UNSET_A}", SecretAccessKey: "s"}, "one without the other"},
	} {
		err := provision(t, &tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: got %v, want %q", tc.p, err, tc.msg)
		}
	}
}
