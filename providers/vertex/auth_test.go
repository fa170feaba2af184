package vertex

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/polygate/polygate/providers"
)

func chat(t *testing.T, p *Vertex) error {
	t.Helper()
	_, err := p.ChatCompletions(context.Background(), chatRequest("gemini-2.5-flash", false))
	return err
}

func TestProvisionFetchesNoToken(t *testing.T) {
	f := NewFakeGoogle(t)
	newProvider(t, f, nil)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.CredentialsFile(t))
	newProvider(t, f, func(v *Vertex) { v.CredentialsFile = "" })
	if n := f.Fetches(); n != 0 {
		t.Errorf("provisioning fetched %d tokens, want none", n)
	}
}

// TestTokenCached: a token valid for an hour serves every request, and
// concurrent first requests share one fetch.
func TestTokenCached(t *testing.T) {
	f := NewFakeGoogle(t)
	p := newProvider(t, f, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- chat(t, p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := chat(t, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Fetches(); n != 1 {
		t.Errorf("%d token fetches for 13 requests, want 1", n)
	}
	for _, r := range f.Requests() {
		if r.Token != "ya29.c.fake-token-1" {
			t.Errorf("request sent token %q", r.Token)
		}
	}
}

// TestTokenRefreshed: a token that expires within oauth2's early-expiry
// margin (10s) is never reused, so each request fetches a new one (and the
// fake accepts only the newest); once tokens last an hour again, one more
// fetch serves the rest.
func TestTokenRefreshed(t *testing.T) {
	f := NewFakeGoogle(t)
	f.SetExpiresIn(5)
	p := newProvider(t, f, nil)
	for i := range 4 {
		if err := chat(t, p); err != nil {
			t.Fatal(err)
		}
		if n := f.Fetches(); n != i+1 {
			t.Fatalf("after %d requests: %d fetches", i+1, n)
		}
	}
	f.SetExpiresIn(3600)
	for range 3 {
		if err := chat(t, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Fetches(); n != 5 {
		t.Errorf("%d fetches, want 5", n)
	}
	seen := map[string]bool{}
	for _, r := range f.Requests()[:4] {
		if seen[r.Token] {
			t.Errorf("token %q reused after it expired", r.Token)
		}
		seen[r.Token] = true
	}
}

func TestDefaultCredentials(t *testing.T) {
	f := NewFakeGoogle(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
	p := newProvider(t, f, func(v *Vertex) { v.CredentialsFile = "" })
	err := chat(t, p)
	pe := expectCredentialsError(t, err)
	if !strings.Contains(pe.Err.Message, "no application default credentials") || !strings.Contains(pe.Err.Message, `provider "vtx"`) {
		t.Errorf("message %q", pe.Err.Message)
	}
	// The lookup is tried again at the next request.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f.CredentialsFile(t))
	if err := chat(t, p); err != nil {
		t.Fatal(err)
	}
	if err := chat(t, p); err != nil {
		t.Fatal(err)
	}
	if n := f.Fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func expectCredentialsError(t *testing.T, err error) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway || pe.Err.Code != "upstream_credentials" || !providers.Retryable(err) {
		t.Fatalf("got %v, want a retryable 502 upstream_credentials", err)
	}
	return pe
}

// noSecrets checks that msg holds nothing of a credentials file but its
// account.
func noSecrets(t *testing.T, msg string, file string) {
	t.Helper()
	b, _ := os.ReadFile(file)
	var sa map[string]string
	_ = json.Unmarshal(b, &sa)
	for _, k := range []string{"private_key", "private_key_id"} {
		if v := sa[k]; v != "" && strings.Contains(msg, v) {
			t.Errorf("message holds %s: %s", k, msg)
		}
	}
	for _, s := range []string{"PRIVATE KEY", "MII", "eyJ", "assertion"} {
		if strings.Contains(msg, s) {
			t.Errorf("message holds %q: %s", s, msg)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	f := NewFakeGoogle(t)

	// A key the service account does not have: the fake refuses the
	// signature.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file := f.credentialsFile(t, other)
	p := newProvider(t, f, func(v *Vertex) { v.CredentialsFile = file })
	pe := expectCredentialsError(t, chat(t, p))
	want := `provider "vtx" could not get a Google access token: the token endpoint answered 400 Bad Request: invalid_grant (Invalid JWT Signature.)`
	if pe.Err.Message != want {
		t.Errorf("message %q\nwant    %q", pe.Err.Message, want)
	}
	noSecrets(t, pe.Err.Message, file)

	// The token endpoint fails.
	f.SetTokenFailure(http.StatusInternalServerError)
	p = newProvider(t, f, nil)
	pe = expectCredentialsError(t, chat(t, p))
	if !strings.HasSuffix(pe.Err.Message, "the token endpoint answered 500 Internal Server Error: internal_failure (Backend Error)") {
		t.Errorf("message %q", pe.Err.Message)
	}
	f.SetTokenFailure(0)

	// The token endpoint cannot be reached.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	file = rewriteCredentials(t, f.CredentialsFile(t), "token_uri", closed.URL+"/token")
	p = newProvider(t, f, func(v *Vertex) { v.CredentialsFile = file })
	pe = expectCredentialsError(t, chat(t, p))
	// The transport's own words (dial tcp <local address>…) stay out.
	if !strings.HasSuffix(pe.Err.Message, ": connection refused") || strings.Contains(pe.Err.Message, "dial") {
		t.Errorf("message %q", pe.Err.Message)
	}
	noSecrets(t, pe.Err.Message, file)

	// A client that leaves while the token is fetched.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.ChatCompletions(ctx, chatRequest("gemini-2.5-flash", false)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v", err)
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d calls reached Vertex AI without a token", n)
	}
}

func rewriteCredentials(t *testing.T, file, key, value string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sa map[string]any
	if err := json.Unmarshal(b, &sa); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(sa, key)
	} else {
		sa[key] = value
	}
	b, _ = json.Marshal(sa)
	out := filepath.Join(t.TempDir(), "edited.json")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCredentialsFileErrors(t *testing.T) {
	f := NewFakeGoogle(t)
	good := f.CredentialsFile(t)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "key.pem")
	os.WriteFile(notJSON, []byte("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"), 0o600)
	for _, tc := range []struct {
		file, want string
	}{
		{filepath.Join(dir, "missing.json"), "no such file or directory"},
		{notJSON, "not a JSON credentials file"},
		{rewriteCredentials(t, good, "type", "gdch_service_account"), `type "gdch_service_account" is not one of`},
		{rewriteCredentials(t, good, "client_email", ""), "has no client_email"},
		{rewriteCredentials(t, good, "private_key", "-----BEGIN PRIVATE KEY-----\nMIIBogIBAAJBAK\n-----END PRIVATE KEY-----\n"), "is not a PEM RSA private key"},
	} {
		p := &Vertex{Project: "my-project", Location: "us-central1", CredentialsFile: tc.file}
		err := provision(t, p)
		if err == nil {
			t.Errorf("%s: no error", tc.file)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, `reading credentials_file "`+tc.file+`": `) || !strings.Contains(msg, tc.want) {
			t.Errorf("got %q, want %q", msg, tc.want)
		}
		noSecrets(t, msg, tc.file)
	}
}
