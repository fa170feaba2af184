package bedrock

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// asProviderError returns err as a *providers.Error, failing the test
// (and returning nil) when it is not one.
func asProviderError(t *testing.T, err error) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Errorf("got %v (%T), want a *providers.Error", err, err)
		return nil
	}
	return pe
}

// TestErrorMapping sends Bedrock's error answers through the transport and
// the parser the provider uses and checks what the client gets.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		status     int
		header     string
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantMsg    string
	}{
		{429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", string(readFile(t, "error_throttling.json")), 429, openai.TypeRateLimit, "ThrottlingException", "Too many requests"},
		{400, "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/", `{"message":"Your request exceeds the service quota for your account."}`, 429, openai.TypeRateLimit, "ServiceQuotaExceededException", "service quota"},
		{429, "ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/", `{"message":"Model is not ready for inference. Wait and try your request again."}`, 503, openai.TypeServer, "ModelNotReadyException", "not ready"},
		{503, "ServiceUnavailableException", `{"message":"Bedrock is unable to process your request."}`, 503, openai.TypeServer, "ServiceUnavailableException", "unable"},
		{400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", string(readFile(t, "error_validation.json")), 400, openai.TypeInvalidRequest, "ValidationException", "must alternate"},
		{403, "AccessDeniedException", `{"Message":"You don't have access to the model with the specified model ID."}`, 403, openai.TypePermission, "AccessDeniedException", "don't have access"},
		{404, "ResourceNotFoundException", `{"message":"The provided model identifier is invalid."}`, 404, openai.TypeNotFound, "ResourceNotFoundException", "model identifier"},
		{408, "ModelTimeoutException", `{"message":"Model has timed out in processing the request."}`, 504, openai.TypeTimeout, "ModelTimeoutException", "timed out"},
		{424, "ModelErrorException", `{"message":"The model returned an error."}`, 502, openai.TypeServer, "ModelErrorException", "returned an error"},
		{403, "", `{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}`, 401, openai.TypeAuthentication, "UnrecognizedClientException", "security token"},
		{403, "InvalidSignatureException", string(readFile(t, "error_signature.json")), 401, openai.TypeAuthentication, "InvalidSignatureException", "does not match"},
		{502, "", `<html><body>Bad Gateway</body></html>`, 502, openai.TypeServer, "", "502"},
	} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("X-Amzn-ErrorType", tc.header)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		p := newProvider(t, &Bedrock{})
		p.auth.base = up.URL
		_, err := p.post(t.Context(), "anthropic.claude-3-haiku-20240307-v1:0", "converse", "application/json", []byte(`{}`), nil)
		up.Close()
		pe := asProviderError(t, err)
		if pe == nil {
			continue
		}
		e := pe.Err
		if e.Status != tc.wantStatus || e.Type != tc.wantType || e.Code != tc.wantCode || !strings.Contains(e.Message, tc.wantMsg) {
			t.Errorf("%d %s: got %d %q %q %q", tc.status, tc.header, e.Status, e.Type, e.Code, e.Message)
		}
		if strings.Contains(e.Message, "Canonical String") || strings.Contains(e.Message, "security-token") {
			t.Errorf("the canonical request leaked into the message: %q", e.Message)
		}
	}
}

// TestErrorsHideCredentials: an upstream (or proxy) that echoes the
// request's credentials never gets them to the client.
func TestErrorsHideCredentials(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENvalue"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"message":"bad request from `+TestAccessKeyID+` with token `+r.Header.Get("X-Amz-Security-Token")+` and `+TestSecretAccessKey+`"}`)
	}))
	defer up.Close()
	p := newProvider(t, &Bedrock{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey, SessionToken: token})
	p.auth.base = up.URL
	_, err := p.post(t.Context(), "m", "converse", "application/json", []byte(`{}`), nil)
	pe := asProviderError(t, err)
	if pe == nil {
		return
	}
	for _, secret := range []string{TestAccessKeyID, TestSecretAccessKey, token} {
		if strings.Contains(pe.Err.Message, secret) {
			t.Errorf("the message holds a credential: %q", pe.Err.Message)
		}
	}
	if !strings.Contains(pe.Err.Message, "[redacted]") {
		t.Errorf("message %q", pe.Err.Message)
	}
}

func TestSanitizeType(t *testing.T) {
	for in, want := range map[string]string{
		"ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/": "ThrottlingException",
		"com.amazon.coral.service#UnrecognizedClientException":                     "UnrecognizedClientException",
		"aws.protocols#ValidationException:extra":                                  "ValidationException",
		" ValidationException ":                                                    "ValidationException",
	} {
		if got := sanitizeType(in); got != want {
			t.Errorf("sanitizeType(%q) = %q, want %q", in, got, want)
		}
	}
}
