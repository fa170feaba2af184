package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/polygate/polygate/providers"
)

// FuzzStream feeds arbitrary bytes to the event-stream decoding: Next and
// Buffered never panic, every chunk is JSON, every error is a
// *providers.Error, the stream ends, and no payload buffer outgrows the
// message size limit.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"stream_text", "stream_tool_use", "stream_reasoning", "stream_throttled", "stream_model_error"} {
		b := encodeFixture(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 5, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream(context.Background(), io.NopCloser(bytes.NewReader(data)), testClient(), "id", "m")
		defer s.Close()
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatal("the stream does not end")
			}
			s.Buffered()
			b, err := s.Next()
			if cap(s.payload) > MaxEventSize {
				t.Fatalf("payload buffer of %d bytes", cap(s.payload))
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Err.Status == 0 || pe.Err.Message == "" {
					t.Fatalf("error %v (%T)", err, err)
				}
				if _, err := s.Next(); err != io.EOF {
					t.Fatalf("after an error: %v", err)
				}
				return
			}
			if !json.Valid(b) {
				t.Fatalf("chunk %q is not JSON", b)
			}
		}
	})
}

// FuzzTranslateResponse: any body either fails cleanly or gives a JSON
// chat.completion.
func FuzzTranslateResponse(f *testing.F) {
	for _, name := range []string{"resp_text", "resp_tool_use", "resp_reasoning", "resp_guardrail"} {
		f.Add(readFile(f, name+".bedrock.json"))
	}
	f.Add([]byte(`{"output":{"message":{"content":[{"toolUse":{"input":"x"}}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := translateResponse(body, "id", "m", 0)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
	})
}

// FuzzTranslateRequest: any hub request either is refused with a 400 or
// translates to JSON.
func FuzzTranslateRequest(f *testing.F) {
	for _, name := range []string{"req_text", "req_tools", "req_media", "req_thinking_cache", "req_cache_dropped"} {
		f.Add(readFile(f, name+".in.json"))
	}
	p := newProvider(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in hubRequest
		if json.Unmarshal(body, &in) != nil {
			return
		}
		out, err := p.translateRequest(&in, in.Model)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Err.Status != 400 {
				t.Fatalf("error %v", err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("encoding: %v", err)
		}
	})
}

// FuzzDecodeChunk: a chunk payload either fails cleanly or gives a JSON
// object whose type names an event, on a single line.
func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte(chunkPayload([]byte(`{"type":"message_stop"}`))))
	f.Add([]byte(chunkPayload([]byte("{\n\"type\" :\r\n \"ping\"}"))))
	f.Add([]byte(chunkPayload([]byte(`{"type":"a\nb"}`))))
	f.Add([]byte(`{"bytes":"eyJ0eXBlIjoi"}`))
	f.Add([]byte(`{"bytes":7}`))
	var buf []byte
	f.Fuzz(func(t *testing.T, payload []byte) {
		typ, event, out, err := decodeChunk(payload, buf)
		buf = out
		if err != nil {
			return
		}
		if !json.Valid(event) || bytes.ContainsAny(event, "\r\n") || !eventType(typ) {
			t.Fatalf("type %q event %q", typ, event)
		}
		var v struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(event, &v) != nil || v.Type != typ {
			t.Fatalf("event %q has type %q, not %q", event, v.Type, typ)
		}
	})
}

// FuzzMessagesStream feeds arbitrary bytes to the Messages stream: it
// ends, yields well-formed server-sent events only (JSON data whose type
// is the event's name), at most one error event and only last, and keeps
// no buffer past the message size limit.
func FuzzMessagesStream(f *testing.F) {
	for _, name := range []string{"invoke_stream_tools", "invoke_stream_throttled", "invoke_stream_overloaded", "stream_text"} {
		b := encodeFixture(f, name)
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 5, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newMessagesStream(context.Background(), io.NopCloser(bytes.NewReader(data)), testClient())
		defer s.Close()
		var out []byte
		buf := make([]byte, 512)
		for i := 0; ; i++ {
			if i > 4*len(data)+8 {
				t.Fatal("the stream does not end")
			}
			n, err := s.Read(buf)
			out = append(out, buf[:n]...)
			if cap(s.payload) > MaxEventSize || cap(s.raw) > MaxEventSize {
				t.Fatalf("buffers of %d and %d bytes", cap(s.payload), cap(s.raw))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
		}
		if len(out) == 0 {
			t.Fatal("no event at all: a stream ends with message_stop or an error")
		}
		events := bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n"))
		for i, ev := range events {
			name, data, ok := bytes.Cut(ev, []byte("\ndata: "))
			name, hasName := bytes.CutPrefix(name, []byte("event: "))
			if !ok || !hasName || bytes.ContainsAny(data, "\r\n") || !json.Valid(data) {
				t.Fatalf("malformed event %q", ev)
			}
			var v struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(data, &v) != nil || v.Type != string(name) {
				t.Fatalf("event %q carries type %q", name, v.Type)
			}
			if string(name) == "error" && i != len(events)-1 {
				t.Fatalf("an error event before the end: %q", out)
			}
		}
	})
}
