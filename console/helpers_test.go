package console_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/lib/pq"

	"github.com/polygate/polygate/console"
	"github.com/polygate/polygate/internal/gatewaytest"
	"github.com/polygate/polygate/usage"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

// forEachDialect runs fn with the Database setting of a fresh SQLite file
// and, when POLYGATE_TEST_POSTGRES is set, of a fresh PostgreSQL schema.
func forEachDialect(t *testing.T, fn func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite://"+filepath.Join(t.TempDir(), "usage.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, freshPostgres(t)) })
}

// freshPostgres returns the URL of a new PostgreSQL schema, dropped at the
// end of the test; it skips without POLYGATE_TEST_POSTGRES.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("POLYGATE_TEST_POSTGRES")
	if base == "" {
		t.Skip("POLYGATE_TEST_POSTGRES not set (eval \"$(bash .ci/postgres.sh)\")")
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	schema := "console_" + hex.EncodeToString(b)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openService opens a usage Service, as an ai_gateway handler does, and
// waits until its database is migrated.
func openService(t *testing.T, cfg *usage.Config) *usage.Service {
	t.Helper()
	if cfg.SpillDir == "" {
		cfg.SpillDir = t.TempDir()
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	s, err := usage.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("usage.Open: %v", err)
	}
	t.Cleanup(func() { s.Release() })
	flush(t, s)
	return s
}

// flush writes every buffered record, waiting for the database to be
// ready; the deadline only guards against hanging.
func flush(t *testing.T, s *usage.Service) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.Flush(context.Background())
		if err == nil && s.Stats().Buffered == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("records not written: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// server serves a provisioned Console the way Caddy would (with a
// replacer in the request context).
func server(t *testing.T, c *console.Console) *httptest.Server {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := c.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caddyhttp.NewTestReplacer(r)
		if err := c.ServeHTTP(w, r, nil); err != nil {
			t.Errorf("ServeHTTP: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// answer is a decoded API answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v, failing the test if it is not JSON.
func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

// errorMessage returns the "error" of a JSON error body, failing the test
// if the body is not one.
func (a answer) errorMessage(t *testing.T) string {
	t.Helper()
	var e map[string]any
	a.decode(t, &e)
	msg, _ := e["error"].(string)
	if msg == "" {
		t.Fatalf("no error message in %s", a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
	return msg
}

// call sends a request as the console page does: JSON body, CSRF header.
func call(t *testing.T, srv *httptest.Server, method, path string, body any) answer {
	t.Helper()
	h := http.Header{}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
		h.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		h.Set(console.CSRFHeader, "1")
	}
	return raw(t, srv, method, path, h, rd)
}

// raw sends a request with exactly the given headers.
func raw(t *testing.T, srv *httptest.Server, method, path string, h http.Header, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func mustTime(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
