package bedrock

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/polygate/polygate/openai"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Bedrock's errors are {"message":"…"} with the error type in the
// X-Amzn-ErrorType header ("ThrottlingException:http://internal.amazon.com/…")
// or, from some front ends, in the body as "__type" or "code". The shared
// client hands ParseError only the status and the body, so errorTransport
// folds the header into the body and sets the status the gateway should
// act on (a throttled call is 429 whatever status it came with).
type errorTransport struct {
	base http.RoundTripper
}

func (t *errorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	typ, msg, ok := readAWSError(resp.Header.Get("X-Amzn-Errortype"), body)
	if ok {
		resp.StatusCode = errorStatus(typ, resp.StatusCode)
		body, _ = json.Marshal(awsError{Type: typ, Message: msg})
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (t *errorTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// awsError is the body errorTransport leaves for parseError.
type awsError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// readAWSError reads an AWS JSON error: the type from the header (or the
// body's __type or code), the message from message or Message. ok is false
// when the body is not such an error.
func readAWSError(header string, body []byte) (typ, msg string, ok bool) {
	var b struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	if json.Unmarshal(body, &b) != nil {
		return "", "", false
	}
	typ = header
	if typ == "" {
		typ = b.Type
	}
	if typ == "" {
		typ = b.Code
	}
	msg = b.Message
	if msg == "" {
		msg = b.MessageU
	}
	if msg == "" && typ == "" {
		return "", "", false
	}
	return sanitizeType(typ), msg, true
}

// sanitizeType strips the namespace and URI an AWS error type may carry:
// "ThrottlingException:http://…" and "com.amazon.coral#ThrottlingException"
// are both ThrottlingException.
func sanitizeType(t string) string {
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	if i := strings.IndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	return strings.TrimSpace(t)
}

// errorStatus is the status the gateway gives an AWS error type; other
// types keep the upstream's status.
func errorStatus(typ string, status int) int {
	switch strings.ToLower(typ) {
	case "throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception":
		return http.StatusTooManyRequests
	case "modelnotreadyexception", "serviceunavailableexception":
		return http.StatusServiceUnavailable
	case "internalserverexception":
		return http.StatusInternalServerError
	case "modeltimeoutexception":
		return http.StatusGatewayTimeout
	case "modelerrorexception", "modelstreamerrorexception":
		return http.StatusBadGateway
	case "validationexception":
		return http.StatusBadRequest
	case "accessdeniedexception":
		return http.StatusForbidden
	case "resourcenotfoundexception":
		return http.StatusNotFound
	case "unrecognizedclientexception", "invalidsignatureexception", "incompletesignatureexception",
		"missingauthenticationtokenexception", "expiredtokenexception", "invalidclienttokenid",
		"signaturedoesnotmatch":
		return http.StatusUnauthorized
	}
	return status
}

// parseError reads the body errorTransport left (or any other error body)
// into OpenAI's shape: Bedrock's message and, as the code, its error type.
func parseError(status int, body []byte) *openai.Error {
	var e awsError
	if json.Unmarshal(body, &e) != nil || e.Message == "" && e.Type == "" {
		return openai.ParseError(status, body)
	}
	return bedrockError(status, e.Type, e.Message)
}

// bedrockError builds the OpenAI error for an AWS error type and message.
func bedrockError(status int, typ, msg string) *openai.Error {
	msg = cleanMessage(msg)
	if msg == "" {
		msg = "Bedrock returned status " + strconv.Itoa(status)
		if typ != "" {
			msg += " (" + typ + ")"
		}
	}
	e := &openai.Error{Status: status, Type: openai.TypeForStatus(status), Code: typ, Message: msg}
	if status == http.StatusGatewayTimeout {
		e.Type = openai.TypeTimeout
	}
	return e
}

// cleanMessage cuts the canonical request AWS appends to a signature
// mismatch message: it holds the request's signed headers, a session token
// among them.
func cleanMessage(msg string) string {
	if i := strings.Index(msg, "The Canonical String for this request"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

// exceptionStatus is the status of an exception event of a stream
// (lowerCamel names, e.g. throttlingException).
func exceptionStatus(typ string) int {
	return errorStatus(typ, http.StatusBadGateway)
}

// Interface guards
var _ http.RoundTripper = (*errorTransport)(nil)
