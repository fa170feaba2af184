package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sameJSON reports whether two JSON texts have the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestChatCompletionRequestRoundTrip(t *testing.T) {
	for _, body := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`,
		`{"model":"gpt-4o","messages":[{"role":"system","content":""},{"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"high"}},{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}},{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE"}}]}],"max_completion_tokens":300,"temperature":0,"top_p":1,"n":1,"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true},"seed":42,"user":"u1","logprobs":false,"top_logprobs":0}`,
		`{"model":"gpt-4o","messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false}`,
		`{"model":"o3","messages":[{"role":"developer","content":[{"type":"text","text":"Be brief."}]}],"tool_choice":"required","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}},"reasoning_effort":"low","max_tokens":5,"presence_penalty":0.5,"frequency_penalty":-0.5,"logit_bias":{"50256":-100},"modalities":["text"],"metadata":{"k":"v"},"store":true,"service_tier":"auto"}`,
		`{"model":"m","messages":[],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"a"}}]}},"tools":[{"type":"custom","custom":{"name":"grammar","format":{"type":"text"}}}],"audio":{"voice":"alloy","format":"wav"},"prediction":{"type":"content","content":"x"},"web_search_options":{}}`,
	} {
		var req ChatCompletionRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		out, err := json.Marshal(&req)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, out, []byte(body)) {
			t.Errorf("round trip:\n in  %s\n out %s", body, out)
		}
	}
}

func TestStopAndContentForms(t *testing.T) {
	var req ChatCompletionRequest
	if err := json.Unmarshal([]byte(`{"stop":"END","messages":[{"role":"assistant","content":null},{"role":"user","content":""},{"role":"user"},{"role":"user","content":[]}]}`), &req); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req.Stop, StringList{"END"}) {
		t.Errorf("stop: %v", req.Stop)
	}
	m := req.Messages
	if !m[0].Content.IsNull() || m[1].Content.IsNull() || !m[1].Content.HasText || !m[2].Content.IsNull() || m[3].Content.Parts == nil || m[3].Content.IsNull() {
		t.Errorf("content forms: %+v", m)
	}
	out, _ := json.Marshal(m)
	if string(out) != `[{"role":"assistant","content":null},{"role":"user","content":""},{"role":"user","content":null},{"role":"user","content":[]}]` {
		t.Errorf("encoded: %s", out)
	}
	for _, bad := range []string{`{"stop":5}`, `{"messages":[{"role":"user","content":5}]}`, `{"tool_choice":5}`} {
		if err := json.Unmarshal([]byte(bad), &req); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"stop":null}`), &req); err != nil || req.Stop != nil {
		t.Errorf("stop null: %v %v", req.Stop, err)
	}
	c := Content{Parts: []ContentPart{{Type: PartText, Text: "a"}, {Type: PartImageURL, ImageURL: &ImageURL{URL: "u"}}, {Type: PartText, Text: "b"}}}
	if c.String() != "ab" || TextContent("x").String() != "x" {
		t.Errorf("String: %q", c.String())
	}
}

func TestToolChoice(t *testing.T) {
	for in, want := range map[string]ToolChoice{
		`"auto"`: {Mode: "auto"},
		`{"type":"function","function":{"name":"f"}}`: {Type: "function", Function: "f"},
	} {
		var tc ToolChoice
		if err := json.Unmarshal([]byte(in), &tc); err != nil {
			t.Fatal(err)
		}
		tc.Raw = nil
		if !reflect.DeepEqual(tc, want) {
			t.Errorf("%s: got %+v", in, tc)
		}
		out, _ := json.Marshal(want)
		if !sameJSON(t, out, []byte(in)) {
			t.Errorf("%s: encoded %s", in, out)
		}
	}
}

func TestChatCompletionRoundTrip(t *testing.T) {
	for _, body := range []string{
		`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default"}`,
		`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"sig"}}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":1,"cache_write_tokens":2}}}`,
	} {
		var cc ChatCompletion
		if err := json.Unmarshal([]byte(body), &cc); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(&cc)
		// Zero-valued optional details and a null refusal are omitted on
		// the way out.
		want := strings.NewReplacer(`,"audio_tokens":0`, "", `,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0`, "",
			`"refusal":null,`, "").Replace(body)
		if !sameJSON(t, out, []byte(want)) {
			t.Errorf("round trip:\n in  %s\n out %s", want, out)
		}
	}
}

func TestChatCompletionChunkRoundTrip(t *testing.T) {
	for _, body := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":0}}}`,
	} {
		var c ChatCompletionChunk
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(&c)
		if !sameJSON(t, out, []byte(body)) {
			t.Errorf("round trip:\n in  %s\n out %s", body, out)
		}
	}
}

