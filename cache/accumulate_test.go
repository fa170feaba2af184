package cache

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// events returns the data of every event of an SSE stream, [DONE]
// included.
func events(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	er := openai.NewEventReader(bytes.NewReader(stream))
	var out [][]byte
	for {
		ev, err := er.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(ev.Data))
	}
}

// upstreamStream is a stream as OpenAI sends it: role chunk, content in
// fragments, tool calls in fragments, finish chunk, usage chunk.
var upstreamStream = []string{
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"lo \"w"},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"orld\" \ud83d\ude00\n"},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"lookup","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"caf\u00e9\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"clock","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`,
	`{"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000001,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
	`[DONE]`,
}

func accumulate(t *testing.T, chunks [][]byte) ([]byte, bool) {
	t.Helper()
	var acc Accumulator
	for _, c := range chunks {
		acc.Add(c)
	}
	return acc.Complete()
}

func byteChunks(chunks []string) [][]byte {
	out := make([][]byte, len(chunks))
	for i, c := range chunks {
		out[i] = []byte(c)
	}
	return out
}

func decodeCompletion(t *testing.T, b []byte) openai.ChatCompletion {
	t.Helper()
	var cc openai.ChatCompletion
	if err := json.Unmarshal(b, &cc); err != nil {
		t.Fatalf("not a chat.completion: %v\n%s", err, b)
	}
	return cc
}

func TestAccumulatorBuildsCompletion(t *testing.T) {
	got, ok := accumulate(t, byteChunks(upstreamStream))
	if !ok {
		t.Fatal("complete stream reported incomplete")
	}
	cc := decodeCompletion(t, got)
	if cc.ID != "chatcmpl-s" || cc.Object != "chat.completion" || cc.Created != 1700000001 || cc.Model != "gpt-4o" || cc.SystemFingerprint != "fp_x" {
		t.Errorf("metadata = %+v", cc)
	}
	if len(cc.Choices) != 1 {
		t.Fatalf("%d choices", len(cc.Choices))
	}
	msg := cc.Choices[0].Message
	if msg.Role != "assistant" || msg.Content.Text != "Hello \"world\" 😀\n" {
		t.Errorf("message = %+v", msg)
	}
	if len(msg.ToolCalls) != 2 ||
		msg.ToolCalls[0].ID != "call_a" || msg.ToolCalls[0].Function.Name != "lookup" || msg.ToolCalls[0].Function.Arguments != `{"q":"café"}` ||
		msg.ToolCalls[1].ID != "call_b" || msg.ToolCalls[1].Function.Arguments != "{}" {
		t.Errorf("tool calls = %+v", msg.ToolCalls)
	}
	if cc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish_reason = %q", cc.Choices[0].FinishReason)
	}
	if cc.Usage == nil || cc.Usage.TotalTokens != 16 {
		t.Errorf("usage = %+v", cc.Usage)
	}
}

// stream → complete → replay → accumulate gives the same completion.
func TestAccumulatorRoundTrip(t *testing.T) {
	first, ok := accumulate(t, byteChunks(upstreamStream))
	if !ok {
		t.Fatal("incomplete")
	}
	replayed, err := AppendReplay(nil, first, true)
	if err != nil {
		t.Fatal(err)
	}
	second, ok := accumulate(t, events(t, replayed))
	if !ok {
		t.Fatal("replayed stream incomplete")
	}
	if !bytes.Equal(first, second) {
		t.Errorf("round trip changed the completion\nfirst  %s\nsecond %s", first, second)
	}
}

// A stored non-streamed answer replayed as a stream and accumulated again
// is the same answer.
func TestNonStreamToStreamAndBack(t *testing.T) {
	for name, completion := range map[string][]byte{
		"tool calls": storedCompletion,
		"choices": []byte(`{"id":"c2","object":"chat.completion","created":5,"model":"m","choices":[
			{"index":0,"message":{"role":"assistant","content":"first","reasoning_content":"thinking…","refusal":null},"logprobs":{"content":[{"token":"first","logprob":-0.1,"bytes":[102],"top_logprobs":[]}],"refusal":null},"finish_reason":"stop"},
			{"index":1,"message":{"role":"assistant","content":"","refusal":"no"},"logprobs":null,"finish_reason":"content_filter"}],
			"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`),
	} {
		replayed, err := AppendReplay(nil, completion, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, ok := accumulate(t, events(t, replayed))
		if !ok {
			t.Fatalf("%s: replay did not accumulate to a complete answer", name)
		}
		want, got := decodeCompletion(t, completion), decodeCompletion(t, back)
		if !reflect.DeepEqual(normalize(t, want), normalize(t, got)) {
			t.Errorf("%s: answer changed\nwant %s\ngot  %s", name, completion, back)
		}
	}
}

