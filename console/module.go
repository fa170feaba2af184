// Package console is Polygate's usage console: the HTTP handler
// http.handlers.ai_gateway_console serves a self-contained web page (no
// external assets; it works air-gapped) that shows the spend, requests and
// tokens of the running ai_gateway handlers over time, the most recent
// requests, and manages virtual keys and their budgets, with the small JSON
// API the page uses. It reads the same usage store, through the same
// usage.Service, as the admin API's /ai_gateway/usage.
//
// The console has no authentication of its own: put it behind one of
// Caddy's authentication handlers (basic_auth, forward_auth, ...).
package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Console{})
}

// Defaults and bounds of [Console.Refresh].
const (
	DefaultRefresh = 5 * time.Second
	MinRefresh     = time.Second
	MaxRefresh     = time.Hour
)

// Console serves the usage console. It answers every request its route
// sends it and finds its own endpoints by the end of the request path, so
// it works under any path prefix (route, handle or handle_path):
//
//	<prefix>/                     the page
//	<prefix>/assets/<file>        its script and style sheet
//	<prefix>/api/databases        GET: the open usage databases
//	<prefix>/api/summary          GET: totals, rates and top groups of a range
//	<prefix>/api/series           GET: usage over time per hour or day and group
//	<prefix>/api/recent           GET: the most recent requests
//	<prefix>/api/keys             GET: keys with spend and budgets; POST: create
//	<prefix>/api/keys/{id}        DELETE: revoke; PATCH {"budget_usd"}: set budget
//
// A path that ends in neither "/" nor one of these is redirected to itself
// with a "/" appended. Mutating requests must carry the header
// X-Polygate-Console: 1 (the page sets it; a cross-site form cannot) and,
// with a body, Content-Type: application/json. API errors are JSON:
// {"error": "..."}.
type Console struct {
	// Database picks the usage database when the ai_gateway handlers use
	// several: its name as the admin API lists it, its short name (the
	// PostgreSQL database name or SQLite file path), or the handler's own
	// `database` setting. Placeholders are resolved at provision time.
	// Default: the only open database; with several, the page offers a
	// choice (?database= on every API request).
	Database string `json:"database,omitempty"`

	// Refresh is how often the page polls for new data, between 1s and 1h.
	// Default: 5s.
	Refresh caddy.Duration `json:"refresh,omitempty"`

	database string
	refresh  time.Duration
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_gateway_console",
		New: func() caddy.Module { return new(Console) },
	}
}

// Provision resolves placeholders and applies defaults.
func (c *Console) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	c.database = strings.TrimSpace(caddy.NewReplacer().ReplaceAll(c.Database, ""))
	c.refresh = time.Duration(c.Refresh)
	if c.refresh == 0 {
		c.refresh = DefaultRefresh
	}
	return nil
}

// Validate checks the refresh interval.
func (c *Console) Validate() error {
	if d := time.Duration(c.Refresh); d != 0 && (d < MinRefresh || d > MaxRefresh) {
		return errRefresh(d)
	}
	return nil
}

func errRefresh(d time.Duration) error {
	return fmt.Errorf("refresh %s: must be between %s and %s", d, MinRefresh, MaxRefresh)
}

// ServeHTTP serves the page, its assets and the API. It never calls next.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	rt := resolve(r)
	switch rt.kind {
	case routeAPI:
		c.serveAPI(w, r, rt)
	case routeAsset:
		serveAsset(w, r, rt.name)
	case routePage:
		servePage(w, r)
	case routeRedirect:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return nil
		}
		// Relative to the current URL, so it is right whatever prefix a
		// handle_path or rewrite removed.
		w.Header().Set("Location", rt.name+"/")
		w.WriteHeader(http.StatusFound)
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddy.Validator             = (*Console)(nil)
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
)
