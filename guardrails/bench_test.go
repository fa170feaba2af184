package guardrails

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const benchProse = "The quarterly report shows revenue growth of 12 percent, driven by strong demand in the " +
	"European market. Our team met on Tuesday to review the roadmap, and we agreed to prioritize the " +
	"onboarding flow, the billing page and the new search feature. Please summarize the main risks " +
	"and suggest three concrete next steps for the product team, keeping the answer short. "

func benchChain(b testing.TB, on ...string) *Chain {
	return NewChain([]Guardrail{
		newPII(b, "redact", on),
		newRegex(b, "block", on, `(?i)ignore (all )?previous instructions`, `(?i)\bsystem prompt\b`),
	})
}

func BenchmarkCheckRequest1KB(b *testing.B) {
	chain := benchChain(b, "input")
	body, _ := json.Marshal(map[string]any{"model": "gpt-4o", "messages": []any{
		map[string]any{"role": "system", "content": "You are a helpful assistant."},
		map[string]any{"role": "user", "content": strings.Repeat(benchProse, 3)},
	}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		chain.CheckRequest(context.Background(), EndpointChat, "gpt-4o", body)
	}
}

func BenchmarkStreamChunk(b *testing.B) {
	chain := benchChain(b, "output")
	words := strings.Fields(strings.Repeat(benchProse, 2))
	chunks := make([][]byte, len(words))
	for i, w := range words {
		// Members in the order OpenAI and the gateway's translators write them.
		content, _ := json.Marshal(" " + w)
		chunks[i] = []byte(`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_b376dfbbd5","choices":[{"index":0,"delta":{"content":` + string(content) + `},"logprobs":null,"finish_reason":null}]}`)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		f := chain.NewStream(context.Background())
		for _, c := range chunks {
			f.Process(c)
		}
		f.Finish()
		n += len(chunks)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/chunk")
}

func BenchmarkDetectors(b *testing.B) {
	s := strings.Repeat(benchProse, 3)
	for _, name := range piiCategories {
		d := piiDetectors[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				d.next(s, 0, true)
			}
		})
	}
}
