package responses

import (
	"encoding/json"
	"testing"
)

// checkOffsets: each text's Offset and Len locate its JSON string literal.
func checkOffsets(t *testing.T, body []byte, texts []Text) {
	t.Helper()
	for _, x := range texts {
		var s string
		if x.Offset < 0 || x.Offset+x.Len > len(body) || json.Unmarshal(body[x.Offset:x.Offset+x.Len], &s) != nil || s != x.Value {
			t.Errorf("%s: body[%d:%d] is not the text %q", x.Path, x.Offset, x.Offset+x.Len, x.Value)
		}
	}
}

func TestRequestTexts(t *testing.T) {
	sc := scenario{name: "function_output", dir: "testdata/cases/function_output"}
	body := sc.read(t, "request.json")
	texts := RequestTexts(body)
	want := []struct{ path, role, prefix string }{
		{"instructions", "system", "You are a coding agent"},
		{"input[0].content[0].text", "developer", "<permissions instructions>"},
		{"input[1].content[0].text", "user", "<environment_context>"},
		{"input[2].content[0].text", "user", "How many Go files"},
		{"input[3].summary[0].text", "assistant", "**Counting Go files**"},
		{"input[4].content[0].text", "assistant", "I'll count the Go files."},
		{"input[5].arguments", "assistant", `{"command":"rg --files`},
		{"input[6].output", "tool", "Exit code: 0"},
	}
	if len(texts) != len(want) {
		t.Fatalf("texts %+v", texts)
	}
	for i, w := range want {
		x := texts[i]
		if x.Path != w.path || x.Role != w.role || len(x.Value) < len(w.prefix) || x.Value[:len(w.prefix)] != w.prefix {
			t.Errorf("text %d: %s %s %q, want %s %s %q…", i, x.Path, x.Role, x.Value, w.path, w.role, w.prefix)
		}
	}
	checkOffsets(t, body, texts)

	body = []byte(`{"model":"m","input":"Hello \"there\"\n"}`)
	texts = RequestTexts(body)
	if len(texts) != 1 || texts[0].Path != "input" || texts[0].Value != "Hello \"there\"\n" || texts[0].Role != "user" {
		t.Errorf("string input: %+v", texts)
	}
	checkOffsets(t, body, texts)

	body = []byte(`{"input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"42"},{"type":"input_image","image_url":"https://x"}]},{"role":"user","content":"plain"}]}`)
	texts = RequestTexts(body)
	if len(texts) != 2 || texts[0].Path != "input[0].output[0].text" || texts[1].Path != "input[1].content" {
		t.Errorf("texts %+v", texts)
	}
	checkOffsets(t, body, texts)
	if RequestTexts([]byte(`[1]`)) != nil || RequestTexts([]byte(`{`)) != nil {
		t.Error("texts of a body that is no object")
	}
}

func TestResponseTexts(t *testing.T) {
	for _, c := range []struct {
		file  string
		paths []string
	}{
		{"testdata/cases/reasoning_tools/response.json", []string{"output[0].summary[0].text", "output[1].content[0].text", "output[2].arguments"}},
		{"testdata/cases/refusal/response.json", []string{"output[0].content[0].refusal"}},
		{"testdata/openai/response_web_search.json", []string{"output[0].summary[0].text", "output[2].content[0].text"}},
	} {
		sc := scenario{dir: "."}
		body := sc.read(t, c.file)
		texts := ResponseTexts(body)
		if len(texts) != len(c.paths) {
			t.Fatalf("%s: texts %+v", c.file, texts)
		}
		for i, p := range c.paths {
			if texts[i].Path != p || texts[i].Role != "assistant" || texts[i].Value == "" {
				t.Errorf("%s: text %d %+v, want %s", c.file, i, texts[i], p)
			}
		}
		checkOffsets(t, body, texts)
	}
}
