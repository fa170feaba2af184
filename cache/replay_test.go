package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/polygate/polygate/openai"
)

// longContent is JSON string text with escapes, multi-byte characters and
// surrogate pairs, long enough to be cut into several pieces.
var longContent = strings.Repeat(`Caf\u00e9 \"au lait\"\n\ud83d\ude00 — naïve 😀 \\ tab\t; `, 12)

var storedCompletion = []byte(`{
  "id": "chatcmpl-abc",
  "object": "chat.completion",
  "created": 1700000000,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": "` + longContent + `",
      "refusal": null,
      "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"notes\":\"` + strings.Repeat(`x\\u00e9`, 40) + `\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
      ]
    },
    "logprobs": null,
    "finish_reason": "tool_calls"
  }],
  "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52, "prompt_tokens_details": {"cached_tokens": 4}},
  "system_fingerprint": "fp_123",
  "service_tier": "default"
}`)

func decodeString(t *testing.T, text string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(`"`+text+`"`), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// streamThroughOpenAIGo serves the replay of completion to the official
// client and returns what its accumulator made of it and every chunk.
func streamThroughOpenAIGo(t *testing.T, completion []byte, includeUsage bool) (openaigo.ChatCompletionAccumulator, []openaigo.ChatCompletionChunk) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		if err := Replay(w, completion, includeUsage); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	client := openaigo.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test"), option.WithMaxRetries(0))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
	})
	var acc openaigo.ChatCompletionAccumulator
	var chunks []openaigo.ChatCompletionChunk
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("accumulator refused chunk %s", chunk.RawJSON())
		}
		chunks = append(chunks, chunk)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, chunks
}

func TestReplayParsedByOpenAIGo(t *testing.T) {
	acc, chunks := streamThroughOpenAIGo(t, storedCompletion, true)
	if acc.ID != "chatcmpl-abc" || acc.Model != "gpt-4o-mini-2024-07-18" || acc.Created != 1700000000 || acc.SystemFingerprint != "fp_123" {
		t.Errorf("metadata: id %q model %q created %d fingerprint %q", acc.ID, acc.Model, acc.Created, acc.SystemFingerprint)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("%d choices", len(acc.Choices))
	}
	choice := acc.Choices[0]
	if want := decodeString(t, longContent); choice.Message.Content != want {
		t.Errorf("content = %q\nwant %q", choice.Message.Content, want)
	}
	if choice.FinishReason != "tool_calls" {
		t.Errorf("finish_reason = %q", choice.FinishReason)
	}
	calls := choice.Message.ToolCalls
	if len(calls) != 2 {
		t.Fatalf("tool calls = %+v", calls)
	}
	wantArgs := `{"city":"Paris","notes":"` + strings.Repeat(`x\u00e9`, 40) + `"}`
	if calls[0].ID != "call_1" || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != wantArgs {
		t.Errorf("tool call 0 = %+v", calls[0])
	}
	if calls[1].ID != "call_2" || calls[1].Function.Name != "get_time" || calls[1].Function.Arguments != `{"tz":"Europe/Paris"}` {
		t.Errorf("tool call 1 = %+v", calls[1])
	}
	if acc.Usage.PromptTokens != 12 || acc.Usage.CompletionTokens != 40 || acc.Usage.TotalTokens != 52 || acc.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	// The content came in several pieces, and only the last chunk has no
	// choices.
	contentChunks := 0
	for i, c := range chunks {
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			contentChunks++
		}
		if (len(c.Choices) == 0) != (i == len(chunks)-1) {
			t.Errorf("chunk %d of %d has %d choices", i, len(chunks), len(c.Choices))
		}
		if c.Object != "chat.completion.chunk" || c.ID != "chatcmpl-abc" {
			t.Errorf("chunk %d: object %q id %q", i, c.Object, c.ID)
		}
	}
	if contentChunks < 3 {
		t.Errorf("content came in %d chunks, want it cut into pieces", contentChunks)
	}
	if first := chunks[0].Choices[0].Delta; first.Role != "assistant" {
		t.Errorf("first delta = %+v, want the role", first)
	}
}

func TestReplayUsageOnlyWhenAsked(t *testing.T) {
	acc, chunks := streamThroughOpenAIGo(t, storedCompletion, false)
	for _, c := range chunks {
		if len(c.Choices) == 0 || c.Usage.TotalTokens != 0 {
			t.Errorf("usage chunk sent though not asked for: %s", c.RawJSON())
		}
	}
	if acc.Usage.TotalTokens != 0 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	if acc.Choices[0].Message.Content == "" {
		t.Error("no content")
	}
}

func TestReplaySeveralChoicesAndNullContent(t *testing.T) {
	completion := []byte(`{"id":"c2","object":"chat.completion","created":5,"model":"m","choices":[
		{"index":0,"message":{"role":"assistant","content":"first"},"finish_reason":"stop"},
		{"index":1,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"},
		{"index":2,"message":{"role":"assistant","content":"","refusal":"I can't help with that."},"finish_reason":"stop"}
	],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`)
	acc, _ := streamThroughOpenAIGo(t, completion, true)
	if len(acc.Choices) != 3 {
		t.Fatalf("%d choices", len(acc.Choices))
	}
	if acc.Choices[0].Message.Content != "first" || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("choice 0 = %+v", acc.Choices[0])
	}
	if c := acc.Choices[1]; c.Message.Content != "" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Arguments != "{}" || c.FinishReason != "tool_calls" {
		t.Errorf("choice 1 = %+v", c)
	}
	if acc.Choices[2].Message.Refusal != "I can't help with that." {
		t.Errorf("choice 2 refusal = %q", acc.Choices[2].Message.Refusal)
	}
	if acc.Usage.TotalTokens != 3 {
		t.Errorf("usage = %+v", acc.Usage)
	}
}

