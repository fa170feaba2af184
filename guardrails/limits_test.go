package guardrails

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestLimitsModelsAndMessages(t *testing.T) {
	l := &Limits{MaxMessages: 2, Models: []string{"gpt-4o", "gpt-4o-mini"}}
	provision(t, l)
	chain := NewChain([]Guardrail{l})
	two := []byte(`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`)
	if _, _, blk := chain.CheckRequest(context.Background(), EndpointChat, "gpt-4o", two); blk != nil {
		t.Fatal(blk)
	}
	_, v, blk := chain.CheckRequest(context.Background(), EndpointChat, "gpt-5", two)
	if blk == nil || blk.Error() != `blocked by guardrail "limits": model "gpt-5" is not allowed` || v[0].Category != "model" {
		t.Fatalf("block %v", blk)
	}
	three := []byte(`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"user","content":"c"}]}`)
	_, _, blk = chain.CheckRequest(context.Background(), EndpointChat, "gpt-4o", three)
	if blk == nil || blk.Verdict.Category != "max_messages" || blk.Error() != `blocked by guardrail "limits": 3 messages, more than the limit of 2` {
		t.Fatalf("block %v", blk)
	}
}

func TestLimitsTokens(t *testing.T) {
	l := &Limits{MaxInputTokens: 50}
	provision(t, l)
	chain := NewChain([]Guardrail{l})
	body := func(text string) []byte {
		return []byte(fmt.Sprintf(`{"messages":[{"role":"user","content":%q}]}`, text))
	}
	// 20 words of one token each, plus 6 tokens of overhead: under the limit, but more bytes
	// than the limit, so the tokenizer runs.
	if _, _, blk := chain.CheckRequest(context.Background(), EndpointChat, "m", body(strings.Repeat(" hello", 20))); blk != nil {
		t.Fatal(blk)
	}
	_, _, blk := chain.CheckRequest(context.Background(), EndpointChat, "m", body(strings.Repeat(" hello", 60)))
	if blk == nil || blk.Verdict.Category != "max_input_tokens" || blk.Verdict.Location != "messages" {
		t.Fatalf("block %v", blk)
	}
	n, over := l.countTokens(&Request{Endpoint: EndpointChat, Messages: 1, Texts: []Text{{Value: strings.Repeat(" hello", 20)}}})
	if over || n != 26 {
		t.Fatalf("count %d over %v", n, over)
	}
	// Token ID inputs count one each.
	_, _, blk = chain.CheckRequest(context.Background(), EndpointEmbeddings, "e", []byte(`{"input":[[`+strings.Repeat("1,", 60)+`1]]}`))
	if blk == nil {
		t.Fatal("token IDs not counted")
	}
}
