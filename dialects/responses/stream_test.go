package responses

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

func names(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for _, ev := range parseSSE(t, b) {
		if got := gjson.GetBytes(ev.data, "type").Str; got != ev.name {
			t.Errorf("event %q carries type %q", ev.name, got)
		}
		out = append(out, ev.name)
	}
	return out
}

func testRequest(t *testing.T, body string) *Request {
	t.Helper()
	req, e := ToChat([]byte(body), nil)
	if e != nil {
		t.Fatal(e)
	}
	req.ResponseID, req.CreatedAt = testResponseID, testCreatedAt
	return req
}

func chunk(delta, finish string) []byte {
	f := "null"
	if finish != "" {
		f = `"` + finish + `"`
	}
	return []byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + f + `}]}`)
}

const usageChunk = `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`

// TestStreamDoesNotHoldEventsBack: every chunk's events come with that
// chunk.
func TestStreamDoesNotHoldEventsBack(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	steps := []struct {
		chunk []byte
		want  []string
	}{
		{chunk(`{"role":"assistant","content":""}`, ""), []string{"response.created", "response.in_progress"}},
		{chunk(`{"reasoning_content":"Hm."}`, ""), []string{"response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta"}},
		{chunk(`{"content":"Hi"}`, ""), []string{"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done", "response.output_item.added", "response.content_part.added", "response.output_text.delta"}},
		{chunk(`{"content":"!"}`, ""), []string{"response.output_text.delta"}},
		{chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}`, ""), []string{"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.output_item.added"}},
		{chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`, ""), []string{"response.function_call_arguments.delta"}},
		{chunk(`{}`, "tool_calls"), []string{"response.function_call_arguments.done", "response.output_item.done"}},
		{[]byte(usageChunk), []string{"response.completed"}},
	}
	for i, st := range steps {
		if got := names(t, s.Chunk(st.chunk)); !slices.Equal(got, st.want) {
			t.Errorf("chunk %d: events %v, want %v", i, got, st.want)
		}
	}
	if out := s.Finish(); out != nil {
		t.Errorf("Finish after the terminal event: %s", out)
	}
	if out := s.Chunk(chunk(`{"content":"late"}`, "")); out != nil {
		t.Errorf("Chunk after the terminal event: %s", out)
	}
	resp := gjson.ParseBytes(s.Response())
	if resp.Get("usage.total_tokens").Int() != 12 || resp.Get("output.#").Int() != 3 {
		t.Errorf("final response: %s", resp.Raw)
	}
}

// TestStreamSequenceNumbers: sequence_number counts every event from 0.
func TestStreamSequenceNumbers(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("chunks.jsonl") {
			continue
		}
		events := parseSSE(t, stream(sc.request(t), chunks(t, sc.read(t, "chunks.jsonl"))))
		for i, ev := range events {
			if n := gjson.GetBytes(ev.data, "sequence_number"); n.Type != gjson.Number || n.Int() != int64(i) {
				t.Errorf("%s: event %d (%s) has sequence_number %s", sc.name, i, ev.name, n.Raw)
			}
		}
	}
}

// TestStreamUsageBeforeFinish: a provider that sends usage on every chunk
// gets its terminal event at the end of the stream, with the last usage.
func TestStreamUsageBeforeFinish(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	with := func(c []byte, total int) []byte {
		return append(c[:len(c)-1], []byte(`,"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":`+itoa(total)+`}}`)...)
	}
	s.Chunk(with(chunk(`{"content":"a"}`, ""), 6))
	if got := names(t, s.Chunk(chunk(`{}`, "stop"))); slices.Contains(got, "response.completed") {
		t.Fatalf("completed before the final usage: %v", got)
	}
	got := s.Chunk(with(chunk(`{}`, ""), 9))
	if n := names(t, got); !slices.Equal(n, []string{"response.completed"}) {
		t.Fatalf("events %v", n)
	}
	if u, ok := EventUsage(parseSSE(t, got)[0].data); !ok || u.TotalTokens != 9 {
		t.Errorf("usage %+v %v", u, ok)
	}
}

