package telemetry

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Attempt is the span of one upstream call. A nil *Attempt is valid.
type Attempt struct {
	span  trace.Span
	ended atomic.Bool
}

// Attempt starts the span of upstream call n (from 1) to the configured
// provider with its model id: named "<operation> <upstreamModel>", of kind
// client (the call leaves the process over HTTP). The provider's HTTP
// client sends its context upstream as traceparent when the returned
// context is the one the call is made with.
func (r *Request) Attempt(ctx context.Context, provider, upstreamModel string, n int) (context.Context, *Attempt) {
	if r == nil {
		return ctx, nil
	}
	a := &Attempt{}
	ctx, a.span = r.tracer.Start(ctx, spanName(r.op, upstreamModel),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.GenAIOperationNameKey.String(r.op),
			semconv.GenAIProviderNameKey.String(r.opt.system(provider)),
			semconv.GenAIRequestModel(upstreamModel),
			AttrProvider.String(provider),
			AttrAttempt.Int(n),
		))
	return ctx, a
}

// End records how the call ended: the upstream's HTTP status (0 when none
// came), the error if it failed (error.type per ErrorType, and the span's
// status), why it is retried or falls back (empty when it is not), and
// whether it put the upstream in cooldown. Later calls do nothing.
func (a *Attempt) End(status int, err error, retryReason string, cooldown bool) {
	if a == nil || !a.ended.CompareAndSwap(false, true) {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if et := ErrorType(status, err); et != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(et))
		desc := et
		if err != nil {
			desc = err.Error()
		}
		a.span.SetStatus(codes.Error, desc)
	}
	if retryReason != "" {
		attrs = append(attrs, AttrRetryReason.String(retryReason))
	}
	if cooldown {
		attrs = append(attrs, AttrCooldown.Bool(true))
	}
	a.span.SetAttributes(attrs...)
	a.span.End()
}

// Guardrail is the span of one guardrail check. A nil *Guardrail is valid.
type Guardrail struct {
	span  trace.Span
	ended atomic.Bool
}

// Guardrail starts the span of guardrail name at stage (input, output...),
// named "guardrail <name>", of kind internal. A model call the guardrail
// makes with the returned context is a child of it.
func (r *Request) Guardrail(ctx context.Context, name, stage string) (context.Context, *Guardrail) {
	if r == nil {
		return ctx, nil
	}
	g := &Guardrail{}
	ctx, g.span = r.tracer.Start(ctx, "guardrail "+name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrGuardrail.String(name), AttrGuardrailStage.String(stage)))
	return ctx, g
}

// End records the guardrail's verdict and the action taken (either may be
// empty) and ends the span. A block is a verdict, not a span error.
func (g *Guardrail) End(verdict, action string) {
	if g == nil || !g.ended.CompareAndSwap(false, true) {
		return
	}
	switch {
	case verdict != "" && action != "":
		g.span.SetAttributes(AttrGuardrailVerdict.String(verdict), AttrGuardrailAction.String(action))
	case verdict != "":
		g.span.SetAttributes(AttrGuardrailVerdict.String(verdict))
	case action != "":
		g.span.SetAttributes(AttrGuardrailAction.String(action))
	}
	g.span.End()
}

// CacheSpan is the span of a response cache lookup. A nil *CacheSpan is
// valid.
type CacheSpan struct {
	span  trace.Span
	ended atomic.Bool
}

// CacheLookup starts the span of a response cache lookup, named
// "cache lookup", of kind internal.
func (r *Request) CacheLookup(ctx context.Context) *CacheSpan {
	if r == nil {
		return nil
	}
	c := &CacheSpan{}
	_, c.span = r.tracer.Start(ctx, "cache lookup", trace.WithSpanKind(trace.SpanKindInternal))
	return c
}

// End records whether the cache had the answer and ends the span.
func (c *CacheSpan) End(hit bool) {
	if c == nil || !c.ended.CompareAndSwap(false, true) {
		return
	}
	c.span.SetAttributes(AttrCacheHit.Bool(hit))
	c.span.End()
}
