package anthropic

import (
	"strconv"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Reasoning and signed thinking.
//
// A chat request's reasoning_effort becomes extended thinking with the
// budget providers.ThinkingBudget gives it (minimal 1024, low 2048, medium
// 8192, high 24576 tokens, below max_tokens). A request that sets no
// max_tokens gets the budget plus the provider's max_tokens, so the answer
// keeps its usual room. With thinking on, Anthropic refuses a temperature
// other than 1, a top_p below 0.95 and a forced tool choice: such requests
// are a 400 naming the parameter.
//
// Answers carry the thinking text as reasoning_content and the signed
// blocks as thinking_blocks ({"type":"thinking","thinking","signature"} or
// {"type":"redacted_thinking","data"}), in order. Streams send the text as
// reasoning_content deltas, then a thinking_blocks delta with the block's
// signature alone when the signature comes (a client rebuilds the signed
// block from the text before it and that signature), and a redacted block
// whole. An assistant message that comes back with thinking_blocks gets
// them as its first content blocks, exactly as given, so tool use with
// thinking works across turns; reasoning_content without thinking_blocks
// is not sent (Anthropic refuses unsigned thinking).

func (p *Anthropic) translateReasoning(in *openai.ChatCompletionRequest, clientMax int, out *request) error {
	budget, err := providers.ThinkingBudget(in.ReasoningEffort, clientMax)
	if err != nil {
		return p.reject("reasoning_effort", err.Error())
	}
	if budget == 0 {
		return nil
	}
	if in.Temperature != nil && *in.Temperature != 1 {
		return p.reject("temperature", "with reasoning_effort (extended thinking) Anthropic takes only temperature 1")
	}
	if in.TopP != nil && *in.TopP < 0.95 {
		return p.reject("top_p", "with reasoning_effort (extended thinking) Anthropic takes top_p between 0.95 and 1")
	}
	if tc := in.ToolChoice; tc != nil && (tc.Mode == openai.ToolChoiceRequired || tc.Type == "function") {
		return p.reject("tool_choice", "with reasoning_effort (extended thinking) Anthropic cannot be forced to call a tool: use auto or none")
	}
	out.Thinking = &thinking{Type: "enabled", BudgetTokens: budget}
	if clientMax == 0 {
		out.MaxTokens = budget + p.maxTokens
	}
	return nil
}

// thinkingBlocks turns an assistant message's thinking_blocks back into
// Anthropic's blocks.
func (p *Anthropic) thinkingBlocks(tbs []openai.ThinkingBlock, param string) ([]block, error) {
	var out []block
	for j, tb := range tbs {
		pp := param + "[" + strconv.Itoa(j) + "]"
		switch tb.Type {
		case openai.ThinkingSigned:
			if tb.Signature == "" {
				return nil, p.reject(pp+".signature", "Anthropic takes back only signed thinking blocks")
			}
			text, sig := tb.Thinking, tb.Signature
			out = append(out, block{Type: "thinking", Thinking: &text, Signature: &sig})
		case openai.ThinkingRedacted:
			if tb.Data == "" {
				return nil, p.reject(pp+".data", "a redacted_thinking block needs its data")
			}
			out = append(out, block{Type: "redacted_thinking", Data: tb.Data})
		default:
			return nil, p.reject(pp+".type", "thinking block type must be thinking or redacted_thinking, not "+strconv.Quote(tb.Type))
		}
	}
	return out, nil
}