// TestStreamFinishWithoutUsage: the terminal event comes at Finish, with
// usage null, when no chunk carried usage.
func TestStreamFinishWithoutUsage(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	s.Chunk(chunk(`{"content":"a"}`, ""))
	s.Chunk(chunk(`{}`, "stop"))
	out := s.Finish()
	if got := names(t, out); !slices.Equal(got, []string{"response.completed"}) {
		t.Fatalf("events %v", got)
	}
	if u := gjson.GetBytes(parseSSE(t, out)[0].data, "response.usage"); u.Raw != "null" {
		t.Errorf("usage %s", u.Raw)
	}
}

func TestStreamFinishWithoutChunks(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	if got := names(t, s.Finish()); !slices.Equal(got, []string{"response.created", "response.in_progress", "response.completed"}) {
		t.Fatalf("events %v", got)
	}
}

// TestStreamFail: a broken hub stream ends with an error event and
// response.failed carrying the partial output.
func TestStreamFail(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	s.Chunk(chunk(`{"content":"Half an ans"}`, ""))
	out := s.Fail(&openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Message: "slow down"})
	events := parseSSE(t, out)
	if got := names(t, out); !slices.Equal(got, []string{"error", "response.failed"}) {
		t.Fatalf("events %v", got)
	}
	e := gjson.ParseBytes(events[0].data)
	if e.Get("code").Str != "rate_limit_exceeded" || e.Get("message").Str != "slow down" || e.Get("param").Raw != "null" {
		t.Errorf("error event %s", e.Raw)
	}
	r := gjson.GetBytes(events[1].data, "response")
	if r.Get("status").Str != "failed" || r.Get("error.code").Str != "rate_limit_exceeded" || r.Get("error.message").Str != "slow down" {
		t.Errorf("failed response %s", r.Raw)
	}
	if r.Get("output.0.status").Str != "incomplete" || r.Get("output.0.content.0.text").Str != "Half an ans" {
		t.Errorf("partial output %s", r.Get("output").Raw)
	}
	if s.Fail(nil) != nil || s.Finish() != nil {
		t.Error("events after response.failed")
	}
	// Failing before any chunk still opens the stream first.
	s = NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	if got := names(t, s.Fail(nil)); !slices.Equal(got, []string{"response.created", "response.in_progress", "error", "response.failed"}) {
		t.Errorf("events %v", got)
	}
}

func TestStreamContentFilter(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	s.Chunk(chunk(`{"content":"Once upon"}`, ""))
	s.Chunk(chunk(`{}`, "content_filter"))
	out := s.Chunk([]byte(usageChunk))
	events := parseSSE(t, out)
	if len(events) != 1 || events[0].name != "response.incomplete" {
		t.Fatalf("events %v", names(t, out))
	}
	r := gjson.GetBytes(events[0].data, "response")
	if r.Get("status").Str != "incomplete" || r.Get("incomplete_details.reason").Str != "content_filter" || r.Get("output.0.status").Str != "incomplete" {
		t.Errorf("response %s", r.Raw)
	}
}

