package handlers

import (
	"slices"
	"testing"
)

// TestMessageTexts: the texts counted for a chat request's estimate are
// every message's string content, text parts and tool call arguments,
// and the tools' definitions; images, names and roles are not text.
func TestMessageTexts(t *testing.T) {
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	body := `{"model":"gpt-4o-mini","tools":` + tools + `,"messages":[
		{"role":"system","content":"You are terse."},
		{"role":"user","name":"ann","content":[
			{"type":"text","text":"What is in this image?"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
			{"type":"text","text":"And the weather?"}]},
		{"role":"assistant","content":null,"tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
			{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"-3 °C, snow"}],
		"max_tokens":64}`
	got := messageTexts([]byte(body))
	want := []string{tools, "You are terse.", "What is in this image?", "And the weather?",
		`{"city":"Oslo"}`, `{"city":"Rome"}`, "-3 °C, snow"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("texts\n got %q\nwant %q", got, want)
	}
	if got := messageTexts([]byte(`{"model":"m","messages":[]}`)); len(got) != 0 {
		t.Errorf("no messages: %q", got)
	}
}