// normalize re-encodes c so that raw members compare by meaning.
func normalize(t *testing.T, c openai.ChatCompletion) any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAccumulatorIncompleteStreams(t *testing.T) {
	full := byteChunks(upstreamStream)
	withChunk := func(c string) [][]byte {
		out := append([][]byte{}, full[:3]...)
		return append(append(out, []byte(c)), full[3:]...)
	}
	for name, chunks := range map[string][][]byte{
		"no chunks":                nil,
		"only [DONE]":              {[]byte("[DONE]")},
		"cut off":                  full[:7],
		"no finish":                append(append([][]byte{}, full[:8]...), full[9:]...),
		"error event":              withChunk(`{"error":{"message":"overloaded","type":"server_error"}}`),
		"not json":                 withChunk(`{"id":`),
		"not object":               withChunk(`[1]`),
		"audio delta":              withChunk(`{"choices":[{"index":0,"delta":{"audio":{"id":"a","data":"AAA"}},"finish_reason":null}]}`),
		"annotations":              withChunk(`{"choices":[{"index":0,"delta":{"annotations":[{"type":"url_citation"}]},"finish_reason":null}]}`),
		"custom tool":              withChunk(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"type":"custom","custom":{"name":"x"}}]},"finish_reason":null}]}`),
		"bad index":                withChunk(`{"choices":[{"index":500,"delta":{"content":"x"},"finish_reason":null}]}`),
		"no index":                 withChunk(`{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}`),
		"tool gap":                 withChunk(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}`),
		"second choice unfinished": withChunk(`{"choices":[{"index":1,"delta":{"role":"assistant","content":"x"},"finish_reason":null}]}`),
		"content not a string":     withChunk(`{"choices":[{"index":0,"delta":{"content":[1]},"finish_reason":null}]}`),
	} {
		if got, ok := accumulate(t, chunks); ok {
			t.Errorf("%s: reported complete: %s", name, got)
		}
	}

	var acc Accumulator
	acc.Limit = 10
	for _, c := range full {
		acc.Add(c)
	}
	if _, ok := acc.Complete(); ok {
		t.Error("answer past Limit reported complete")
	}
	acc.Limit = 1 << 20
	acc.Reset()
	for _, c := range full {
		acc.Add(c)
	}
	if _, ok := acc.Complete(); !ok {
		t.Error("Reset did not clear the failure")
	}
}

func TestAccumulatorReset(t *testing.T) {
	other := []string{
		`{"id":"chatcmpl-2","created":2,"model":"m2","choices":[{"index":0,"delta":{"role":"assistant","content":"short"},"finish_reason":null}]}`,
		`{"id":"chatcmpl-2","created":2,"model":"m2","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`,
	}
	var acc Accumulator
	for _, c := range byteChunks(upstreamStream) {
		acc.Add(c)
	}
	acc.Reset()
	for _, c := range byteChunks(other) {
		acc.Add(c)
	}
	got, ok := acc.Complete()
	want, _ := accumulate(t, byteChunks(other))
	if !ok || !bytes.Equal(got, want) {
		t.Errorf("after Reset: %s\nwant %s", got, want)
	}
	if strings.Contains(string(got), "call_a") || strings.Contains(string(got), "fp_x") {
		t.Errorf("state of the first stream leaked: %s", got)
	}
}

