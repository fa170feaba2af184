package bedrock

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/polygate/polygate/providers"
)

func testClient() *providers.Client {
	return &providers.Client{Name: "aws", ParseError: parseError}
}

func fixtureStream(t testing.TB, name string) *stream {
	return newStream(context.Background(), io.NopCloser(bytes.NewReader(encodeFixture(t, name))), testClient(), "chatcmpl-req-1", "bedrock-model")
}

// readStream reads every chunk of s, with "created" zeroed.
func readStream(t *testing.T, s providers.EventStream) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	for range 10000 {
		b, err := s.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("chunk %q is not JSON: %v", b, err)
		}
		m["created"] = 0
		norm, _ := json.Marshal(m)
		out = append(out, norm)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func TestStream(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_tool_use", "stream_reasoning"} {
		t.Run(name, func(t *testing.T) {
			s := fixtureStream(t, name)
			got, err := readStream(t, s)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Split(bytes.TrimSpace(readFile(t, name+".want.jsonl")), []byte("\n"))
			if len(got) != len(want) {
				t.Fatalf("got %d chunks, want %d:\n%s", len(got), len(want), bytes.Join(got, []byte("\n")))
			}
			for i := range want {
				jsonEqual(t, name, got[i], want[i])
			}
			if b, err := s.Next(); err != io.EOF {
				t.Errorf("after the end: got %q, %v", b, err)
			}
			s.Close()
			s.Close()
		})
	}
}

func TestStreamExceptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks int
		status int
		code   string
		msg    string
	}{
		{"stream_throttled", 2, 429, "ThrottlingException", "Too many tokens"},
		{"stream_model_error", 1, 502, "ModelStreamErrorException", "Model stream error"},
	} {
		s := fixtureStream(t, tc.name)
		got, err := readStream(t, s)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != tc.status || pe.Err.Code != tc.code || !strings.HasPrefix(pe.Err.Message, tc.msg) {
			t.Errorf("%s: got %v (%+v)", tc.name, err, pe)
			continue
		}
		if !providers.Retryable(err) {
			t.Errorf("%s: %d is not retryable", tc.name, tc.status)
		}
		if len(got) != tc.chunks {
			t.Errorf("%s: got %d chunks before the error, want %d", tc.name, len(got), tc.chunks)
		}
		if _, err := s.Next(); err != io.EOF {
			t.Errorf("%s: after the error: %v", tc.name, err)
		}
	}
}

// esMessage encodes one event-stream message.
func esMessage(t testing.TB, headers map[string]string, payload string) []byte {
	var h eventstream.Headers
	for k, v := range headers {
		h.Set(k, eventstream.StringValue(v))
	}
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, eventstream.Message{Headers: h, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func event(t testing.TB, typ, payload string) []byte {
	return esMessage(t, map[string]string{":message-type": "event", ":event-type": typ, ":content-type": "application/json"}, payload)
}

func TestStreamErrors(t *testing.T) {
	start := event(t, "messageStart", `{"role":"assistant"}`)
	delta := event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)
	stop := event(t, "messageStop", `{"stopReason":"end_turn"}`)
	corrupt := append([]byte(nil), delta...)
	corrupt[len(corrupt)-6] ^= 0xff // a payload byte: the message checksum fails
	huge := make([]byte, 12)
	binary.BigEndian.PutUint32(huge, MaxEventSize+1)
	binary.BigEndian.PutUint32(huge[4:], 0)
	badHeaders := make([]byte, 12)
	binary.BigEndian.PutUint32(badHeaders, 100)
	binary.BigEndian.PutUint32(badHeaders[4:], 99)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"empty", nil, 502, "upstream_stream_cut"},
		{"cut before messageStop", cat(start, delta), 502, "upstream_stream_cut"},
		{"cut inside a message", cat(start, delta[:len(delta)-3]), 502, "upstream_stream_cut"},
		{"cut inside the prelude", cat(start, delta[:5]), 502, "upstream_stream_cut"},
		{"checksum", cat(start, corrupt), 502, "upstream_invalid_response"},
		{"too large", cat(start, huge), 502, "upstream_invalid_response"},
		{"headers overrun", cat(start, badHeaders), 502, "upstream_invalid_response"},
		{"not JSON", cat(start, event(t, "contentBlockDelta", `{"delta":`)), 502, "upstream_invalid_response"},
		{"not an object", cat(start, event(t, "contentBlockDelta", `[1]`)), 502, "upstream_invalid_response"},
		{"no message type", cat(start, esMessage(t, map[string]string{":event-type": "messageStop"}, `{}`)), 502, "upstream_invalid_response"},
		{"validation exception", cat(start, esMessage(t, map[string]string{":message-type": "exception", ":exception-type": "validationException"}, `{"message":"bad input"}`)), 400, "ValidationException"},
		{"service unavailable", cat(esMessage(t, map[string]string{":message-type": "exception", ":exception-type": "serviceUnavailableException"}, `{"message":"busy"}`)), 503, "ServiceUnavailableException"},
		{"error message", cat(esMessage(t, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, ``)), 502, "InternalFailure"},
	} {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(tc.body)), testClient(), "id", "m")
		_, err := readStream(t, s)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != tc.status || pe.Err.Code != tc.code {
			t.Errorf("%s: got %v (%+v), want %d %s", tc.name, err, pe, tc.status, tc.code)
		}
	}

	// messageStop without metadata: the stream ends without a usage chunk.
	s := newStream(context.Background(), io.NopCloser(bytes.NewReader(cat(start, delta, stop))), testClient(), "id", "m")
	got, err := readStream(t, s)
	if err != nil || len(got) != 3 {
		t.Errorf("no metadata: got %d chunks, %v", len(got), err)
	}
}

