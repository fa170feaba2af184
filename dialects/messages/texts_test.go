package messages

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// checkOffsets checks that each text's Offset and Len locate its raw JSON
// value in body.
func checkOffsets(t *testing.T, body []byte, texts []Text) {
	t.Helper()
	for _, tx := range texts {
		raw := body[tx.Offset : tx.Offset+tx.Len]
		if tx.JSON {
			if string(raw) != tx.Value {
				t.Errorf("%s: raw %s, value %s", tx.Location, raw, tx.Value)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != tx.Value {
			t.Errorf("%s: raw %s does not hold %q", tx.Location, raw, tx.Value)
		}
	}
}

func TestRequestTexts(t *testing.T) {
	body := readFile(t, "req_tool_loop.in.json")
	texts := RequestTexts(body)
	checkOffsets(t, body, texts)
	var got []string
	for _, tx := range texts {
		got = append(got, tx.Role+" "+tx.Location)
	}
	want := []string{
		"user messages[0].content",
		"assistant messages[1].content[1].text",
		"assistant messages[1].content[2].input",
		"tool messages[2].content[0].content",
		"assistant messages[3].content[2].input",
		"tool messages[4].content[0].content[0].text",
		"user messages[4].content[1].text",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("texts\n got %q\nwant %q", got, want)
	}
	if texts[2].Value != `{"location": "Paris, France", "unit": "celsius"}` || !texts[2].JSON {
		t.Errorf("tool input %+v", texts[2])
	}

	body = readFile(t, "req_media.in.json")
	texts = RequestTexts(body)
	checkOffsets(t, body, texts)
	got = got[:0]
	for _, tx := range texts {
		got = append(got, tx.Location)
	}
	want = []string{
		"messages[0].content[3].source.data",
		"messages[0].content[4].source.content[0].text",
		"messages[0].content[4].source.content[1].text",
		"messages[0].content[5].content[0].text",
		"messages[0].content[6].text",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("texts\n got %q\nwant %q", got, want)
	}

	body = readFile(t, "req_claude_code.in.json")
	texts = RequestTexts(body)
	checkOffsets(t, body, texts)
	if len(texts) != 4 || texts[0].Location != "system[0].text" || texts[0].Role != "system" || texts[3].Value != "list the go files under providers/" {
		t.Errorf("texts %+v", texts)
	}
	if RequestTexts([]byte(`{"messages":[`)) != nil {
		t.Error("texts of an invalid body")
	}
}

func TestResponseTexts(t *testing.T) {
	body := readFile(t, "resp_thinking_tool.want.json")
	texts := ResponseTexts(body)
	checkOffsets(t, body, texts)
	var got []string
	for _, tx := range texts {
		got = append(got, tx.Location+"="+tx.Value)
	}
	want := []string{
		"content[1].text=I'll check both cities at once.",
		`content[2].input={"location": "Paris, France", "unit": "celsius"}`,
		`content[3].input={"location": "Rome, Italy", "unit": "celsius"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("texts\n got %q\nwant %q", got, want)
	}
}

func TestCountTokensTexts(t *testing.T) {
	got := CountTokensTexts(readFile(t, "req_tool_loop.in.json"))
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		"What's the weather in Paris and in Rome?",
		"Paris is 15°C. Now Rome.", // the last assistant turn's thinking counts
		"get_weather",
		"Get the current weather in a given location",
		`"required": ["location"]`,
		"Weather service timed out after 10s",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("%q not counted", want)
		}
	}
	if strings.Contains(joined, "The user wants the weather in two cities") {
		t.Error("an earlier turn's thinking is counted")
	}
	if strings.Contains(joined, "EuYBCkQYAiJA") {
		t.Error("a signature is counted")
	}
}

func TestCountTokensResponse(t *testing.T) {
	if got := string(CountTokensResponse(2095)); got != `{"input_tokens":2095}` {
		t.Errorf("%s", got)
	}
}
