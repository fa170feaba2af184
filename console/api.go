package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/polygate/polygate/usage"
)

// apiTimeout bounds the database work of one API request.
const apiTimeout = 30 * time.Second

// CSRFHeader must be set to "1" on every mutating request. The page's
// fetch sets it; a cross-site form cannot, and a cross-site script cannot
// without a CORS preflight, which the console never allows.
const CSRFHeader = "X-Polygate-Console"

// apiError is an answer {"error": msg} with status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, rt route) {
	var err *apiError
	switch rt.name {
	case "databases":
		// No database needed: this is how the page learns which exist.
		err = c.get(w, r, nil)
		if err == nil {
			c.handleDatabases(w)
		}
	case "summary":
		err = c.get(w, r, c.handleSummary)
	case "series":
		err = c.get(w, r, c.handleSeries)
	case "recent":
		err = c.get(w, r, c.handleRecent)
	case "keys":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = c.get(w, r, c.handleKeys)
		case http.MethodPost:
			err = c.mutate(w, r, true, c.handleCreateKey)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			err = errorf(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
	case "key":
		switch r.Method {
		case http.MethodDelete:
			err = c.mutate(w, r, false, func(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
				return c.handleRevokeKey(w, r, s, rt.id)
			})
		case http.MethodPatch:
			err = c.mutate(w, r, true, func(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
				return c.handleSetBudget(w, r, s, rt.id)
			})
		default:
			w.Header().Set("Allow", "DELETE, PATCH")
			err = errorf(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
	default:
		err = errorf(http.StatusNotFound, "no such endpoint %q", rt.name)
	}
	if err != nil {
		writeJSON(w, err.status, map[string]string{"error": err.msg})
	}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError

// get runs a read-only endpoint; a nil h only checks the method.
func (c *Console) get(w http.ResponseWriter, r *http.Request, h handlerFunc) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return errorf(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
	if h == nil {
		return nil
	}
	s, err := c.service(r)
	if err != nil {
		return err
	}
	return h(w, r, s)
}

// mutate runs an endpoint that changes something, after the CSRF checks.
func (c *Console) mutate(w http.ResponseWriter, r *http.Request, hasBody bool, h handlerFunc) *apiError {
	if r.Header.Get(CSRFHeader) != "1" {
		return errorf(http.StatusForbidden, "missing header %s: 1 (requests that change keys must come from the console page)", CSRFHeader)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errorf(http.StatusForbidden, "cross-site request refused")
	}
	if hasBody {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		}
	}
	s, err := c.service(r)
	if err != nil {
		return err
	}
	return h(w, r, s)
}

// service picks the usage database: the configured one, else ?database=,
// else the only open one.
func (c *Console) service(r *http.Request) (*usage.Service, *apiError) {
	want, fixed := c.database, c.database != ""
	if !fixed {
		want = r.URL.Query().Get("database")
	}
	s, err := usage.LookupService(want)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, usage.ErrNoDatabase):
		return nil, errorf(http.StatusServiceUnavailable, "no ai_gateway usage database is open: is an ai_gateway handler with accounting configured?")
	case errors.Is(err, usage.ErrDatabaseNotOpen) && fixed:
		return nil, errorf(http.StatusServiceUnavailable, "the console's database: %v", err)
	case errors.Is(err, usage.ErrDatabaseNotOpen):
		return nil, errorf(http.StatusNotFound, "%v", err)
	default:
		return nil, errorf(http.StatusBadRequest, "%v; pick one with ?database= or the console's database option", err)
	}
}

// storeError answers a failure of the database.
func (c *Console) storeError(r *http.Request, err error) *apiError {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return errorf(http.StatusServiceUnavailable, "request cancelled")
	}
	c.logger.Error("usage console: reading the usage database", zap.String("path", r.URL.Path), zap.Error(err))
	return errorf(http.StatusServiceUnavailable, "%v", err)
}

func apiContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), apiTimeout)
}

// databasesResponse is the answer to GET api/databases.
type databasesResponse struct {
	// Databases are the open ones, newest first.
	Databases []string `json:"databases"`
	// Database is the console's configured database (as named by the
	// admin API; empty while it is not open), or empty when the page may
	// choose.
	Database  string `json:"database"`
	RefreshMS int64  `json:"refresh_ms"`
}

