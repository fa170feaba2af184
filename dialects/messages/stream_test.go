package messages

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/polygate/polygate/openai"
)

// streamCases are recorded hub streams (.jsonl, one chunk a line) with the
// Messages events expected for each chunk (.sse, each group of events
// after the comment naming the chunk that produces it).
var streamCases = []struct {
	name string
	info Info
	resp string // the recorded non-streamed answer with the same content, if any
}{
	{"text", Info{Model: "claude-sonnet-4-5"}, "resp_text.hub.json"},
	{"thinking_tool", Info{Model: "claude-opus-4-1", Thinking: true}, "resp_thinking_tool.hub.json"},
	{"redacted", Info{Model: "claude-3-7-sonnet", Thinking: true}, "resp_redacted.hub.json"},
	{"unsigned", Info{Model: "deepseek-r1", Thinking: true}, "resp_unsigned.hub.json"},
	{"error", Info{Model: "claude-sonnet-4-5"}, ""},
	{"interleaved", Info{Model: "mistral-large"}, ""},
}

type sseEvent struct {
	marker, name string
	data         []byte
}

// parseSSE splits server-sent events; a comment line sets the marker of
// the events after it.
func parseSSE(t testing.TB, b []byte, marker string) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	flush := func() {
		if cur.name != "" || cur.data != nil {
			cur.marker = marker
			out = append(out, cur)
		}
		cur = sseEvent{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
			flush()
			marker = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			cur.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			if cur.data != nil {
				t.Fatalf("event with two data lines: %q", b)
			}
			cur.data = []byte(line[len("data: "):])
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	flush()
	return out
}

// translateStream feeds the chunks of a .jsonl file to a Stream, then
// calls Finish, and returns the events, each marked by its chunk.
func translateStream(t testing.TB, jsonl []byte, info *Info) (events []sseEvent, raw []byte) {
	t.Helper()
	s := NewStream(info)
	for i, line := range bytes.Split(bytes.TrimSpace(jsonl), []byte("\n")) {
		out, _ := s.Chunk(line)
		if !bytes.HasSuffix(out, []byte("\n\n")) && len(out) > 0 {
			t.Fatalf("chunk %d: output does not end an event: %q", i+1, out)
		}
		raw = append(raw, out...)
		events = append(events, parseSSE(t, out, "chunk "+strconv.Itoa(i+1))...)
	}
	out := s.Finish()
	raw = append(raw, out...)
	events = append(events, parseSSE(t, out, "finish")...)
	if !s.Done() {
		t.Error("the stream is not done after Finish")
	}
	return events, raw
}

func TestStream(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := translateStream(t, readFile(t, "stream_"+tc.name+".jsonl"), &tc.info)
			want := parseSSE(t, readFile(t, "stream_"+tc.name+".sse"), "")
			for i := 0; i < max(len(got), len(want)); i++ {
				switch {
				case i >= len(got):
					t.Fatalf("event %d missing: %s %s %s", i, want[i].marker, want[i].name, want[i].data)
				case i >= len(want):
					t.Fatalf("extra event %d: %s %s %s", i, got[i].marker, got[i].name, got[i].data)
				}
				g, w := got[i], want[i]
				if g.marker != w.marker || g.name != w.name {
					t.Fatalf("event %d is %s from %s, want %s from %s (%s)", i, g.name, g.marker, w.name, w.marker, g.data)
				}
				sameJSON(t, "event "+strconv.Itoa(i)+" "+g.name, g.data, w.data)
				var typ struct{ Type string }
				if err := json.Unmarshal(g.data, &typ); err != nil || typ.Type != g.name {
					t.Errorf("event %s carries type %q", g.name, typ.Type)
				}
			}
		})
	}
}

