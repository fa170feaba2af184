package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// adminServer serves the admin routes the way Caddy's admin endpoint
// does: an error returned by a handler becomes a JSON body {"error": ...}
// with its status.
func adminServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	for _, route := range (AdminAPI{}).Routes() {
		h := route.Handler
		mux.HandleFunc(route.Pattern, func(w http.ResponseWriter, r *http.Request) {
			err := h.ServeHTTP(w, r)
			if err == nil {
				return
			}
			var apiErr caddy.APIError
			if !errors.As(err, &apiErr) {
				apiErr = caddy.APIError{HTTPStatus: 500, Err: err}
			}
			if apiErr.Message == "" && apiErr.Err != nil {
				apiErr.Message = apiErr.Err.Error()
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(apiErr.HTTPStatus)
			json.NewEncoder(w).Encode(apiErr)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any, []any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("%s %s: decoding: %v", method, path, err)
	}
	var obj map[string]any
	var arr []any
	if json.Unmarshal(raw, &obj) != nil {
		json.Unmarshal(raw, &arr)
	}
	return resp.StatusCode, obj, arr
}

func TestAdminAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		srv := adminServer(t)
		if code, obj, _ := call(t, srv, "GET", "/ai_gateway/keys", ""); code != 503 || obj["error"] == nil {
			t.Errorf("no database open: %d %v", code, obj)
		}
		s := openService(t, &Config{Database: db, Auth: &AuthConfig{Mode: AuthKeys},
			Plans: map[string]*Plan{"free": {}, "pro": {}}, DefaultPlan: "free"})
		waitReady(t, s)

		code, obj, _ := call(t, srv, "POST", "/ai_gateway/keys", `{"name":"alice","plan":"pro","budget_usd":5,"expires_at":"2099-01-01"}`)
		if code != 201 {
			t.Fatalf("create: %d %v", code, obj)
		}
		key, _ := obj["key"].(string)
		id, _ := obj["id"].(string)
		if !validKeyFormat(key) || id == "" || obj["plan"] != "pro" || obj["budget_usd"] != 5.0 ||
			!strings.HasPrefix(obj["expires_at"].(string), "2099-01-01T00:00:00") {
			t.Fatalf("created: %v", obj)
		}
		if _, err := s.Authenticate("Bearer " + key); err != nil {
			t.Errorf("created key refused: %v", err)
		}
		for _, bad := range []string{`{"plan":"pro"}`, `{"name":"x","plan":"gold"}`, `{"name":"x","budget_usd":-1}`,
			`{"name":"x","expires_at":"2001-01-01"}`, `{"name":"x","expires_at":"soon"}`, `{"name":"x","colour":"red"}`, `not json`} {
			if code, obj, _ := call(t, srv, "POST", "/ai_gateway/keys", bad); code != 400 || obj["error"] == nil {
				t.Errorf("POST %s: %d %v", bad, code, obj)
			}
		}

		code, _, list := call(t, srv, "GET", "/ai_gateway/keys", "")
		if code != 200 || len(list) != 1 {
			t.Fatalf("list: %d %v", code, list)
		}
		listed, _ := json.Marshal(list)
		if strings.Contains(string(listed), key[len(KeyPrefix):]) || strings.Contains(string(listed), hashKey(key)) ||
			!strings.Contains(string(listed), key[len(key)-4:]) {
			t.Errorf("list shows secrets or no hint: %s", listed)
		}

		if code, obj, _ := call(t, srv, "DELETE", "/ai_gateway/keys/"+id, ""); code != 200 || obj["status"] != "revoked" {
			t.Errorf("revoke: %d %v", code, obj)
		}
		if _, err := s.Authenticate("Bearer " + key); err == nil {
			t.Error("revoked key accepted")
		}
		if code, _, _ := call(t, srv, "DELETE", "/ai_gateway/keys/key_unknown", ""); code != 404 {
			t.Errorf("revoke unknown: %d", code)
		}
		if code, _, _ := call(t, srv, "PUT", "/ai_gateway/keys", "{}"); code != 405 {
			t.Errorf("PUT: %d", code)
		}
		if code, _, _ := call(t, srv, "GET", "/ai_gateway/keys/"+id, ""); code != 405 {
			t.Errorf("GET one key: %d", code)
		}

		// Usage report, with every token column.
		day := time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC)
		for i, m := range []string{"gpt-4o", "gpt-4o", "claude"} {
			endpoint := "chat/completions"
			if m == "claude" {
				endpoint = "messages"
			}
			s.Record(Caller{ID: "key:" + id, KeyID: id}, Record{Time: day.Add(time.Duration(i) * time.Hour),
				Model: m, Provider: "p" + m[:1], InputTokens: 100, OutputTokens: 10, CostUSD: 0.5, Endpoint: endpoint,
				CachedTokens: 10 * int64(i+1), CacheWriteTokens: 20, CacheWrite1hTokens: 5 * int64(i), ReasoningTokens: int64(i + 1)})
		}
		s.Record(Caller{ID: "ip:1"}, Record{Time: day.AddDate(0, 0, 1), Model: "gpt-4o", InputTokens: 1, CostUSD: 0.25,
			Endpoint: "moderations", Origin: "guardrail moderation"})
		s.Record(Caller{ID: "ip:1"}, Record{Time: day.AddDate(0, 0, 1), Model: "old", InputTokens: 2, CostUSD: 0.125})
		flushAll(t, s)
		code, obj, _ = call(t, srv, "GET", "/ai_gateway/usage?group_by=model&since=2025-03-15&until=2025-03-16", "")
		if code != 200 || obj["group_by"] != "model" {
			t.Fatalf("usage: %d %v", code, obj)
		}
		rows := reportRows(obj)
		want := `[` + row("gpt-4o", "", 3, 201, 20, 30, 40, 5, 3, "1.25") + `,` +
			row("claude", "", 1, 100, 10, 30, 20, 10, 3, "0.5") + `,` +
			row("old", "", 1, 2, 0, 0, 0, 0, 0, "0.125") + `]`
		if rows != want {
			t.Errorf("by model:\n got %s\nwant %s", rows, want)
		}
		// A record without an endpoint (as every row stored before the
		// column existed) is its own group, "".
		_, obj, _ = call(t, srv, "GET", "/ai_gateway/usage?group_by=endpoint&since=2025-03-15&until=2025-03-16", "")
		rows = reportRows(obj)
		want = `[` + row("chat/completions", "", 2, 200, 20, 30, 40, 5, 3, "1") + `,` +
			row("messages", "", 1, 100, 10, 30, 20, 10, 3, "0.5") + `,` +
			row("moderations", "", 1, 1, 0, 0, 0, 0, 0, "0.25") + `,` +
			row("", "", 1, 2, 0, 0, 0, 0, 0, "0.125") + `]`
		if obj["group_by"] != "endpoint" || rows != want {
			t.Errorf("by endpoint:\n got %s\nwant %s", rows, want)
		}
		_, obj, _ = call(t, srv, "GET", "/ai_gateway/usage?group_by=day&since=2025-03-01T00:00:00Z&until=2025-04-01", "")
		rows = reportRows(obj)
		want = `[` + row("2025-03-15", "", 3, 300, 30, 60, 60, 15, 6, "1.5") + `,` +
			row("2025-03-16", "", 2, 3, 0, 0, 0, 0, 0, "0.375") + `]`
		if rows != want {
			t.Errorf("by day:\n got %s\nwant %s", rows, want)
		}
		_, obj, _ = call(t, srv, "GET", "/ai_gateway/usage?group_by=key&since=2025-03-01&until=2025-03-31", "")
		rows = reportRows(obj)
		want = `[` + row(id, "alice", 3, 300, 30, 60, 60, 15, 6, "1.5") + `,` +
			row("", "", 2, 3, 0, 0, 0, 0, 0, "0.375") + `]`
		if rows != want {
			t.Errorf("by key:\n got %s\nwant %s", rows, want)
		}
		tot, err := s.Totals(context.Background(), day.Add(-time.Hour), day.AddDate(0, 0, 2))
		if err != nil {
			t.Fatal(err)
		}
		if tot.Requests != 5 || tot.InputTokens != 303 || tot.OutputTokens != 30 || tot.CachedTokens != 60 ||
			tot.CacheWriteTokens != 60 || tot.CacheWrite1hTokens != 15 || tot.ReasoningTokens != 6 {
			t.Errorf("totals %+v", tot)
		}
		recent, err := s.Recent(context.Background(), day, day.Add(3*time.Hour), 10)
		if err != nil || len(recent) != 3 {
			t.Fatalf("recent: %v %v", recent, err)
		}
		if r := recent[0]; r.Model != "claude" || r.CachedTokens != 30 || r.CacheWriteTokens != 20 ||
			r.CacheWrite1hTokens != 10 || r.ReasoningTokens != 3 {
			t.Errorf("recent[0] %+v", r)
		}
		series, err := s.Series(context.Background(), "day", "", day, day.AddDate(0, 0, 2))
		if err != nil {
			t.Fatal(err)
		}
		if g := series.Groups[0]; len(g.CacheWriteTokens) != len(series.Buckets) || g.CacheWriteTokens[0] != 60 || g.CacheWrite1hTokens[0] != 15 ||
			g.CachedTokens[0] != 60 || g.ReasoningTokens[0] != 6 || g.InputTokens[1] != 3 || g.CacheWriteTokens[1] != 0 {
			t.Errorf("series %+v", g)
		}
		_, obj, _ = call(t, srv, "GET", "/ai_gateway/usage?group_by=provider&since=2025-01-01", "")
		if rows := obj["rows"].([]any); len(rows) != 3 {
			t.Errorf("by provider: %v", rows)
		}
		for _, bad := range []string{"?group_by=colour", "?since=yesterday", "?until=later"} {
			if code, _, _ := call(t, srv, "GET", "/ai_gateway/usage"+bad, ""); code != 400 {
				t.Errorf("usage%s: %d", bad, code)
			}
		}

		// Two databases: ?database= picks one.
		other := openService(t, &Config{Database: freshDB(t, "sqlite")})
		waitReady(t, other)
		if code, obj, _ := call(t, srv, "GET", "/ai_gateway/keys", ""); code != 400 || !strings.Contains(obj["error"].(string), "database=") {
			t.Errorf("two databases without ?database=: %d %v", code, obj)
		}
		if code, _, list := call(t, srv, "GET", "/ai_gateway/keys?database="+urlQueryEscape(s.Database()), ""); code != 200 || len(list) != 1 {
			t.Errorf("with ?database=: %d %v", code, list)
		}
		if code, _, list := call(t, srv, "GET", "/ai_gateway/keys?database="+urlQueryEscape(other.e.t.short), ""); code != 200 || len(list) != 0 {
			t.Errorf("other database: %d %v", code, list)
		}
		if code, _, _ := call(t, srv, "GET", "/ai_gateway/keys?database=nope", ""); code != 404 {
			t.Errorf("unknown database: %d", code)
		}
	})
}

