package messages

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/polygate/polygate/openai"
)

// Anthropic's error types and the statuses it sends them with.
var errorStatus = map[string]int{
	"invalid_request_error": http.StatusBadRequest,
	"authentication_error":  http.StatusUnauthorized,
	"billing_error":         http.StatusPaymentRequired,
	"permission_error":      http.StatusForbidden,
	"not_found_error":       http.StatusNotFound,
	"request_too_large":     http.StatusRequestEntityTooLarge,
	"rate_limit_error":      http.StatusTooManyRequests,
	"api_error":             http.StatusInternalServerError,
	"timeout_error":         http.StatusGatewayTimeout,
	"overloaded_error":      529,
}

// StatusOverloaded is the status Anthropic answers overloaded_error with.
const StatusOverloaded = 529

// errorType returns Anthropic's type and status for e. A Code that is one
// of Anthropic's types (the anthropic provider keeps Anthropic's type
// there) decides, with Anthropic's status for it; otherwise the status
// does: 400 (and other 4xx) invalid_request_error, 401
// authentication_error, 402 billing_error, 403 permission_error, 404
// not_found_error, 413 request_too_large, 429 rate_limit_error, 408 and
// 504 timeout_error, 503 and 529 overloaded_error (sent as 529), other
// 5xx api_error (their status kept). No status means 500.
func errorType(e *openai.Error) (string, int) {
	if st, ok := errorStatus[e.Code]; ok {
		return e.Code, st
	}
	switch s := e.Status; {
	case s == 0:
		return "api_error", http.StatusInternalServerError
	case s == http.StatusUnauthorized:
		return "authentication_error", s
	case s == http.StatusPaymentRequired:
		return "billing_error", s
	case s == http.StatusForbidden:
		return "permission_error", s
	case s == http.StatusNotFound:
		return "not_found_error", s
	case s == http.StatusRequestEntityTooLarge:
		return "request_too_large", s
	case s == http.StatusTooManyRequests:
		return "rate_limit_error", s
	case s == http.StatusRequestTimeout || s == http.StatusGatewayTimeout:
		return "timeout_error", s
	case s == http.StatusServiceUnavailable || s == StatusOverloaded:
		return "overloaded_error", StatusOverloaded
	case s >= 500:
		return "api_error", s
	default:
		return "invalid_request_error", s
	}
}

// ErrorResponse returns the HTTP status and the body of e in Anthropic's
// shape, {"type":"error","error":{"type":…,"message":…}}; see errorType
// for the mapping.
func ErrorResponse(e *openai.Error) (status int, body []byte) {
	typ, status := errorType(e)
	return status, appendErrorBody(make([]byte, 0, 64+len(e.Message)), typ, e.Message)
}

// WriteError sends e to w as Anthropic would.
func WriteError(w http.ResponseWriter, e *openai.Error) {
	status, body := ErrorResponse(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ErrorEvent returns the error event of a stream that fails after it
// started: "event: error" with the body of [ErrorResponse].
func ErrorEvent(e *openai.Error) []byte { return appendErrorEvent(nil, e) }

func appendErrorEvent(b []byte, e *openai.Error) []byte {
	typ, _ := errorType(e)
	b = beginEvent(b, "error")
	return endEvent(appendErrorBody(b, typ, e.Message))
}

func appendErrorBody(b []byte, typ, msg string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = openai.AppendString(b, typ)
	b = append(b, `,"message":`...)
	b = openai.AppendString(b, msg)
	return append(b, "}}"...)
}

// Answer is a whole JSON answer made by the gateway in Anthropic's wire
// format (a translated count_tokens, an error body), as the *http.Response
// a provider's MessagesForwarder returns; 529's status text is
// Anthropic's "Overloaded".
func Answer(status int, h http.Header, body []byte) *http.Response {
	text := http.StatusText(status)
	if status == StatusOverloaded {
		text = "Overloaded"
	}
	return &http.Response{
		Status:     strconv.Itoa(status) + " " + text,
		StatusCode: status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}
