package messages

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/tidwall/gjson"
)

// sdkMessage decodes a Messages response with the official SDK.
func sdkMessage(t testing.TB, body []byte) anthropic.Message {
	t.Helper()
	var m anthropic.Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("the SDK cannot decode the message: %v\n%s", err, body)
	}
	return m
}

// sdkAccumulate decodes server-sent events with the SDK's stream decoder
// and accumulates them into a Message as SDK users do.
func sdkAccumulate(t testing.TB, sse []byte) (anthropic.Message, []anthropic.MessageStreamEventUnion, error) {
	t.Helper()
	res := &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(sse)),
	}
	stream := ssestream.NewStream[anthropic.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var m anthropic.Message
	var events []anthropic.MessageStreamEventUnion
	for stream.Next() {
		ev := stream.Current()
		events = append(events, ev)
		if err := m.Accumulate(ev); err != nil {
			t.Fatalf("the SDK refuses event %d (%s): %v", len(events)-1, ev.Type, err)
		}
	}
	return m, events, stream.Err()
}

// summary is what a client reads from a message, for comparisons.
func summary(m anthropic.Message) map[string]any {
	var blocks []map[string]any
	for _, b := range m.Content {
		in := ""
		if len(b.Input) > 0 {
			var buf bytes.Buffer
			_ = json.Compact(&buf, b.Input)
			in = buf.String()
		}
		blocks = append(blocks, map[string]any{
			"type": b.Type, "text": b.Text, "thinking": b.Thinking, "signature": b.Signature,
			"data": b.Data, "id": b.ID, "name": b.Name, "input": in,
		})
	}
	return map[string]any{
		"id": m.ID, "model": string(m.Model), "role": string(m.Role), "type": string(m.Type),
		"stop_reason": string(m.StopReason), "stop_sequence": m.StopSequence, "content": blocks,
		"input_tokens": m.Usage.InputTokens, "output_tokens": m.Usage.OutputTokens,
		"cache_read": m.Usage.CacheReadInputTokens, "cache_creation": m.Usage.CacheCreationInputTokens,
		"cache_5m": m.Usage.CacheCreation.Ephemeral5mInputTokens, "cache_1h": m.Usage.CacheCreation.Ephemeral1hInputTokens,
	}
}

// TestSDKDecodesResponses reads every translated response with the SDK and
// checks that what it sees is what the expected JSON says.
func TestSDKDecodesResponses(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.want, func(t *testing.T) {
			got, err := TranslateResponse(readFile(t, tc.hub), &tc.info)
			if err != nil {
				t.Fatal(err)
			}
			m := sdkMessage(t, got)
			want := gjson.ParseBytes(readFile(t, tc.want))
			if m.ID != want.Get("id").Str || string(m.Model) != tc.info.Model || m.Role != "assistant" || m.Type != "message" {
				t.Errorf("id %q model %q role %q type %q", m.ID, m.Model, m.Role, m.Type)
			}
			if string(m.StopReason) != want.Get("stop_reason").Str || m.StopSequence != want.Get("stop_sequence").Str {
				t.Errorf("stop %q %q", m.StopReason, m.StopSequence)
			}
			if m.Usage.InputTokens != want.Get("usage.input_tokens").Int() ||
				m.Usage.OutputTokens != want.Get("usage.output_tokens").Int() ||
				m.Usage.CacheReadInputTokens != want.Get("usage.cache_read_input_tokens").Int() ||
				m.Usage.CacheCreationInputTokens != want.Get("usage.cache_creation_input_tokens").Int() ||
				m.Usage.CacheCreation.Ephemeral1hInputTokens != want.Get("usage.cache_creation.ephemeral_1h_input_tokens").Int() {
				t.Errorf("usage %+v", m.Usage)
			}
			blocks := want.Get("content").Array()
			if len(m.Content) != len(blocks) {
				t.Fatalf("%d blocks, want %d", len(m.Content), len(blocks))
			}
			for i, b := range m.Content {
				switch v := b.AsAny().(type) {
				case anthropic.TextBlock:
					if v.Text != blocks[i].Get("text").Str {
						t.Errorf("block %d text %q", i, v.Text)
					}
				case anthropic.ThinkingBlock:
					if v.Signature != blocks[i].Get("signature").Str || v.Thinking != blocks[i].Get("thinking").Str {
						t.Errorf("block %d thinking %+v", i, v)
					}
				case anthropic.RedactedThinkingBlock:
					if v.Data != blocks[i].Get("data").Str {
						t.Errorf("block %d data %q", i, v.Data)
					}
				case anthropic.ToolUseBlock:
					var in any
					if err := json.Unmarshal(v.Input, &in); err != nil || v.ID != blocks[i].Get("id").Str {
						t.Errorf("block %d tool use %+v: %v", i, v, err)
					}
				default:
					t.Errorf("block %d is %T", i, v)
				}
			}
		})
	}
}