// row is a usage report row as the admin API encodes it.
func row(group, name string, requests, in, out, cached, writes, writes1h, reasoning int64, cost string) string {
	n := ""
	if name != "" {
		n = fmt.Sprintf(`"name":%q,`, name)
	}
	return fmt.Sprintf(`{"group":%q,%s"requests":%d,"input_tokens":%d,"output_tokens":%d,"cached_tokens":%d,`+
		`"cache_write_tokens":%d,"cache_write_1h_tokens":%d,"reasoning_tokens":%d,"cost_usd":%s}`,
		group, n, requests, in, out, cached, writes, writes1h, reasoning, cost)
}

// reportRows re-encodes the rows of a usage report in UsageRow's order.
func reportRows(obj map[string]any) string {
	raw, _ := json.Marshal(obj["rows"])
	var rows []UsageRow
	json.Unmarshal(raw, &rows)
	out, _ := json.Marshal(rows)
	return string(out)
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "?", "%3F", "=", "%3D", " ", "%20", "#", "%23")
	return r.Replace(s)
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "ai-gateway", SilenceUsage: true, SilenceErrors: true}
	BuildCommand(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCLI(t *testing.T) {
	srv := adminServer(t)
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), Plans: map[string]*Plan{"pro": {}}})
	waitReady(t, s)
	addr := srv.Listener.Addr().String()

	out, err := runCLI(t, "keys", "create", "--name", "ci bot", "--plan", "pro", "--budget", "20", "--expires", "2099-12-31", "--address", addr)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`sk-pg-[0-9A-Za-z]+`).FindString(out)
	id := regexp.MustCompile(`key_[0-9A-Za-z]+`).FindString(out)
	if !validKeyFormat(key) || id == "" || !strings.Contains(out, "not shown again") {
		t.Fatalf("create output:\n%s", out)
	}
	if _, err := s.Authenticate(key); err != nil {
		t.Errorf("key from the CLI refused: %v", err)
	}

	out, err = runCLI(t, "keys", "list", "--address", addr)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "ci bot") || !strings.Contains(out, "$20.0000") ||
		!strings.Contains(out, "active") || strings.Contains(out, key) || !strings.Contains(out, "2099-12-31") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "keys", "list", "--json", "--address", addr)
	var listed []KeyInfo
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 {
		t.Errorf("list --json: %v\n%s", err, out)
	}

	s.Record(Caller{ID: "key:" + id, KeyID: id}, Record{Model: "gpt-4o", InputTokens: 1000, OutputTokens: 200, CostUSD: 0.012,
		Endpoint: "chat/completions"})
	flushAll(t, s)
	out, err = runCLI(t, "usage", "--group-by", "endpoint", "--address", addr)
	if err != nil || !regexp.MustCompile(`ENDPOINT\s+REQUESTS`).MatchString(out) ||
		!regexp.MustCompile(`chat/completions\s+1\s+1000\s+200\s+\$0\.0120`).MatchString(out) {
		t.Errorf("usage by endpoint: %v\n%s", err, out)
	}
	out, err = runCLI(t, "usage", "--group-by", "model", "--address", addr)
	if err != nil || !regexp.MustCompile(`gpt-4o\s+1\s+1000\s+200\s+\$0\.0120`).MatchString(out) ||
		!regexp.MustCompile(`TOTAL\s+1\s+1000\s+200\s+\$0\.0120`).MatchString(out) {
		t.Errorf("usage: %v\n%s", err, out)
	}
	out, err = runCLI(t, "usage", "--group-by", "key", "--since", "2000-01-01", "--until", "2099-01-01", "--address", addr)
	if err != nil || !strings.Contains(out, id+" (ci bot)") {
		t.Errorf("usage by key: %v\n%s", err, out)
	}

	out, err = runCLI(t, "keys", "revoke", id, "--address", addr)
	if err != nil || !strings.Contains(out, "Revoked key "+id) {
		t.Errorf("revoke: %v\n%s", err, out)
	}
	if _, err := s.Authenticate(key); err == nil {
		t.Error("revoked key accepted")
	}

	// Errors: from flags, and from the admin API (shown without JSON).
	for _, args := range [][]string{
		{"keys", "create", "--address", addr},
		{"keys", "create", "--name", "x", "--expires", "soon", "--address", addr},
		{"keys", "revoke", "--address", addr},
		{"keys", "list", "extra", "--address", addr},
		{"usage", "--since", "yesterday", "--address", addr},
	} {
		if _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	_, err = runCLI(t, "keys", "create", "--name", "x", "--plan", "gold", "--address", addr)
	if err == nil || err.Error() != `HTTP 400: plan "gold" is not configured` {
		t.Errorf("admin error: %v", err)
	}
	_, err = runCLI(t, "keys", "revoke", "key_nope", "--address", addr)
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("revoke unknown: %v", err)
	}
}

