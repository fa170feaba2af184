package bedrock

import (
	"bytes"
	"encoding/json"

	"github.com/polygate/polygate/openai"
)

// The hub (OpenAI chat completions) carries members OpenAI's own API
// lacks; openai's types model thinking_blocks and cache_control, and
// hubRequest adds the one they do not: Anthropic's thinking switch.

// hubRequest is a chat completion request with the hub's extensions.
type hubRequest struct {
	openai.ChatCompletionRequest
	// Thinking is Anthropic's thinking switch
	// ({"type":"enabled","budget_tokens":N}), passed to the model as
	// additionalModelRequestFields.thinking. It wins over reasoning_effort.
	Thinking json.RawMessage `json:"thinking,omitempty"`
}

// cacheControl is Anthropic's prompt-cache breakpoint,
// {"type":"ephemeral","ttl":"5m"|"1h"}, read from a cache_control member.
type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// parseCacheControl reads a cache_control member of a message, a content
// part or a tool: nil when it is absent, null or not an object (a hint
// the gateway cannot read is dropped, not refused).
func parseCacheControl(raw json.RawMessage) *cacheControl {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var cc cacheControl
	if json.Unmarshal(raw, &cc) != nil {
		return nil
	}
	return &cc
}
