package messages

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/polygate/polygate/openai"
)

// TestTranslateRequest translates recorded Messages requests and compares
// the hub requests and infos with the expected ones.
func TestTranslateRequest(t *testing.T) {
	for _, name := range []string{"text", "claude_code", "tool_loop", "media", "structured"} {
		t.Run(name, func(t *testing.T) {
			hub, info, err := TranslateRequest(readFile(t, "req_"+name+".in.json"))
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "hub request", hub, readFile(t, "req_"+name+".hub.json"))
			var want Info
			if err := json.Unmarshal(readFile(t, "req_"+name+".info.json"), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*info, want) {
				t.Errorf("info = %+v, want %+v", *info, want)
			}
			// The hub request is what the gateway's chat types read.
			var req openai.ChatCompletionRequest
			if err := json.Unmarshal(hub, &req); err != nil {
				t.Fatalf("hub request does not decode as a chat request: %v", err)
			}
			if req.Model != info.Model || req.Stream != info.Stream {
				t.Errorf("decoded model %q stream %v, want %q %v", req.Model, req.Stream, info.Model, info.Stream)
			}
		})
	}
}

// TestThinkingSignaturesSurvive checks that every signature and redacted
// block of a tool loop's history reaches the hub byte for byte.
func TestThinkingSignaturesSurvive(t *testing.T) {
	in := readFile(t, "req_tool_loop.in.json")
	hub, _, err := TranslateRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Messages []struct {
			Content json.RawMessage   `json:"content"`
			Blocks  []json.RawMessage `json:"thinking_blocks"`
		} `json:"messages"`
	}
	var src struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(hub, &req); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(in, &src); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, m := range src.Messages {
		var blocks []map[string]any
		_ = json.Unmarshal(m.Content, &blocks)
		for _, b := range blocks {
			if b["type"] == "thinking" {
				want = append(want, b["signature"].(string))
			}
			if b["type"] == "redacted_thinking" {
				want = append(want, b["data"].(string))
			}
		}
	}
	for _, m := range req.Messages {
		for _, raw := range m.Blocks {
			var b map[string]string
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatal(err)
			}
			if s, ok := b["signature"]; ok {
				got = append(got, s)
			}
			if s, ok := b["data"]; ok {
				got = append(got, s)
			}
		}
	}
	if len(want) != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("signatures and redacted data\n got %q\nwant %q", got, want)
	}
}

// TestTranslateRequestErrors checks the 400s: what Anthropic rejects, and
// what the hub cannot carry, each naming its parameter.
func TestTranslateRequestErrors(t *testing.T) {
	const base = `"model":"claude-sonnet-4-5","max_tokens":1024`
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{"model":`, ""},
		{"not an object", `[1,2]`, ""},
		{"no model", `{"max_tokens":10,` + user + `}`, "model"},
		{"no max_tokens (recorded)", string(readFile(t, "req_err_no_max_tokens.in.json")), "max_tokens"},
		{"max_tokens string", `{"model":"m","max_tokens":"10",` + user + `}`, "max_tokens"},
		{"max_tokens zero", `{"model":"m","max_tokens":0,` + user + `}`, "max_tokens"},
		{"no messages", `{` + base + `}`, "messages"},
		{"empty messages", `{` + base + `,"messages":[]}`, "messages"},
		{"system role", `{` + base + `,"messages":[{"role":"system","content":"x"}]}`, "messages[0].role"},
		{"null content", `{` + base + `,"messages":[{"role":"user","content":null}]}`, "messages[0].content"},
		{"web search tool (recorded)", string(readFile(t, "req_err_web_search.in.json")), "tools[1].type"},
		{"bash tool", `{` + base + `,` + user + `,"tools":[{"type":"bash_20250124","name":"bash"}]}`, "tools[0].type"},
		{"text editor tool", `{` + base + `,` + user + `,"tools":[{"type":"text_editor_20250728","name":"str_replace_based_edit_tool"}]}`, "tools[0].type"},
		{"computer tool", `{` + base + `,` + user + `,"tools":[{"type":"computer_20250124","name":"computer","display_width_px":1024,"display_height_px":768}]}`, "tools[0].type"},
		{"code execution tool", `{` + base + `,` + user + `,"tools":[{"type":"code_execution_20250825","name":"code_execution"}]}`, "tools[0].type"},
		{"tool without schema", `{` + base + `,` + user + `,"tools":[{"name":"f"}]}`, "tools[0].input_schema"},
		{"mcp servers", `{` + base + `,` + user + `,"mcp_servers":[{"type":"url","url":"https://mcp.example.com/sse","name":"example"}]}`, "mcp_servers"},
		{"container", `{` + base + `,` + user + `,"container":"container_011CPR5CNjB747bTd36fQLFk"}`, "container"},
		{"budget too small", `{` + base + `,` + user + `,"thinking":{"type":"enabled","budget_tokens":512}}`, "thinking.budget_tokens"},
		{"budget missing", `{` + base + `,` + user + `,"thinking":{"type":"enabled"}}`, "thinking.budget_tokens"},
		{"thinking type", `{` + base + `,` + user + `,"thinking":{"type":"sometimes"}}`, "thinking.type"},
		{"image from files api", `{` + base + `,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}}]}]}`, "messages[0].content[0].source.type"},
		{"document url", `{` + base + `,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://assets.anthropic.com/m/1cd9d098ac3e6467/original/Claude-3-Model-Card-October-Addendum.pdf"}}]}]}`, "messages[0].content[0].source.type"},
		{"server tool use in history", `{` + base + `,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_01","name":"web_search","input":{"query":"go"}}]}]}`, "messages[1].content[0].type"},
		{"thinking in user message", `{` + base + `,"messages":[{"role":"user","content":[{"type":"thinking","thinking":"x","signature":"y"}]}]}`, "messages[0].content[0].type"},
		{"tool result without id", `{` + base + `,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages[0].content[0].tool_use_id"},
		{"tool use without id", `{` + base + `,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, "messages[0].content[0].id"},
		{"tool use input not object", `{` + base + `,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":[1]}]}]}`, "messages[0].content[0].input"},
		{"cache_control not object", `{` + base + `,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":"ephemeral"}]}]}`, "messages[0].content[0].cache_control"},
		{"tool_choice type", `{` + base + `,` + user + `,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"some"}}`, "tool_choice.type"},
		{"service tier", `{` + base + `,` + user + `,"service_tier":"priority"}`, "service_tier"},
		{"output format type", `{` + base + `,` + user + `,"output_config":{"format":{"type":"regex"}}}`, "output_config.format.type"},
		{"unknown block", `{` + base + `,"messages":[{"role":"user","content":[{"type":"audio","data":"x"}]}]}`, "messages[0].content[0].type"},
		{"nested tool result block", `{` + base + `,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_use","id":"x","name":"y","input":{}}]}]}]}`, "messages[0].content[0].content[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, info, err := TranslateRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("no error; hub request %s", hub)
			}
			if hub != nil || info != nil {
				t.Error("a failed translation returned a request")
			}
			var e *openai.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *openai.Error", err)
			}
			if e.Status != http.StatusBadRequest || e.Type != openai.TypeInvalidRequest || e.Param != tt.param {
				t.Errorf("error = status %d type %q param %q, want 400 invalid_request_error %q", e.Status, e.Type, e.Param, tt.param)
			}
			if tt.param != "" && !strings.HasPrefix(e.Message, strings.SplitN(tt.param, ".", 2)[0]) {
				t.Errorf("message %q does not start with the parameter", e.Message)
			}
		})
	}
}

