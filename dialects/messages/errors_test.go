package messages

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/polygate/polygate/openai"
)

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		err    *openai.Error
		status int
		typ    string
	}{
		{openai.InvalidRequest("max_tokens", "max_tokens: Field required"), 400, "invalid_request_error"},
		{openai.NewError(422, openai.TypeInvalidRequest, "", "x"), 422, "invalid_request_error"},
		{openai.NewError(401, openai.TypeAuthentication, "", "x"), 401, "authentication_error"},
		{openai.NewError(402, openai.TypeInvalidRequest, "", "x"), 402, "billing_error"},
		{openai.NewError(403, openai.TypePermission, "", "x"), 403, "permission_error"},
		{openai.NewError(404, openai.TypeNotFound, "", "x"), 404, "not_found_error"},
		{openai.NewError(413, openai.TypeInvalidRequest, "", "x"), 413, "request_too_large"},
		{openai.NewError(429, openai.TypeRateLimit, "", "x"), 429, "rate_limit_error"},
		{openai.NewError(500, openai.TypeServer, "", "x"), 500, "api_error"},
		{openai.NewError(502, openai.TypeUpstream, "", "x"), 502, "api_error"},
		{openai.NewError(503, openai.TypeServer, "", "x"), 529, "overloaded_error"},
		{openai.NewError(504, openai.TypeTimeout, "", "x"), 504, "timeout_error"},
		{openai.NewError(408, openai.TypeTimeout, "", "x"), 408, "timeout_error"},
		{openai.NewError(0, "", "", "x"), 500, "api_error"},
		// The anthropic provider keeps Anthropic's own type as the code.
		{openai.NewError(529, openai.TypeServer, "overloaded_error", "Overloaded"), 529, "overloaded_error"},
		{openai.NewError(500, openai.TypeServer, "overloaded_error", "Overloaded"), 529, "overloaded_error"},
		{openai.NewError(400, openai.TypeInvalidRequest, "billing_error", "x"), 402, "billing_error"},
		{openai.NewError(400, openai.TypeInvalidRequest, "context_length_exceeded", "x"), 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		status, body := ErrorResponse(tt.err)
		want := `{"type":"error","error":{"type":"` + tt.typ + `","message":"` + tt.err.Message + `"}}`
		if status != tt.status || string(body) != want {
			t.Errorf("%d %q %q: got %d %s, want %d %s", tt.err.Status, tt.err.Type, tt.err.Code, status, body, tt.status, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, openai.NewError(http.StatusTooManyRequests, openai.TypeRateLimit, "", `quota "default" <exceeded>`))
	want := `{"type":"error","error":{"type":"rate_limit_error","message":"quota \"default\" \u003cexceeded\u003e"}}`
	if rec.Code != 429 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != want {
		t.Errorf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	ev := string(ErrorEvent(openai.NewError(529, "", "", "Overloaded")))
	if ev != "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n" {
		t.Errorf("event %q", ev)
	}
}
