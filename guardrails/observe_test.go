package guardrails

import (
	"context"
	"strings"
	"testing"
)

// recordingObserver records each guardrail step as "<name> <stage> <verdict>".
type recordingObserver struct {
	steps []string
	open  int
}

func (o *recordingObserver) GuardrailStart(ctx context.Context, name string, stage Stage) (context.Context, func(string)) {
	o.open++
	ended := false
	return ctx, func(v string) {
		if ended {
			panic("end called twice")
		}
		ended = true
		o.open--
		o.steps = append(o.steps, name+" "+stage.String()+" "+v)
	}
}

func TestObserverSeesEachGuardrail(t *testing.T) {
	pii := newPII(t, "redact", []string{"input", "output"}, "email")
	pii.Name = "pii"
	re := newRegex(t, "block", []string{"input", "output"}, "forbidden")
	re.Name = "words"
	chain := NewChain([]Guardrail{pii, re})

	cases := []struct {
		name, body string
		want       string
	}{
		{"both pass", `{"messages":[{"role":"user","content":"hello"}]}`, "pii input pass|words input pass"},
		{"redact then pass", `{"messages":[{"role":"user","content":"mail a@example.com"}]}`, "pii input redact|words input pass"},
		{"pass then block", `{"messages":[{"role":"user","content":"forbidden"}]}`, "pii input pass|words input block"},
	}
	for _, tc := range cases {
		obs := &recordingObserver{}
		chain.CheckRequest(WithObserver(context.Background(), obs), EndpointChat, "m", []byte(tc.body))
		if got := strings.Join(obs.steps, "|"); got != tc.want || obs.open != 0 {
			t.Errorf("%s: steps %q (open %d), want %q", tc.name, got, obs.open, tc.want)
		}
	}

	obs := &recordingObserver{}
	chain.CheckResponse(WithObserver(context.Background(), obs),
		[]byte(`{"choices":[{"message":{"role":"assistant","content":"write to b@example.com"},"finish_reason":"stop"},{"message":{"content":"forbidden"},"finish_reason":"stop"}]}`))
	if got := strings.Join(obs.steps, "|"); got != "pii output redact|words output block" || obs.open != 0 {
		t.Errorf("response steps %q (open %d)", got, obs.open)
	}

	obs = &recordingObserver{}
	chain.CheckOutputLocated(WithObserver(context.Background(), obs), []byte(`{"text":"fine"}`), []Located{{Value: "fine", Location: "text", Offset: 8, Len: 6}})
	if got := strings.Join(obs.steps, "|"); got != "pii output pass|words output pass" {
		t.Errorf("located steps %q", got)
	}

	// Without an observer nothing is observed (and nothing breaks).
	if _, _, b := chain.CheckRequest(context.Background(), EndpointChat, "m", []byte(`{"messages":[{"role":"user","content":"forbidden"}]}`)); b == nil {
		t.Error("no block without an observer")
	}
}
