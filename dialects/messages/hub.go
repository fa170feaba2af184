package messages

import (
	"bytes"
	"encoding/json"

	"github.com/polygate/polygate/openai"
)

// Hub request types: what the translation writes. Field names are those of
// OpenAI chat completions plus the hub's extensions (reasoning_content,
// thinking_blocks, cache_control).

type hubRequest struct {
	Model               string                `json:"model"`
	Messages            []hubMessage          `json:"messages"`
	MaxCompletionTokens int64                 `json:"max_completion_tokens"`
	Temperature         *float64              `json:"temperature,omitempty"`
	TopP                *float64              `json:"top_p,omitempty"`
	Stop                []string              `json:"stop,omitempty"`
	Stream              bool                  `json:"stream,omitempty"`
	StreamOptions       *openai.StreamOptions `json:"stream_options,omitempty"`
	Tools               []hubTool             `json:"tools,omitempty"`
	ToolChoice          json.RawMessage       `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool                 `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      json.RawMessage       `json:"response_format,omitempty"`
	ReasoningEffort     string                `json:"reasoning_effort,omitempty"`
	User                string                `json:"user,omitempty"`
	ServiceTier         string                `json:"service_tier,omitempty"`
}

type hubMessage struct {
	Role             string          `json:"role"`
	Content          hubContent      `json:"content"`
	ToolCalls        []hubToolCall   `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	ThinkingBlocks   []thinkingBlock `json:"thinking_blocks,omitempty"`
	CacheControl     json.RawMessage `json:"cache_control,omitempty"`
}

// hubContent is a message's content: parts when non-nil, else text when
// hasText, else null.
type hubContent struct {
	text    string
	hasText bool
	parts   []hubPart
}

func textContent(s string) hubContent { return hubContent{text: s, hasText: true} }

// MarshalJSON implements json.Marshaler.
func (c hubContent) MarshalJSON() ([]byte, error) {
	switch {
	case c.parts != nil:
		return marshal(c.parts)
	case c.hasText:
		return marshal(c.text)
	default:
		return []byte("null"), nil
	}
}

type hubPart struct {
	Type         string           `json:"type"`
	Text         *string          `json:"text,omitempty"`
	ImageURL     *openai.ImageURL `json:"image_url,omitempty"`
	File         *openai.FilePart `json:"file,omitempty"`
	CacheControl json.RawMessage  `json:"cache_control,omitempty"`
}

func textPart(s string, cc json.RawMessage) hubPart {
	return hubPart{Type: openai.PartText, Text: &s, CacheControl: cc}
}

type hubToolCall struct {
	ID       string              `json:"id"`
	Type     string              `json:"type"`
	Function openai.FunctionCall `json:"function"`
}

type hubTool struct {
	Type         string              `json:"type"`
	Function     *openai.FunctionDef `json:"function"`
	CacheControl json.RawMessage     `json:"cache_control,omitempty"`
}

// thinkingBlock is one element of thinking_blocks, in requests, responses
// and stream deltas: {"type":"thinking","thinking","signature"} or
// {"type":"redacted_thinking","data"}.
type thinkingBlock struct {
	Type      string  `json:"type"`
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
	Data      *string `json:"data,omitempty"`
}

// marshal encodes v as JSON without HTML escaping, so that text keeps its
// bytes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