// Every event is a JSON object on its own, whatever the pieces cut.
func TestReplayPiecesAreValidJSON(t *testing.T) {
	var content strings.Builder
	for range 100 {
		content.WriteString(`\ud83d\ude00é\n\"\u20ac`)
	}
	completion := []byte(`{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` + content.String() + `"},"finish_reason":"stop"}]}`)
	out, err := AppendReplay(nil, completion, false)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, data := range events(t, out) {
		if openai.IsDone(data) {
			continue
		}
		var chunk openai.ChatCompletionChunk
		if err := json.Unmarshal(data, &chunk); err != nil {
			t.Fatalf("event is not JSON: %v\n%s", err, data)
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != nil {
			got.WriteString(*chunk.Choices[0].Delta.Content)
		}
	}
	if want := decodeString(t, content.String()); got.String() != want {
		t.Errorf("pieces join to %q\nwant %q", got.String(), want)
	}
	if !bytes.HasSuffix(out, openai.DoneEvent) {
		t.Error("stream does not end with [DONE]")
	}
}

// Objects copied from a pretty-printed answer are compacted onto the one
// data: line of their event.
func TestReplayCompactsPrettyMembers(t *testing.T) {
	completion := []byte(`{
	"object": "chat.completion",
	"choices": [{
		"index": 0,
		"message": {"role": "assistant", "content": "a b", "tool_calls": [
			{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{ }"},
			 "extra_content": {"google": {"thought_signature": "s i g"}}}]},
		"logprobs": {
			"content": [{"token": "a b", "logprob": -0.5, "bytes": [97], "top_logprobs": []}],
			"refusal": null
		},
		"finish_reason": "stop"
	}],
	"usage": {
		"prompt_tokens": 1,
		"completion_tokens": 2,
		"total_tokens": 3
	}
}`)
	out, err := AppendReplay(nil, completion, true)
	if err != nil {
		t.Fatal(err)
	}
	var acc Accumulator
	for _, data := range events(t, out) {
		if !openai.IsDone(data) && !json.Valid(data) {
			t.Fatalf("event is not JSON: %s", data)
		}
		acc.Add(data)
	}
	back, ok := acc.Complete()
	if !ok {
		t.Fatal("replay incomplete")
	}
	for _, want := range []string{`"thought_signature":"s i g"`, `"token":"a b"`, `"total_tokens":3`, `"arguments":"{ }"`} {
		if !bytes.Contains(back, []byte(want)) {
			t.Errorf("%s missing from %s", want, back)
		}
	}
}

func TestReplayRefusesWhatItCannotStream(t *testing.T) {
	for name, body := range map[string]string{
		"not json":        `{"id":`,
		"embeddings":      `{"object":"list","data":[{"embedding":[0.1]}]}`,
		"no choices":      `{"object":"chat.completion"}`,
		"audio":           `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"audio":{"id":"a","data":"AAA"}},"finish_reason":"stop"}]}`,
		"function_call":   `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
		"annotations":     `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"x","annotations":[{"type":"url_citation"}]},"finish_reason":"stop"}]}`,
		"content parts":   `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"x"}]},"finish_reason":"stop"}]}`,
		"custom tool":     `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"custom","custom":{"name":"f","input":"x"}}]},"finish_reason":"tool_calls"}]}`,
		"choice not obj":  `{"object":"chat.completion","choices":[1]}`,
		"message missing": `{"object":"chat.completion","choices":[{"index":0,"finish_reason":"stop"}]}`,
	} {
		dst := []byte("keep")
		out, err := AppendReplay(dst, []byte(body), true)
		if !errors.Is(err, ErrNotReplayable) {
			t.Errorf("%s: err = %v", name, err)
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst changed to %q", name, out)
		}
	}
	// Empty annotations and null audio are fine.
	ok := `{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"x","annotations":[],"audio":null},"finish_reason":"stop"}]}`
	if err := Replay(io.Discard, []byte(ok), false); err != nil {
		t.Errorf("plain message refused: %v", err)
	}
}

func FuzzReplay(f *testing.F) {
	f.Add(storedCompletion, true)
	f.Add([]byte(`{"object":"chat.completion","choices":[{"index":0,"message":{"content":"\ud83d\ude00x"},"finish_reason":"stop"}]}`), false)
	f.Add([]byte(`{"choices":[{"message":{"content":"`), true)
	f.Fuzz(func(t *testing.T, completion []byte, includeUsage bool) {
		out, err := AppendReplay(nil, completion, includeUsage)
		if err != nil {
			return
		}
		var acc Accumulator
		for _, data := range events(t, out) {
			if !openai.IsDone(data) && !json.Valid(data) {
				t.Fatalf("replay event is not JSON: %s", data)
			}
			acc.Add(data)
		}
		first, ok := acc.Complete()
		if !ok {
			if bytes.Contains(out, []byte(`"finish_reason":"`)) {
				t.Fatalf("replay of %s does not accumulate to a complete answer:\n%s", completion, out)
			}
			return
		}
		// Replaying and accumulating again is a fixed point.
		again, err := AppendReplay(nil, first, true)
		if err != nil {
			t.Fatalf("accumulated answer not replayable: %v\n%s", err, first)
		}
		acc.Reset()
		for _, data := range events(t, again) {
			acc.Add(data)
		}
		if second, ok := acc.Complete(); !ok || !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the answer\n%s\n%s", first, second)
		}
	})
}
