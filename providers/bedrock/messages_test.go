package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

func forward(t *testing.T, p *Bedrock, path, body string, header http.Header) *http.Response {
	t.Helper()
	resp, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: path, Header: header, Body: []byte(body)})
	if err != nil {
		t.Fatalf("ForwardMessages(%s): %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSpeaksMessages(t *testing.T) {
	p := newProvider(t, nil)
	for model, want := range map[string]bool{
		"anthropic.claude-sonnet-4-5-20250929-v1:0":                                                           true,
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":                                                        true,
		"global.anthropic.claude-haiku-4-5-20251001-v1:0":                                                     true,
		"arn:aws:bedrock:us-west-2:123456789012:inference-profile/eu.anthropic.claude-opus-4-1-20250805-v1:0": true,
		"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0":                  true,
		"amazon.nova-pro-v1:0":            false,
		"meta.llama3-1-70b-instruct-v1:0": false,
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2": false,
	} {
		if got := p.SpeaksMessages(model); got != want {
			t.Errorf("SpeaksMessages(%q) = %v, want %v", model, got, want)
		}
	}
}

// TestInvokeBody checks the InvokeModel body byte for byte.
func TestInvokeBody(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		betas    []string
		want     string
	}{
		{"model and stream dropped, version added",
			`{"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`, nil,
			`{"max_tokens":1024,"messages":[{"role":"user","content":"Hi"}],"anthropic_version":"bedrock-2023-05-31"}`},
		{"own version kept, order and spacing kept",
			`{ "messages": [{"role": "user", "content": "Hi"}], "anthropic_version": "bedrock-2099-01-01", "max_tokens": 5, "model": "m" }`, nil,
			`{ "messages": [{"role": "user", "content": "Hi"}], "anthropic_version": "bedrock-2099-01-01", "max_tokens": 5 }`},
		{"beta header values become anthropic_beta",
			`{"model":"m","max_tokens":5,"messages":[]}`, []string{"interleaved-thinking-2025-05-14, context-1m-2025-08-07", " token-efficient-tools-2025-02-19 ,"},
			`{"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","context-1m-2025-08-07","token-efficient-tools-2025-02-19"]}`},
		{"merged with the body's anthropic_beta",
			`{"anthropic_beta":["context-1m-2025-08-07"],"model":"m","max_tokens":5,"messages":[]}`, []string{"interleaved-thinking-2025-05-14,context-1m-2025-08-07"},
			`{"anthropic_beta":["context-1m-2025-08-07","interleaved-thinking-2025-05-14"],"max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`},
		{"an anthropic_beta that is no array is left alone",
			`{"anthropic_beta":"x","model":"m","max_tokens":5,"messages":[]}`, []string{"interleaved-thinking-2025-05-14"},
			`{"anthropic_beta":"x","max_tokens":5,"messages":[],"anthropic_version":"bedrock-2023-05-31"}`},
		{"unknown members pass",
			`{"model":"m","max_tokens":5,"messages":[],"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"cache_control":{"type":"ephemeral"}}`, nil,
			`{"max_tokens":5,"messages":[],"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"cache_control":{"type":"ephemeral"},"anthropic_version":"bedrock-2023-05-31"}`},
	} {
		h := http.Header{}
		for _, v := range tc.betas {
			h.Add("Anthropic-Beta", v)
		}
		in := []byte(tc.in)
		got, err := invokeBody(in, h)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
		if string(in) != tc.in {
			t.Errorf("%s: the input was modified: %s", tc.name, in)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `{"model":`, ``} {
		_, err := invokeBody([]byte(bad), nil)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != 400 {
			t.Errorf("%q: got %v, want a 400", bad, err)
		}
	}
}

const claudeProfile = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"

func TestForwardMessages(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, &Bedrock{GuardrailIdentifier: "gr-abc123", GuardrailVersion: "3", GuardrailTrace: "enabled"})
	h := http.Header{
		"Anthropic-Beta":           {"interleaved-thinking-2025-05-14"},
		"Anthropic-Version":        {"2023-06-01"},
		"X-Claude-Code-Session-Id": {"a3f1c2d4-session"},
	}
	body := `{"model":"` + claudeProfile + `","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hello Bedrock","cache_control":{"type":"ephemeral"}}]}]}`
	resp := forward(t, p, "messages", body, h)
	out := readAll(t, resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
	}
	if gjson.Get(out, "content.1.text").Str != "You said: Hello Bedrock" || gjson.Get(out, "content.0.signature").Str == "" ||
		gjson.Get(out, "usage.input_tokens").Int() != 4 || gjson.Get(out, "type").Str != "message" {
		t.Errorf("answer %s", out)
	}
	calls := fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %+v", calls)
	}
	c := calls[0]
	if c.Op != "invoke" || c.Model != claudeProfile || c.EscapedModel != strings.NewReplacer(":", "%3A", "/", "%2F").Replace(claudeProfile) {
		t.Errorf("call %s %s (%s)", c.Op, c.Model, c.EscapedModel)
	}
	want := `{"max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hello Bedrock","cache_control":{"type":"ephemeral"}}]}],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"]}`
	if string(c.Body) != want {
		t.Errorf("body\n got  %s\n want %s", c.Body, want)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-Id: %v", resp.Header)
	}
	// Client headers stay at the gateway; the guardrail is the provider's.
	for _, k := range []string{"Anthropic-Beta", "Anthropic-Version", "X-Claude-Code-Session-Id"} {
		if v := c.Header.Get(k); v != "" {
			t.Errorf("%s reached Bedrock: %q", k, v)
		}
	}
	if c.Header.Get("X-Amzn-Bedrock-Guardrailidentifier") != "gr-abc123" || c.Header.Get("X-Amzn-Bedrock-Guardrailversion") != "3" ||
		c.Header.Get("X-Amzn-Bedrock-Trace") != "ENABLED" || c.Header.Get("Accept") != "application/json" {
		t.Errorf("headers %v", c.Header)
	}
}

