package telemetry

import (
	"encoding/json"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// MaxContentBytes bounds the prompt and the completion recorded on a span:
// 16 KiB each, so that the spans an exporter queues stay small whatever
// clients send.
const MaxContentBytes = 16 << 10

// message and part follow the conventions' input and output message JSON
// schemas (gen-ai-input-messages.json, gen-ai-output-messages.json).
type message struct {
	Role         string `json:"role"`
	Parts        []part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

type part struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

// appendContent adds gen_ai.input.messages and gen_ai.output.messages as
// JSON strings: the prompt as one user message, the completion as one
// assistant message, each cut to MaxContentBytes.
func appendContent(attrs []attribute.KeyValue, prompt, completion string, finishReasons []string) []attribute.KeyValue {
	truncated := false
	if prompt != "" {
		text, cut := truncate(prompt, MaxContentBytes)
		truncated = truncated || cut
		attrs = append(attrs, semconv.GenAIInputMessagesKey.String(messagesJSON(message{Role: "user", Parts: []part{{Type: "text", Content: text}}})))
	}
	if completion != "" {
		text, cut := truncate(completion, MaxContentBytes)
		truncated = truncated || cut
		m := message{Role: "assistant", Parts: []part{{Type: "text", Content: text}}}
		if len(finishReasons) > 0 {
			m.FinishReason = finishReasons[0]
		}
		attrs = append(attrs, semconv.GenAIOutputMessagesKey.String(messagesJSON(m)))
	}
	if truncated {
		attrs = append(attrs, AttrContentTruncated.Bool(true))
	}
	return attrs
}

func messagesJSON(m message) string {
	b, err := json.Marshal([]message{m})
	if err != nil {
		return "[]"
	}
	return string(b)
}

// truncate cuts s to at most max bytes on a rune boundary and reports
// whether it cut.
func truncate(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}