// TestStreamEdges covers chunks the recorded streams do not.
func TestStreamEdges(t *testing.T) {
	t.Run("finish before any chunk", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		names := eventNames(t, s.Finish())
		if names != "message_start message_delta message_stop" {
			t.Errorf("events %s", names)
		}
		if out := s.Finish(); out != nil {
			t.Errorf("second Finish returned %q", out)
		}
	})
	t.Run("cut off stream", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\""}}]}}]}`)
		out := s.Finish()
		if names := eventNames(t, out); names != "content_block_stop message_delta message_stop" {
			t.Errorf("events %s", names)
		}
		if !bytes.Contains(out, []byte(`"stop_reason":"tool_use"`)) {
			t.Errorf("stop reason missing: %s", out)
		}
	})
	t.Run("error after start", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}]}`)
		out := s.Error(openai.NewError(529, "server_error", "overloaded_error", "Overloaded"))
		want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
		if string(out) != want {
			t.Errorf("error event %q, want %q", out, want)
		}
		if s.Finish() != nil || s.Error(openai.NewError(500, "", "", "x")) != nil {
			t.Error("events after the error")
		}
		if out, _ := s.Chunk([]byte(`{"choices":[{"index":0,"delta":{"content":"more"}}]}`)); out != nil {
			t.Errorf("chunk after the error gave %q", out)
		}
	})
	t.Run("invalid chunk", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		out, err := s.Chunk([]byte(`{"choices":[`))
		if err == nil || eventNames(t, out) != "error" || !s.Done() {
			t.Errorf("err %v, events %q", err, out)
		}
	})
	t.Run("usage in every chunk", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":1}}`)
		out := mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2}}`)
		if names := eventNames(t, out); names != "content_block_stop message_delta message_stop" {
			t.Errorf("events %s", names)
		}
		if !bytes.Contains(out, []byte(`"input_tokens":10,`)) || !bytes.Contains(out, []byte(`"output_tokens":2}`)) {
			t.Errorf("usage: %s", out)
		}
	})
	t.Run("usage known at the start", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		out := mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"}}],"usage":{"prompt_tokens":42,"completion_tokens":0,"prompt_tokens_details":{"cached_tokens":40}}}`)
		if !bytes.Contains(out, []byte(`"input_tokens":2,`)) || !bytes.Contains(out, []byte(`"cache_read_input_tokens":40,`)) {
			t.Errorf("message_start usage: %s", out)
		}
	})
	t.Run("stop sequence", func(t *testing.T) {
		s := NewStream(&Info{Model: "m", StopSequences: []string{"END"}})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop","stop_reason":"END"}]}`)
		out := s.Finish()
		if !bytes.Contains(out, []byte(`"stop_reason":"stop_sequence","stop_sequence":"END"`)) {
			t.Errorf("message_delta: %s", out)
		}
	})
	t.Run("reasoning without thinking", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"}}]}`)
		out := mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"hmm","thinking_blocks":[{"type":"thinking","signature":"c2ln"},{"type":"redacted_thinking","data":"ZGF0YQ=="}]}}]}`)
		if len(out) != 0 {
			t.Errorf("reasoning sent although thinking is off: %s", out)
		}
	})
	t.Run("omitted display", func(t *testing.T) {
		s := NewStream(&Info{Model: "m", Thinking: true, OmitThinking: true})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"}}]}`)
		out := mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}`)
		if len(out) != 0 {
			t.Errorf("omitted thinking sent: %s", out)
		}
		out = mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"hmm","signature":"c2ln"}]}}]}`)
		if names := eventNames(t, out); names != "content_block_start content_block_delta content_block_stop" || bytes.Contains(out, []byte("hmm")) {
			t.Errorf("events %s: %s", names, out)
		}
	})
	t.Run("whole thinking block in one delta", func(t *testing.T) {
		s := NewStream(&Info{Model: "m", Thinking: true})
		out := mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"all at once","signature":"c2ln"}]}}]}`)
		if names := eventNames(t, out); names != "message_start content_block_start content_block_delta content_block_delta content_block_stop" {
			t.Errorf("events %s", names)
		}
		if !bytes.Contains(out, []byte(`"thinking_delta","thinking":"all at once"`)) || !bytes.Contains(out, []byte(`"signature_delta","signature":"c2ln"`)) {
			t.Errorf("deltas: %s", out)
		}
	})
	t.Run("two signed thinking blocks in a row", func(t *testing.T) {
		s := NewStream(&Info{Model: "m", Thinking: true})
		var all []byte
		for _, c := range []string{
			`{"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"one"}}]}`,
			`{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","signature":"AAAA"}]}}]}`,
			`{"id":"x","choices":[{"index":0,"delta":{"reasoning_content":"two"}}]}`,
			`{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","signature":"BBBB"}]}}]}`,
		} {
			all = append(all, mustChunk(t, s, c)...)
		}
		if n := bytes.Count(all, []byte(`"content_block_start"`)); n != 2 {
			t.Errorf("%d blocks, want 2: %s", n, all)
		}
	})
	t.Run("other choices ignored", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		mustChunk(t, s, `{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"}}]}`)
		if out := mustChunk(t, s, `{"id":"x","choices":[{"index":1,"delta":{"content":"other"}}]}`); len(out) != 0 {
			t.Errorf("choice 1 sent: %s", out)
		}
	})
	t.Run("too many tools", func(t *testing.T) {
		s := NewStream(&Info{Model: "m"})
		var err error
		for i := 0; i <= maxStreamTools && err == nil; i++ {
			_, err = s.Chunk([]byte(`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":` + strconv.Itoa(i) + `,"id":"c","function":{"name":"f"}}]}}]}`))
		}
		if err == nil || !s.Done() {
			t.Error("no error after too many tool calls")
		}
	})
}

func mustChunk(t *testing.T, s *Stream, chunk string) []byte {
	t.Helper()
	out, err := s.Chunk([]byte(chunk))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), out...)
}

func eventNames(t *testing.T, b []byte) string {
	var names []string
	for _, e := range parseSSE(t, b, "") {
		names = append(names, e.name)
	}
	return strings.Join(names, " ")
}
