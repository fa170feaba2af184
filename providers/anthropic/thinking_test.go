package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// A request without max_tokens keeps its usual room for the answer on top
// of the thinking budget; "none" asks for no thinking.
func TestReasoningEffortBudget(t *testing.T) {
	p := newProvider(t, "")
	for effort, want := range map[string][2]int{"minimal": {1024, 1024 + DefaultMaxTokens}, "high": {24576, 24576 + DefaultMaxTokens}, "none": {0, DefaultMaxTokens}} {
		in := openai.ChatCompletionRequest{ReasoningEffort: effort, Messages: []openai.Message{{Role: "user", Content: openai.TextContent("hi")}}}
		out, err := p.translateRequest(&in, "claude-sonnet-4-5", false)
		if err != nil {
			t.Fatal(err)
		}
		budget := 0
		if out.Thinking != nil {
			budget = out.Thinking.BudgetTokens
		}
		if budget != want[0] || out.MaxTokens != want[1] {
			t.Errorf("%s: budget %d, max_tokens %d; want %v", effort, budget, out.MaxTokens, want)
		}
	}
}

// Cache writes with a one-hour lifetime are reported apart, in answers and
// in streams.
func TestCacheWrite1h(t *testing.T) {
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn",
		"usage":{"input_tokens":20,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"cache_creation":{"ephemeral_5m_input_tokens":30,"ephemeral_1h_input_tokens":20},"output_tokens":5}}`)
	out, err := translateResponse(body, "m", 0)
	if err != nil {
		t.Fatal(err)
	}
	u := gjson.GetBytes(out, "usage")
	if u.Get("prompt_tokens").Int() != 170 || u.Get("prompt_tokens_details.cached_tokens").Int() != 100 ||
		u.Get("prompt_tokens_details.cache_write_tokens").Int() != 50 || u.Get("prompt_tokens_details.cache_write_1h_tokens").Int() != 20 {
		t.Errorf("usage %s", u.Raw)
	}
	var s stream
	s.readUsage(gjson.Parse(`{"input_tokens":20,"cache_creation_input_tokens":50,"cache_creation":{"ephemeral_1h_input_tokens":20}}`))
	b, _ := json.Marshal(s.usage.openAI())
	if gjson.GetBytes(b, "prompt_tokens_details.cache_write_1h_tokens").Int() != 20 {
		t.Errorf("stream usage %s", b)
	}
}