// TestSDKAccumulatesStreams decodes every translated stream with the SDK,
// accumulates it, and checks it equals the non-streamed translation of the
// same answer, members and wire JSON alike.
func TestSDKAccumulatesStreams(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			_, sse := translateStream(t, readFile(t, "stream_"+tc.name+".jsonl"), &tc.info)
			m, events, err := sdkAccumulate(t, sse)
			if tc.name == "error" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte("The server had an error")) {
					t.Errorf("stream error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if events[0].Type != "message_start" || events[len(events)-1].Type != "message_stop" {
				t.Errorf("events run from %s to %s", events[0].Type, events[len(events)-1].Type)
			}
			if tc.resp == "" {
				if len(m.Content) == 0 || m.StopReason == "" {
					t.Errorf("accumulated %+v", summary(m))
				}
				return
			}
			whole, err := TranslateResponse(readFile(t, tc.resp), &tc.info)
			if err != nil {
				t.Fatal(err)
			}
			want := sdkMessage(t, whole)
			// The SDKs read the 5m/1h split of cache writes from message_start
			// only; a hub stream knows it at its end, so it is in
			// message_delta's usage, which the wire JSON below checks.
			got, exp := summary(m), summary(want)
			delete(got, "cache_5m")
			delete(got, "cache_1h")
			delete(exp, "cache_5m")
			delete(exp, "cache_1h")
			if !jsonEqual(got, exp) {
				t.Errorf("accumulated stream differs from the response\n got %v\nwant %v", got, exp)
			}
			sameJSON(t, "accumulated wire JSON", []byte(m.RawJSON()), whole)
		})
	}
}

// TestSDKAccumulatesInterleavedTools checks the one order the real API
// never sends: argument fragments of an already stopped tool block.
func TestSDKAccumulatesInterleavedTools(t *testing.T) {
	_, sse := translateStream(t, readFile(t, "stream_interleaved.jsonl"), &Info{Model: "mistral-large"})
	m, _, err := sdkAccumulate(t, sse)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 2 || string(m.Content[0].Input) != `{"path":"go.mod"}` || string(m.Content[1].Input) != `{"dir":"."}` {
		t.Errorf("tool inputs %+v", summary(m))
	}
}

// TestSDKAccumulatesReplays replays every translated response and checks
// the SDK gets the same message back.
func TestSDKAccumulatesReplays(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.want, func(t *testing.T) {
			whole, err := TranslateResponse(readFile(t, tc.hub), &tc.info)
			if err != nil {
				t.Fatal(err)
			}
			sse, err := Replay(whole)
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := sdkAccumulate(t, sse)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := summary(m), summary(sdkMessage(t, whole)); !jsonEqual(got, want) {
				t.Errorf("replay differs\n got %v\nwant %v", got, want)
			}
			sameJSON(t, "replayed wire JSON", []byte(m.RawJSON()), whole)
		})
	}
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
