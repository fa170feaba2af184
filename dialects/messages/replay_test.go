package messages

import (
	"strings"
	"testing"
)

func TestReplay(t *testing.T) {
	body := readFile(t, "resp_thinking_tool.want.json")
	sse, err := Replay(body)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range parseSSE(t, sse, "") {
		names = append(names, ev.name)
	}
	want := "message_start " +
		"content_block_start content_block_delta content_block_delta content_block_stop " + // thinking, signature
		"content_block_start content_block_delta content_block_stop " + // text
		"content_block_start content_block_delta content_block_stop " + // tool_use
		"content_block_start content_block_delta content_block_stop " + // tool_use
		"message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	// A stored answer reads back as the same message.
	m, _, err := sdkAccumulate(t, sse)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "replayed message", []byte(m.RawJSON()), body)
}

// TestReplayAnthropic replays one of Anthropic's own answers, with server
// tool blocks and citations, for the same-dialect pass-through.
func TestReplayAnthropic(t *testing.T) {
	body := readFile(t, "anthropic_web_search.json")
	sse, err := Replay(body)
	if err != nil {
		t.Fatal(err)
	}
	m, events, err := sdkAccumulate(t, sse)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "replayed message", []byte(m.RawJSON()), body)
	if len(m.Content) != 5 || len(m.Content[4].Citations) != 1 || string(m.Content[1].Input) != `{"query":"claude shannon birth date"}` {
		t.Errorf("content %+v", m.Content)
	}
	var deltas int
	for _, ev := range events {
		if ev.Type == "content_block_delta" && ev.Delta.Type == "citations_delta" {
			deltas++
		}
	}
	if deltas != 1 {
		t.Errorf("%d citations deltas", deltas)
	}
	got, _ := readStreamUsage(t, sse)
	if want, _ := ResponseUsage(body); got != want {
		t.Errorf("replayed usage %+v, want %+v", got, want)
	}
}

// TestReplayPieces checks that long text is cut between characters.
func TestReplayPieces(t *testing.T) {
	text := strings.Repeat("é", 200) + strings.Repeat("x", 10)
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"` + text + `"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}`)
	sse, err := Replay(body)
	if err != nil {
		t.Fatal(err)
	}
	m, events, err := sdkAccumulate(t, sse)
	if err != nil {
		t.Fatal(err)
	}
	if m.Content[0].Text != text {
		t.Errorf("text %q", m.Content[0].Text)
	}
	if len(events) != 9 { // message_start, block start, 4 deltas (410 bytes), block stop, message_delta, message_stop
		var n []string
		for _, e := range events {
			n = append(n, e.Type)
		}
		t.Errorf("events %v", n)
	}
}

func TestReplayRefuses(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `{"type":"error","error":{"type":"api_error","message":"x"}}`, `{"object":"chat.completion"}`} {
		if out, err := AppendReplay([]byte("kept"), []byte(body)); err != ErrNotReplayable || string(out) != "kept" {
			t.Errorf("%q: %q %v", body, out, err)
		}
	}
}
