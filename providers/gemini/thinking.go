package gemini

import (
	"strconv"
	"strings"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// thinkingConfig is generationConfig.thinkingConfig. Gemini 2.5 models
// take a token budget, Gemini 3 models a level; a request may not carry
// both.
type thinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

// Thinking budgets of the Gemini 2.5 models that differ from the shared
// ones (providers.ThinkingBudget).
const (
	// proMinBudget is the smallest budget of Gemini 2.5 Pro, which cannot
	// turn thinking off (its range is 128 to 32768).
	proMinBudget = 128
	// flashLiteMinBudget is the smallest non-zero budget of Gemini 2.5
	// Flash-Lite (0, or 512 to 24576).
	flashLiteMinBudget = 512
)

// thinkingFamily is how a model takes reasoning_effort.
type thinkingFamily int

const (
	// budgetFamily: Gemini 2.5 and models the gateway cannot place
	// (aliases such as gemini-flash-latest, tuned models), which take
	// thinkingBudget (Gemini 3 accepts it too).
	budgetFamily thinkingFamily = iota
	// levelFamily: Gemini 3 and later, which take thinkingLevel.
	levelFamily
	// noThinkingFamily: Gemini 1.x, 2.0 and Gemma, which do not think and
	// refuse a thinkingConfig.
	noThinkingFamily
)

// familyOf places model by its id (the last path segment: models/…,
// publishers/google/models/… and tunedModels/… are all read).
func familyOf(model string) thinkingFamily {
	id := model[strings.LastIndexByte(model, '/')+1:]
	if strings.HasPrefix(id, "gemma-") {
		return noThinkingFamily
	}
	major, minor, ok := geminiVersion(id)
	switch {
	case !ok:
		return budgetFamily
	case major >= 3:
		return levelFamily
	case major < 2 || (major == 2 && minor == 0):
		return noThinkingFamily
	}
	return budgetFamily
}

// geminiVersion reads the version of a model id such as gemini-2.5-flash
// or gemini-3.1-pro-preview: major 2, minor 5; major 3, minor 1. ok is false
// when the id names no version (gemini-flash-latest, gemini-exp-1206).
func geminiVersion(id string) (major, minor int, ok bool) {
	i := strings.Index(id, "gemini-")
	if i < 0 {
		return 0, 0, false
	}
	rest := id[i+len("gemini-"):]
	major, rest, ok = leadingInt(rest)
	if !ok {
		return 0, 0, false
	}
	if r, found := strings.CutPrefix(rest, "."); found {
		minor, _, _ = leadingInt(r)
	}
	return major, minor, true
}

func leadingInt(s string) (int, string, bool) {
	n := 0
	for n < len(s) && n < 9 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	v, err := strconv.Atoi(s[:n])
	return v, s[n:], err == nil
}

// translateThinking maps reasoning_effort to a thinkingConfig for model,
// or nil when the request sets none (the model's default: dynamic
// thinking without thought summaries).
//
// Gemini 3 (thinkingLevel): minimal and low → "low"; medium, high, xhigh
// and max → "high", the two levels every Gemini 3 model takes; none →
// "low" without thoughts, since Gemini 3 cannot turn thinking off.
//
// Gemini 2.5 and unplaced models (thinkingBudget): low, medium, high (and
// xhigh, max) → providers.ThinkingBudget with max_tokens (2048, 8192,
// 24576, lowered to leave 1024 tokens of max_tokens for the answer);
// minimal → the model's smallest budget (Pro 128, Flash-Lite 512, others
// 1024); none → 0, except on 2.5 Pro, which cannot turn thinking off and
// gets its minimum of 128.
//
// Thought summaries (includeThoughts) are asked for whenever the effort
// is set and is not none. On Gemini 1.x, 2.0 and Gemma, which do not
// think, reasoning_effort is dropped. An unknown effort, or max_tokens too
// small to think and answer, is a 400 naming reasoning_effort.
func (p *Gemini) translateThinking(in *openai.ChatCompletionRequest, model string) (*thinkingConfig, error) {
	effort := in.ReasoningEffort
	if effort == "" {
		return nil, nil
	}
	if _, err := providers.ThinkingBudget(effort, 0); err != nil {
		return nil, p.reject("reasoning_effort", err.Error())
	}
	thoughts := effort != "none"
	switch familyOf(model) {
	case noThinkingFamily:
		return nil, nil
	case levelFamily:
		level := "high"
		switch effort {
		case "none", "minimal", "low":
			level = "low"
		}
		return &thinkingConfig{IncludeThoughts: thoughts, ThinkingLevel: level}, nil
	}
	id := model[strings.LastIndexByte(model, '/')+1:]
	pro := strings.Contains(id, "-pro")
	floor := providers.ThinkingBudgetMinimal
	switch {
	case pro:
		floor = proMinBudget
	case strings.Contains(id, "flash-lite"):
		floor = flashLiteMinBudget
	}
	var budget int
	switch effort {
	case "none":
		if pro {
			budget = proMinBudget
		}
	case "minimal":
		budget = floor
	default:
		maxTokens := 0
		if in.MaxCompletionTokens != nil {
			maxTokens = *in.MaxCompletionTokens
		} else if in.MaxTokens != nil {
			maxTokens = *in.MaxTokens
		}
		b, err := providers.ThinkingBudget(effort, max(maxTokens, 0))
		if err != nil {
			return nil, p.reject("reasoning_effort", err.Error())
		}
		budget = b
	}
	return &thinkingConfig{IncludeThoughts: thoughts, ThinkingBudget: &budget}, nil
}
