package console_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/polygate/polygate/console"
	"github.com/polygate/polygate/usage"
)

// TestDatabaseChoice checks how the console picks among the databases of
// several ai_gateway handlers, as the admin API's ?database= does.
func TestDatabaseChoice(t *testing.T) {
	dir := t.TempDir()
	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	a := openService(t, &usage.Config{Database: "sqlite://" + pathA})
	b := openService(t, &usage.Config{Database: "sqlite://" + pathB})
	write(t, a, traffic{{RequestID: "in-a", Time: windowStart, CallerID: "user:x", Model: "m", Status: 200, CostUSD: 1}})
	write(t, b, traffic{{RequestID: "in-b1", Time: windowStart, CallerID: "user:x", Model: "m", Status: 200, CostUSD: 2},
		{RequestID: "in-b2", Time: windowStart, CallerID: "user:x", Model: "m", Status: 200, CostUSD: 2}})

	srv := server(t, &console.Console{})
	const q = "since=2024-03-01&until=2024-03-01"
	ans := call(t, srv, "GET", "/c/api/summary?"+q, nil)
	if ans.status != http.StatusBadRequest {
		t.Fatalf("two databases, none chosen: %d %s", ans.status, ans.body)
	}
	if msg := ans.errorMessage(t); !strings.Contains(msg, a.Database()) || !strings.Contains(msg, b.Database()) {
		t.Errorf("the error does not list the databases: %s", msg)
	}
	var dbs struct {
		Databases []string `json:"databases"`
		Database  string   `json:"database"`
		RefreshMS int64    `json:"refresh_ms"`
	}
	ans = call(t, srv, "GET", "/c/api/databases", nil)
	ans.decode(t, &dbs)
	if ans.status != 200 || len(dbs.Databases) != 2 || !slices.Contains(dbs.Databases, a.Database()) ||
		!slices.Contains(dbs.Databases, b.Database()) || dbs.Database != "" || dbs.RefreshMS != console.DefaultRefresh.Milliseconds() {
		t.Errorf("databases: %d %s", ans.status, ans.body)
	}
	for _, name := range []string{b.Database(), pathB} {
		ans = call(t, srv, "GET", "/c/api/summary?"+q+"&database="+name, nil)
		var got summary
		ans.decode(t, &got)
		if ans.status != 200 || got.Database != b.Database() || got.Totals.Requests != 2 {
			t.Errorf("?database=%s: %d %s", name, ans.status, ans.body)
		}
	}
	if ans = call(t, srv, "GET", "/c/api/summary?"+q+"&database=/nowhere.db", nil); ans.status != http.StatusNotFound {
		t.Errorf("unknown database: %d %s", ans.status, ans.body)
	}

	// A configured database wins over ?database=, and may be given as the
	// ai_gateway handler's own setting.
	fixed := server(t, &console.Console{Database: "sqlite://" + pathA, Refresh: 0})
	ans = call(t, fixed, "GET", "/c/api/summary?"+q+"&database="+b.Database(), nil)
	var got summary
	ans.decode(t, &got)
	if ans.status != 200 || got.Database != a.Database() || got.Totals.Requests != 1 {
		t.Errorf("configured database: %d %s", ans.status, ans.body)
	}
	ans = call(t, fixed, "GET", "/c/api/databases", nil)
	ans.decode(t, &dbs)
	if dbs.Database != a.Database() || len(dbs.Databases) != 1 {
		t.Errorf("databases of a configured console: %s", ans.body)
	}

	// A configured database that is not open is a 503 that never shows a
	// password.
	pg := server(t, &console.Console{Database: "postgres://gw:s3cret-pw@127.0.0.1:1/gw"})
	ans = call(t, pg, "GET", "/c/api/summary", nil)
	if ans.status != http.StatusServiceUnavailable || strings.Contains(string(ans.body), "s3cret-pw") {
		t.Errorf("configured database not open: %d %s", ans.status, ans.body)
	}
	ans = call(t, pg, "GET", "/c/api/databases", nil)
	if strings.Contains(string(ans.body), "s3cret-pw") {
		t.Errorf("databases shows a password: %s", ans.body)
	}
}

// TestPage checks that the page and its assets are served under any
// prefix, self-contained, with a policy that forbids other hosts.
func TestPage(t *testing.T) {
	srv := server(t, &console.Console{})
	for _, prefix := range []string{"", "/console", "/ops/api/console", "/x/assets/y"} {
		a := call(t, srv, "GET", prefix+"/", nil)
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s/: %d %s", prefix, a.status, a.header)
		}
		page := string(a.body)
		csp := a.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") ||
			!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s/: Content-Security-Policy %q", prefix, csp)
		}
		if a.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s/: framing allowed", prefix)
		}
		for _, ref := range []string{`src="assets/console.js"`, `href="assets/console.css"`} {
			if !strings.Contains(page, ref) {
				t.Errorf("%s/: the page lacks %s", prefix, ref)
			}
		}
		for _, asset := range []string{"console.js", "console.css"} {
			a := call(t, srv, "GET", prefix+"/assets/"+asset, nil)
			if a.status != 200 || len(a.body) == 0 || a.header.Get("ETag") == "" {
				t.Errorf("%s/assets/%s: %d", prefix, asset, a.status)
			}
			for _, s := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(strings.ReplaceAll(string(a.body), "http://www.w3.org/2000/svg", ""), s) {
					t.Errorf("%s refers to another host: %q", asset, s)
				}
			}
		}
	}
	for _, tc := range []struct{ path, location string }{
		{"/console", "./console/"},
		{"/ops/console", "./console/"},
	} {
		a := call(t, srv, "GET", tc.path, nil)
		if a.status != http.StatusFound || a.header.Get("Location") != tc.location {
			t.Errorf("%s: %d Location %q, want %q", tc.path, a.status, a.header.Get("Location"), tc.location)
		}
	}
	if a := call(t, srv, "GET", "/console/assets/nothing.js", nil); a.status != 404 {
		t.Errorf("unknown asset: %d", a.status)
	}
	if a := call(t, srv, "GET", "/console/assets/index.html", nil); a.status != 404 {
		t.Errorf("index.html as an asset: %d", a.status)
	}
	if a := call(t, srv, "POST", "/console/", map[string]any{}); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST page: %d", a.status)
	}
}
