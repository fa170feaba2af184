package messages

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/polygate/polygate/openai"
)

// responseCases pair recorded hub answers with the request info they
// answer and the expected Messages responses.
var responseCases = []struct {
	hub, want string
	info      Info
}{
	{"resp_text.hub.json", "resp_text.want.json", Info{Model: "claude-sonnet-4-5"}},
	{"resp_thinking_tool.hub.json", "resp_thinking_tool.want.json", Info{Model: "claude-opus-4-1", Thinking: true}},
	{"resp_unsigned.hub.json", "resp_unsigned.want.json", Info{Model: "deepseek-r1", Thinking: true}},
	{"resp_unsigned.hub.json", "resp_unsigned.nothinking.want.json", Info{Model: "deepseek-r1"}},
	{"resp_stop_sequence.hub.json", "resp_stop_sequence.want.json", Info{Model: "llama-3.3-70b", StopSequences: []string{"\n\n", "###"}}},
	{"resp_cut_tool.hub.json", "resp_cut_tool.want.json", Info{Model: "claude-sonnet-4-5"}},
	{"resp_refusal.hub.json", "resp_refusal.want.json", Info{Model: "claude-sonnet-4-5"}},
	{"resp_redacted.hub.json", "resp_redacted.want.json", Info{Model: "claude-3-7-sonnet", Thinking: true}},
}

// TestTranslateResponse translates recorded hub answers.
func TestTranslateResponse(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.want, func(t *testing.T) {
			got, err := TranslateResponse(readFile(t, tc.hub), &tc.info)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "response", got, readFile(t, tc.want))
		})
	}
}

// TestTranslateResponseEdges covers what the recorded answers do not.
func TestTranslateResponseEdges(t *testing.T) {
	const head = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"x","choices":[{"index":0,`
	tests := []struct {
		name, hub string
		info      Info
		want      string // the content and stop_reason members
	}{
		{
			"content filter", head + `"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			Info{}, `"content":[],"stop_reason":"refusal"`,
		},
		{
			"arguments not JSON", head + `"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"location=Paris"}}]},"finish_reason":"tool_calls"}]}`,
			Info{}, `"content":[{"type":"tool_use","id":"call_1","name":"f","input":{}}],"stop_reason":"tool_use"`,
		},
		{
			"arguments an array", head + `"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"[1,2]"}}]},"finish_reason":"tool_calls"}]}`,
			Info{}, `"content":[{"type":"tool_use","id":"call_1","name":"f","input":{}}],"stop_reason":"tool_use"`,
		},
		{
			"arguments an object", head + `"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":{"a": 1}}}]},"finish_reason":"stop"}]}`,
			Info{}, `"content":[{"type":"tool_use","id":"call_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use"`,
		},
		{
			"content parts", head + `"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]}`,
			Info{}, `"content":[{"type":"text","text":"ab"}],"stop_reason":"end_turn"`,
		},
		{
			"display omitted", head + `"message":{"role":"assistant","content":"ok","reasoning_content":"secret","thinking_blocks":[{"type":"thinking","thinking":"secret","signature":"c2ln"}]},"finish_reason":"stop"}]}`,
			Info{Thinking: true, OmitThinking: true}, `"content":[{"type":"thinking","thinking":"","signature":"c2ln"},{"type":"text","text":"ok"}],"stop_reason":"end_turn"`,
		},
		{
			"display omitted unsigned", head + `"message":{"role":"assistant","content":"ok","reasoning_content":"secret"},"finish_reason":"stop"}]}`,
			Info{Thinking: true, OmitThinking: true}, `"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"`,
		},
		{
			"signature without text", head + `"message":{"role":"assistant","content":"ok","reasoning_content":"why","thinking_blocks":[{"type":"thinking","signature":"c2ln"}]},"finish_reason":"stop"}]}`,
			Info{Thinking: true}, `"content":[{"type":"thinking","thinking":"why","signature":"c2ln"},{"type":"text","text":"ok"}],"stop_reason":"end_turn"`,
		},
		{
			"stop reason not a stop sequence", head + `"message":{"role":"assistant","content":"ok"},"finish_reason":"stop","stop_reason":"END"}]}`,
			Info{StopSequences: []string{"###"}}, `"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"`,
		},
		{
			"no finish reason", head + `"message":{"role":"assistant","content":"ok"},"finish_reason":null}]}`,
			Info{}, `"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TranslateResponse([]byte(tt.hub), &tt.info)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			sameJSON(t, "content and stop_reason", []byte(`{"content":`+string(m["content"])+`,"stop_reason":`+string(m["stop_reason"])+`}`), []byte("{"+tt.want+"}"))
		})
	}
}

// TestGeneratedIDs checks the ids made up for answers that have none.
func TestGeneratedIDs(t *testing.T) {
	hub := `{"choices":[{"message":{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}},{"type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`
	got, err := TranslateResponse([]byte(hub), &Info{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID      string `json:"id"`
		Content []struct {
			ID string `json:"id"`
		} `json:"content"`
	}
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || len(m.ID) != 28 {
		t.Errorf("message id %q", m.ID)
	}
	if len(m.Content) != 2 || !strings.HasPrefix(m.Content[0].ID, "toolu_") || m.Content[0].ID == m.Content[1].ID {
		t.Errorf("tool ids %+v", m.Content)
	}
	for in, want := range map[string]string{
		"chatcmpl-abc123":              "msg_abc123",
		"msg_01XFDUDYJgAACzvnptvVoYEL": "msg_01XFDUDYJgAACzvnptvVoYEL",
		"gen-1763050000-a/b c":         "msg_gen-1763050000-abc",
	} {
		if got := messageID(in); got != want {
			t.Errorf("messageID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTranslateResponseInvalid checks the 502 for answers that are not
// chat completions.
func TestTranslateResponseInvalid(t *testing.T) {
	for _, body := range []string{``, `null`, `{"choices":[]}`, `{"error":{"message":"boom"}}`, `{"choices":"x"}`} {
		_, err := TranslateResponse([]byte(body), &Info{})
		var e *openai.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadGateway {
			t.Errorf("%q: error %v, want a 502 *openai.Error", body, err)
		}
	}
}
