package responses

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// TestStreamAgreesWithResponse: the recorded stream of an answer and the
// same answer not streamed give the same Response (output items, ids,
// usage, everything).
func TestStreamAgreesWithResponse(t *testing.T) {
	n := 0
	for _, sc := range scenarios(t) {
		if !sc.has("chunks.jsonl") || !sc.has("completion.json") {
			continue
		}
		n++
		t.Run(sc.name, func(t *testing.T) {
			whole, err := FromChat(sc.read(t, "completion.json"), sc.request(t))
			if err != nil {
				t.Fatal(err)
			}
			s := NewStream(sc.request(t))
			for _, c := range chunks(t, sc.read(t, "chunks.jsonl")) {
				s.Chunk(c)
			}
			s.Finish()
			jsonEqual(t, "streamed response", whole, s.Response())
		})
	}
	if n < 5 {
		t.Fatalf("only %d cases have both a stream and a completion", n)
	}
}

// TestAnySplitAgrees: streaming a completion in pieces of any size gives
// the Response of the completion itself.
func TestAnySplitAgrees(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("completion.json") {
			continue
		}
		completion := sc.read(t, "completion.json")
		whole, err := FromChat(completion, sc.request(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1, 3, 7, 1 << 20} {
			s := NewStream(sc.request(t))
			for _, c := range splitCompletion(t, completion, size) {
				s.Chunk(c)
			}
			s.Finish()
			jsonEqual(t, sc.name+" split by "+itoa(size), whole, s.Response())
		}
	}
}

// splitCompletion streams a chat.completion as chunks whose texts have at
// most size bytes (whole runes), as a hub translator would: reasoning text
// then a signature per thinking block, content, refusal, each tool call
// (id, name and extra_content first, then its arguments), the finish
// reason, the usage chunk.
func splitCompletion(t *testing.T, completion []byte, size int) [][]byte {
	t.Helper()
	c := gjson.ParseBytes(completion)
	head := `{"id":` + c.Get("id").Raw + `,"object":"chat.completion.chunk","created":1,"model":` + c.Get("model").Raw
	if tier := c.Get("service_tier"); tier.Exists() {
		head += `,"service_tier":` + tier.Raw
	}
	var out [][]byte
	emit := func(delta map[string]any, extra string) {
		d, _ := json.Marshal(delta)
		out = append(out, []byte(head+`,"choices":[{"index":0,"delta":`+string(d)+extra+`}]}`))
	}
	pieces := func(s string) []string {
		var p []string
		for len(s) > 0 {
			n := min(size, len(s))
			for n < len(s) && !utf8.RuneStart(s[n]) {
				n++
			}
			p = append(p, s[:n])
			s = s[n:]
		}
		return p
	}
	ch := c.Get("choices.0")
	m := ch.Get("message")
	emit(map[string]any{"role": "assistant", "content": ""}, "")
	blocks := m.Get("thinking_blocks").Array()
	if len(blocks) == 0 {
		for _, p := range pieces(m.Get("reasoning_content").Str) {
			emit(map[string]any{"reasoning_content": p}, "")
		}
	}
	for _, b := range blocks {
		if b.Get("type").Str != "thinking" {
			emit(map[string]any{"thinking_blocks": []json.RawMessage{json.RawMessage(b.Raw)}}, "")
			continue
		}
		for _, p := range pieces(b.Get("thinking").Str) {
			emit(map[string]any{"reasoning_content": p}, "")
		}
		emit(map[string]any{"thinking_blocks": []map[string]string{{"type": "thinking", "signature": b.Get("signature").Str}}}, "")
	}
	for i, p := range pieces(m.Get("content").Str) {
		lp := ""
		if l := ch.Get("logprobs.content"); i == 0 && l.IsArray() {
			lp = `,"logprobs":{"content":` + l.Raw + `}`
		}
		emit(map[string]any{"content": p}, lp)
	}
	for _, p := range pieces(m.Get("refusal").Str) {
		emit(map[string]any{"refusal": p}, "")
	}
	for i, tc := range m.Get("tool_calls").Array() {
		first := map[string]any{"index": i, "id": tc.Get("id").Str, "type": "function", "function": map[string]string{"name": tc.Get("function.name").Str, "arguments": ""}}
		if x := tc.Get("extra_content"); x.Exists() {
			first["extra_content"] = json.RawMessage(x.Raw)
		}
		emit(map[string]any{"tool_calls": []any{first}}, "")
		for _, p := range pieces(tc.Get("function.arguments").Str) {
			emit(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]string{"arguments": p}}}}, "")
		}
	}
	out = append(out, []byte(head+`,"choices":[{"index":0,"delta":{},"finish_reason":`+ch.Get("finish_reason").Raw+`}]}`))
	if u := c.Get("usage"); u.Exists() {
		out = append(out, []byte(head+`,"choices":[],"usage":`+u.Raw+`}`))
	}
	return out
}

