package vertex

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// auth gets the access tokens of one provider, from a credentials file read
// when the config is loaded or from the application default credentials
// found at the first request. A token is reused until oauth2 considers it
// expired (10 seconds before its expiry), then fetched again; concurrent
// requests wait for one fetch.
type auth struct {
	ctx context.Context // carries the HTTP client of token requests

	mu sync.Mutex
	ts oauth2.TokenSource // nil until the default credentials are found

	cached atomic.Pointer[oauth2.Token]
}

// credentialTypes are the credentials file types accepted.
var credentialTypes = []google.CredentialsType{
	google.ServiceAccount, google.AuthorizedUser, google.ExternalAccount, google.ImpersonatedServiceAccount,
}

// fileAuth reads a credentials file. Errors name the file and what is
// wrong, never its contents.
func fileAuth(ctx context.Context, path string) (*auth, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("reading credentials_file %q: "+format, append([]any{path}, args...)...)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fail("%v", err)
	}
	var head struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fail("not a JSON credentials file")
	}
	typ := google.CredentialsType(head.Type)
	known := false
	for _, t := range credentialTypes {
		known = known || t == typ
	}
	if !known {
		return nil, fail("type %q is not one of service_account, authorized_user, external_account, impersonated_service_account", head.Type)
	}
	if typ == google.ServiceAccount {
		if head.ClientEmail == "" {
			return nil, fail("the service account key has no client_email")
		}
		if !rsaKey(head.PrivateKey) {
			return nil, fail("the service account key's private_key is not a PEM RSA private key")
		}
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, b, typ, Scope)
	if err != nil {
		return nil, fail("%v", err)
	}
	return &auth{ctx: ctx, ts: oauth2.ReuseTokenSource(nil, creds.TokenSource)}, nil
}

// rsaKey reports whether s is a PEM RSA private key (PKCS#8 or PKCS#1), the
// kind service account tokens are signed with.
func rsaKey(s string) bool {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// defaultAuth uses the application default credentials, looked up at the
// first request (and again at the next one while none are found).
func defaultAuth(ctx context.Context) *auth { return &auth{ctx: ctx} }

// errNoDefaultCredentials wraps a failed lookup of the default credentials.
type errNoDefaultCredentials struct{ err error }

func (e errNoDefaultCredentials) Error() string {
	return "no application default credentials (set credentials_file or GOOGLE_APPLICATION_CREDENTIALS): " + e.err.Error()
}

// source returns the token source, looking up the default credentials if
// needed.
func (a *auth) source() (oauth2.TokenSource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ts != nil {
		return a.ts, nil
	}
	creds, err := google.FindDefaultCredentials(a.ctx, Scope)
	if err != nil {
		return nil, errNoDefaultCredentials{err}
	}
	a.ts = oauth2.ReuseTokenSource(nil, creds.TokenSource)
	return a.ts, nil
}

type tokenResult struct {
	token string
	err   error
}

// token returns a valid access token. Fetching one does not outlive ctx
// for the caller (the fetch itself finishes in the background, bounded by
// the token client's timeout, and fills the cache).
func (a *auth) token(ctx context.Context) (string, error) {
	if t := a.cached.Load(); t != nil && t.Valid() {
		return t.AccessToken, nil
	}
	ch := make(chan tokenResult, 1)
	go func() { ch <- a.fetch() }()
	select {
	case r := <-ch:
		return r.token, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (a *auth) fetch() tokenResult {
	ts, err := a.source()
	if err != nil {
		return tokenResult{err: err}
	}
	t, err := ts.Token()
	if err != nil {
		return tokenResult{err: err}
	}
	if t.AccessToken == "" {
		return tokenResult{err: errors.New("the token endpoint sent no access token")}
	}
	a.cached.Store(t)
	return tokenResult{token: t.AccessToken}
}

// token returns an access token for a request, or the error a client sees:
// context.Canceled when the client left, a 504 when ctx expired, a 502
// saying why no token could be had otherwise.
func (p *Vertex) token(ctx context.Context) (string, error) {
	t, err := p.auth.token(ctx)
	if err == nil {
		return t, nil
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return "", context.Canceled
		}
		return "", &providers.Error{Err: openai.NewError(http.StatusGatewayTimeout, openai.TypeTimeout, "upstream_timeout",
			"provider "+strconv.Quote(p.client.Name)+" timed out getting a Google access token")}
	}
	return "", &providers.Error{Err: openai.NewError(http.StatusBadGateway, openai.TypeUpstream, "upstream_credentials",
		"provider "+strconv.Quote(p.client.Name)+" could not get a Google access token: "+describeTokenError(err))}
}

// describeTokenError says why a token could not be had, without secrets:
// the token endpoint's status and OAuth2 error code and description rather
// than its whole answer.
func describeTokenError(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err.Error()
	}
	msg := "the token endpoint answered"
	if re.Response != nil {
		msg += " " + re.Response.Status
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code, desc = body.Error, body.Description
		}
	}
	if code = printable(code, 64); code != "" {
		msg += ": " + code
		if desc = printable(desc, 200); desc != "" {
			msg += " (" + desc + ")"
		}
	}
	return msg
}

// printable returns s cut to n bytes, with control characters dropped.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// tokenTransport sends token requests and words their transport failures
// like the provider's own (no local addresses or resolvers), since the
// OAuth2 library passes the failure's text on.
type tokenTransport struct{ base http.RoundTripper }

func (t *tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, transportCause(err)
	}
	return resp, nil
}

// transportCause words a failure to reach the token endpoint.
func transportCause(err error) error {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve host %q", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errors.New("connection reset")
	}
	return errors.New("connection failed")
}