// sseEvents splits server-sent events into their names and data.
func sseEvents(t *testing.T, s string) (names, data []string) {
	t.Helper()
	if !strings.HasSuffix(s, "\n\n") {
		t.Fatalf("the stream does not end with a blank line: %q", s)
	}
	for _, ev := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		lines := strings.Split(ev, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed event %q", ev)
		}
		name, d := strings.TrimPrefix(lines[0], "event: "), strings.TrimPrefix(lines[1], "data: ")
		if gjson.Get(d, "type").Str != name {
			t.Errorf("event %q carries type %q", name, gjson.Get(d, "type").Str)
		}
		names, data = append(names, name), append(data, d)
	}
	return names, data
}

func TestForwardMessagesStream(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	body := `{"model":"us.anthropic.claude-haiku-4-5-20251001-v1:0","stream":true,"max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":2048},"messages":[{"role":"user","content":"stream me three words"}]}`
	resp := forward(t, p, "messages", body, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %v", resp.StatusCode, resp.Header)
	}
	names, data := sseEvents(t, readAll(t, resp.Body))
	var text, thinking, sig strings.Builder
	for _, d := range data {
		text.WriteString(gjson.Get(d, "delta.text").Str)
		thinking.WriteString(gjson.Get(d, "delta.thinking").Str)
		sig.WriteString(gjson.Get(d, "delta.signature").Str)
	}
	if names[0] != "message_start" || names[len(names)-1] != "message_stop" || text.String() != "You said: stream me three words" ||
		thinking.String() != "The user wants an echo." || sig.String() == "" {
		t.Errorf("events %v: text %q thinking %q", names, text.String(), thinking.String())
	}
	c := fake.Calls()[0]
	if c.Op != "invoke-with-response-stream" || c.Header.Get("X-Amzn-Bedrock-Accept") != "application/json" || c.Header.Get("Accept") != eventStreamType {
		t.Errorf("call %s %v", c.Op, c.Header)
	}
	if strings.Contains(string(c.Body), `"stream"`) || !strings.HasSuffix(string(c.Body), `,"anthropic_version":"bedrock-2023-05-31"}`) {
		t.Errorf("body %s", c.Body)
	}
}

