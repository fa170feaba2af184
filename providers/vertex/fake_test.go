package vertex

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeGoogle stands in for Google's OAuth2 token endpoint (/token) and for
// Vertex AI (/v1/projects/…), checking what they check: the JWT
// assertion's RS256 signature, issuer, scope and audience; the bearer
// token; the URL's project, location, publisher, model and method; and the
// fields each method requires. It answers with the recorded payloads in
// testdata/. Exported for the package's end-to-end tests.
type FakeGoogle struct {
	Server   *httptest.Server
	Key      *rsa.PrivateKey // the service account's key
	Email    string
	KeyID    string
	Project  string
	Location string

	mu        sync.Mutex
	expiresIn int
	fetches   int
	issued    []string
	tokenFail int                  // status the token endpoint answers with; 0 is success
	fail      map[string]fakeError // model → error answer
	requests  []FakeRequest
}

// FakeRequest is one call Vertex AI accepted.
type FakeRequest struct {
	Publisher, Model, Method string
	Token                    string
	Body                     map[string]any
	Raw                      []byte // the body as sent
	Header                   http.Header
}

type fakeError struct {
	status int
	file   string
}

// testKey is generated once: RSA key generation is slow.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// NewFakeGoogle starts the fake; its tokens expire after an hour.
func NewFakeGoogle(t testing.TB) *FakeGoogle {
	f := &FakeGoogle{
		Key:       testKey(),
		Email:     "polygate@my-project.iam.gserviceaccount.com",
		KeyID:     "3c7f0a1e9b2d4c6e8f0a1b2c3d4e5f6a7b8c9d0e",
		Project:   "my-project",
		Location:  "us-central1",
		expiresIn: 3600,
		fail:      map[string]fakeError{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", f.serveToken)
	mux.HandleFunc("/v1/", f.serveVertex)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Server.Close)
	return f
}

// URL is the fake's root, a base_url for the provider.
func (f *FakeGoogle) URL() string { return f.Server.URL }

// SetExpiresIn sets the expires_in of the next tokens, in seconds.
func (f *FakeGoogle) SetExpiresIn(s int) { f.mu.Lock(); f.expiresIn = s; f.mu.Unlock() }

// SetTokenFailure makes the token endpoint answer with status (0: succeed).
func (f *FakeGoogle) SetTokenFailure(status int) { f.mu.Lock(); f.tokenFail = status; f.mu.Unlock() }

// Fail makes calls for model answer with status and testdata/file.
func (f *FakeGoogle) Fail(model string, status int, file string) {
	f.mu.Lock()
	f.fail[model] = fakeError{status, file}
	f.mu.Unlock()
}

// Fetches is how many tokens the token endpoint issued.
func (f *FakeGoogle) Fetches() int { f.mu.Lock(); defer f.mu.Unlock(); return f.fetches }

// Requests returns the Vertex AI calls accepted so far.
func (f *FakeGoogle) Requests() []FakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeRequest(nil), f.requests...)
}

// CredentialsFile writes a service account key file for the fake and
// returns its path.
func (f *FakeGoogle) CredentialsFile(t testing.TB) string {
	return f.credentialsFile(t, f.Key)
}

