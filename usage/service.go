package usage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Errors returned to the host.
var (
	// ErrInvalidKey is returned by Authenticate for a missing, malformed,
	// unknown, revoked or expired key alike. The host answers 401.
	ErrInvalidKey = errors.New("invalid API key")
	// ErrNoIdentity is returned by Identify for an empty identity. The host
	// answers 401.
	ErrNoIdentity = errors.New("no caller identity")
	// ErrKeyNotFound is returned by key management for an unknown key ID.
	ErrKeyNotFound = errors.New("key not found")
)

// pool holds one engine per database, keyed by its resolved DSN.
var pool = caddy.NewUsagePool()

// services are the open Services, newest last, for the admin API.
var (
	servicesMu sync.Mutex
	services   []*Service
)

// Service is one configuration's handle on the usage engine of its
// database. Services of the same database (two sites, or the old and new
// configuration during a reload) share the engine: its key snapshot,
// counters, record writer and response store survive reloads, and records
// and responses are flushed (records, or spilled) only when the last
// Service of the database is released.
//
// Consistency across instances: every instance enforces limits on its own
// exact usage plus the other instances' usage as of its last sync (push
// and pull every sync_interval, default 1s, including requests in flight).
// An instance therefore learns of another's admissions at most about two
// sync intervals after they happen. With N instances sharing a database,
// usage in a window can exceed a limit by at most
//
//	(N - 1) × min(limit, what one instance admits in 2 × sync_interval)
//
// plus, on any single instance, what requests consume beyond their
// estimate (input tokens as counted, output as max_tokens). While an
// instance cannot reach the database its admissions are invisible to the
// others until it can; the bound then grows by what it admits meanwhile.
// A single instance never admits past a limit.
type Service struct {
	e           *engine
	plans       map[string]*Plan
	defaultPlan string
	authMode    string
	// retention is how long responses put through this Service are kept.
	retention time.Duration
	released  atomic.Bool
}

