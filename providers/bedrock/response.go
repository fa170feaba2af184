package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/polygate/polygate/openai"
)

var jsonNull = json.RawMessage("null")

// openAI converts usage: every input token, cached or not, counts as a
// prompt token; cache reads are cached_tokens, cache writes
// cache_write_tokens and those with a one-hour TTL (cacheDetails)
// cache_write_1h_tokens.
func (u *tokenUsage) openAI() *openai.Usage {
	write, write1h := u.CacheWriteInputTokens, 0
	detailed := 0
	for _, d := range u.CacheDetails {
		detailed += max(d.InputTokens, 0)
		if d.TTL == "1h" {
			write1h += max(d.InputTokens, 0)
		}
	}
	if write == 0 {
		write = detailed
	}
	prompt := u.InputTokens + u.CacheReadInputTokens + write
	return &openai.Usage{
		PromptTokens:     prompt,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      prompt + u.OutputTokens,
		PromptTokensDetails: &openai.PromptTokensDetails{
			CachedTokens:       u.CacheReadInputTokens,
			CacheWriteTokens:   write,
			CacheWrite1hTokens: min(write1h, write),
		},
	}
}

// finishReason maps a Converse stopReason to an OpenAI finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return openai.FinishLength
	case "tool_use":
		return openai.FinishToolCalls
	case "guardrail_intervened", "content_filtered":
		return openai.FinishContentFilter
	default: // end_turn, stop_sequence, malformed_model_output, malformed_tool_use
		return openai.FinishStop
	}
}

// translateResponse turns a Converse answer into a chat.completion: text
// blocks are joined into the content, toolUse blocks become tool_calls and
// reasoningContent blocks reasoning_content and thinking_blocks; other
// blocks (citations, guard content, images) are dropped.
func translateResponse(body []byte, id, model string, created int64) ([]byte, error) {
	var r converseResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("decoding the Converse response: " + err.Error())
	}
	if r.Output.Message == nil {
		return nil, errors.New("the answer has no output message")
	}
	msg := openai.Message{Role: openai.RoleAssistant}
	var text, reasoning []byte
	hasText, hasReasoning := false, false
	for _, b := range r.Output.Message.Content {
		switch {
		case b.Text != nil:
			text = append(text, *b.Text...)
			hasText = true
		case b.ToolUse != nil:
			args := "{}"
			if !isNull(b.ToolUse.Input) {
				var buf bytes.Buffer
				if json.Compact(&buf, b.ToolUse.Input) == nil {
					args = buf.String()
				}
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
				ID: b.ToolUse.ToolUseID, Type: "function",
				Function: openai.FunctionCall{Name: b.ToolUse.Name, Arguments: args},
			})
		case b.ReasoningContent != nil:
			rc := b.ReasoningContent
			switch {
			case rc.ReasoningText != nil:
				reasoning = append(reasoning, rc.ReasoningText.Text...)
				hasReasoning = true
				if rc.ReasoningText.Signature != "" {
					msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: openai.ThinkingSigned, Thinking: rc.ReasoningText.Text, Signature: rc.ReasoningText.Signature})
				}
			case rc.RedactedContent != "":
				msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: openai.ThinkingRedacted, Data: rc.RedactedContent})
			}
		}
	}
	if hasText {
		msg.Content = openai.TextContent(string(text))
	}
	if hasReasoning {
		s := string(reasoning)
		msg.ReasoningContent = &s
	}
	return json.Marshal(&openai.ChatCompletion{
		ID:      id,
		Object:  "chat.completion",
		Created: created,
		Model:   model,
		Choices: []openai.Choice{{Message: msg, FinishReason: finishReason(r.StopReason), Logprobs: jsonNull}},
		Usage:   r.Usage.openAI(),
	})
}
