package gatewaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// AdminJSON calls Caddy's admin API with body as JSON, decodes the answer
// into out (when not nil) and returns its status.
func (g *Gateway) AdminJSON(method, path string, body any, out any) int {
	g.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, g.Admin+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.T.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			g.T.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// CreateKey creates a virtual key on plan through the admin API, waiting
// for the database to be ready, and returns its id and secret.
func (g *Gateway) CreateKey(plan string) (id, key string) {
	g.T.Helper()
	// The database is migrated in the background: 503 until it is ready.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var created struct {
			ID, Key string
			Error   any
		}
		status := g.AdminJSON("POST", "/ai_gateway/keys", map[string]any{"name": "test-" + plan, "plan": plan}, &created)
		if status == 201 {
			return created.ID, created.Key
		}
		if status != 503 || time.Now().After(deadline) {
			g.T.Fatalf("creating key: status %d: %v", status, created.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DoKey sends a JSON request with key as the bearer token and extra
// headers, and returns the answer with its whole body.
func (g *Gateway) DoKey(key, method, path, body string, header http.Header) (*http.Response, string) {
	g.T.Helper()
	req, _ := http.NewRequest(method, g.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		req.Header[k] = v
	}
	return RoundTrip(g.T, req)
}

// StartLogged is Start with Caddy's logs (access logs included, for sites
// that enable them) written as JSON lines to a file, whose path it returns.
func StartLogged(t testing.TB, site string) (*Gateway, string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	port, adminPort := FreePort(t), FreePort(t)
	g := &Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port), Admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	cf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	grace_period 1ns
	log {
		output file %s
		format json
	}
}
:%d {
%s
}
`, adminPort, logFile, port, site)
	cfgJSON, err := Adapt(cf)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, cf)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v\n%s", err, cf)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return g, logFile
}

// WaitLog polls a JSON-lines log file until a line satisfies match (for at
// most 15s) and returns it with the whole log read so far.
func WaitLog(t testing.TB, path string, match func(line map[string]any) bool) (map[string]any, string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(l), &line) == nil && match(line) {
				return line, string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching log line in %s:\n%s", path, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
