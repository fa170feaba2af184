package responses

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// TestRefusedRequests: what the hub cannot express is a 400
// invalid_request_error naming the parameter (testdata/errors: each file is
// {"param": the expected param, "request": a Responses request}).
func TestRefusedRequests(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/errors")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Param   string          `json:"param"`
				Request json.RawMessage `json:"request"`
			}
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			req, e := ToChat(c.Request, nil)
			if e == nil {
				t.Fatalf("accepted; hub request:\n%s", req.Chat)
			}
			if e.Status != http.StatusBadRequest || e.Type != openai.TypeInvalidRequest || e.Param != c.Param {
				t.Errorf("got %d %s param %q (%s), want 400 invalid_request_error param %q", e.Status, e.Type, e.Param, e.Message, c.Param)
			}
			if e.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestToChatInvalidBodies(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `"input"`, `{"model":"m","input":"hi"`, "{\"model\":\"m\",\"input\":\"\xff\"}"} {
		_, e := ToChat([]byte(body), nil)
		if e == nil || e.Status != http.StatusBadRequest {
			t.Errorf("%q: got %v, want a 400", body, e)
		}
	}
}

func TestToChatHistoryMustBeAnArray(t *testing.T) {
	_, e := ToChat([]byte(`{"model":"m","input":"hi"}`), []byte(`{"role":"user"}`))
	if e == nil || e.Status != http.StatusInternalServerError {
		t.Fatalf("got %v, want a 500 for a broken stored conversation", e)
	}
	req, e := ToChat([]byte(`{"model":"m","previous_response_id":"resp_1"}`), []byte(`[{"role":"user","content":"hi"}]`))
	if e != nil {
		t.Fatalf("history alone is an input: %v", e)
	}
	if got := gjson.GetBytes(req.Chat, "messages.#").Int(); got != 1 {
		t.Errorf("%d messages, want the history's one: %s", got, req.Chat)
	}
	if string(req.Messages) != "[]" {
		t.Errorf("Messages = %s, want [] (history is not this turn's)", req.Messages)
	}
}

