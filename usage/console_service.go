package usage

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Errors of [LookupService]. The admin API answers them with 503, 404 and
// 400; the usage console with 503 (they are configuration problems there).
var (
	// ErrNoDatabase means no ai_gateway handler with accounting is running.
	ErrNoDatabase = errors.New("no ai_gateway usage database is open")
	// ErrDatabaseNotOpen means the named database is not one of the open ones.
	ErrDatabaseNotOpen = errors.New("usage database is not open")
	// ErrSeveralDatabases means several databases are open and none was named.
	ErrSeveralDatabases = errors.New("several usage databases are open")
)

// LookupService returns the newest open Service of the running ai_gateway
// handlers that uses the named database, as the admin API's ?database=
// does: want is the database's name as shown in logs and by the admin API
// (the URL without its password, or "sqlite:" and the file path), its
// short name (the PostgreSQL database name or the SQLite file path), or
// the ai_gateway `database` setting itself ("postgres://...", "sqlite://path"
// or a path). An empty want picks the only open database. Its placeholders
// must be resolved.
func LookupService(want string) (*Service, error) {
	wantNames := map[string]bool{}
	shown := want // never the password of a postgres:// setting
	if want != "" {
		wantNames[want] = true
		t, err := parseTarget(want, caddy.AppDataDir())
		if err == nil {
			wantNames[t.name] = true
		}
		if strings.Contains(want, "://") {
			shown = "(an invalid database URL, not shown)"
			if err == nil {
				shown = t.name
			}
		}
	}
	open := openServices()
	var names []string
	seen := map[*engine]bool{}
	for i := len(open) - 1; i >= 0; i-- { // newest first
		s := open[i]
		if seen[s.e] {
			continue
		}
		seen[s.e] = true
		names = append(names, s.e.t.name)
		if wantNames[s.e.t.name] || wantNames[s.e.t.short] {
			return s, nil
		}
	}
	switch {
	case len(seen) == 0:
		return nil, ErrNoDatabase
	case want != "":
		return nil, fmt.Errorf("%w: %q; open ones: %s", ErrDatabaseNotOpen, shown, strings.Join(names, ", "))
	case len(seen) > 1:
		return nil, fmt.Errorf("%w: %s", ErrSeveralDatabases, strings.Join(names, ", "))
	}
	return open[len(open)-1], nil
}

// OpenDatabases returns the names of the databases of the running
// ai_gateway handlers, newest first.
func OpenDatabases() []string {
	open := openServices()
	var names []string
	for i := len(open) - 1; i >= 0; i-- {
		if n := open[i].e.t.name; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// DefaultPlan returns the plan of callers that carry none; empty means no
// limits.
func (s *Service) DefaultPlan() string { return s.defaultPlan }

// Plans returns a copy of the configured plans by name.
func (s *Service) Plans() map[string]Plan {
	out := make(map[string]Plan, len(s.plans))
	for name, p := range s.plans {
		cp := *p
		cp.Models = slices.Clone(p.Models)
		cp.UnmeteredPaths = slices.Clone(p.UnmeteredPaths)
		out[name] = cp
	}
	return out
}

// PlanNames returns the configured plans' names, sorted.
func (s *Service) PlanNames() []string {
	return slices.Sorted(maps.Keys(s.plans))
}

// ValidateKeySpec runs the checks CreateKey makes before touching the
// database, so that bad input can be told from a database failure.
func (s *Service) ValidateKeySpec(spec KeySpec) error {
	return validateSpec(s, spec)
}
