package messages

import (
	"encoding/json"
	"strconv"
)

// Thinking budgets at or above these map to the next reasoning_effort:
// below 8,000 tokens is "low", 8,000 to 23,999 "medium", 24,000 and more
// "high". (Claude Code's "think" asks 4,000, "think hard" 10,000 and
// "ultrathink" 31,999.) "minimal" is never chosen.
const (
	budgetMedium = 8000
	budgetHigh   = 24000
	// minBudget is Anthropic's smallest thinking budget.
	minBudget = 1024
)

// EffortForBudget returns the hub reasoning_effort for a thinking budget
// (budget_tokens of thinking type "enabled").
func EffortForBudget(budget int64) string {
	switch {
	case budget < budgetMedium:
		return "low"
	case budget < budgetHigh:
		return "medium"
	default:
		return "high"
	}
}

// effortLevels maps output_config.effort to reasoning_effort; the hub has
// nothing above "high".
var effortLevels = map[string]string{
	"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high",
}

type outputConfig struct {
	Effort *string          `json:"effort"`
	Format *json.RawMessage `json:"format"`
}

type thinkingConfig struct {
	Type         string          `json:"type"`
	BudgetTokens json.RawMessage `json:"budget_tokens"`
	Display      string          `json:"display"`
}

// thinking sets reasoning_effort from thinking and output_config.effort:
//
//   - thinking "disabled": no reasoning_effort (output_config.effort is
//     then dropped);
//   - thinking "enabled": output_config.effort when set, otherwise
//     EffortForBudget(budget_tokens); budget_tokens below 1,024 is a 400,
//     as at Anthropic;
//   - thinking "adaptive" or "between_tools", or no thinking:
//     output_config.effort when set, otherwise none (the provider's
//     default).
func (t *translator) thinking() error {
	var oc outputConfig
	if raw, ok := t.get("output_config"); ok {
		if err := json.Unmarshal(raw, &oc); err != nil {
			return invalid("output_config", "output_config: Input should be a valid object")
		}
	}
	effort := ""
	if oc.Effort != nil {
		var ok bool
		if effort, ok = effortLevels[*oc.Effort]; !ok {
			t.info.Dropped = append(t.info.Dropped, "output_config.effort")
		}
	}
	raw, ok := t.get("thinking")
	if !ok {
		t.out.ReasoningEffort = effort
		return nil
	}
	var tc thinkingConfig
	if err := json.Unmarshal(raw, &tc); err != nil {
		return invalid("thinking", "thinking: Input should be a valid object")
	}
	switch tc.Display {
	case "", "summarized":
	case "omitted":
		t.info.OmitThinking = true
	default:
		return invalid("thinking.display", "thinking.display: Input should be 'summarized' or 'omitted'")
	}
	switch tc.Type {
	case "disabled":
		if effort != "" {
			t.info.Dropped = append(t.info.Dropped, "output_config.effort")
		}
		t.info.OmitThinking = false
		return nil
	case "enabled":
		if isNull(tc.BudgetTokens) {
			return invalid("thinking.budget_tokens", "thinking.enabled.budget_tokens: Field required")
		}
		budget, err := strconv.ParseInt(string(tc.BudgetTokens), 10, 64)
		if err != nil {
			return invalid("thinking.budget_tokens", "thinking.enabled.budget_tokens: Input should be a valid integer")
		}
		if budget < minBudget {
			return invalid("thinking.budget_tokens", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
		}
		if effort == "" {
			effort = EffortForBudget(budget)
		}
	case "adaptive", "between_tools":
	default:
		return invalid("thinking.type", "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
	}
	t.info.Thinking = true
	t.out.ReasoningEffort = effort
	return nil
}
