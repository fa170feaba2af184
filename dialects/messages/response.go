package messages

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// hubChoice is the part of a chat.completion choice the answer reads.
type hubChoice struct {
	Message struct {
		Content          json.RawMessage `json:"content"`
		Refusal          *string         `json:"refusal"`
		ReasoningContent *string         `json:"reasoning_content"`
		ThinkingBlocks   []thinkingBlock `json:"thinking_blocks"`
		ToolCalls        []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"message"`
	FinishReason *string `json:"finish_reason"`
	// StopReason is vLLM's member naming the stop string that ended the
	// choice.
	StopReason json.RawMessage `json:"stop_reason"`
}

type hubCompletion struct {
	ID          string          `json:"id"`
	ServiceTier string          `json:"service_tier"`
	Choices     []hubChoice     `json:"choices"`
	Usage       json.RawMessage `json:"usage"`
}

// TranslateResponse turns a hub chat.completion into a Messages response
// for the request described by info. Content blocks come in the order
// Claude writes them: thinking, text, then tool_use.
//
//   - Thinking blocks appear only when the request enabled thinking: each
//     of thinking_blocks as it is (signature kept), or, when the provider
//     gave reasoning_content without thinking_blocks, one thinking block
//     with that text and an empty signature (an unsigned block: Anthropic
//     itself would refuse it back, other providers take it). With display
//     "omitted" the text is left out and unsigned reasoning dropped.
//   - Text is the message's content (its text parts joined) then its
//     refusal, as one text block when not empty.
//   - Each tool call is a tool_use block whose input is its parsed
//     arguments; arguments that are not a JSON object give input {}.
//
// The error is an *openai.Error (502) when body is not a chat.completion.
func TranslateResponse(body []byte, info *Info) ([]byte, error) {
	var c hubCompletion
	if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) == 0 {
		return nil, badAnswer("the provider's answer is not a chat completion")
	}
	ch := &c.Choices[0]
	m := &ch.Message
	b := make([]byte, 0, len(body)+256)
	b = appendMessageHead(b, messageID(c.ID), info.Model)
	n := 0
	block := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	if info.Thinking {
		for _, tb := range answerThinking(m.ThinkingBlocks, m.ReasoningContent, info.OmitThinking) {
			block()
			b = appendThinkingBlock(b, tb)
		}
	}
	text, refusal := contentText(m.Content), false
	if m.Refusal != nil && *m.Refusal != "" {
		text += *m.Refusal
		refusal = true
	}
	if text != "" {
		block()
		b = append(b, `{"type":"text","text":`...)
		b = openai.AppendString(b, text)
		b = append(b, '}')
	}
	for _, tc := range m.ToolCalls {
		block()
		id := tc.ID
		if id == "" {
			id = newToolID()
		}
		b = appendToolUse(b, id, tc.Function.Name, toolInput(argumentsText(tc.Function.Arguments)))
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	reason, seq := stopReason(finish, len(m.ToolCalls) > 0, refusal, matchedStop(ch.StopReason, info.StopSequences))
	b = appendStop(b, reason, seq)
	var u Usage
	if len(c.Usage) > 0 {
		u = usageFromHub(gjson.ParseBytes(c.Usage))
	}
	b = append(b, `,"usage":`...)
	b = appendUsage(b, u, serviceTier(c.ServiceTier))
	return append(b, '}'), nil
}

func badAnswer(msg string) *openai.Error {
	return openai.NewError(http.StatusBadGateway, openai.TypeUpstream, "", msg)
}

// appendMessageHead appends a message's id, type, role and model and opens
// its content.
func appendMessageHead(b []byte, id, model string) []byte {
	b = append(b, `{"id":`...)
	b = openai.AppendString(b, id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = openai.AppendString(b, model)
	return append(b, `,"content":[`...)
}

// appendStop closes the content and appends stop_reason and stop_sequence.
func appendStop(b []byte, reason, seq string) []byte {
	b = append(b, `],"stop_reason":`...)
	b = openai.AppendString(b, reason)
	b = append(b, `,"stop_sequence":`...)
	return appendNullable(b, seq)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return openai.AppendString(b, s)
}

func appendThinkingBlock(b []byte, tb thinkingBlock) []byte {
	if tb.Type == "redacted_thinking" {
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = openai.AppendString(b, deref(tb.Data))
		return append(b, '}')
	}
	b = append(b, `{"type":"thinking","thinking":`...)
	b = openai.AppendString(b, deref(tb.Thinking))
	b = append(b, `,"signature":`...)
	b = openai.AppendString(b, deref(tb.Signature))
	return append(b, '}')
}

func appendToolUse(b []byte, id, name string, input []byte) []byte {
	b = append(b, `{"type":"tool_use","id":`...)
	b = openai.AppendString(b, id)
	b = append(b, `,"name":`...)
	b = openai.AppendString(b, name)
	b = append(b, `,"input":`...)
	b = append(b, input...)
	return append(b, '}')
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// answerThinking returns the thinking blocks of an answer: the provider's
// thinking_blocks (the reasoning text filling a lone block that came
// without its text), or one unsigned block for bare reasoning text.
func answerThinking(blocks []thinkingBlock, reasoning *string, omit bool) []thinkingBlock {
	out := make([]thinkingBlock, 0, len(blocks)+1)
	hasText := false
	for _, tb := range blocks {
		if tb.Type == "thinking" && tb.Thinking != nil {
			hasText = true
		}
	}
	filled := false
	for _, tb := range blocks {
		switch tb.Type {
		case "thinking":
			if !hasText && !filled && reasoning != nil {
				tb.Thinking, filled = reasoning, true
			}
			if omit {
				tb.Thinking = nil
			}
			out = append(out, tb)
		case "redacted_thinking":
			if tb.Data != nil {
				out = append(out, tb)
			}
		}
	}
	if len(out) == 0 && reasoning != nil && *reasoning != "" && !omit {
		empty := ""
		out = append(out, thinkingBlock{Type: "thinking", Thinking: reasoning, Signature: &empty})
	}
	return out
}

// contentText returns the text of a hub content: the string, or the text
// and refusal parts joined.
func contentText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case '[':
		var parts []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Refusal string `json:"refusal"`
		}
		_ = json.Unmarshal(raw, &parts)
		var s []byte
		for _, p := range parts {
			switch p.Type {
			case openai.PartText:
				s = append(s, p.Text...)
			case openai.PartRefusal:
				s = append(s, p.Refusal...)
			}
		}
		return string(s)
	}
	return ""
}

// argumentsText returns tool call arguments given as a JSON string (or,
// from lax providers, as the object itself).
func argumentsText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	return string(raw)
}

// toolInput returns the tool_use input for arguments: their compact JSON
// when they are a JSON object, {} otherwise (empty, invalid or cut off).
func toolInput(args string) []byte {
	a := bytes.TrimSpace([]byte(args))
	if len(a) == 0 || a[0] != '{' {
		return []byte("{}")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, a) != nil {
		return []byte("{}")
	}
	return buf.Bytes()
}

// stopReason maps a finish_reason: length → max_tokens, tool_calls →
// tool_use, content_filter → refusal; stop → stop_sequence when the
// provider named one of the request's stop sequences, tool_use when the
// message calls tools, refusal when it carries a refusal, else end_turn.
func stopReason(finish string, tools, refusal bool, matched string) (reason, seq string) {
	switch finish {
	case openai.FinishLength:
		return "max_tokens", ""
	case openai.FinishToolCalls, "function_call":
		return "tool_use", ""
	case openai.FinishContentFilter:
		return "refusal", ""
	}
	switch {
	case refusal:
		return "refusal", ""
	case tools:
		return "tool_use", ""
	case matched != "":
		return "stop_sequence", matched
	}
	return "end_turn", ""
}

// matchedStop returns the stop sequence a provider reported (vLLM's
// choice.stop_reason), when it is one of the request's.
func matchedStop(raw json.RawMessage, stops []string) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	for _, st := range stops {
		if st == s {
			return s
		}
	}
	return ""
}
