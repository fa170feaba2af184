package bedrock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// fixtureEvent is one line of a testdata/*.events.jsonl file: an event
// (event type and JSON payload) or an exception (exception type and
// payload) of a ConverseStream or InvokeModelWithResponseStream answer, as
// Bedrock sends it. A chunk of InvokeModelWithResponseStream is written
// as the Anthropic event it carries: {"chunk":{…}} stands for a "chunk"
// event whose payload is {"bytes":"<base64 of the event>","p":"…"}.
type fixtureEvent struct {
	Event     string          `json:"event,omitempty"`
	Exception string          `json:"exception,omitempty"`
	Chunk     json.RawMessage `json:"chunk,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// encodeEvent writes one event-stream message with the SDK's encoder and
// the headers Bedrock sets: :message-type, :event-type or :exception-type,
// and :content-type.
func encodeEvent(w io.Writer, ev fixtureEvent) error {
	if ev.Chunk != nil {
		ev.Event, ev.Payload = "chunk", chunkPayload(ev.Chunk)
	}
	var h eventstream.Headers
	if ev.Exception != "" {
		h.Set(":message-type", eventstream.StringValue("exception"))
		h.Set(":exception-type", eventstream.StringValue(ev.Exception))
	} else {
		h.Set(":event-type", eventstream.StringValue(ev.Event))
		h.Set(":message-type", eventstream.StringValue("event"))
	}
	h.Set(":content-type", eventstream.StringValue("application/json"))
	return eventstream.NewEncoder().Encode(w, eventstream.Message{Headers: h, Payload: ev.Payload})
}

// encodeFixture reads testdata/<name>.events.jsonl and returns the binary
// event stream it describes.
func encodeFixture(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev fixtureEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("%s: %v: %s", name, err, line)
		}
		if err := encodeEvent(&out, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