// Open returns a Service for cfg's database, creating the shared engine
// if this is the first configuration using it. Call it from Provision and
// pair it with one Release in Cleanup. Placeholders in the database and
// spill_dir settings are resolved here.
//
// Open never connects to the database: migrations, the key snapshot and
// the writer reach it in the background and keep retrying while it is
// down, so an unreachable database is logged, not fatal (also under
// `caddy validate`). Only an invalid configuration is an error.
func Open(ctx caddy.Context, cfg *Config) (*Service, error) {
	if cfg == nil {
		cfg = new(Config)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	repl := caddy.NewReplacer()
	t, err := parseTarget(repl.ReplaceAll(cfg.Database, ""), caddy.AppDataDir())
	if err != nil {
		return nil, fmt.Errorf("opening database: %v", err)
	}
	set := cfg.settings()
	set.spillDir = repl.ReplaceAll(set.spillDir, "")
	if set.spillDir == "" {
		set.spillDir = filepath.Join(caddy.AppDataDir(), "polygate", "spill")
	}
	logger := ctx.Logger()
	v, _, err := pool.LoadOrNew(t.key, func() (caddy.Destructor, error) {
		return newEngine(t, set, logger)
	})
	if err != nil {
		return nil, err
	}
	e := v.(*engine)
	// The newest configuration's logger and tunables win.
	e.logger.Store(logger)
	e.set.Store(&set)

	s := &Service{
		e:           e,
		plans:       make(map[string]*Plan, len(cfg.Plans)),
		defaultPlan: cfg.DefaultPlan,
		authMode:    cfg.AuthMode(),
		retention:   cfg.responseRetention(),
	}
	for name, p := range cfg.Plans {
		cp := *p
		cp.Models = slices.Clone(p.Models)
		cp.UnmeteredPaths = slices.Clone(p.UnmeteredPaths)
		s.plans[name] = &cp
	}
	servicesMu.Lock()
	services = append(services, s)
	servicesMu.Unlock()
	return s, nil
}

// Release gives up this Service; the host calls it once in Cleanup. When
// it is the last Service of its database, the engine stops: counters are
// pushed, buffered records written (or spilled when the database does not
// take them within shutdown_timeout), responses waiting to be written
// written within the same time, and the database closed. Records
// settled after that still reach a spill file. Calling it again does
// nothing.
func (s *Service) Release() error {
	if !s.released.CompareAndSwap(false, true) {
		return nil
	}
	servicesMu.Lock()
	if i := slices.Index(services, s); i >= 0 {
		services = slices.Delete(services, i, i+1)
	}
	servicesMu.Unlock()
	_, err := pool.Delete(s.e.t.key)
	return err
}

// Database returns the database's name as shown in logs and by the admin
// API: the URL without its password, or "sqlite:" and the file path.
func (s *Service) Database() string { return s.e.t.name }

// AuthMode returns AuthKeys, AuthIdentity or AuthNone.
func (s *Service) AuthMode() string { return s.authMode }

// Plan returns the named plan, or nil.
func (s *Service) Plan(name string) *Plan { return s.plans[name] }

// Caller is who a request is accounted to and limited as.
type Caller struct {
	// ID is the subject of limits and accounting: "key:<key id>",
	// "user:<identity>" or "ip:<client address>".
	ID string
	// KeyID is the virtual key's ID in keys mode.
	KeyID string
	// Name is the key's name, the identity or the client address.
	Name string
	// Plan is the caller's own plan; empty means the default plan.
	Plan string
	// BudgetUSD is the key's own monthly budget in USD; 0 means none.
	BudgetUSD float64
}

// Identify returns the caller for identity mode; identity and plan are
// the host's resolved Auth.Identity and Auth.Plan placeholders. An empty
// plan means the default plan.
func (s *Service) Identify(identity, plan string) (Caller, error) {
	if identity == "" {
		return Caller{}, ErrNoIdentity
	}
	return Caller{ID: "user:" + identity, Name: identity, Plan: plan}, nil
}

// Anonymous returns the caller for a request without authentication:
// the client address under the default plan.
func (s *Service) Anonymous(clientIP string) Caller {
	return Caller{ID: "ip:" + clientIP, Name: clientIP}
}

// planOf resolves the caller's plan; nil means no limits.
func (s *Service) planOf(c Caller) (*Plan, *LimitError) {
	name := c.Plan
	if name == "" {
		name = s.defaultPlan
	}
	if name == "" {
		return nil, nil
	}
	if p, ok := s.plans[name]; ok {
		return p, nil
	}
	return nil, &LimitError{
		Limit:      "plan",
		Code:       CodeInvalidPlan,
		Type:       "invalid_request_error",
		StatusCode: 403,
		Message:    fmt.Sprintf("Your plan %q is not available on this gateway.", name),
	}
}

// planName is the effective plan name of c.
func (s *Service) planName(c Caller) string {
	if c.Plan != "" {
		return c.Plan
	}
	return s.defaultPlan
}

func (s *Service) fillCaller(rec *Record, c Caller) {
	if rec.CallerID == "" {
		rec.CallerID = c.ID
	}
	if rec.KeyID == "" {
		rec.KeyID = c.KeyID
	}
	if rec.Plan == "" {
		rec.Plan = s.planName(c)
	}
}

// Record queues a usage record for a request that did not go through
// Reserve (one refused by a limit or a guardrail, say). It counts nothing
// against limits. Empty fields are filled in as by Settle.
func (s *Service) Record(c Caller, rec Record) {
	s.fillCaller(&rec, c)
	s.e.w.add(rec)
}

// Flush writes the buffered records now, replaying spill files first,
// and returns the first error. Records stay buffered on error.
func (s *Service) Flush(ctx context.Context) error {
	if !s.e.ready.Load() {
		return fmt.Errorf("usage database %s is not ready", s.e.t.name)
	}
	return s.e.w.flush(ctx)
}

// Stats are counters of the record writer since start.
type Stats struct {
	// Buffered is how many records wait in memory.
	Buffered int `json:"buffered"`
	// Written, Spilled and Replayed count records stored in the database,
	// appended to spill files, and stored from spill files.
	Written  int64 `json:"written"`
	Spilled  int64 `json:"spilled"`
	Replayed int64 `json:"replayed"`
	// Ready is whether migrations have been applied.
	Ready bool `json:"ready"`
}

// Stats returns the record writer's counters.
func (s *Service) Stats() Stats {
	return s.e.w.stats()
}

// openServices returns the open Services, newest last.
func openServices() []*Service {
	servicesMu.Lock()
	defer servicesMu.Unlock()
	return slices.Clone(services)
}

// logger returns the engine's logger (for the admin API).
func (s *Service) logger() *zap.Logger { return s.e.log() }
