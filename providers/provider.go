// Package providers defines how Polygate talks to model providers: the
// Provider interface that every provider guest module implements (namespace
// http.ai_gateway.providers), the OpenAI-compatible provider type `openai`,
// the HTTP plumbing they share, and routing of a public model to its
// upstreams. Translating providers (anthropic, gemini, azure) live in
// sub-packages. It imports only Polygate's openai package.
package providers

import (
	"cmp"
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

// Price is what a model costs: tokens in USD per million, other units as
// named. A zero rate for cached or cache-write tokens means the input rate.
type Price struct {
	// Input is the price of a million prompt tokens.
	Input float64 `json:"input"`
	// Output is the price of a million completion tokens.
	Output float64 `json:"output"`
	// Cached is the price of a million prompt tokens read from the
	// provider's prompt cache. Default: Input.
	Cached float64 `json:"cached,omitempty"`
	// CacheWrite is the price of a million prompt tokens written to the
	// provider's prompt cache with the default (5-minute) lifetime.
	// Default: Input.
	CacheWrite float64 `json:"cache_write,omitempty"`
	// CacheWrite1h is the price of a million prompt tokens written with a
	// one-hour lifetime. Default: CacheWrite.
	CacheWrite1h float64 `json:"cache_write_1h,omitempty"`
	// Image is the price of one generated image, used when an images
	// answer has no token usage.
	Image float64 `json:"image,omitempty"`
	// AudioMinute is the price of a minute of transcribed or translated
	// audio, used when the answer has no token usage.
	AudioMinute float64 `json:"audio_minute,omitempty"`
	// TTSChars is the price of a million characters of text to speech.
	TTSChars float64 `json:"tts_chars,omitempty"`
}

// Tokens are the token counts of one call. Input counts every prompt
// token: uncached, read from the cache (Cached) and written to it
// (CacheWrite, of which CacheWrite1h with a one-hour lifetime).
type Tokens struct {
	Input, Cached, CacheWrite, CacheWrite1h, Output int64
}

// Cost returns the USD cost of the given token counts, each kind at its
// own rate.
func (p Price) Cost(t Tokens) float64 {
	cached := cmp.Or(p.Cached, p.Input)
	write := cmp.Or(p.CacheWrite, p.Input)
	write1h := cmp.Or(p.CacheWrite1h, write)
	c1h := min(max(t.CacheWrite1h, 0), max(t.CacheWrite, 0))
	c5m := max(t.CacheWrite, 0) - c1h
	plain := max(t.Input-max(t.Cached, 0)-c5m-c1h, 0)
	return (float64(plain)*p.Input + float64(max(t.Cached, 0))*cached +
		float64(c5m)*write + float64(c1h)*write1h + float64(t.Output)*p.Output) / 1e6
}

// IsZero reports whether p prices nothing.
func (p Price) IsZero() bool { return p == Price{} }

// MessagesForwarder is implemented by providers that take Anthropic's
// Messages API natively (anthropic; bedrock and vertex for Claude models).
// The gateway's /v1/messages front door sends such a provider the client's
// body unchanged but for "model", so that thinking signatures,
// cache_control, server tools and fields nobody knows yet survive.
type MessagesForwarder interface {
	// SpeaksMessages reports whether the upstream model takes Messages
	// requests natively.
	SpeaksMessages(model string) bool
	// ForwardMessages sends a Messages request: Path is "messages" or
	// "messages/count_tokens", Body its JSON with "model" already set to
	// the upstream model, Header the client's headers (anthropic-version
	// and anthropic-beta are relayed). The answer is in Anthropic's wire
	// format whatever the provider: JSON, text/event-stream when the body
	// asks for a stream, and Anthropic's error body on a non-2xx status.
	// The caller closes its body.
	ForwardMessages(ctx context.Context, req *ForwardRequest) (*http.Response, error)
}

// ResponsesSpeaker is implemented by Forwarder providers that can say
// whether their upstream serves OpenAI's Responses API; a Forwarder that
// does not implement it is assumed to.
type ResponsesSpeaker interface {
	SpeaksResponses() bool
}