// TestMessagesStreamFixtures translates the recorded streams of testdata
// and compares the server-sent events byte for byte.
func TestMessagesStreamFixtures(t *testing.T) {
	for _, name := range []string{"invoke_stream_tools", "invoke_stream_throttled", "invoke_stream_overloaded"} {
		t.Run(name, func(t *testing.T) {
			want := string(readFile(t, name+".want.sse"))
			src := encodeFixture(t, name)
			s := newMessagesStream(context.Background(), io.NopCloser(bytes.NewReader(src)), testClient())
			if got := readAll(t, s); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			// Read in 7-byte pieces: the same bytes.
			s = newMessagesStream(context.Background(), io.NopCloser(bytes.NewReader(src)), testClient())
			var got strings.Builder
			buf := make([]byte, 7)
			for {
				n, err := s.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want {
				t.Errorf("read in pieces:\n%s", got.String())
			}
		})
	}
}

// TestMessagesStreamOneEventAtATime: an event is readable as soon as its
// message arrived, before the next one is sent, and a Read returns one
// event only.
func TestMessagesStreamOneEventAtATime(t *testing.T) {
	pr, pw := io.Pipe()
	var events [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, "invoke_stream_tools.events.jsonl"))), "\n") {
		var ev fixtureEvent
		var buf bytes.Buffer
		if err := json.Unmarshal([]byte(line), &ev); err != nil || encodeEvent(&buf, ev) != nil {
			t.Fatalf("%s: %v", line, err)
		}
		events = append(events, buf.Bytes())
	}
	next := make(chan struct{})
	go func() {
		defer pw.Close()
		for _, msg := range events {
			if _, err := pw.Write(msg); err != nil {
				return
			}
			if _, ok := <-next; !ok {
				return
			}
		}
	}()
	s := newMessagesStream(context.Background(), pr, testClient())
	defer s.Close()
	buf := make([]byte, 64<<10)
	for i := range events {
		n, err := s.Read(buf)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ev := string(buf[:n])
		if strings.Count(ev, "event: ") != 1 || !strings.HasSuffix(ev, "\n\n") {
			t.Fatalf("read %d returned %q", i, ev)
		}
		if i < len(events)-1 {
			next <- struct{}{}
		}
	}
	close(next)
	if n, err := s.Read(buf); err != io.EOF {
		t.Errorf("after message_stop: %d bytes, %v", n, err)
	}
}

// TestMessagesStreamFailures: what ends a stream early becomes its last
// event, an Anthropic error.
func TestMessagesStreamFailures(t *testing.T) {
	full := encodeFixture(t, "invoke_stream_tools")
	var badChunk, notEvent, noBytes, pretty bytes.Buffer
	encodeEvent(&badChunk, fixtureEvent{Event: "chunk", Payload: []byte(`{"bytes":"not base64!"}`)})
	encodeEvent(&notEvent, fixtureEvent{Chunk: []byte(`{"type":"message_start\ndata: {}"}`)})
	encodeEvent(&noBytes, fixtureEvent{Event: "chunk", Payload: []byte(`{"p":"abc"}`)})
	encodeEvent(&pretty, fixtureEvent{Chunk: []byte("{\n  \"type\": \"ping\"\r\n}")})
	var other bytes.Buffer
	encodeEvent(&other, fixtureEvent{Event: "metadata", Payload: []byte(`{}`)})
	for _, tc := range []struct {
		name   string
		stream []byte
		last   string // the last event's name and, for errors, type
		msg    string
	}{
		{"cut before message_stop", full[:len(full)/2], "error api_error", "ended the stream early"},
		{"not base64", badChunk.Bytes(), "error api_error", "not base64"},
		{"type that is no event name", notEvent.Bytes(), "error api_error", "not an Anthropic event"},
		{"chunk without bytes", noBytes.Bytes(), "error api_error", "no bytes"},
		{"bad checksum", append(append([]byte(nil), full[:len(full)-1]...), full[len(full)-1]^1), "error api_error", "checksum"},
		{"line breaks dropped, then cut", pretty.Bytes(), "error api_error", "early"},
		{"other events skipped", append(other.Bytes(), full...), "message_stop", ""},
	} {
		s := newMessagesStream(context.Background(), io.NopCloser(bytes.NewReader(tc.stream)), testClient())
		names, data := sseEvents(t, readAll(t, s))
		last := names[len(names)-1]
		if last == "error" {
			last += " " + gjson.Get(data[len(data)-1], "error.type").Str
		}
		if last != tc.last || !strings.Contains(gjson.Get(data[len(data)-1], "error.message").Str, tc.msg) {
			t.Errorf("%s: events %v, last %s", tc.name, names, data[len(data)-1])
		}
		if tc.name == "line breaks dropped, then cut" && data[0] != `{  "type": "ping"}` {
			t.Errorf("pretty event relayed as %q", data[0])
		}
	}
}

