package bedrock

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
)

// errorAnswer is the Anthropic error answer for e: the status and body of
// messages.ErrorResponse, {"type":"error","error":{"type","message"}}.
// Bedrock's error types reach it through errorStatus: ThrottlingException
// and ServiceQuotaExceededException 429 rate_limit_error,
// ValidationException 400 invalid_request_error, AccessDeniedException 403
// permission_error, ResourceNotFoundException 404 not_found_error,
// ServiceUnavailableException and ModelNotReadyException 529
// overloaded_error, ModelTimeoutException 504 timeout_error,
// InternalServerException 500 and ModelErrorException 502 api_error,
// signature and token errors 401 authentication_error. A known delay is
// sent as Retry-After (whole seconds), Bedrock's request id as
// X-Request-Id.
func errorAnswer(e *openai.Error, retryAfter time.Duration, upstream http.Header) *http.Response {
	status, body := messages.ErrorResponse(e)
	h := answerHeader(upstream, "application/json")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(retryAfter.Seconds())), 10))
	}
	return messages.Answer(status, h, body)
}

// exceptionError is the error an exception message of a stream reports:
// its status from the exception type (errorStatus), or the model's own
// status when a modelStreamErrorException carries one
// (originalStatusCode), and the message; an Anthropic error body in
// originalMessage gives its type and message.
func exceptionError(typ string, payload []byte) *openai.Error {
	code := typ
	if code != "" {
		code = strings.ToUpper(code[:1]) + code[1:] // throttlingException → ThrottlingException
	}
	e := &openai.Error{Status: exceptionStatus(code), Code: code}
	if !gjson.ValidBytes(payload) {
		e.Message = "Bedrock reported " + code + " mid-stream"
		return e
	}
	p := gjson.ParseBytes(payload)
	e.Message = cleanMessage(p.Get("message").String())
	if e.Message == "" {
		e.Message = cleanMessage(p.Get("Message").String())
	}
	if s := p.Get("originalStatusCode").Int(); s >= 400 && s <= 599 {
		e.Status = int(s)
	}
	if om := p.Get("originalMessage").String(); om != "" && gjson.Valid(om) {
		if inner := gjson.Parse(om); inner.Get("type").String() == "error" && inner.Get("error.message").String() != "" {
			e.Code, e.Message = inner.Get("error.type").String(), inner.Get("error.message").String()
		}
	}
	if e.Message == "" {
		e.Message = "Bedrock reported " + code + " mid-stream"
	}
	return e
}
