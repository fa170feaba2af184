// Package providers defines how Polygate talks to model providers: the
// Provider interface that every provider guest module implements (namespace
// http.ai_gateway.providers), the OpenAI-compatible provider type `openai`,
// the HTTP plumbing they share, and routing of a public model to its
// upstreams. Translating providers (anthropic, gemini, azure) live in
// sub-packages. It imports only Polygate's openai package.
package providers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/polygate/polygate/openai"
)

// Provider is a model provider. Requests and answers are in OpenAI's wire
// format; a provider that speaks another dialect translates both ways.
// Implementations are Caddy modules in the http.ai_gateway.providers
// namespace and must be safe for concurrent use.
type Provider interface {
	// ChatCompletions sends a chat completion request. When req.Stream is
	// set the answer comes as Response.Stream, otherwise as Response.Body.
	ChatCompletions(ctx context.Context, req *Request) (*Response, error)
	// Embeddings sends an embeddings request; the answer is Response.Body.
	Embeddings(ctx context.Context, req *Request) (*Response, error)
}

// Forwarder is implemented by providers that speak OpenAI's HTTP API
// natively. The gateway sends every other OpenAI path (responses, images,
// audio, moderations…) through it unchanged.
type Forwarder interface {
	// Forward sends an OpenAI API request for path (relative to the API
	// root, e.g. "responses") with the provider's credentials and returns
	// the upstream's raw response. The caller closes its body.
	Forward(ctx context.Context, req *ForwardRequest) (*http.Response, error)
}

// Request is one call to a provider, in OpenAI's wire format.
type Request struct {
	// Body is the OpenAI request JSON, its "model" already set to Model.
	Body []byte
	// Model is the upstream model id.
	Model string
	// Stream reports whether a streamed answer is wanted.
	Stream bool
	// Header holds client headers worth forwarding; may be nil.
	Header http.Header
}

// Response is a provider's answer in OpenAI's wire format: exactly one of
// Body and Stream is set.
type Response struct {
	// Header holds upstream headers worth relaying to the client; may be nil.
	Header http.Header
	// Body is the complete JSON answer of a non-streamed call.
	Body []byte
	// Stream yields the chat.completion.chunk events of a streamed call.
	Stream EventStream
}

// EventStream yields the data of a streamed answer's events, one
// chat.completion.chunk JSON object each, without the [DONE] sentinel.
type EventStream interface {
	// Next returns the next event's data, valid until the next call. It
	// returns io.EOF at the end of the stream and an *openai.Error when the
	// upstream failed or sent something that is not a valid event.
	Next() ([]byte, error)
	// Buffered reports whether a further complete event can be read without
	// waiting for the network.
	Buffered() bool
	// Close releases the upstream request; safe to call more than once.
	Close() error
}

// ForwardRequest is a request passed through unchanged.
type ForwardRequest struct {
	Method   string
	Path     string // relative to the API root, e.g. "images/generations"
	RawQuery string
	Header   http.Header // client headers, already stripped of credentials
	Body     []byte
}

// Error is a failed provider call. Err is what the client sees, in OpenAI's
// shape; RetryAfter is the upstream's Retry-After, if any.
type Error struct {
	Err        *openai.Error
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Err.Message }
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is worth trying again, here or at another
// upstream: connection failures, timeouts, 408, 429 and 5xx. Other 4xx are
// the request's fault and are never retried.
func Retryable(err error) bool {
	var pe *Error
	if errors.As(err, &pe) {
		return RetryableStatus(pe.Err.Status)
	}
	var oe *openai.Error
	if errors.As(err, &oe) {
		return oe.Status >= 500
	}
	return false
}

// RetryableStatus reports whether an upstream answer with this HTTP status
// is worth trying again, here or at another upstream: 408, 429 and 5xx.
// Every endpoint classifies upstream answers with it.
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// Identifier is implemented by providers that can say what they really
// are: their type, base URL and a fingerprint of their credentials. Two
// providers with the same identity are the same upstream, whatever they are
// called in which config; routing keeps one health record for them.
type Identifier interface {
	Identity() string
}

// Price is what a model costs, in USD per million tokens.
type Price struct {
	// Input is the price of a million prompt tokens.
	Input float64 `json:"input"`
	// Output is the price of a million completion tokens.
	Output float64 `json:"output"`
}

// Cost returns the USD cost of the given token counts.
func (p Price) Cost(input, output int64) float64 {
	return (float64(input)*p.Input + float64(output)*p.Output) / 1e6
}
