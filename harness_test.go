package polygate_test

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
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	_ "github.com/polygate/polygate"
)

func TestMain(m *testing.M) {
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

// gateway is a Caddy instance started in-process from a Caddyfile.
type gateway struct {
	t     *testing.T
	URL   string // http://127.0.0.1:port
	Admin string // http://127.0.0.1:adminport
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGateway loads a Caddyfile whose site block holds site (with
// {PORT} standing for the listener) and returns its addresses. The previous
// config, if any, is replaced as by a reload.
func startGateway(t *testing.T, site string) *gateway {
	t.Helper()
	port, adminPort := freePort(t), freePort(t)
	g := &gateway{t: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	loadConfig(t, port, adminPort, site)
	t.Cleanup(func() { _ = caddy.Stop() })
	return g
}

// reloadSamePort loads site again on g's ports, as `caddy reload` does.
func reloadSamePort(t *testing.T, g *gateway, site string) {
	t.Helper()
	var port, adminPort int
	fmt.Sscanf(g.URL, "http://127.0.0.1:%d", &port)
	fmt.Sscanf(g.Admin, "http://127.0.0.1:%d", &adminPort)
	loadConfig(t, port, adminPort, site)
}

func loadConfig(t *testing.T, port, adminPort int, site string) {
	t.Helper()
	cf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	grace_period 1ns
}
:%d {
%s
}
`, adminPort, port, site)
	cfgJSON := adaptCaddyfile(t, cf)
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v\n%s", err, cf)
	}
}

func adaptCaddyfile(t *testing.T, cf string) []byte {
	t.Helper()
	out, err := adapt(cf)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, cf)
	}
	return out
}

func adapt(cf string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, _, err := adapter.Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
	return out, err
}

// client returns the official OpenAI client pointed at the gateway.
func (g *gateway) client(opts ...option.RequestOption) openaigo.Client {
	base := []option.RequestOption{
		option.WithBaseURL(g.URL + "/v1/"),
		option.WithAPIKey("sk-client-secret"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(20 * time.Second),
	}
	return openaigo.NewClient(append(base, opts...)...)
}

// do sends a raw request to the gateway.
func (g *gateway) do(method, path, contentType, body string) (*http.Response, string) {
	g.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, g.URL+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer sk-client-secret")
	return roundTrip(g.t, req)
}

// roundTrip sends req and returns the response with its whole body.
func roundTrip(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// openAIError is the OpenAI error envelope.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// expectError checks that body is an OpenAI-shaped error and returns it.
func expectError(t *testing.T, resp *http.Response, body string, status int, typ, code string) openAIError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e openAIError
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

func readAllString(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
