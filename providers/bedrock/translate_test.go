package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// newProvider provisions p (static test credentials and region unless
// set) and names it "aws".
func newProvider(t testing.TB, p *Bedrock) *Bedrock {
	t.Helper()
	if p == nil {
		p = &Bedrock{}
	}
	if p.Region == "" {
		p.Region = TestRegion
	}
	if p.AccessKeyID == "" && p.APIKey == "" && p.Profile == "" {
		p.AccessKeyID, p.SecretAccessKey = TestAccessKeyID, TestSecretAccessKey
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.SetName("aws")
	t.Cleanup(func() { p.Cleanup() })
	return p
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", what, got, compact(want))
	}
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

func decodeHub(t testing.TB, body []byte) *hubRequest {
	t.Helper()
	var in hubRequest
	if err := json.Unmarshal(body, &in); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return &in
}

// TestTranslateRequest translates each testdata/req_*.in.json for its
// model and compares with req_*.want.json; every result must also pass the
// fake Bedrock's checks.
func TestTranslateRequest(t *testing.T) {
	p := newProvider(t, nil)
	files, _ := filepath.Glob("testdata/req_*.in.json")
	if len(files) < 5 {
		t.Fatalf("found %d request test files", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".in.json")
		t.Run(name, func(t *testing.T) {
			in := decodeHub(t, readFile(t, name+".in.json"))
			out, err := p.translateRequest(in, in.Model)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(out)
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
			var generic map[string]any
			dec := json.NewDecoder(bytes.NewReader(got))
			dec.UseNumber()
			_ = dec.Decode(&generic)
			if msg := checkConverse(generic); msg != "" {
				t.Errorf("the fake Bedrock refuses the translation: %s", msg)
			}
		})
	}
}

func TestGuardrailConfig(t *testing.T) {
	p := newProvider(t, &Bedrock{GuardrailIdentifier: "gr-abc123", GuardrailVersion: "DRAFT", GuardrailTrace: "enabled_full"})
	in := decodeHub(t, []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	out, err := p.translateRequest(in, "amazon.nova-lite-v1:0")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(out.GuardrailConfig)
	jsonEqual(t, "guardrailConfig", got, []byte(`{"guardrailIdentifier":"gr-abc123","guardrailVersion":"DRAFT","trace":"enabled_full"}`))

	p = newProvider(t, nil)
	out, _ = p.translateRequest(in, "amazon.nova-lite-v1:0")
	if out.GuardrailConfig != nil {
		t.Errorf("a guardrail without guardrail_identifier: %+v", out.GuardrailConfig)
	}
}

func TestRejects(t *testing.T) {
	p := newProvider(t, nil)
	user := `"messages":[{"role":"user","content":"hi"}]`
	toolTurns := `"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1","content":"ok"}]`
	for _, tc := range []struct {
		body, param, msg string
	}{
		{`{"n":2,` + user + `}`, "n", "n must be 1, got 2"},
		{`{"logprobs":true,` + user + `}`, "logprobs", "log probabilities"},
		{`{"top_logprobs":3,` + user + `}`, "top_logprobs", "log probabilities"},
		{`{"logit_bias":{"50256":-100},` + user + `}`, "logit_bias", "logit_bias"},
		{`{"presence_penalty":0.5,` + user + `}`, "presence_penalty", "presence_penalty"},
		{`{"frequency_penalty":-1,` + user + `}`, "frequency_penalty", "frequency_penalty"},
		{`{"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},` + user + `}`, "audio", "audio"},
		{`{"modalities":["text","image"],` + user + `}`, "modalities[1]", "only produces text"},
		{`{"web_search_options":{},` + user + `}`, "web_search_options", "not translated"},
		{`{"functions":[{"name":"f"}],` + user + `}`, "functions", "use tools"},
		{`{"response_format":{"type":"json_object"},` + user + `}`, "response_format", "json_schema"},
		{`{"response_format":{"type":"json_schema","json_schema":{"name":"x"}},` + user + `}`, "response_format.json_schema.schema", "needs a schema"},
		{`{"response_format":{"type":"grammar"},` + user + `}`, "response_format", "grammar"},
		{`{"tools":[{"type":"custom","custom":{"name":"grammar"}}],` + user + `}`, "tools[0].type", "only function tools"},
		{`{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},` + user + `}`, "tool_choice", "allowed_tools"},
		{`{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none",` + toolTurns + `}`, "tool_choice", `no tool_choice "none"`},
		{`{"tool_choice":"required",` + user + `}`, "tool_choice", "no tools"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`, "messages[0].content[0].image_url.url", "not web URLs"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,AAAA"}}]}]}`, "messages[0].content[0].image_url.url", "image/tiff"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://b/k.bmp"}}]}]}`, "messages[0].content[0].image_url.url", ".png"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id", "file ids"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/zip;base64,UEsD"}}]}]}`, "messages[0].content[0].file.file_data", "application/zip"},
		{`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:image/png;base64,iVBO"}}]}]}`, "messages[0].content[0].file.file_data", "image_url"},
		{`{"messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"x"}}]}]}`, "messages[0].content[0].type", "video_url"},
		{`{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]}]}`, "messages[0].content[0]", "text only"},
		{`{"messages":[{"role":"tool","tool_call_id":"t","content":[{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]}]}`, "messages[0].content[0]", "not audio"},
		{`{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", "deprecated"},
		{`{"messages":[{"role":"critic","content":"x"}]}`, "messages[0].role", "unknown role"},
		{`{"messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "tool_call_id"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments", "JSON object"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id", "needs an id"},
		{`{"messages":[{"role":"assistant","content":"x","thinking_blocks":[{"type":"summary","thinking":"x"}]}]}`, "messages[0].thinking_blocks[0].type", "redacted_thinking"},
		{`{"messages":[{"role":"assistant","content":"x","thinking_blocks":[{"type":"redacted_thinking"}]}]}`, "messages[0].thinking_blocks[0].data", "needs its data"},
	} {
		in := decodeHub(t, []byte(tc.body))
		_, err := p.translateRequest(in, "anthropic.claude-3-5-sonnet-20241022-v2:0")
		var pe *providers.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *providers.Error", tc.body, err)
			continue
		}
		if pe.Err.Status != 400 || pe.Err.Type != openai.TypeInvalidRequest || pe.Err.Param != tc.param {
			t.Errorf("%s: got status %d type %q param %q, want 400 invalid_request_error %q", tc.body, pe.Err.Status, pe.Err.Type, pe.Err.Param, tc.param)
		}
		if !strings.Contains(pe.Err.Message, tc.msg) || !strings.Contains(pe.Err.Message, `provider "aws" (Bedrock)`) {
			t.Errorf("%s: message %q lacks %q or the provider name", tc.body, pe.Err.Message, tc.msg)
		}
	}
}

// TestToolChoiceNone: without tool turns in the history, tool_choice none
// is expressed by sending no tools.
func TestToolChoiceNone(t *testing.T) {
	p := newProvider(t, nil)
	in := decodeHub(t, []byte(`{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`))
	out, err := p.translateRequest(in, "anthropic.claude-3-haiku-20240307-v1:0")
	if err != nil {
		t.Fatal(err)
	}
	if out.ToolConfig != nil {
		t.Errorf("tool_choice none sent tools: %+v", out.ToolConfig)
	}
}

func TestDocumentName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":             "report",
		"Q3  report__final.docx": "Q3 report final",
		"résumé (v2).pdf":        "r-sum- (v2)",
		".hidden":                "",
		"a/b\\c.txt":             "a-b-c",
		"[draft] plan.md":        "[draft] plan",
	} {
		if got := documentName(in); got != want {
			t.Errorf("documentName(%q) = %q, want %q", in, got, want)
		}
	}
	p := newProvider(t, nil)
	in := decodeHub(t, []byte(`{"messages":[{"role":"user","content":[
		{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE"}},
		{"type":"file","file":{"filename":"a.txt","file_data":"data:text/plain;base64,aGk="}}]}]}`))
	out, err := p.translateRequest(in, "amazon.nova-pro-v1:0")
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Messages[0].Content[1].Document.Name; n != "a (2)" {
		t.Errorf("a second document named a: %q, want a (2)", n)
	}
}

func TestSupportsPromptCache(t *testing.T) {
	for model, want := range map[string]bool{
		"anthropic.claude-3-7-sonnet-20250219-v1:0":                                                   true,
		"us.anthropic.claude-sonnet-4-20250514-v1:0":                                                  true,
		"amazon.nova-micro-v1:0":                                                                      true,
		"meta.llama3-1-8b-instruct-v1:0":                                                              false,
		"mistral.mistral-large-2407-v1:0":                                                             false,
		"amazon.titan-text-premier-v1:0":                                                              false,
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6":           true,
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-90b-instruct-v1:0": false,
	} {
		if got := supportsPromptCache(model); got != want {
			t.Errorf("supportsPromptCache(%q) = %v, want %v", model, got, want)
		}
	}
}

func TestTranslateResponse(t *testing.T) {
	files, _ := filepath.Glob("testdata/resp_*.bedrock.json")
	if len(files) < 4 {
		t.Fatalf("found %d response test files", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bedrock.json")
		t.Run(name, func(t *testing.T) {
			got, err := translateResponse(readFile(t, name+".bedrock.json"), "chatcmpl-8c4e3f0a-2b1d-4c55-9a63-0f1e2d3c4b5a", "requested-model", 1700000000)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, name, got, readFile(t, name+".want.json"))
			// The answer decodes as the official client's ChatCompletion.
			var cc struct {
				Choices []struct {
					Message openai.Message `json:"message"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(got, &cc); err != nil || len(cc.Choices) != 1 {
				t.Errorf("not a chat.completion: %v", err)
			}
		})
	}
	for _, bad := range []string{`{"output":{}}`, `{"output":`, `[]`} {
		if _, err := translateResponse([]byte(bad), "id", "m", 0); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

func TestFinishReason(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls",
		"guardrail_intervened": "content_filter", "content_filtered": "content_filter",
		"malformed_tool_use": "stop", "": "stop",
	} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", stop, got, want)
		}
	}
}
