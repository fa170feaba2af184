package responses

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	oai "github.com/openai/openai-go/v3/responses"

	"github.com/polygate/polygate/openai"
)

func seeds(f *testing.F, pattern string) [][]byte {
	files, _ := filepath.Glob(pattern)
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkSSE parses out as server-sent events: every event must be complete,
// carry one line of JSON whose type is its name, and decode into the
// official client's event type.
func checkSSE(t *testing.T, out []byte) {
	t.Helper()
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("events do not end with a blank line: %q", out[max(0, len(out)-80):])
	}
	r := openai.NewEventReader(bytes.NewReader(out))
	r.MaxEventSize = len(out) + 1
	for {
		ev, err := r.Next()
		if err != nil {
			return
		}
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(ev.Data, &head) != nil || head.Type != string(ev.Name) {
			t.Fatalf("event %q with data %q", ev.Name, ev.Data)
		}
		var u oai.ResponseStreamEventUnion
		if err := json.Unmarshal(ev.Data, &u); err != nil {
			t.Fatalf("the SDK rejects %s: %v", ev.Data, err)
		}
	}
}

func FuzzToChat(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/request.json") {
		f.Add(b, []byte(nil))
	}
	for _, b := range seeds(f, "testdata/errors/*.json") {
		var c struct {
			Request json.RawMessage `json:"request"`
		}
		_ = json.Unmarshal(b, &c)
		f.Add([]byte(c.Request), []byte(nil))
	}
	f.Add([]byte(`{"model":"m","previous_response_id":"r"}`), []byte(`[{"role":"user","content":"hi"},1,"x"]`))
	f.Fuzz(func(t *testing.T, body, history []byte) {
		req, e := ToChat(body, history)
		if e != nil {
			if e.Status != 400 && e.Status != 500 || e.Message == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if !json.Valid(req.Chat) || !json.Valid(req.Messages) {
			t.Fatalf("invalid JSON: %s / %s", req.Chat, req.Messages)
		}
		if limit := 8*(len(body)+len(history)) + 4096; len(req.Chat) > limit {
			t.Fatalf("hub request of %d bytes from %d", len(req.Chat), len(body)+len(history))
		}
		// The answer side never fails on what ToChat accepted.
		out, err := FromChat([]byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`), req)
		if err != nil || !json.Valid(out) {
			t.Fatalf("FromChat: %v %s", err, out)
		}
		var r oai.Response
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("the SDK rejects %s: %v", out, err)
		}
		_ = RequestTexts(body)
	})
}

// FuzzStream feeds arbitrary chunks (one a line) to a Stream.
func FuzzStream(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/chunks.jsonl") {
		f.Add(b)
	}
	f.Add([]byte("{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"x\"}},{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\"}}]}}]}\n{\"choices\":[{\"delta\":{\"thinking_blocks\":[{\"type\":\"thinking\"},{}]},\"finish_reason\":\"length\"}],\"usage\":{}}"))
	req, e := ToChat([]byte(`{"model":"m","input":"hi","stream":true,"tools":[{"type":"function","name":"f"}],"metadata":{"k":"v"}}`), nil)
	if e != nil {
		f.Fatal(e)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStream(req)
		var total int
		for _, line := range bytes.Split(data, []byte("\n")) {
			out := s.Chunk(line)
			checkSSE(t, out)
			total += len(out)
		}
		out := s.Finish()
		checkSSE(t, out)
		total += len(out)
		if limit := 64*len(data) + 64<<10; total > limit {
			t.Fatalf("%d bytes of events from %d bytes of chunks", total, len(data))
		}
		if !json.Valid(s.Response()) {
			t.Fatalf("final response %s", s.Response())
		}
	})
}

func FuzzFromChat(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/completion.json") {
		f.Add(b)
	}
	req, e := ToChat([]byte(`{"model":"m","input":"hi"}`), nil)
	if e != nil {
		f.Fatal(e)
	}
	f.Fuzz(func(t *testing.T, completion []byte) {
		out, err := FromChat(completion, req)
		if err != nil {
			return
		}
		var r oai.Response
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("the SDK rejects %s: %v", out, err)
		}
		if limit := 8*len(completion) + 8<<10; len(out) > limit {
			t.Fatalf("%d bytes from %d", len(out), len(completion))
		}
		checkOffsetsOK(t, out, ResponseTexts(out))
	})
}

func FuzzReplay(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/response.json") {
		f.Add(b)
	}
	for _, b := range seeds(f, "testdata/openai/*.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		out, err := Replay(stored)
		if err != nil {
			return
		}
		if limit := 16*len(stored) + 4<<10; len(out) > limit {
			t.Fatalf("%d bytes of events from %d", len(out), len(stored))
		}
		r := openai.NewEventReader(bytes.NewReader(out))
		r.MaxEventSize = len(out) + 1
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if !json.Valid(ev.Data) {
				t.Fatalf("event %s: %q", ev.Name, ev.Data)
			}
		}
	})
}

func FuzzTexts(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/request.json") {
		f.Add(b)
	}
	for _, b := range seeds(f, "testdata/cases/*/response.json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) || !utf8.Valid(body) {
			return // the gateway reads texts of valid UTF-8 JSON bodies only
		}
		checkOffsetsOK(t, body, RequestTexts(body))
		checkOffsetsOK(t, body, ResponseTexts(body))
	})
}

func checkOffsetsOK(t *testing.T, body []byte, texts []Text) {
	t.Helper()
	for _, x := range texts {
		if x.Offset < 0 || x.Offset+x.Len > len(body) {
			t.Fatalf("%s out of the body: %d+%d of %d", x.Path, x.Offset, x.Len, len(body))
		}
		var s string
		if err := json.Unmarshal(body[x.Offset:x.Offset+x.Len], &s); err != nil || s != x.Value {
			t.Fatalf("%s: %q is not %q", x.Path, body[x.Offset:x.Offset+x.Len], x.Value)
		}
	}
}
