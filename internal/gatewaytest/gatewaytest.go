// Package gatewaytest starts Caddy in-process from a Caddyfile for
// end-to-end tests of the gateway, and holds the helpers those tests share:
// requests with their whole answers, the official OpenAI client pointed at
// the gateway, and checks of OpenAI-shaped errors.
//
// Caddy runs one config per process, so the tests of one package that use
// it must not run in parallel. Call Main from the package's TestMain so that
// Caddy's files go to a temporary directory instead of $HOME.
package gatewaytest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"      // Caddy's standard handlers
	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	_ "github.com/polygate/polygate" // the ai_gateway handler and its guest modules
)

// ClientKey is the API key the helpers send as the client's.
const ClientKey = "sk-client-secret"

// Main runs a package's tests with Caddy's data and config directories (and
// $HOME) in a temporary directory, and stops Caddy at the end.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "polygate-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", dir+"/data")
	os.Setenv("XDG_CONFIG_HOME", dir+"/config")
	os.Setenv("HOME", dir)
	code := m.Run()
	_ = caddy.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Gateway is a Caddy instance started in-process from a Caddyfile.
type Gateway struct {
	T     testing.TB
	URL   string // http://127.0.0.1:port
	Admin string // http://127.0.0.1:adminport
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start loads a Caddyfile with one site on a free port whose block holds
// site, and returns its addresses. The previous config, if any, is replaced
// as by a reload; Caddy is stopped when the test ends.
func Start(t testing.TB, site string) *Gateway {
	t.Helper()
	port, adminPort := FreePort(t), FreePort(t)
	g := &Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	load(t, port, adminPort, site)
	t.Cleanup(func() { _ = caddy.Stop() })
	return g
}

// Reload loads site again on g's ports, as `caddy reload` does.
func (g *Gateway) Reload(site string) {
	g.T.Helper()
	var port, adminPort int
	fmt.Sscanf(g.URL, "http://127.0.0.1:%d", &port)
	fmt.Sscanf(g.Admin, "http://127.0.0.1:%d", &adminPort)
	load(g.T, port, adminPort, site)
	// The old server may still hold connections the kernel queued on the
	// shared listener and reset them as it closes: wait until a fresh
	// connection is served.
	http.DefaultClient.CloseIdleConnections()
	for i := 0; i < 50; i++ {
		resp, err := http.Get(g.URL + "/.polygate-reload-probe")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Caddyfile is the whole Caddyfile Start loads for site.
func Caddyfile(port, adminPort int, site string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	grace_period 1ns
}
:%d {
%s
}
`, adminPort, port, site)
}

func load(t testing.TB, port, adminPort int, site string) {
	t.Helper()
	cf := Caddyfile(port, adminPort, site)
	cfgJSON, err := Adapt(cf)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, cf)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v\n%s", err, cf)
	}
}

// Adapt turns a whole Caddyfile (named "Caddyfile" in errors) into JSON.
func Adapt(cf string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, _, err := adapter.Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
	return out, err
}

// OpenAI returns the official OpenAI client pointed at the gateway's /v1,
// with ClientKey, no retries and a 20s timeout; opts come last.
func (g *Gateway) OpenAI(opts ...option.RequestOption) openaigo.Client {
	base := []option.RequestOption{
		option.WithBaseURL(g.URL + "/v1/"),
		option.WithAPIKey(ClientKey),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(20 * time.Second),
	}
	return openaigo.NewClient(append(base, opts...)...)
}

// Do sends a raw request to the gateway with ClientKey as a bearer token
// and returns the answer with its whole body.
func (g *Gateway) Do(method, path, contentType, body string) (*http.Response, string) {
	g.T.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, g.URL+path, strings.NewReader(body))
	if err != nil {
		g.T.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+ClientKey)
	return RoundTrip(g.T, req)
}

// RoundTrip sends req and returns the response with its whole body.
func RoundTrip(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// OpenAIError is OpenAI's error envelope.
type OpenAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// ExpectOpenAIError checks that an answer is an OpenAI-shaped error with
// the given status (and type and code, when not empty) and returns it.
func ExpectOpenAIError(t testing.TB, resp *http.Response, body string, status int, typ, code string) OpenAIError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e OpenAIError
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	var raw map[string]map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("error body lacks %q: %s", k, body)
		}
	}
	if e.Error.Message == "" {
		t.Errorf("error message is empty: %s", body)
	}
	if typ != "" && e.Error.Type != typ {
		t.Errorf("error type = %q, want %q", e.Error.Type, typ)
	}
	if code != "" && (e.Error.Code == nil || *e.Error.Code != code) {
		t.Errorf("error code = %v, want %q; body: %s", e.Error.Code, code, body)
	}
	return e
}
