package messages

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// addSeeds adds the testdata files whose names match pattern.
func addSeeds(f *testing.F, pattern string) {
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(names) == 0 {
		f.Fatalf("no seeds for %s", pattern)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// bounded fails when out is not linear in in: whatever clients or
// providers send, the translation's memory stays proportional to it.
func bounded(t *testing.T, what string, in, out []byte, factor int) {
	if len(out) > factor*len(in)+4096 {
		t.Fatalf("%s: %d bytes out of %d in", what, len(out), len(in))
	}
}

func FuzzTranslateRequest(f *testing.F) {
	addSeeds(f, "req_*.in.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		hub, info, err := TranslateRequest(body)
		if err != nil {
			if hub != nil || info != nil {
				t.Fatal("a failed translation returned a request")
			}
			return
		}
		if !json.Valid(hub) {
			t.Fatalf("hub request is not JSON: %s", hub)
		}
		bounded(t, "hub request", body, hub, 8)
		for _, tx := range RequestTexts(body) {
			if tx.Offset < 0 || tx.Offset+tx.Len > len(body) {
				t.Fatalf("text %s out of the body", tx.Location)
			}
		}
		_ = CountTokensTexts(body)
	})
}

func FuzzTranslateResponse(f *testing.F) {
	addSeeds(f, "resp_*.hub.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, info := range []Info{{Model: "m"}, {Model: "m", Thinking: true, StopSequences: []string{"###"}}} {
			out, err := TranslateResponse(body, &info)
			if err != nil {
				continue
			}
			var m anthropic.Message
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("the SDK cannot decode %s: %v", out, err)
			}
			bounded(t, "response", body, out, 16)
			sse, err := Replay(out)
			if err != nil {
				t.Fatalf("translated response not replayable: %v", err)
			}
			bounded(t, "replay", out, sse, 16)
			_ = ResponseTexts(out)
		}
	})
}

// FuzzStream feeds a hub stream, one chunk a line, and checks that every
// output is well-formed events the SDK accumulates without complaint.
func FuzzStream(f *testing.F) {
	addSeeds(f, "stream_*.jsonl")
	f.Fuzz(func(t *testing.T, jsonl []byte) {
		for _, info := range []Info{{Model: "m"}, {Model: "m", Thinking: true}, {Model: "m", Thinking: true, OmitThinking: true}} {
			s := NewStream(&info)
			var m anthropic.Message
			failed := false
			check := func(in, out []byte) {
				bounded(t, "events", in, out, 64)
				for _, ev := range splitEvents(t, out) {
					if failed {
						t.Fatalf("event after the error: %s", ev)
					}
					var u anthropic.MessageStreamEventUnion
					if err := json.Unmarshal(ev, &u); err != nil {
						t.Fatalf("event is not JSON: %s", ev)
					}
					if u.Type == "error" {
						failed = true
						continue
					}
					if err := m.Accumulate(u); err != nil {
						t.Fatalf("the SDK refuses %s: %v", ev, err)
					}
				}
			}
			for _, line := range bytes.Split(jsonl, []byte("\n")) {
				out, _ := s.Chunk(line)
				check(line, out)
			}
			check(nil, s.Finish())
			if !s.Done() {
				t.Fatal("not done after Finish")
			}
		}
	})
}

// splitEvents returns the data of each event in b, checking the framing.
func splitEvents(t *testing.T, b []byte) [][]byte {
	var out [][]byte
	for _, ev := range strings.SplitAfter(string(b), "\n\n") {
		if ev == "" {
			continue
		}
		name, rest, ok := strings.Cut(ev, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(rest, "data: ") || !strings.HasSuffix(rest, "\n\n") || strings.Count(rest, "\n") != 2 {
			t.Fatalf("malformed event %q", ev)
		}
		data := []byte(strings.TrimSuffix(strings.TrimPrefix(rest, "data: "), "\n\n"))
		var typ struct{ Type string }
		if err := json.Unmarshal(data, &typ); err != nil || "event: "+typ.Type != name {
			t.Fatalf("event %q carries type %q", name, typ.Type)
		}
		out = append(out, data)
	}
	return out
}

// FuzzAnthropicAnswers reads Anthropic answers as the pass-through does:
// usage from events and bodies, replays and output texts.
func FuzzAnthropicAnswers(f *testing.F) {
	addSeeds(f, "anthropic_*")
	addSeeds(f, "resp_*.want.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		var r UsageReader
		for _, line := range bytes.Split(b, []byte("\n")) {
			r.Event(bytes.TrimPrefix(line, []byte("data: ")))
		}
		if u, ok := r.Usage(); ok && (u.CacheCreation5mInputTokens+u.CacheCreation1hInputTokens != u.CacheCreationInputTokens || u.CacheCreation1hInputTokens < 0) {
			t.Fatalf("inconsistent usage %+v", u)
		}
		_, _ = ResponseUsage(b)
		for _, tx := range ResponseTexts(b) {
			if tx.Offset < 0 || tx.Offset+tx.Len > len(b) {
				t.Fatalf("text %s out of the body", tx.Location)
			}
		}
		if sse, err := Replay(b); err == nil {
			bounded(t, "replay", b, sse, 16)
			splitEvents(t, sse)
		}
	})
}