// TestBuffered: Buffered reports a buffered message only when it yields a
// chunk, and never reads from the network.
func TestBuffered(t *testing.T) {
	start := event(t, "messageStart", `{"role":"assistant"}`)
	delta := event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)
	empty := event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":""}}`)
	blockStop := event(t, "contentBlockStop", `{"contentBlockIndex":0}`)
	stop := event(t, "messageStop", `{"stopReason":"end_turn"}`)
	meta := event(t, "metadata", `{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`)
	exc := esMessage(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, `{"message":"slow down"}`)

	// pipe lets the test decide what the "network" has delivered.
	pr, pw := io.Pipe()
	defer pw.Close()
	s := newStream(context.Background(), pr, testClient(), "id", "m")
	write := func(b ...[]byte) {
		go pw.Write(bytes.Join(b, nil))
	}
	write(start, delta, empty, blockStop)
	if _, err := s.Next(); err != nil { // messageStart; the rest may not be buffered yet
		t.Fatal(err)
	}
	// The bufio.Reader read whatever one Write gave it: all four messages.
	if !s.Buffered() {
		t.Error("a buffered text delta is not reported")
	}
	if b, err := s.Next(); err != nil || !strings.Contains(string(b), `"Hi"`) {
		t.Fatalf("got %s, %v", b, err)
	}
	if s.Buffered() {
		t.Error("an empty delta and contentBlockStop yield no chunk, yet Buffered is true")
	}
	write(stop, meta)
	if b, err := s.Next(); err != nil || !strings.Contains(string(b), `"finish_reason":"stop"`) {
		t.Fatalf("got %s, %v", b, err)
	}
	if !s.Buffered() {
		t.Error("a buffered metadata event is not reported")
	}
	if b, err := s.Next(); err != nil || !strings.Contains(string(b), `"usage"`) {
		t.Fatalf("got %s, %v", b, err)
	}
	if !s.Buffered() {
		t.Error("after the usage chunk, Next returns io.EOF at once: Buffered must say so")
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("got %v, want io.EOF", err)
	}
	if s.Buffered() {
		t.Error("Buffered after the end")
	}

	// An exception is reported as buffered: Next fails without waiting.
	s = newStream(context.Background(), io.NopCloser(bytes.NewReader(bytes.Join([][]byte{start, blockStop, exc}, nil))), testClient(), "id", "m")
	s.Next()
	if !s.Buffered() {
		t.Error("a buffered exception is not reported")
	}
	// A partial message is not.
	s = newStream(context.Background(), io.NopCloser(bytes.NewReader(bytes.Join([][]byte{start, delta[:len(delta)-1]}, nil))), testClient(), "id", "m")
	s.Next()
	if s.Buffered() {
		t.Error("a partial message is reported as buffered")
	}
}

// TestRawHeader checks the header scan Buffered uses against the SDK's
// encoder, with headers of every type before the wanted one.
func TestRawHeader(t *testing.T) {
	var h eventstream.Headers
	h.Set("b", eventstream.BoolValue(true))
	h.Set("c", eventstream.Int8Value(3))
	h.Set("d", eventstream.Int16Value(4))
	h.Set("e", eventstream.Int32Value(5))
	h.Set("f", eventstream.Int64Value(6))
	h.Set("g", eventstream.BytesValue([]byte("xyz")))
	h.Set("h", eventstream.UUIDValue{1, 2, 3})
	h.Set(":event-type", eventstream.StringValue("contentBlockDelta"))
	var buf bytes.Buffer
	if err := eventstream.EncodeHeaders(&buf, h); err != nil {
		t.Fatal(err)
	}
	if v, ok := rawHeader(buf.Bytes(), ":event-type"); !ok || v != "contentBlockDelta" {
		t.Errorf("got %q, %v", v, ok)
	}
	if _, ok := rawHeader(buf.Bytes(), ":message-type"); ok {
		t.Error("found a header that is not there")
	}
	if _, ok := rawHeader(buf.Bytes()[:buf.Len()-3], ":event-type"); ok {
		t.Error("read a truncated value")
	}
}

// TestStreamMemory: a long stream of events reuses one small payload
// buffer, and a rare large event's buffer is not kept.
func TestStreamMemory(t *testing.T) {
	var body bytes.Buffer
	body.Write(event(t, "messageStart", `{"role":"assistant"}`))
	long := strings.Repeat("x", keptPayloadBuffer*2)
	body.Write(event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"`+long+`"}}`))
	for range 100 {
		body.Write(event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"ab"}}`))
	}
	s := newStream(context.Background(), io.NopCloser(&body), testClient(), "id", "m")
	s.Next()
	if b, _ := s.Next(); len(b) < len(long) {
		t.Fatal("the long delta was not passed on")
	}
	if cap(s.payload) > keptPayloadBuffer {
		t.Errorf("a %d-byte payload buffer was kept", cap(s.payload))
	}
	for range 100 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		if cap(s.payload) > 4096 {
			t.Fatalf("payload buffer grew to %d", cap(s.payload))
		}
	}
}
