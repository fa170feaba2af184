package guardrails

import "context"

// Observer is told of each guardrail a chain runs on a request or a
// non-streamed answer, one guardrail at a time, so that a host can trace
// them (one span per guardrail). Set it on the check's context with
// [WithObserver]; without one, a chain observes nothing and costs nothing
// more.
type Observer interface {
	// GuardrailStart is called before guardrail name runs at stage. The
	// guardrail runs with the returned context (model calls it makes are
	// its children); end is called exactly once after it ran, with its
	// verdict: "pass", or the action it took ("redact", "flag",
	// "block"...).
	GuardrailStart(ctx context.Context, name string, stage Stage) (_ context.Context, end func(verdict string))
}

type observerKey struct{}

// WithObserver returns ctx carrying o for the chains' checks.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

func observerOf(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}

// observed is one guardrail step under an observer. Its zero value (no
// observer) does nothing.
type observed struct {
	end   func(string)
	first int // the recorder's verdict count when the step started
}

// start begins observing st at stage; ctx is the context to run it with.
func startStep(ctx context.Context, o Observer, st *step, stage Stage, rec *Recorder) (context.Context, observed) {
	if o == nil {
		return ctx, observed{}
	}
	sctx, end := o.GuardrailStart(ctx, st.base.Name, stage)
	return sctx, observed{end: end, first: len(rec.verdicts)}
}

// done ends the step: blocked, or with the strongest action of the
// verdicts it recorded, or "pass".
func (ob observed) done(rec *Recorder, blocked bool) {
	if ob.end == nil {
		return
	}
	verdict := "pass"
	if blocked {
		verdict = ActionBlock
	} else {
		for _, v := range rec.verdicts[ob.first:] {
			if verdict == "pass" || v.Action == ActionBlock {
				verdict = v.Action
			}
		}
	}
	ob.end(verdict)
}