func (c *Console) handleDatabases(w http.ResponseWriter) {
	resp := databasesResponse{Databases: []string{}, RefreshMS: c.refresh.Milliseconds()}
	if c.database != "" {
		// The setting itself may hold a password: show the name.
		if s, err := usage.LookupService(c.database); err == nil {
			resp.Database = s.Database()
			resp.Databases = []string{resp.Database}
		}
	} else if dbs := usage.OpenDatabases(); dbs != nil {
		resp.Databases = dbs
	}
	writeJSON(w, http.StatusOK, resp)
}

// summaryResponse is the answer to GET api/summary.
type summaryResponse struct {
	Database string    `json:"database"`
	AuthMode string    `json:"auth_mode"`
	Now      time.Time `json:"now"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	// RefreshMS is how often the page polls.
	RefreshMS int64        `json:"refresh_ms"`
	Totals    usage.Totals `json:"totals"`
	// The rates are fractions of Totals.Requests, 0 when there are none.
	ErrorRate     float64 `json:"error_rate"`
	CacheHitRate  float64 `json:"cache_hit_rate"`
	GuardrailRate float64 `json:"guardrail_rate"`
	// Top lists the biggest groups by key, caller, model, provider and endpoint
	// (by cost, then requests), at most TopGroups each; Groups counts them all.
	Top    map[string][]usage.UsageRow `json:"top"`
	Groups map[string]int              `json:"groups"`
	// Writer is the record writer of this instance: records buffered in
	// memory are not in the totals until written.
	Writer usage.Stats `json:"writer"`
}

func (c *Console) handleSummary(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
	tr, err := parseRange(r.URL.Query(), time.Now())
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	tot, err := s.Totals(ctx, tr.since, tr.until)
	if err != nil {
		return c.storeError(r, err)
	}
	resp := summaryResponse{
		Database: s.Database(), AuthMode: s.AuthMode(), Now: time.Now().UTC(),
		Since: tr.since, Until: tr.until, RefreshMS: c.refresh.Milliseconds(),
		Totals: tot, Top: map[string][]usage.UsageRow{}, Groups: map[string]int{}, Writer: s.Stats(),
	}
	if tot.Requests > 0 {
		n := float64(tot.Requests)
		resp.ErrorRate = float64(tot.Errors) / n
		resp.CacheHitRate = float64(tot.CacheHits) / n
		resp.GuardrailRate = float64(tot.GuardrailRequests) / n
	}
	for _, g := range []string{"key", "caller", "model", "provider", "endpoint"} {
		rows := []usage.UsageRow{}
		if tot.Requests > 0 {
			if rows, err = s.Usage(ctx, g, tr.since, tr.until); err != nil {
				return c.storeError(r, err)
			}
		}
		slices.SortStableFunc(rows, func(a, b usage.UsageRow) int {
			return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Group, b.Group))
		})
		resp.Groups[g] = len(rows)
		resp.Top[g] = rows[:min(len(rows), TopGroups)]
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (c *Console) handleSeries(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
	q := r.URL.Query()
	tr, err := parseRange(q, time.Now())
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	bucket, err := parseBucket(q, tr)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	groupBy, err := parseGroupBy(q)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	series, err := s.Series(ctx, bucket, groupBy, tr.since, tr.until)
	if errors.Is(err, usage.ErrBadSeries) {
		return errorf(http.StatusBadRequest, "%v", strings.TrimPrefix(err.Error(), usage.ErrBadSeries.Error()+": "))
	}
	if err != nil {
		return c.storeError(r, err)
	}
	writeJSON(w, http.StatusOK, series)
	return nil
}

// recentResponse is the answer to GET api/recent.
type recentResponse struct {
	Since    time.Time             `json:"since"`
	Until    time.Time             `json:"until"`
	Requests []usage.RecentRequest `json:"requests"`
}

func (c *Console) handleRecent(w http.ResponseWriter, r *http.Request, s *usage.Service) *apiError {
	q := r.URL.Query()
	tr, err := parseRange(q, time.Now())
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	limit, err := parseLimit(q)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	recent, err := s.Recent(ctx, tr.since, tr.until, limit)
	if err != nil {
		return c.storeError(r, err)
	}
	if recent == nil {
		recent = []usage.RecentRequest{}
	}
	writeJSON(w, http.StatusOK, recentResponse{Since: tr.since, Until: tr.until, Requests: recent})
	return nil
}
