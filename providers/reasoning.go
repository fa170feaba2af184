package providers

import "fmt"

// Thinking budgets: how a chat request's reasoning_effort becomes the
// token budget of a provider that takes one (Anthropic thinking, Gemini 2.5
// thinkingBudget, Claude on Bedrock and Vertex). Anthropic's minimum is
// 1024 tokens and the budget must stay below max_tokens.
const (
	ThinkingBudgetMinimal = 1024
	ThinkingBudgetLow     = 2048
	ThinkingBudgetMedium  = 8192
	ThinkingBudgetHigh    = 24576
	// ThinkingBudgetFloor is the smallest budget Anthropic accepts.
	ThinkingBudgetFloor = 1024
)

// ThinkingBudget returns the thinking budget for reasoning_effort given
// the request's max_tokens (0 when the client set none): minimal 1024, low
// 2048, medium 8192, high (and xhigh, max) 24576 tokens, lowered to leave
// at least 1024 tokens of max_tokens for the answer but never below 1024.
// It returns 0 and no error for "" and "none" (no thinking), and an error
// naming the problem for an unknown effort or a max_tokens too small to
// think (at most 2048: the 1024-token minimum budget plus an answer).
func ThinkingBudget(effort string, maxTokens int) (int, error) {
	var budget int
	switch effort {
	case "", "none":
		return 0, nil
	case "minimal":
		budget = ThinkingBudgetMinimal
	case "low":
		budget = ThinkingBudgetLow
	case "medium":
		budget = ThinkingBudgetMedium
	case "high", "xhigh", "max":
		budget = ThinkingBudgetHigh
	default:
		return 0, fmt.Errorf("reasoning_effort must be none, minimal, low, medium or high, not %q", effort)
	}
	if maxTokens > 0 {
		if maxTokens <= 2*ThinkingBudgetFloor {
			return 0, fmt.Errorf("reasoning_effort %q needs max_tokens above %d (a %d-token thinking budget plus the answer), not %d",
				effort, 2*ThinkingBudgetFloor, ThinkingBudgetFloor, maxTokens)
		}
		budget = max(min(budget, maxTokens-ThinkingBudgetFloor), ThinkingBudgetFloor)
	}
	return budget, nil
}