// TestToChatRequestFields checks the members the golden cases do not carry
// to the hub one by one.
func TestToChatRequestFields(t *testing.T) {
	req, e := ToChat([]byte(`{
		"model": "m", "input": "hi", "stream": true, "store": false,
		"reasoning": {"effort": "none", "summary": "concise"},
		"text": {"format": {"type": "json_object"}},
		"tool_choice": {"type": "function", "name": "get_weather"},
		"tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
		"prompt_cache_retention": "24h", "max_tool_calls": 3, "context_management": [{"type": "compaction"}],
		"user": "u-1", "top_logprobs": 3, "metadata": {"a": "b"}, "background": false,
		"conversation": {"id": "conv_689667905b048191b4740501625afd940c7533ace33a2dab"}
	}`), nil)
	if e != nil {
		t.Fatal(e)
	}
	for path, want := range map[string]string{
		"stream":                       "true",
		"stream_options.include_usage": "true",
		"reasoning_effort":             "",
		"response_format":              `{"type":"json_object"}`,
		"tool_choice":                  `{"function":{"name":"get_weather"},"type":"function"}`,
		"user":                         `"u-1"`,
		"top_logprobs":                 "",
		"logprobs":                     "",
		"metadata":                     "",
		"store":                        "",
		"max_tool_calls":               "",
		"tools.0.function.strict":      "",
	} {
		if got := gjson.GetBytes(req.Chat, path).Raw; got != want {
			t.Errorf("%s = %s, want %q", path, got, want)
		}
	}
	if !req.Stream || req.Store {
		t.Errorf("Stream %v Store %v, want true false", req.Stream, req.Store)
	}
	got, err := FromChat([]byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}]}`), req)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"conversation":           `{"id":"conv_689667905b048191b4740501625afd940c7533ace33a2dab"}`,
		"reasoning":              `{"effort":"none","summary":"concise"}`,
		"text.format":            `{"type":"json_object"}`,
		"tool_choice":            `{"type":"function","name":"get_weather"}`,
		"max_tool_calls":         "3",
		"prompt_cache_retention": `"24h"`,
		"top_logprobs":           "3",
		"store":                  "false",
		"model":                  `"m"`,
		"usage":                  "null",
	} {
		if got := gjson.GetBytes(got, path).Raw; got != want {
			t.Errorf("response %s = %s, want %s", path, got, want)
		}
	}
}

func TestConversationRef(t *testing.T) {
	for body, want := range map[string][2]string{
		`{"previous_response_id":"resp_1","input":"x"}`: {"resp_1", ""},
		`{"conversation":"conv_1"}`:                     {"", "conv_1"},
		`{"conversation":{"id":"conv_2"}}`:              {"", "conv_2"},
		`{"input":"x"}`:                                 {"", ""},
	} {
		p, c := ConversationRef([]byte(body))
		if p != want[0] || c != want[1] {
			t.Errorf("%s: got %q %q, want %q", body, p, c, want)
		}
	}
}

// TestInstructionsAreEscaped: instructions and texts with quotes, newlines
// and HTML-like text are carried unchanged.
func TestInstructionsAreEscaped(t *testing.T) {
	text := "Say \"<b>hi</b>\" & go.\n\tDone\u2028"
	body, _ := json.Marshal(map[string]any{"model": "m", "instructions": text, "input": text})
	req, e := ToChat(body, nil)
	if e != nil {
		t.Fatal(e)
	}
	if got := gjson.GetBytes(req.Chat, "messages.0.content").Str; got != text {
		t.Errorf("instructions = %q", got)
	}
	if got := gjson.GetBytes(req.Chat, "messages.1.content").Str; got != text {
		t.Errorf("input = %q", got)
	}
}

// TestReasoningWithoutOutputIsDropped: a reasoning item with no assistant
// output after it (a turn cut off while thinking) adds no message.
func TestReasoningWithoutOutputIsDropped(t *testing.T) {
	req, e := ToChat([]byte(`{"model":"m","input":[
		{"role":"user","content":"hi"},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"thinking"}]},
		{"role":"user","content":"again"}]}`), nil)
	if e != nil {
		t.Fatal(e)
	}
	if got := gjson.GetBytes(req.Chat, "messages.#.role").Raw; got != `["user","user"]` {
		t.Errorf("roles = %s", got)
	}
}

// TestAssistantTurnMerges: reasoning, messages and calls of one assistant
// turn become one message, so that every tool result follows the message
// with its call.
func TestAssistantTurnMerges(t *testing.T) {
	req, e := ToChat([]byte(`{"model":"m","input":[
		{"role":"user","content":"hi"},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"one"}]},
		{"type":"function_call","call_id":"c1","name":"a","arguments":"{}"},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"two"}]},
		{"type":"function_call","call_id":"c2","name":"b","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":"1"},
		{"type":"function_call_output","call_id":"c2","output":"2"},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"A"},{"type":"output_text","text":"B"}]},
		{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}`), nil)
	if e != nil {
		t.Fatal(e)
	}
	m := gjson.GetBytes(req.Chat, "messages")
	if got := m.Get("#.role").Raw; got != `["user","assistant","tool","tool","assistant"]` {
		t.Fatalf("roles = %s", got)
	}
	if got := m.Get("1.tool_calls.#.id").Raw; got != `["c1","c2"]` {
		t.Errorf("tool calls = %s", got)
	}
	if got := m.Get("1.reasoning_content").Str; got != "one\n\ntwo" {
		t.Errorf("reasoning = %q", got)
	}
	if got := m.Get("1.content").Raw; got != "null" {
		t.Errorf("content = %s, want null", got)
	}
	if got := m.Get("4.content.#.text").Raw; got != `["A","B"]` {
		t.Errorf("last content = %s", m.Get("4").Raw)
	}
	if got := m.Get("4.refusal").Str; got != "no" {
		t.Errorf("refusal = %q", got)
	}
}

// TestForeignEncryptedContentIsIgnored: OpenAI's encrypted reasoning and a
// damaged blob restore nothing, and are no error.
func TestForeignEncryptedContentIsIgnored(t *testing.T) {
	for _, enc := range []string{"gAAAAABpZN9epJCKSvaN79ndV0tQ", blobPrefix + "!!!", blobPrefix + "bnVsbA"} {
		body, _ := json.Marshal(map[string]any{"model": "m", "input": []any{
			map[string]any{"type": "reasoning", "summary": []any{}, "encrypted_content": enc},
			map[string]any{"type": "message", "role": "assistant", "content": "ok"},
		}})
		req, e := ToChat(body, nil)
		if e != nil {
			t.Fatalf("%s: %v", enc, e)
		}
		if m := gjson.GetBytes(req.Chat, "messages.0"); m.Get("thinking_blocks").Exists() || m.Get("reasoning_content").Exists() {
			t.Errorf("%s: restored %s", enc, m.Raw)
		}
	}
}