func TestForwardMessagesStreamErrors(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	body := `{"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"tell me a long story"}]}`

	// An exception before the first chunk is an error answer, not a stream.
	fake.FailStreams("start:throttlingException")
	resp := forward(t, p, "messages", body, nil)
	out := readAll(t, resp.Body)
	if resp.StatusCode != 429 || out != `{"type":"error","error":{"type":"rate_limit_error","message":"Too many requests, please wait before trying again."}}` {
		t.Errorf("throttled at the start: %d %s", resp.StatusCode, out)
	}

	// After the first chunk, it ends the stream as an error event.
	fake.FailStreams("serviceUnavailableException")
	resp = forward(t, p, "messages", body, nil)
	names, data := sseEvents(t, readAll(t, resp.Body))
	if resp.StatusCode != 200 || names[len(names)-1] != "error" ||
		data[len(data)-1] != `{"type":"error","error":{"type":"overloaded_error","message":"The stream failed: serviceUnavailableException"}}` {
		t.Errorf("mid-stream: %d %v %s", resp.StatusCode, names, data[len(data)-1])
	}
}

// TestForwardMessagesErrors: Bedrock's error answers become Anthropic's,
// with Anthropic's status for their type.
func TestForwardMessagesErrors(t *testing.T) {
	for _, tc := range []struct {
		status        int
		awsType, msg  string
		retryAfter    string
		wantStatus    int
		wantType      string
		wantRetryHint string
	}{
		{429, "ThrottlingException", "Too many tokens, please wait before trying again.", "7", 429, "rate_limit_error", "7"},
		{400, "ServiceQuotaExceededException", "Your request exceeds the service quota.", "", 429, "rate_limit_error", ""},
		{400, "ValidationException", "messages.0.content: Field required", "", 400, "invalid_request_error", ""},
		{403, "AccessDeniedException", "You don't have access to the model with the specified model ID.", "", 403, "permission_error", ""},
		{404, "ResourceNotFoundException", "Model not found.", "", 404, "not_found_error", ""},
		{503, "ServiceUnavailableException", "Bedrock is unable to process your request.", "", 529, "overloaded_error", ""},
		{429, "ModelNotReadyException", "The model is not ready to serve inference requests.", "", 529, "overloaded_error", ""},
		{408, "ModelTimeoutException", "Model has timed out in processing the request.", "", 504, "timeout_error", ""},
		{500, "InternalServerException", "An internal server error occurred.", "", 500, "api_error", ""},
		{424, "ModelErrorException", "The model returned an error.", "", 502, "api_error", ""},
		{403, "UnrecognizedClientException", "The security token included in the request is invalid.", "", 401, "authentication_error", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			fail(w, tc.status, tc.awsType, tc.msg)
		}))
		p := newProvider(t, &Bedrock{Settings: providers.Settings{BaseURL: srv.URL}})
		resp := forward(t, p, "messages", `{"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil)
		out := readAll(t, resp.Body)
		srv.Close()
		want := `{"type":"error","error":{"type":"` + tc.wantType + `","message":` + string(openai.AppendString(nil, tc.msg)) + `}}`
		if resp.StatusCode != tc.wantStatus || out != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: got %d %s, want %d %s", tc.awsType, resp.StatusCode, out, tc.wantStatus, want)
		}
		if got := resp.Header.Get("Retry-After"); got != tc.wantRetryHint {
			t.Errorf("%s: Retry-After %q, want %q", tc.awsType, got, tc.wantRetryHint)
		}
	}

	// A Bedrock that cannot be reached is an error, not an answer.
	srv := httptest.NewServer(http.NotFoundHandler())
	p := newProvider(t, &Bedrock{Settings: providers.Settings{BaseURL: srv.URL}})
	srv.Close()
	_, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: "messages",
		Body: []byte(`{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":5,"messages":[]}`)})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway {
		t.Errorf("unreachable: %v", err)
	}

	// Paths other than messages and count_tokens are not served.
	_, err = p.ForwardMessages(context.Background(), &providers.ForwardRequest{Method: http.MethodPost, Path: "messages/batches", Body: []byte(`{"model":"m"}`)})
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusNotFound {
		t.Errorf("messages/batches: %v", err)
	}
}