// TestEffortMapping checks the thinking → reasoning_effort mapping at its
// edges and output_config.effort's precedence.
func TestEffortMapping(t *testing.T) {
	tests := []struct {
		extra, want string
		thinking    bool
	}{
		{`"thinking":{"type":"enabled","budget_tokens":1024}`, "low", true},
		{`"thinking":{"type":"enabled","budget_tokens":7999}`, "low", true},
		{`"thinking":{"type":"enabled","budget_tokens":8000}`, "medium", true},
		{`"thinking":{"type":"enabled","budget_tokens":23999}`, "medium", true},
		{`"thinking":{"type":"enabled","budget_tokens":24000}`, "high", true},
		{`"thinking":{"type":"enabled","budget_tokens":63999}`, "high", true},
		{`"thinking":{"type":"enabled","budget_tokens":2000},"output_config":{"effort":"high"}`, "high", true},
		{`"thinking":{"type":"disabled"}`, "", false},
		{`"thinking":{"type":"disabled"},"output_config":{"effort":"low"}`, "", false},
		{`"thinking":{"type":"adaptive"}`, "", true},
		{`"thinking":{"type":"adaptive"},"output_config":{"effort":"max"}`, "high", true},
		{`"output_config":{"effort":"medium"}`, "medium", false},
		{`"output_config":{"effort":"low"}`, "low", false},
		{`"output_config":{"effort":"turbo"}`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		body := `{"model":"m","max_tokens":64000,"messages":[{"role":"user","content":"hi"}]`
		if tt.extra != "" {
			body += "," + tt.extra
		}
		hub, info, err := TranslateRequest([]byte(body + "}"))
		if err != nil {
			t.Fatalf("%s: %v", tt.extra, err)
		}
		var req openai.ChatCompletionRequest
		if err := json.Unmarshal(hub, &req); err != nil {
			t.Fatal(err)
		}
		if req.ReasoningEffort != tt.want || info.Thinking != tt.thinking {
			t.Errorf("%s: reasoning_effort %q thinking %v, want %q %v", tt.extra, req.ReasoningEffort, info.Thinking, tt.want, tt.thinking)
		}
	}
}

// TestToolResultShapes checks tool result contents: strings, several
// blocks, images, cache_control and errors without text.
func TestToolResultShapes(t *testing.T) {
	body := `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[
		{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
		{"type":"tool_result","tool_use_id":"b","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}],"is_error":true},
		{"type":"tool_result","tool_use_id":"c","is_error":true,"cache_control":{"type":"ephemeral"}},
		{"type":"tool_result","tool_use_id":"d"}
	]}]}`
	hub, _, err := TranslateRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","max_completion_tokens":100,"messages":[
		{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
		{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"Error"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]},
		{"role":"tool","tool_call_id":"c","content":"Error","cache_control":{"type":"ephemeral"}},
		{"role":"tool","tool_call_id":"d","content":""}
	]}`
	sameJSON(t, "hub request", hub, []byte(want))
}

// TestDroppedHints checks that hints the hub has no use for are dropped
// and listed, not refused.
func TestDroppedHints(t *testing.T) {
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],
		"top_k":5,"tool_choice":{"type":"auto"},"context_management":{"edits":[]},"speed":"fast",
		"diagnostics":{"previous_message_id":"msg_1"},"container":null,"mcp_servers":[]}`
	hub, info, err := TranslateRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"top_k", "tool_choice", "context_management", "diagnostics", "speed"}
	if !reflect.DeepEqual(info.Dropped, want) {
		t.Errorf("dropped %q, want %q", info.Dropped, want)
	}
	sameJSON(t, "hub request", hub, []byte(`{"model":"m","max_completion_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
}
