package providers

import "testing"

func TestThinkingBudget(t *testing.T) {
	for _, tc := range []struct {
		effort    string
		maxTokens int
		want      int
		err       bool
	}{
		{"", 0, 0, false},
		{"none", 4096, 0, false},
		{"minimal", 0, 1024, false},
		{"low", 0, 2048, false},
		{"medium", 0, 8192, false},
		{"high", 0, 24576, false},
		{"xhigh", 100000, 24576, false},
		{"high", 10000, 8976, false},   // leaves 1024 for the answer
		{"medium", 2049, 1025, false},  // just above the floor
		{"low", 2048, 0, true},         // too small to think and answer
		{"minimal", 3000, 1024, false}, // budget already fits
		{"extreme", 0, 0, true},
	} {
		got, err := ThinkingBudget(tc.effort, tc.maxTokens)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ThinkingBudget(%q, %d) = %d, %v; want %d, error %v", tc.effort, tc.maxTokens, got, err, tc.want, tc.err)
		}
		if err == nil && got > 0 && tc.maxTokens > 0 && got >= tc.maxTokens {
			t.Errorf("ThinkingBudget(%q, %d) = %d is not below max_tokens", tc.effort, tc.maxTokens, got)
		}
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{Input: 3, Output: 15, Cached: 0.3, CacheWrite: 3.75, CacheWrite1h: 6}
	// 1M prompt tokens: 100k cache reads, 200k writes of which 50k for 1h.
	got := p.Cost(Tokens{Input: 1_000_000, Cached: 100_000, CacheWrite: 200_000, CacheWrite1h: 50_000, Output: 10_000})
	want := 0.7*3 + 0.1*0.3 + 0.15*3.75 + 0.05*6 + 0.01*15
	if diff := got - want; diff > 1e-12 || diff < -1e-12 {
		t.Errorf("cost %v, want %v", got, want)
	}
	// Unset rates fall back: cached and writes at the input rate, 1h at the write rate.
	q := Price{Input: 2, Output: 8, CacheWrite: 2.5}
	got = q.Cost(Tokens{Input: 1_000_000, Cached: 500_000, CacheWrite: 100_000, CacheWrite1h: 100_000})
	want = 0.4*2 + 0.5*2 + 0.1*2.5
	if diff := got - want; diff > 1e-12 || diff < -1e-12 {
		t.Errorf("defaulted cost %v, want %v", got, want)
	}
}
