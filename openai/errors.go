// Package openai holds the parts of OpenAI's wire format that Polygate reads
// and writes itself: error bodies, server-sent events and the chat types that
// translating providers decode. It imports nothing else of Polygate.
package openai

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error types used in OpenAI error bodies.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
	TypeUpstream       = "upstream_error"
	TypeTimeout        = "timeout_error"
)

// Error is an OpenAI-shaped error: what a client sees as
// {"error":{"message","type","param","code"}} with Status as the HTTP status.
// An empty Param or Code is written as null, like OpenAI does.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param,omitempty"`
	Code    string `json:"code,omitempty"`
}

// NewError returns an error with the given status, type, code and message.
func NewError(status int, typ, code, message string) *Error {
	return &Error{Status: status, Type: typ, Code: code, Message: message}
}

// InvalidRequest returns a 400 invalid_request_error about param.
func InvalidRequest(param, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param, Message: message}
}

func (e *Error) Error() string { return e.Message }

// MarshalJSON writes the full envelope {"error":{...}}.
func (e *Error) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the envelope {"error":{...}} to b.
func (e *Error) AppendJSON(b []byte) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"param":`...)
	b = appendNullable(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, e.Code)
	return append(b, "}}"...)
}

// Write sends e to w as a JSON response with e.Status (500 when unset).
func (e *Error) Write(w http.ResponseWriter) {
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	body := e.AppendJSON(make([]byte, 0, 128+len(e.Message)))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ParseError reads an upstream error body. When body is an OpenAI-shaped error
// (or the common {"error":"text"} / {"message":"text"} variants) its message,
// type, param and code are kept; otherwise the message names the status and
// carries a short, printable prefix of the body.
func ParseError(status int, body []byte) *Error {
	e := &Error{Status: status, Type: TypeForStatus(status)}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil {
		var inner struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   json.RawMessage `json:"param"`
			Code    json.RawMessage `json:"code"`
		}
		switch {
		case len(env.Error) > 0 && env.Error[0] == '{' && json.Unmarshal(env.Error, &inner) == nil && inner.Message != "":
			e.Message = inner.Message
			if inner.Type != "" {
				e.Type = inner.Type
			}
			e.Param = scalarString(inner.Param)
			e.Code = scalarString(inner.Code)
			return e
		case len(env.Error) > 0 && env.Error[0] == '"':
			_ = json.Unmarshal(env.Error, &e.Message)
		case env.Message != "":
			e.Message = env.Message
		}
		if e.Message != "" {
			return e
		}
	}
	e.Message = "upstream returned status " + strconv.Itoa(status)
	if snippet := printablePrefix(body, 200); snippet != "" {
		e.Message += ": " + snippet
	}
	return e
}

// TypeForStatus is the OpenAI error type of an HTTP status: 401
// authentication, 403 permission, 404 not found, 429 rate limit, 5xx server
// error, anything else invalid request.
func TypeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return TypeAuthentication
	case status == http.StatusForbidden:
		return TypePermission
	case status == http.StatusNotFound:
		return TypeNotFound
	case status == http.StatusTooManyRequests:
		return TypeRateLimit
	case status >= 500:
		return TypeServer
	default:
		return TypeInvalidRequest
	}
}

// scalarString turns a JSON string or number into text; null and others give "".
func scalarString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case 'n', '{', '[', 't', 'f':
		return ""
	default:
		return string(raw)
	}
}

func printablePrefix(b []byte, max int) string {
	out := make([]byte, 0, min(len(b), max))
	space := false
	for _, c := range b {
		if len(out) >= max {
			out = append(out, "…"...)
			break
		}
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		if c == ' ' {
			if space || len(out) == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		out = append(out, c)
	}
	for len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1]
	}
	return string(out)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainJSON[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainJSON marks the bytes a JSON string literal holds as they are: all
// but control characters, '"', '\\' and (HTML-safe) '<', '>', '&'. Bytes
// of multi-byte UTF-8 sequences are plain.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s to b as a JSON string literal (HTML-safe).
func AppendString(b []byte, s string) []byte { return appendJSONString(b, s) }