func (f *FakeGoogle) credentialsFile(t testing.TB, key *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa := map[string]string{
		"type":                        "service_account",
		"project_id":                  f.Project,
		"private_key_id":              f.KeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                f.Email,
		"client_id":                   "104599831522040716254",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   f.Server.URL + "/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/polygate%40my-project.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}
	b, _ := json.MarshalIndent(sa, "", "  ")
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveToken is the JWT bearer grant of Google's token endpoint.
func (f *FakeGoogle) serveToken(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, desc string) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		refuse("invalid_request", "expected a form POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse("unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	if err := f.verifyAssertion(r.PostForm.Get("assertion")); err != nil {
		refuse("invalid_grant", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokenFail != 0 {
		writeJSON(w, f.tokenFail, map[string]string{"error": "internal_failure", "error_description": "Backend Error"})
		return
	}
	f.fetches++
	tok := fmt.Sprintf("ya29.c.fake-token-%d", f.fetches)
	f.issued = append(f.issued, tok)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": f.expiresIn, "token_type": "Bearer"})
}

// verifyAssertion checks a service account's JWT as Google does.
func (f *FakeGoogle) verifyAssertion(a string) error {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return errors.New("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
	}
	var header struct {
		Alg, Typ, Kid string
	}
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" || header.Kid != f.KeyID {
		return fmt.Errorf("Invalid JWT header %+v", header)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("Invalid JWT Signature.")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&f.Key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("Invalid JWT Signature.")
	}
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return errors.New("Invalid JWT claims")
	}
	switch {
	case claims.Iss != f.Email:
		return fmt.Errorf("Invalid issuer %q", claims.Iss)
	case claims.Scope != Scope:
		return fmt.Errorf("Invalid OAuth scope %q", claims.Scope)
	case claims.Aud != f.Server.URL+"/token":
		return fmt.Errorf("Invalid JWT audience %q", claims.Aud)
	case claims.Iat == 0 || claims.Exp <= claims.Iat || claims.Exp-claims.Iat > 3600:
		return errors.New("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe")
	case time.Unix(claims.Iat, 0).After(time.Now().Add(5 * time.Minute)):
		return errors.New("Invalid JWT: issued in the future")
	}
	return nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

var vertexPath = regexp.MustCompile(`^/v1/projects/([^/]+)/locations/([^/]+)/publishers/([^/]+)/models/([^/:]+):([A-Za-z]+)$`)

// geminiFields are the fields of a GenerateContentRequest; Vertex AI
// refuses unknown ones.
var geminiFields = map[string]bool{
	"contents": true, "systemInstruction": true, "tools": true, "toolConfig": true,
	"generationConfig": true, "safetySettings": true, "cachedContent": true, "labels": true,
}

func answerGoogleError(w http.ResponseWriter, status int, gstatus, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": gstatus}})
}

func (f *FakeGoogle) serveVertex(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	latest := ""
	if n := len(f.issued); n > 0 {
		latest = f.issued[n-1]
	}
	f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if latest == "" || auth != "Bearer "+latest {
		answerFile(w, http.StatusUnauthorized, "error_unauthenticated.json")
		return
	}
	m := vertexPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		answerGoogleError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	project, location, publisher, model, method := m[1], m[2], m[3], m[4], m[5]
	if project != f.Project || location != f.Location {
		answerGoogleError(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission denied on resource project "+project+" in "+location)
		return
	}
	var body map[string]any
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		answerGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Content-Type "+ct+" is not JSON")
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		answerGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	var problem string
	switch publisher + ":" + method {
	case "google:generateContent", "google:streamGenerateContent":
		problem = checkGemini(body)
		if method == "streamGenerateContent" && r.URL.Query().Get("alt") != "sse" {
			problem = "streamGenerateContent without alt=sse"
		}
	case "anthropic:rawPredict", "anthropic:streamRawPredict":
		if model == "count-tokens" {
			problem = checkCountTokens(body, method)
		} else {
			problem = checkClaude(body, method == "streamRawPredict")
		}
	case "google:predict":
		problem = checkPredict(body)
	default:
		answerGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Publisher Model `projects/"+project+"/locations/"+location+"/publishers/"+publisher+"/models/"+model+"` does not support "+method)
		return
	}
	if problem != "" {
		answerGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", problem)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, FakeRequest{Publisher: publisher, Model: model, Method: method, Token: strings.TrimPrefix(auth, "Bearer "),
		Body: body, Raw: raw, Header: r.Header.Clone()})
	failModel := model
	if model == "count-tokens" {
		failModel, _ = body["model"].(string)
	}
	fe, failing := f.fail[failModel]
	f.mu.Unlock()
	if failing {
		answerFile(w, fe.status, fe.file)
		return
	}
	switch method {
	case "generateContent":
		answerFile(w, http.StatusOK, "gemini_generate.json")
	case "streamGenerateContent":
		answerStream(w, "gemini_stream.sse")
	case "rawPredict":
		if model == "count-tokens" {
			writeJSON(w, http.StatusOK, map[string]int{"input_tokens": countWords(body)})
			return
		}
		answerFile(w, http.StatusOK, "claude_message.json")
	case "streamRawPredict":
		if model == "claude-stream-error" {
			answerStream(w, "claude_stream_error.sse")
			return
		}
		answerStream(w, "claude_stream.sse")
	case "predict":
		answerPredict(w, body)
	}
}

func checkGemini(body map[string]any) string {
	for k := range body {
		if !geminiFields[k] {
			return `Invalid JSON payload received. Unknown name "` + k + `": Cannot find field.`
		}
	}
	contents, _ := body["contents"].([]any)
	if len(contents) == 0 {
		return "Unable to submit request because it has an empty contents field."
	}
	for i, c := range contents {
		cm, _ := c.(map[string]any)
		role, _ := cm["role"].(string)
		parts, _ := cm["parts"].([]any)
		if (role != "user" && role != "model") || len(parts) == 0 {
			return fmt.Sprintf("contents[%d] needs a role (user or model) and parts", i)
		}
	}
	return ""
}

func checkClaude(body map[string]any, stream bool) string {
	if v, _ := body["anthropic_version"].(string); v != AnthropicVersion {
		return fmt.Sprintf("anthropic_version: %v; want %s", body["anthropic_version"], AnthropicVersion)
	}
	if _, ok := body["model"]; ok {
		return "model: Extra inputs are not permitted"
	}
	if msgs, _ := body["messages"].([]any); len(msgs) == 0 {
		return "messages: Field required"
	}
	if mt, _ := body["max_tokens"].(float64); mt < 1 {
		return "max_tokens: Field required"
	}
	if s, _ := body["stream"].(bool); s != stream {
		return fmt.Sprintf("stream is %v for a %s call", s, map[bool]string{true: "streamRawPredict", false: "rawPredict"}[stream])
	}
	return ""
}

func checkPredict(body map[string]any) string {
	inst, _ := body["instances"].([]any)
	if len(inst) == 0 {
		return "instances is empty"
	}
	for i, in := range inst {
		im, _ := in.(map[string]any)
		if _, ok := im["content"].(string); !ok {
			return fmt.Sprintf("instances[%d].content is required", i)
		}
	}
	if p, ok := body["parameters"]; ok {
		pm, _ := p.(map[string]any)
		if d, ok := pm["outputDimensionality"].(float64); !ok || d < 1 {
			return "parameters.outputDimensionality must be a positive integer"
		}
	}
	return ""
}

func readTestdata(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return b
}

func answerFile(w http.ResponseWriter, status int, name string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(readTestdata(name))
}

// answerStream sends a recorded event stream an event at a time.
func answerStream(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	b := readTestdata(name)
	sep := []byte("\n\n")
	if bytes.Contains(b, []byte("\r\n\r\n")) {
		sep = []byte("\r\n\r\n")
	}
	for len(b) > 0 {
		i := bytes.Index(b, sep)
		if i < 0 {
			i = len(b)
		} else {
			i += len(sep)
		}
		_, _ = w.Write(b[:i])
		_ = rc.Flush()
		b = b[i:]
	}
}

// answerPredict answers the recorded embeddings for two instances, and for
// any other number vectors made from each text: [length, index, 0.5] and
// one token per word.
func answerPredict(w http.ResponseWriter, body map[string]any) {
	inst := body["instances"].([]any)
	if len(inst) == 2 {
		answerFile(w, http.StatusOK, "embed_predict.json")
		return
	}
	preds := make([]any, len(inst))
	for i, in := range inst {
		text := in.(map[string]any)["content"].(string)
		preds[i] = map[string]any{"embeddings": map[string]any{
			"statistics": map[string]any{"truncated": false, "token_count": len(strings.Fields(text))},
			"values":     []float64{float64(len(text)), float64(i), 0.5},
		}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"predictions": preds, "metadata": map[string]any{"billableCharacterCount": 1}})
}

// checkCountTokens checks a count-tokens:rawPredict body as Vertex AI
// does: the Claude model to count for, anthropic_version, messages, and
// nothing a count cannot take.
func checkCountTokens(body map[string]any, method string) string {
	if method != "rawPredict" {
		return "count-tokens supports rawPredict only"
	}
	if v, _ := body["anthropic_version"].(string); v != AnthropicVersion {
		return fmt.Sprintf("anthropic_version: %v; want %s", body["anthropic_version"], AnthropicVersion)
	}
	if m, _ := body["model"].(string); !strings.HasPrefix(m, "claude") {
		return "model: Field required (the Claude model to count tokens for)"
	}
	if msgs, _ := body["messages"].([]any); len(msgs) == 0 {
		return "messages: Field required"
	}
	for _, k := range []string{"stream", "max_tokens"} {
		if _, ok := body[k]; ok {
			return k + ": Extra inputs are not permitted"
		}
	}
	return ""
}

// countWords is the fake's token count: one per word of the system
// prompt and the messages' texts.
func countWords(body map[string]any) int {
	texts := func(v any) (out []string) {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		list, _ := v.([]any)
		for _, b := range list {
			if m, _ := b.(map[string]any); m["type"] == "text" {
				s, _ := m["text"].(string)
				out = append(out, s)
			}
		}
		return out
	}
	n := 0
	all := texts(body["system"])
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		all = append(all, texts(mm["content"])...)
	}
	for _, s := range all {
		n += len(strings.Fields(s))
	}
	return n
}