func TestChunkWriter(t *testing.T) {
	var w ChunkWriter
	w.Reset("chatcmpl-<1>", 1700000000, "m\"x")
	check := func(got []byte, want ChatCompletionChunk) {
		t.Helper()
		var c ChatCompletionChunk
		if err := json.Unmarshal(got, &c); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		want.ID, want.Object, want.Created, want.Model = "chatcmpl-<1>", "chat.completion.chunk", 1700000000, "m\"x"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got %s\nwant %+v", got, want)
		}
	}
	str := func(s string) *string { return &s }
	idx := func(i int) *int { return &i }

	w.Begin()
	w.BeginChoice(0)
	w.Role(RoleAssistant)
	w.Content("")
	w.EndChoice("")
	check(w.End(nil), ChatCompletionChunk{Choices: []ChunkChoice{{Delta: Delta{Role: "assistant", Content: str("")}}}})

	w.Begin()
	w.BeginChoice(0)
	w.Reasoning("why")
	w.Thinking(ThinkingBlock{Type: ThinkingSigned, Signature: "sig\"=="})
	w.EndChoice("")
	w.BeginChoice(1)
	w.Thinking(ThinkingBlock{Type: ThinkingRedacted, Data: "opaque"})
	w.EndChoice("")
	check(w.End(nil), ChatCompletionChunk{Choices: []ChunkChoice{
		{Delta: Delta{ReasoningContent: str("why"), ThinkingBlocks: []ThinkingBlock{{Type: "thinking", Signature: "sig\"=="}}}},
		{Index: 1, Delta: Delta{ThinkingBlocks: []ThinkingBlock{{Type: "redacted_thinking", Data: "opaque"}}}},
	}})

	w.Begin()
	w.BeginChoice(1)
	w.Content("a\n<b>")
	w.Reasoning("r")
	w.ToolCall(0, "call_1", "f", `{"x":`, []byte(`{"google":{"thought_signature":"s"}}`))
	w.ToolCall(1, "", "", "1}", nil)
	w.EndChoice("tool_calls")
	w.BeginChoice(2)
	w.ToolCall(3, "call_3", "g", "", nil)
	w.Content("after")
	w.EndChoice("")
	got := w.End(nil)
	check(got, ChatCompletionChunk{Choices: []ChunkChoice{
		{Index: 1, Delta: Delta{Content: str("a\n<b>"), ReasoningContent: str("r"), ToolCalls: []ToolCall{
			{Index: idx(0), ID: "call_1", Type: "function", Function: FunctionCall{Name: "f", Arguments: `{"x":`}, ExtraContent: json.RawMessage(`{"google":{"thought_signature":"s"}}`)},
			{Index: idx(1), Function: FunctionCall{Arguments: "1}"}},
		}}, FinishReason: str("tool_calls")},
		{Index: 2, Delta: Delta{Content: str("after"), ToolCalls: []ToolCall{{Index: idx(3), ID: "call_3", Type: "function", Function: FunctionCall{Name: "g"}}}}},
	}})
	if w.Choices() != 2 {
		t.Errorf("choices: %d", w.Choices())
	}

	u := &Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15,
		PromptTokensDetails:     &PromptTokensDetails{CachedTokens: 4, CacheWriteTokens: 2, CacheWrite1hTokens: 1},
		CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 3}}
	check(w.UsageChunk(u), ChatCompletionChunk{Choices: []ChunkChoice{}, Usage: u})
	std, _ := json.Marshal(u)
	if string(u.AppendJSON(nil)) != string(std) {
		t.Errorf("AppendJSON %s, encoding/json %s", u.AppendJSON(nil), std)
	}
	if b := (&Usage{}).AppendJSON(nil); string(b) != `{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}` {
		t.Errorf("zero usage %s", b)
	}
}

func TestParseDataURL(t *testing.T) {
	for in, want := range map[string][3]string{
		"data:image/png;base64,iVBORw0KGgo=":            {"image/png", "iVBORw0KGgo=", "ok"},
		"DATA:image/jpeg;BASE64,/9j/":                   {"image/jpeg", "/9j/", "ok"},
		"data:text/plain;charset=utf-8;base64,aGk=":     {"text/plain", "aGk=", "ok"},
		"data:image/svg+xml,%3Csvg%3E":                  {"", "", ""},
		"https://example.com/a.png":                     {"", "", ""},
		"data:" + strings.Repeat("x", 300) + ";base64,": {"", "", ""},
	} {
		mt, data, ok := ParseDataURL(in)
		okS := ""
		if ok {
			okS = "ok"
		}
		if [3]string{mt, data, okS} != want {
			t.Errorf("%.40s: got %q %q %v", in, mt, data, ok)
		}
	}
}

func BenchmarkChunkWriter(b *testing.B) {
	var w ChunkWriter
	w.Reset("msg_01QC4g3HwBThD4BaNtBckFDJ", 1700000000, "claude-sonnet-4-5")
	b.ReportAllocs()
	for b.Loop() {
		w.Begin()
		w.BeginChoice(0)
		w.Content("Hello, this is a typical streamed token or two.")
		w.EndChoice("")
		w.End(nil)
	}
}
