package responses

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/polygate/polygate/openai"
)

// update rewrites the expected files from the translator's output; review
// every change before keeping it.
var update = flag.Bool("update", false, "rewrite the expected testdata files")

// Fixed identity and clock of every golden case.
const (
	testResponseID = "resp_68f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"
	testCreatedAt  = 1767225600
	testNow        = 1767225607
)

func TestMain(m *testing.M) {
	now = func() time.Time { return time.Unix(testNow, 0) }
	flag.Parse()
	os.Exit(m.Run())
}

// scenario is one directory of testdata/cases: request.json (a Responses
// request), history.json (optional hub messages), chat.json (the expected
// hub request), completion.json and response.json (a hub answer and the
// expected Response), chunks.jsonl and events.sse (a hub stream and the
// expected Responses events).
type scenario struct {
	name, dir string
}

func scenarios(t *testing.T) []scenario {
	t.Helper()
	dirs, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no testdata cases: %v", err)
	}
	var out []scenario
	for _, d := range dirs {
		out = append(out, scenario{name: filepath.Base(d), dir: d})
	}
	return out
}

func (sc scenario) file(name string) string { return filepath.Join(sc.dir, name) }

func (sc scenario) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(sc.file(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (sc scenario) has(name string) bool {
	_, err := os.Stat(sc.file(name))
	return err == nil
}

// request translates the scenario's request with the fixed identity.
func (sc scenario) request(t *testing.T) *Request {
	t.Helper()
	var history []byte
	if sc.has("history.json") {
		history = sc.read(t, "history.json")
	}
	req, e := ToChat(sc.read(t, "request.json"), history)
	if e != nil {
		t.Fatalf("ToChat: %d %s (param %q)", e.Status, e.Message, e.Param)
	}
	req.ResponseID, req.CreatedAt = testResponseID, testCreatedAt
	return req
}

// golden compares got with the expected JSON file (semantically), or
// rewrites it with -update.
func golden(t *testing.T, sc scenario, name string, got []byte) {
	t.Helper()
	if *update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(sc.file(name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	jsonEqual(t, name, sc.read(t, name), got)
}

func jsonEqual(t *testing.T, name string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: expected file is not JSON: %v", name, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
	}
	if !reflect.DeepEqual(w, g) {
		wi, _ := json.MarshalIndent(w, "", "  ")
		gi, _ := json.MarshalIndent(g, "", "  ")
		t.Errorf("%s differs\n--- want\n%s\n--- got\n%s", name, wi, gi)
	}
}

// event is one parsed server-sent event.
type event struct {
	name string
	data []byte
}

// parseSSE splits an event stream with package openai's reader.
func parseSSE(t *testing.T, b []byte) []event {
	t.Helper()
	r := openai.NewEventReader(bytes.NewReader(b))
	var out []event
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, event{name: string(ev.Name), data: bytes.Clone(ev.Data)})
	}
	return out
}

// goldenSSE compares an event stream with the expected .sse file event by
// event (names equal, data semantically equal), or rewrites it.
func goldenSSE(t *testing.T, sc scenario, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(sc.file(name), got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := parseSSE(t, sc.read(t, name))
	have := parseSSE(t, got)
	for i := range max(len(want), len(have)) {
		switch {
		case i >= len(want):
			t.Fatalf("%s: extra event %d: %s %s", name, i, have[i].name, have[i].data)
		case i >= len(have):
			t.Fatalf("%s: missing event %d: %s %s", name, i, want[i].name, want[i].data)
		}
		if want[i].name != have[i].name {
			t.Fatalf("%s: event %d is %q, want %q\n%s", name, i, have[i].name, want[i].name, have[i].data)
		}
		jsonEqual(t, name+" event "+itoa(i)+" ("+want[i].name+")", want[i].data, have[i].data)
	}
}

// chunks reads a .jsonl file of hub chunks, one JSON object a line.
func chunks(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, []byte(line))
		}
	}
	return out
}

// stream runs a hub chunk stream through a Stream and returns every event.
func stream(req *Request, cs [][]byte) []byte {
	s := NewStream(req)
	var out []byte
	for _, c := range cs {
		out = append(out, s.Chunk(c)...)
	}
	return append(out, s.Finish()...)
}

func TestGoldenRequests(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			req := sc.request(t)
			golden(t, sc, "chat.json", req.Chat)
			if !json.Valid(req.Messages) {
				t.Errorf("Messages is not JSON: %s", req.Messages)
			}
		})
	}
}

func TestGoldenResponses(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("completion.json") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			got, err := FromChat(sc.read(t, "completion.json"), sc.request(t))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, sc, "response.json", got)
		})
	}
}

func TestGoldenStreams(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("chunks.jsonl") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			goldenSSE(t, sc, "events.sse", stream(sc.request(t), chunks(t, sc.read(t, "chunks.jsonl"))))
		})
	}
}
