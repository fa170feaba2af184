package bedrock

import (
	"bytes"
	"encoding/json"

	"github.com/polygate/polygate/openai"
)

// The hub (OpenAI chat completions) carries a few members that OpenAI's own
// API lacks and the openai package does not model: thinking_blocks on
// assistant messages, cache_control on content parts, messages and tools,
// and thinking. hubRequest decodes them alongside openai's types.

// hubRequest is a chat completion request with the hub's extensions.
type hubRequest struct {
	openai.ChatCompletionRequest
	// Messages shadows the embedded Messages.
	Messages []hubMessage `json:"messages"`
	// Tools shadows the embedded Tools.
	Tools []hubTool `json:"tools,omitempty"`
	// Thinking is Anthropic's thinking switch
	// ({"type":"enabled","budget_tokens":N}), passed to the model as
	// additionalModelRequestFields.thinking.
	Thinking json.RawMessage `json:"thinking,omitempty"`
}

// hubMessage is a message with its signed thinking blocks and cache
// breakpoint.
type hubMessage struct {
	openai.Message
	// Content shadows the embedded Content, to read parts' cache_control.
	Content        hubContent      `json:"content"`
	ThinkingBlocks []thinkingBlock `json:"thinking_blocks,omitempty"`
	CacheControl   *cacheControl   `json:"cache_control,omitempty"`
}

// hubContent is a message's content plus, for an array, each part's
// cache_control (nil where a part has none).
type hubContent struct {
	openai.Content
	Cache []*cacheControl
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *hubContent) UnmarshalJSON(b []byte) error {
	if err := c.Content.UnmarshalJSON(b); err != nil {
		return err
	}
	c.Cache = nil
	if c.Parts == nil || !bytes.Contains(b, []byte(`"cache_control"`)) {
		return nil
	}
	var parts []struct {
		CacheControl *cacheControl `json:"cache_control"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	c.Cache = make([]*cacheControl, len(parts))
	for i := range parts {
		c.Cache[i] = parts[i].CacheControl
	}
	return nil
}

// cacheAt returns part i's cache_control, or nil.
func (c *hubContent) cacheAt(i int) *cacheControl {
	if i < len(c.Cache) {
		return c.Cache[i]
	}
	return nil
}

// hubTool is a tool with its cache breakpoint.
type hubTool struct {
	openai.Tool
	CacheControl *cacheControl `json:"cache_control,omitempty"`
}

// cacheControl is Anthropic's prompt-cache breakpoint,
// {"type":"ephemeral","ttl":"5m"|"1h"}.
type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// thinkingBlock is a signed reasoning block as the hub carries it:
// {"type":"thinking","thinking":"…","signature":"…"} or
// {"type":"redacted_thinking","data":"…"} (data is Bedrock's
// redactedContent, base64).
type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`
}