// TestReloadKeepsState: a new configuration opened before the old one is
// released shares the engine, its counters and its buffered records.
func TestReloadKeepsState(t *testing.T) {
	db := freshDB(t, "sqlite")
	plans := map[string]*Plan{"p": {RequestsPerDay: 3}}
	old := openService(t, &Config{Database: db, DefaultPlan: "p", Plans: plans, FlushInterval: caddy1h})
	waitReady(t, old)
	c := Caller{ID: "ip:5"}
	for range 2 {
		r, _ := old.Reserve(c, "m", est(1, 1))
		r.Settle(Record{})
	}
	inflight, _ := old.Reserve(c, "m", est(1, 1))
	// Reload: new config provisioned, then the old one cleaned up.
	next := openService(t, &Config{Database: db, DefaultPlan: "p", Plans: plans})
	if next.e != old.e {
		t.Fatal("reload created a second engine")
	}
	if err := old.Release(); err != nil {
		t.Fatal(err)
	}
	if _, lerr := next.Reserve(c, "m", est(1, 1)); lerr == nil {
		t.Error("counters lost across the reload")
	}
	inflight.Settle(Record{}) // a stream of the old config ends
	flushAll(t, next)
	if rows, _ := countRecords(t, next); rows != 3 {
		t.Errorf("%d records, want 3", rows)
	}
	if n, ok := pool.References(next.e.t.key); !ok || n != 1 {
		t.Errorf("pool references %d %v", n, ok)
	}
}