// TestForwardMessagesSignature: the fake refuses a wrong secret key, as
// AWS does, and the refusal is Anthropic's authentication error.
func TestForwardMessagesSignature(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, &Bedrock{AccessKeyID: TestAccessKeyID, SecretAccessKey: "wrong-secret-key-wrong-secret-key"})
	resp := forward(t, p, "messages", `{"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil)
	out := readAll(t, resp.Body)
	if resp.StatusCode != 401 || gjson.Get(out, "error.type").Str != "authentication_error" || strings.Contains(out, "wrong-secret") {
		t.Errorf("got %d %s", resp.StatusCode, out)
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("the fake accepted a bad signature")
	}
}

// TestForwardMessagesBetaRefused: a beta flag Bedrock does not know is its
// 400, relayed in Anthropic's shape.
func TestForwardMessagesBetaRefused(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	resp := forward(t, p, "messages", `{"model":"anthropic.claude-sonnet-4-5-20250929-v1:0","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
		http.Header{"Anthropic-Beta": {"mcp-client-2025-04-04"}})
	if out := readAll(t, resp.Body); resp.StatusCode != 400 || out != `{"type":"error","error":{"type":"invalid_request_error","message":"invalid beta flag"}}` {
		t.Errorf("got %d %s", resp.StatusCode, out)
	}
}

func TestCountTokens(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	body := `{"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","system":"You are terse.","messages":[{"role":"user","content":"How many tokens is this?"}]}`
	resp := forward(t, p, "messages/count_tokens", body, http.Header{"Anthropic-Beta": {"token-efficient-tools-2025-02-19"}})
	if out := readAll(t, resp.Body); resp.StatusCode != 200 || out != `{"input_tokens":8}` {
		t.Fatalf("got %d %s", resp.StatusCode, out)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Op != "count-tokens" || calls[0].Model != "anthropic.claude-sonnet-4-5-20250929-v1:0" {
		t.Fatalf("calls %+v", calls)
	}
	b64 := gjson.GetBytes(calls[0].Body, "input.invokeModel.body").Str
	inner, err := base64.StdEncoding.DecodeString(b64)
	want := `{"system":"You are terse.","messages":[{"role":"user","content":"How many tokens is this?"}],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["token-efficient-tools-2025-02-19"],"max_tokens":1}`
	if err != nil || string(inner) != want || string(calls[0].Body) != `{"input":{"invokeModel":{"body":"`+b64+`"}}}` {
		t.Errorf("count body %s\n inner %s\n want  %s", calls[0].Body, inner, want)
	}

	// A thinking budget needs max_tokens above it.
	resp = forward(t, p, "messages/count_tokens", `{"model":"anthropic.claude-opus-4-1-20250805-v1:0","thinking":{"type":"enabled","budget_tokens":4000},"messages":[{"role":"user","content":"hi"}]}`, nil)
	if out := readAll(t, resp.Body); resp.StatusCode != 200 || out != `{"input_tokens":1}` {
		t.Errorf("with thinking: %d %s", resp.StatusCode, out)
	}

	// The base id refused, the profile ARN as configured is asked next;
	// its refusal is the answer.
	resp = forward(t, p, "messages/count_tokens", `{"model":"arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-no-count-v1:0","messages":[{"role":"user","content":"hi"}]}`, nil)
	if out := readAll(t, resp.Body); resp.StatusCode != 400 || out != `{"type":"error","error":{"type":"invalid_request_error","message":"The provided model doesn't support counting tokens."}}` {
		t.Errorf("unsupported: %d %s", resp.StatusCode, out)
	}
	calls = fake.Calls()
	if n := len(calls); n != 4 || calls[2].Model != "anthropic.claude-no-count-v1:0" || calls[3].Model != "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-no-count-v1:0" {
		t.Errorf("calls %+v", calls[2:])
	}
}

func TestCountModelIDs(t *testing.T) {
	for model, want := range map[string]string{
		"anthropic.claude-sonnet-4-5-20250929-v1:0":                                          "anthropic.claude-sonnet-4-5-20250929-v1:0",
		"us.anthropic.claude-sonnet-4-5-20250929-v1:0":                                       "anthropic.claude-sonnet-4-5-20250929-v1:0 us.anthropic.claude-sonnet-4-5-20250929-v1:0",
		"us-gov.anthropic.claude-3-haiku-20240307-v1:0":                                      "anthropic.claude-3-haiku-20240307-v1:0 us-gov.anthropic.claude-3-haiku-20240307-v1:0",
		"global.anthropic.claude-haiku-4-5-20251001-v1:0":                                    "anthropic.claude-haiku-4-5-20251001-v1:0 global.anthropic.claude-haiku-4-5-20251001-v1:0",
		"arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0": "anthropic.claude-3-haiku-20240307-v1:0 arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3":        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
		"x1.y.anthropic.claude-v2":                                                           "x1.y.anthropic.claude-v2",
	} {
		if got := strings.Join(countModelIDs(model), " "); got != want {
			t.Errorf("countModelIDs(%q) = %q, want %q", model, got, want)
		}
	}
}
