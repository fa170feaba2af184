package telemetry

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Options are a gateway's tracing settings.
type Options struct {
	// TraceContent records prompts and completions on the request span
	// (gen_ai.input.messages, gen_ai.output.messages), each cut to
	// MaxContentBytes. Off by default: they may hold personal data.
	TraceContent bool
	// ProviderSystem gives the gen_ai.provider.name of a configured
	// provider (e.g. func(name) string { return SystemOf(providers[name]) });
	// nil means the configured name itself.
	ProviderSystem func(provider string) string
}

func (o *Options) system(provider string) string {
	if o.ProviderSystem != nil {
		if s := o.ProviderSystem(provider); s != "" {
			return s
		}
	}
	return provider
}

// Request is the span of one gateway request. A nil *Request (tracing off)
// is valid: its methods do nothing. FirstToken and End are safe to call
// from any goroutine and act once; Content must happen before End.
type Request struct {
	span   trace.Span
	tracer trace.Tracer
	opt    Options
	start  time.Time
	op     string // gen_ai.operation.name

	firstToken atomic.Bool
	ttft       atomic.Int64 // nanoseconds from start to the first token, set with firstToken
	ended      atomic.Bool
	model      string // gen_ai.request.model learnt after the start, set at End

	// Content, kept until End (when the finish reasons are known).
	prompt, completion string
	hasContent         bool
}

// Result is what a request ended with, for Request.End.
type Result struct {
	// ResponseModel is the model that answered, as the upstream named it.
	ResponseModel string
	// Provider is the configured name of the provider that answered.
	Provider string
	// ResponseID is the upstream's id of the completion (chatcmpl-..., msg_...).
	ResponseID string
	// CallerID identifies the caller; never a key.
	CallerID string
	// Token counts as the upstream reported them; InputTokens includes
	// CachedTokens (cache reads) and CacheWriteTokens.
	InputTokens, OutputTokens, CachedTokens, CacheWriteTokens int64
	// FinishReasons holds one reason per choice (stop, length, tool_calls...).
	FinishReasons []string
	// CostUSD is what the request cost.
	CostUSD float64
	// Status is the HTTP status sent to the client.
	Status int
	// ErrorType, when not empty, marks the request failed (see ErrorType).
	ErrorType string
}

// StartRequest starts the span of a gateway request for endpoint (the
// gateway endpoint: chat/completions, responses, messages, embeddings...)
// and the model the client asked for (empty when not known yet; see
// SetRequestModel), as a child of the span in ctx, with
// that span's tracer provider. The span is named "<operation> <model>"
// (e.g. "chat gpt-4o"), of kind internal. When ctx holds no recording span
// it returns ctx and nil.
func StartRequest(ctx context.Context, endpoint, requestModel string, opt Options) (context.Context, *Request) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	tracer := tracerOf(parent.TracerProvider())
	op := Operation(endpoint)
	r := &Request{tracer: tracer, opt: opt, op: op, start: time.Now()}
	attrs := make([]attribute.KeyValue, 2, 3)
	attrs[0], attrs[1] = semconv.GenAIOperationNameKey.String(op), AttrEndpoint.String(endpoint)
	if requestModel != "" {
		attrs = append(attrs, semconv.GenAIRequestModel(requestModel))
	}
	ctx, r.span = tracer.Start(ctx, spanName(op, requestModel),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(r.start),
		trace.WithAttributes(attrs...))
	return ctx, r
}

// SetRequestModel names the model the client asked for when it was not
// known at StartRequest (the body is read after the span starts): it
// renames the span "<operation> <model>", and End sets
// gen_ai.request.model.
func (r *Request) SetRequestModel(model string) {
	if r == nil || model == "" {
		return
	}
	r.model = model
	r.span.SetName(spanName(r.op, model))
}

// lastTracer caches the tracer of the last tracer provider seen: a
// provider's Tracer looks its scope up under a lock on every call, and
// Caddy has one provider.
var lastTracer atomic.Pointer[providerTracer]

type providerTracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if last := lastTracer.Load(); last != nil && last.tp == tp {
		return last.tracer
	}
	t := tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	lastTracer.Store(&providerTracer{tp: tp, tracer: t})
	return t
}

// SetEndpoint names the endpoint when it was not known at StartRequest
// (a passed-through path): it sets polygate.endpoint and the operation.
func (r *Request) SetEndpoint(endpoint string) {
	if r == nil || endpoint == "" {
		return
	}
	r.op = Operation(endpoint)
	r.span.SetAttributes(semconv.GenAIOperationNameKey.String(r.op), AttrEndpoint.String(endpoint))
	r.span.SetName(r.op)
}

func spanName(op, model string) string {
	if model == "" {
		return op
	}
	return op + " " + model
}

// FirstToken records, once, that the first token was sent to the client:
// an event "polygate.first_token" and gen_ai.response.time_to_first_chunk
// (seconds since the request started).
func (r *Request) FirstToken() {
	if r == nil || !r.firstToken.CompareAndSwap(false, true) {
		return
	}
	now := time.Now()
	r.ttft.Store(int64(max(now.Sub(r.start), 1)))
	r.span.AddEvent("polygate.first_token", trace.WithTimestamp(now))
}

// RecordsContent reports whether Content records anything: the request
// is traced with trace_content on. Callers check it before extracting the
// texts.
func (r *Request) RecordsContent() bool { return r != nil && r.opt.TraceContent }

// Content records the prompt and the completion, only with
// Options.TraceContent. They are written at End.
func (r *Request) Content(prompt, completion string) {
	if r == nil || !r.opt.TraceContent {
		return
	}
	r.prompt, r.completion, r.hasContent = prompt, completion, true
}

// End records the result and ends the span; later calls do nothing.
func (r *Request) End(res Result) {
	if r == nil || !r.ended.CompareAndSwap(false, true) {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 16)
	if r.model != "" {
		attrs = append(attrs, semconv.GenAIRequestModel(r.model))
	}
	if ttft := r.ttft.Load(); ttft > 0 {
		attrs = append(attrs, semconv.GenAIResponseTimeToFirstChunk(time.Duration(ttft).Seconds()))
	}
	if res.Provider != "" {
		attrs = append(attrs,
			semconv.GenAIProviderNameKey.String(r.opt.system(res.Provider)),
			AttrProvider.String(res.Provider))
	}
	if res.ResponseModel != "" {
		attrs = append(attrs, semconv.GenAIResponseModel(res.ResponseModel))
	}
	if res.ResponseID != "" {
		attrs = append(attrs, semconv.GenAIResponseID(res.ResponseID))
	}
	if len(res.FinishReasons) > 0 {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(res.FinishReasons...))
	}
	if res.InputTokens > 0 || res.OutputTokens > 0 {
		attrs = append(attrs,
			semconv.GenAIUsageInputTokens(int(res.InputTokens)),
			semconv.GenAIUsageOutputTokens(int(res.OutputTokens)))
	}
	if res.CachedTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheReadInputTokens(int(res.CachedTokens)))
	}
	if res.CacheWriteTokens > 0 {
		attrs = append(attrs, semconv.GenAIUsageCacheCreationInputTokens(int(res.CacheWriteTokens)))
	}
	if res.CostUSD > 0 {
		attrs = append(attrs, AttrCostUSD.Float64(res.CostUSD))
	}
	if res.CallerID != "" {
		attrs = append(attrs, AttrCallerID.String(res.CallerID))
	}
	if res.Status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(res.Status))
	}
	if r.hasContent {
		attrs = appendContent(attrs, r.prompt, r.completion, res.FinishReasons)
	}
	if res.ErrorType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(res.ErrorType))
		r.span.SetStatus(codes.Error, res.ErrorType)
	}
	r.span.SetAttributes(attrs...)
	r.span.End()
}