// Providers that omit tool call indices or mark a single call -1.
func TestAccumulatorToolCallIndexVariants(t *testing.T) {
	chunks := []string{
		`{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":-1,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}`,
		`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]},"finish_reason":null}]}`,
		`{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":null}]}`,
		`{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	}
	got, ok := accumulate(t, byteChunks(chunks))
	if !ok {
		t.Fatal("incomplete")
	}
	cc := decodeCompletion(t, got)
	calls := cc.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Arguments != `{"a":1}` || calls[1].ID != "c2" || calls[1].Function.Name != "g" {
		t.Errorf("tool calls = %+v", calls)
	}
	if !cc.Choices[0].Message.Content.IsNull() {
		t.Errorf("content = %+v, want null", cc.Choices[0].Message.Content)
	}
}

// TestAccumulatorHead: chunks that repeat the stream's head are read from
// their choices; a chunk whose head differs (another model, usage first)
// is read whole, and an error in the head still breaks the stream.
func TestAccumulatorHead(t *testing.T) {
	head := `{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m1",`
	got, ok := accumulate(t, byteChunks([]string{
		head + `"choices":[{"index":0,"delta":{"role":"assistant","content":"a"},"finish_reason":null}]}`,
		head + `"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m2","choices":[{"index":0,"delta":{"content":"c"},"finish_reason":null}]}`,
		`{"usage":null,"id":"c1","choices":[{"index":0,"delta":{"content":"d"},"finish_reason":"stop"}]}`,
		head + `"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}`,
	}))
	if !ok {
		t.Fatal("incomplete")
	}
	if c := gjson.GetBytes(got, "choices.0.message.content").Str; c != "abcd" {
		t.Errorf("content %q", c)
	}
	if m := gjson.GetBytes(got, "model").Str; m != "m1" {
		t.Errorf("model %q, want the last one sent (m1)", m)
	}
	if u := gjson.GetBytes(got, "usage.completion_tokens").Int(); u != 4 {
		t.Errorf("usage %s", got)
	}
	if _, ok := accumulate(t, byteChunks([]string{
		head + `"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}`,
		`{"id":"c1","error":{"message":"x"},"choices":[]}`,
	})); ok {
		t.Error("an error member did not break the stream")
	}
	// A broken choice in a chunk read from its head breaks the stream.
	if _, ok := accumulate(t, byteChunks([]string{
		head + `"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}`,
		head + `"choices":["x"]}`,
	})); ok {
		t.Error("a choice that is not an object did not break the stream")
	}
}

// FuzzAccumulator: chunks are not validated one by one, yet whatever
// Complete returns is valid JSON, and on valid chunks the accumulator
// answers exactly as one that validated every chunk first (the oracle).
func FuzzAccumulator(f *testing.F) {
	f.Add([]byte(upstreamStream[1]), []byte(upstreamStream[4]), []byte(upstreamStream[8]))
	f.Add([]byte(upstreamStream[0]), []byte(upstreamStream[3]), []byte(upstreamStream[9]))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`), []byte(`{"choices":[],"usage":{"a":1}}`), []byte(`{"choices":[{"index":0,"delta":{"content":"b"}}]}`))
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"a"}`), []byte(`{"choices":[{"index":0 "delta":{},"finish_reason":"stop"}]}`), []byte(`{"created":1x,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var acc, oracle Accumulator
		valid := true
		for _, chunk := range [][]byte{a, b, c} {
			acc.Add(chunk)
			if !openai.IsDone(chunk) && !gjson.ValidBytes(chunk) {
				oracle.broken, valid = true, false
			}
			oracle.Add(chunk)
		}
		got, ok := acc.Complete()
		if ok && !json.Valid(got) {
			t.Fatalf("Complete returned invalid JSON: %s", got)
		}
		want, wantOK := oracle.Complete()
		if wantOK && (!ok || !bytes.Equal(got, want)) {
			t.Fatalf("the validating accumulator completed %s, this one %v %s", want, ok, got)
		}
		if valid && ok != wantOK {
			t.Fatalf("valid chunks: completed %v, the validating accumulator %v", ok, wantOK)
		}
	})
}