// TestStreamToolCallFragments: a call whose name comes after its first
// fragment is announced with its name; a fragment of a call already closed
// (never sent by the hub translators) is dropped, not misplaced.
func TestStreamToolCallFragments(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	got := names(t, s.Chunk(chunk(`{"tool_calls":[{"index":0,"id":"call_a","function":{"arguments":"{\"x\""}}]}`, "")))
	if !slices.Equal(got, []string{"response.created", "response.in_progress"}) {
		t.Errorf("events for a nameless first fragment: %v", got)
	}
	out := s.Chunk(chunk(`{"tool_calls":[{"index":0,"function":{"name":"f","arguments":":1}"}}]}`, ""))
	events := parseSSE(t, out)
	if len(events) != 2 || events[0].name != "response.output_item.added" || gjson.GetBytes(events[0].data, "item.name").Str != "f" ||
		gjson.GetBytes(events[1].data, "delta").Str != `{"x":1}` {
		t.Fatalf("events %v: %s", names(t, out), out)
	}
	s.Chunk(chunk(`{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"g","arguments":"{}"}}]}`, ""))
	if got := s.Chunk(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"late"}}]}`, "")); len(got) != 0 {
		t.Errorf("events for a closed call: %s", got)
	}
	s.Chunk(chunk(`{}`, "tool_calls"))
	s.Finish()
	out2 := gjson.GetBytes(s.Response(), "output")
	if out2.Get("#").Int() != 2 || out2.Get("0.arguments").Str != `{"x":1}` || out2.Get("1.call_id").Str != "call_b" {
		t.Errorf("output %s", out2.Raw)
	}
}

// TestStreamThinkingBlocks: streamed signatures and redacted blocks become
// full thinking blocks in encrypted_content.
func TestStreamThinkingBlocks(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	s.Chunk(chunk(`{"thinking_blocks":[{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}]}`, ""))
	s.Chunk(chunk(`{"reasoning_content":"First "}`, ""))
	s.Chunk(chunk(`{"reasoning_content":"thought."}`, ""))
	s.Chunk(chunk(`{"thinking_blocks":[{"type":"thinking","signature":"sig-1"}]}`, ""))
	s.Chunk(chunk(`{"reasoning_content":"Second."}`, ""))
	s.Chunk(chunk(`{"thinking_blocks":[{"type":"thinking","signature":"sig-2"}]}`, ""))
	s.Chunk(chunk(`{"content":"Answer"}`, "stop"))
	s.Finish()
	item := gjson.GetBytes(s.Response(), "output.0")
	if item.Get("summary.0.text").Str != "First thought.Second." {
		t.Errorf("summary %s", item.Get("summary").Raw)
	}
	blob, ok := decodeBlob(item.Get("encrypted_content").Str)
	if !ok || len(blob.ThinkingBlocks) != 3 {
		t.Fatalf("blob %+v %v", blob, ok)
	}
	want := []string{
		`{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}`,
		`{"type":"thinking","thinking":"First thought.","signature":"sig-1"}`,
		`{"type":"thinking","thinking":"Second.","signature":"sig-2"}`,
	}
	for i, w := range want {
		if string(blob.ThinkingBlocks[i]) != w {
			t.Errorf("block %d = %s, want %s", i, blob.ThinkingBlocks[i], w)
		}
	}
}

// TestStreamLateExtraContent: extra_content that comes after a call's first
// fragment goes in a reasoning item after the call.
func TestStreamLateExtraContent(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	s.Chunk(chunk(`{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"f","arguments":"{}"}}]}`, ""))
	s.Chunk(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":""},"extra_content":{"google":{"thought_signature":"c2ln"}}}]}`, ""))
	s.Chunk(chunk(`{}`, "tool_calls"))
	s.Finish()
	out := gjson.GetBytes(s.Response(), "output")
	if got := out.Get("#.type").Raw; got != `["function_call","reasoning"]` {
		t.Fatalf("items %s", got)
	}
	blob, ok := decodeBlob(out.Get("1.encrypted_content").Str)
	if !ok || len(blob.Extras) != 1 || blob.Extras[0].CallID != "call_a" || string(blob.Extras[0].Extra) != `{"google":{"thought_signature":"c2ln"}}` {
		t.Errorf("blob %+v", blob)
	}
	// Sent back, it reaches the call.
	body := `{"model":"m","input":` + out.Raw + `}`
	req, e := ToChat([]byte(body), nil)
	if e != nil {
		t.Fatal(e)
	}
	if got := gjson.GetBytes(req.Chat, "messages.0.tool_calls.0.extra_content.google.thought_signature").Str; got != "c2ln" {
		t.Errorf("extra_content not restored: %s", req.Chat)
	}
}

// TestStreamSizeLimit: a stream whose text outgrows MaxOutputSize fails.
func TestStreamSizeLimit(t *testing.T) {
	defer func(n int) { maxOutputSize = n }(maxOutputSize)
	maxOutputSize = 1 << 16
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	big := strings.Repeat("a", 1<<12)
	var last []byte
	for range maxOutputSize>>12 + 1 {
		last = s.Chunk(chunk(`{"content":"`+big+`"}`, ""))
	}
	if got := names(t, last); !slices.Contains(got, "response.failed") {
		t.Fatalf("no failure past the limit: %v", got)
	}
	if s.Chunk(chunk(`{"content":"more"}`, "")) != nil {
		t.Error("events after the failure")
	}
}

func TestStreamSkipsGarbage(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	for _, c := range []string{`not json`, `[1,2]`, `"x"`, `{"choices":"no"}`, `{"choices":[{"index":3,"delta":{"content":"other choice"}}]}`} {
		s.Chunk([]byte(c))
	}
	s.Finish()
	if out := gjson.GetBytes(s.Response(), "output").Raw; out != "[]" {
		t.Errorf("output %s", out)
	}
}