// TestIdentify covers identity mode callers.
func TestIdentify(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), Auth: &AuthConfig{Mode: AuthIdentity, Identity: "{http.auth.user.id}"},
		DefaultPlan: "free", Plans: map[string]*Plan{"free": {RequestsPerDay: 1}, "gold": {}}})
	if s.AuthMode() != AuthIdentity {
		t.Error(s.AuthMode())
	}
	if _, err := s.Identify("", "gold"); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("empty identity: %v", err)
	}
	c, err := s.Identify("alice", "")
	if err != nil || c.ID != "user:alice" || c.Name != "alice" {
		t.Fatalf("%+v %v", c, err)
	}
	r, lerr := s.Reserve(c, "m", est(1, 1))
	if lerr != nil {
		t.Fatal(lerr)
	}
	r.Settle(Record{})
	if _, lerr := s.Reserve(c, "m", est(1, 1)); lerr == nil {
		t.Error("default plan not applied")
	}
	gold, _ := s.Identify("alice", "gold") // the same subject, on another plan
	r, lerr = s.Reserve(gold, "m", est(1, 1))
	if lerr != nil {
		t.Errorf("gold refused: %v", lerr)
	} else {
		r.Cancel()
	}
}

// TestCaddyAdminEndpoint runs Caddy's own admin endpoint, which loads
// admin.api.ai_gateway by itself, and drives it with the CLI.
func TestCaddyAdminEndpoint(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite")})
	waitReady(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := `{"admin": {"listen": "` + addr + `", "config": {"persist": false}}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })

	out, err := runCLI(t, "keys", "create", "--name", "through caddy", "--address", addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	key := regexp.MustCompile(`sk-pg-[0-9A-Za-z]+`).FindString(out)
	if _, err := s.Authenticate(key); err != nil {
		t.Errorf("key created through Caddy's admin endpoint refused: %v", err)
	}
	out, err = runCLI(t, "usage", "--address", addr)
	if err != nil || !strings.Contains(out, "TOTAL") {
		t.Errorf("usage: %v\n%s", err, out)
	}
	_, err = runCLI(t, "keys", "revoke", "key_missing", "--address", addr)
	if err == nil || err.Error() != `HTTP 404: key "key_missing" not found` {
		t.Errorf("error through Caddy: %v", err)
	}
}
