package vertex

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/anthropic"
)

// googleStatus maps Google's canonical error statuses to HTTP statuses
// (google.rpc.Code's HTTP mapping).
var googleStatus = map[string]int{
	"INVALID_ARGUMENT":    http.StatusBadRequest,
	"FAILED_PRECONDITION": http.StatusBadRequest,
	"OUT_OF_RANGE":        http.StatusBadRequest,
	"UNAUTHENTICATED":     http.StatusUnauthorized,
	"PERMISSION_DENIED":   http.StatusForbidden,
	"NOT_FOUND":           http.StatusNotFound,
	"ABORTED":             http.StatusConflict,
	"ALREADY_EXISTS":      http.StatusConflict,
	"RESOURCE_EXHAUSTED":  http.StatusTooManyRequests,
	"CANCELLED":           499,
	"UNKNOWN":             http.StatusInternalServerError,
	"INTERNAL":            http.StatusInternalServerError,
	"DATA_LOSS":           http.StatusInternalServerError,
	"UNIMPLEMENTED":       http.StatusNotImplemented,
	"UNAVAILABLE":         http.StatusServiceUnavailable,
	"DEADLINE_EXCEEDED":   http.StatusGatewayTimeout,
}

// googleError is Google's error shape:
// {"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[…]}}.
type googleError struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

// errorInfo is what an error body says beyond OpenAI's shape.
type errorInfo struct {
	status     int           // the HTTP status of Google's status; 0 when none
	retryAfter time.Duration // google.rpc.RetryInfo's retryDelay
}

// apply gives pe the HTTP status of Google's status and, when the upstream
// sent no Retry-After, the RetryInfo delay.
func (i errorInfo) apply(pe *providers.Error) {
	if i.status != 0 && pe.Err.Status != i.status {
		pe.Err.Status = i.status
		pe.Err.Type = openai.TypeForStatus(i.status)
	}
	if pe.RetryAfter == 0 && i.retryAfter > 0 {
		pe.RetryAfter = i.retryAfter
	}
}

// parseError reads a Vertex AI error body into OpenAI's shape: Google's
// shape (an object, or an array of one as Gemini sometimes sends) with its
// message, and its status as the code; else Anthropic's shape
// ({"type":"error",…}: errors of Claude models themselves); else OpenAI's
// or plain text.
func parseError(status int, body []byte) (*openai.Error, errorInfo) {
	ge, ok := readGoogleError(body)
	if !ok {
		var shape struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(body, &shape) == nil && shape.Type == "error" {
			return anthropic.ParseError(status, body), errorInfo{}
		}
		return openai.ParseError(status, body), errorInfo{}
	}
	var info errorInfo
	if s, ok := googleStatus[ge.Error.Status]; ok {
		status, info.status = s, s
	}
	info.retryAfter = retryDelay(ge.Error.Details)
	return &openai.Error{Status: status, Type: openai.TypeForStatus(status), Code: ge.Error.Status, Message: ge.Error.Message}, info
}

func readGoogleError(body []byte) (googleError, bool) {
	var ge googleError
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var list []googleError
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return ge, false
		}
		ge = list[0]
	} else if json.Unmarshal(body, &ge) != nil {
		return ge, false
	}
	return ge, ge.Error.Message != "" && (ge.Error.Status != "" || ge.Error.Code != 0)
}

// retryDelay returns the retryDelay of a google.rpc.RetryInfo detail
// ("30s", "1.5s"); 0 when there is none.
func retryDelay(details []json.RawMessage) time.Duration {
	for _, d := range details {
		var ri struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		}
		if json.Unmarshal(d, &ri) != nil || !strings.HasSuffix(ri.Type, "google.rpc.RetryInfo") {
			continue
		}
		if v, err := time.ParseDuration(ri.RetryDelay); err == nil && v > 0 {
			return v
		}
	}
	return 0
}
