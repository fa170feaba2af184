package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.ai_gateway module: key management and usage
// reports over Caddy's admin endpoint. Caddy loads it by itself; it acts
// on the databases of the running ai_gateway handlers.
//
//	POST   /ai_gateway/keys       {"name", "plan"?, "budget_usd"?, "expires_at"?} → 201 {"id", "key", ...}
//	GET    /ai_gateway/keys       → 200 [{"id", "name", "plan", "hint", "status", ...}]
//	DELETE /ai_gateway/keys/{id}  → 200 {"id", "status": "revoked", ...}
//	GET    /ai_gateway/usage?group_by=key|caller|model|provider|endpoint|day&since=&until=
//
// since and until are RFC 3339 times or YYYY-MM-DD dates (UTC); until is
// exclusive for a time and inclusive for a date. Default: the current
// UTC month up to now. When handlers use several databases, add
// ?database=<name> (as listed in the error) to every request. Errors are
// JSON: {"error": "..."}.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.ai_gateway",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/ai_gateway/keys", Handler: caddy.AdminHandlerFunc(a.handleKeys)},
		{Pattern: "/ai_gateway/keys/", Handler: caddy.AdminHandlerFunc(a.handleKey)},
		{Pattern: "/ai_gateway/usage", Handler: caddy.AdminHandlerFunc(a.handleUsage)},
	}
}

// adminTimeout bounds the database work of one admin request.
const adminTimeout = 30 * time.Second

func apiError(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

// service picks the Service the request is about.
func (AdminAPI) service(r *http.Request) (*Service, error) {
	want := r.URL.Query().Get("database")
	open := openServices()
	var names []string
	seen := map[*engine]*Service{}
	for i := len(open) - 1; i >= 0; i-- { // newest first
		s := open[i]
		if _, ok := seen[s.e]; ok {
			continue
		}
		seen[s.e] = s
		names = append(names, s.e.t.name)
		if want != "" && (want == s.e.t.name || want == s.e.t.short) {
			return s, nil
		}
	}
	switch {
	case len(seen) == 0:
		return nil, apiError(http.StatusServiceUnavailable, "no ai_gateway usage database is open")
	case want != "":
		return nil, apiError(http.StatusNotFound, "database %q is not open; open ones: %s", want, strings.Join(names, ", "))
	case len(seen) > 1:
		return nil, apiError(http.StatusBadRequest, "several usage databases are open; add ?database= with one of: %s", strings.Join(names, ", "))
	}
	return open[len(open)-1], nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// createKeyRequest is the body of POST /ai_gateway/keys.
type createKeyRequest struct {
	Name      string  `json:"name"`
	Plan      string  `json:"plan"`
	BudgetUSD float64 `json:"budget_usd"`
	ExpiresAt string  `json:"expires_at"`
}

// createdKey is the answer to POST /ai_gateway/keys.
type createdKey struct {
	KeyInfo
	Key string `json:"key"`
}

func (a AdminAPI) handleKeys(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet:
		s, err := a.service(r)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		keys, err := s.Keys(ctx)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, "%v", err)
		}
		return writeJSON(w, http.StatusOK, keys)
	case http.MethodPost:
		s, err := a.service(r)
		if err != nil {
			return err
		}
		var req createKeyRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return apiError(http.StatusBadRequest, "decoding request: %v", err)
		}
		spec := KeySpec{Name: req.Name, Plan: req.Plan, BudgetUSD: req.BudgetUSD}
		if req.ExpiresAt != "" {
			t, err := ParseTime(req.ExpiresAt, false)
			if err != nil {
				return apiError(http.StatusBadRequest, "expires_at: %v", err)
			}
			spec.ExpiresAt = t
		}
		if err := validateSpec(s, spec); err != nil {
			return apiError(http.StatusBadRequest, "%v", err)
		}
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		info, key, err := s.CreateKey(ctx, spec)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, "%v", err)
		}
		return writeJSON(w, http.StatusCreated, createdKey{KeyInfo: info, Key: key})
	default:
		return apiError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
}

// validateSpec repeats CreateKey's checks so that bad input is a 400 and
// only database failures are 503s.
func validateSpec(s *Service, spec KeySpec) error {
	switch {
	case strings.TrimSpace(spec.Name) == "":
		return errors.New("name is required")
	case len(spec.Name) > 200:
		return errors.New("name is longer than 200 bytes")
	case spec.BudgetUSD < 0:
		return errors.New("budget_usd must not be negative")
	case !spec.ExpiresAt.IsZero() && !spec.ExpiresAt.After(s.e.now()):
		return errors.New("expires_at is in the past")
	case spec.Plan != "" && len(s.plans) > 0 && s.plans[spec.Plan] == nil:
		return fmt.Errorf("plan %q is not configured", spec.Plan)
	}
	return nil
}

func (a AdminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimPrefix(r.URL.Path, "/ai_gateway/keys/")
	if id == "" || strings.Contains(id, "/") {
		return apiError(http.StatusNotFound, "no such endpoint")
	}
	if r.Method != http.MethodDelete {
		return apiError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
	s, err := a.service(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	info, err := s.RevokeKey(ctx, id)
	if errors.Is(err, ErrKeyNotFound) {
		return apiError(http.StatusNotFound, "key %q not found", id)
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "%v", err)
	}
	return writeJSON(w, http.StatusOK, info)
}

// usageReport is the answer to GET /ai_gateway/usage.
type usageReport struct {
	GroupBy string     `json:"group_by"`
	Since   time.Time  `json:"since"`
	Until   time.Time  `json:"until"`
	Rows    []UsageRow `json:"rows"`
}

func (a AdminAPI) handleUsage(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return apiError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
	}
	s, err := a.service(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	groupBy := q.Get("group_by")
	if groupBy == "" {
		groupBy = "model"
	}
	now := s.e.now().UTC()
	since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(time.Second)
	if v := q.Get("since"); v != "" {
		if since, err = ParseTime(v, false); err != nil {
			return apiError(http.StatusBadRequest, "since: %v", err)
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = ParseTime(v, true); err != nil {
			return apiError(http.StatusBadRequest, "until: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	rows, err := s.Usage(ctx, groupBy, since, until)
	if err != nil {
		if strings.Contains(err.Error(), "unknown grouping") {
			return apiError(http.StatusBadRequest, "%v", err)
		}
		return apiError(http.StatusServiceUnavailable, "%v", err)
	}
	if rows == nil {
		rows = []UsageRow{}
	}
	return writeJSON(w, http.StatusOK, usageReport{GroupBy: groupBy, Since: since, Until: until, Rows: rows})
}

// ParseTime parses an RFC 3339 time or a YYYY-MM-DD date (UTC). With
// endOfDay, a date means the end of that day (the start of the next).
func ParseTime(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339 or YYYY-MM-DD)", v)
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

var (
	_ caddy.Module      = AdminAPI{}
	_ caddy.AdminRouter = AdminAPI{}
)