// TestOutputSentBack: a client that sends a Response's output back as input
// (as stateless clients do) gives the hub the assistant message it came
// from: content, refusal, reasoning, signed thinking blocks, tool calls and
// their extra_content.
func TestOutputSentBack(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("response.json") || !sc.has("completion.json") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			output := gjson.GetBytes(sc.read(t, "response.json"), "output")
			body := `{"model":"m","input":[{"role":"user","content":"hi"}` + trimBrackets(output.Raw) + `]}`
			req, e := ToChat([]byte(body), nil)
			if e != nil {
				t.Fatal(e)
			}
			msgs := gjson.GetBytes(req.Chat, "messages").Array()
			orig := gjson.GetBytes(sc.read(t, "completion.json"), "choices.0.message")
			if !orig.Get("content").Exists() && !orig.Get("refusal").Exists() && !orig.Get("tool_calls").Exists() {
				return
			}
			if len(msgs) != 2 {
				t.Fatalf("messages %s", gjson.GetBytes(req.Chat, "messages").Raw)
			}
			got := msgs[1]
			for _, f := range []string{"role", "content", "refusal", "reasoning_content", "thinking_blocks"} {
				if w, g := orig.Get(f), got.Get(f); !sameJSON(w, g) {
					t.Errorf("%s = %s, want %s", f, g.Raw, w.Raw)
				}
			}
			wantCalls := orig.Get("tool_calls").Array()
			gotCalls := got.Get("tool_calls").Array()
			if len(gotCalls) != len(wantCalls) {
				t.Fatalf("tool calls %s, want %s", got.Get("tool_calls").Raw, orig.Get("tool_calls").Raw)
			}
			for i := range wantCalls {
				for _, f := range []string{"id", "function.name", "function.arguments", "extra_content"} {
					if w, g := wantCalls[i].Get(f), gotCalls[i].Get(f); !sameJSON(w, g) {
						t.Errorf("tool call %d %s = %s, want %s", i, f, g.Raw, w.Raw)
					}
				}
			}
		})
	}
}

func trimBrackets(arr string) string {
	var items []json.RawMessage
	_ = json.Unmarshal([]byte(arr), &items)
	s := ""
	for _, it := range items {
		s += "," + string(it)
	}
	return s
}

// sameJSON compares two values, null being the same as absent.
func sameJSON(a, b gjson.Result) bool {
	aNone, bNone := !a.Exists() || a.Type == gjson.Null, !b.Exists() || b.Type == gjson.Null
	if aNone || bNone {
		return aNone == bNone
	}
	var x, y any
	_ = json.Unmarshal([]byte(a.Raw), &x)
	_ = json.Unmarshal([]byte(b.Raw), &y)
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// TestOutputMessages: the hub messages of an answer's output are the
// completion's message, for a stored conversation.
func TestOutputMessages(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("response.json") {
			continue
		}
		msgs, e := OutputMessages(sc.read(t, "response.json"))
		if e != nil {
			t.Fatalf("%s: %v", sc.name, e)
		}
		orig := gjson.GetBytes(sc.read(t, "completion.json"), "choices.0.message")
		got := gjson.ParseBytes(msgs)
		if n := got.Get("#").Int(); n != 1 {
			t.Errorf("%s: %d messages: %s", sc.name, n, msgs)
			continue
		}
		for _, f := range []string{"role", "content", "refusal", "reasoning_content", "thinking_blocks", "tool_calls.#.id", "tool_calls.#.extra_content"} {
			if w, g := orig.Get(f), got.Get("0."+f); !sameJSON(w, g) {
				t.Errorf("%s: %s = %s, want %s", sc.name, f, g.Raw, w.Raw)
			}
		}
	}
	if _, e := OutputMessages([]byte(`{"output":[{"type":"web_search_call","id":"ws_1","status":"completed"}]}`)); e == nil || e.Param != "output[0].type" {
		t.Errorf("built-in call: %v", e)
	}
	if m, e := OutputMessages([]byte(`{"output":"x"}`)); e != nil || string(m) != "[]" {
		t.Errorf("no output: %s %v", m, e)
	}
}
