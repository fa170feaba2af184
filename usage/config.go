// Package usage is the accounting engine of the ai_gateway handler: virtual
// API keys, plans with quotas, one usage record per request written to
// SQL without loss, and the Responses API's stored responses.
//
// The host handler embeds a [Config] in its own configuration, calls [Open]
// in Provision and [Service.Release] in Cleanup, and per request calls
// [Service.Authenticate] (or [Service.Identify] / [Service.Anonymous]),
// [Service.Reserve] before paying a provider and [Reservation.Settle] after.
// A pass-through path it cannot account is refused to a caller for whom
// [Service.Metered] holds unless [Service.Unmetered] allows it. Responses
// API state goes through [Service.PutResponse], [Service.GetResponse] and
// [Service.DeleteResponse].
//
// Everything a request touches lives in memory: the key snapshot, the quota
// counters, the record buffer and the recent responses. The database (PostgreSQL, or a SQLite
// file by default) is reached only by background loops, so a slow or
// unreachable database never delays a request, and records that cannot be
// written are kept in memory and then in spill files until it is back.
package usage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Defaults of the tunables in [Config] and [Plan].
const (
	DefaultSyncInterval       = time.Second
	DefaultKeyRefreshInterval = 2 * time.Second
	DefaultBatchSize          = 500
	DefaultFlushInterval      = time.Second
	DefaultBufferLimit        = 100_000
	DefaultShutdownTimeout    = 5 * time.Second
	DefaultMaxTokens          = 4096
	DefaultResponseRetention  = 30 * 24 * time.Hour
	DefaultResponseCacheBytes = 64 << 20
	DefaultResponseQueueLimit = 10_000

	// maxBatchSize bounds what one batch holds in memory, and what a
	// batch the database refuses retries record by record.
	maxBatchSize = 1000
)

// Config configures keys, plans, quotas and usage accounting. The host
// embeds it in its JSON configuration; all fields are optional.
type Config struct {
	// Disabled turns identification, quotas, usage records and the
	// Responses store's database off (Caddyfile: accounting off); the
	// other options are then ignored. Default: false.
	Disabled bool `json:"disabled,omitempty"`

	// Database is where keys, quota counters and usage records are kept:
	// "postgres://user:pass@host:5432/db?sslmode=disable" for PostgreSQL
	// (which several Caddy instances may share), or "sqlite:///path/usage.db",
	// "sqlite://relative.db" or a bare file path for SQLite. It may hold
	// placeholders such as {env.DATABASE_URL}; they are resolved at
	// provision time so that passwords stay out of the saved config.
	// Default: a SQLite file at <caddy data dir>/polygate/usage.db.
	Database string `json:"database,omitempty"`

	// Auth says how callers are identified. Default: no authentication;
	// callers are told apart by client IP and get DefaultPlan.
	Auth *AuthConfig `json:"auth,omitempty"`

	// DefaultPlan names the plan of callers whose key or identity carries
	// no plan of its own. It must be one of Plans. Default: none, meaning
	// such callers have no limits (their usage is still recorded).
	DefaultPlan string `json:"default_plan,omitempty"`

	// Plans are the named sets of limits a caller can be on. A caller whose
	// plan is not listed here is refused with a 403. Default: none.
	Plans map[string]*Plan `json:"plans,omitempty"`

	// SyncInterval is how often quota counters are exchanged with the
	// database so that instances sharing it enforce shared limits.
	// Default: 1s.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`

	// KeyRefreshInterval is how often the in-memory key snapshot is
	// refreshed from the database; it bounds how long a key revoked on
	// another instance keeps working here. Default: 2s.
	KeyRefreshInterval caddy.Duration `json:"key_refresh_interval,omitempty"`

	// BatchSize is the largest number of usage records written in one
	// batch: one COPY on PostgreSQL, one transaction on SQLite.
	// Default: 500; at most 1000.
	BatchSize int `json:"batch_size,omitempty"`

	// FlushInterval is the longest a usage record waits in memory before
	// the writer tries to store it. Default: 1s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	// BufferLimit is how many unwritten records are kept in memory while
	// the database is unreachable before they are appended to spill files.
	// Default: 100000.
	BufferLimit int `json:"buffer_limit,omitempty"`

	// SpillDir holds spill files (records not yet written) and the key
	// snapshot used when the database is unreachable at start.
	// Default: <caddy data dir>/polygate/spill.
	SpillDir string `json:"spill_dir,omitempty"`

	// ShutdownTimeout is how long the final flush may take when the last
	// configuration using the database is unloaded; records still unwritten
	// then go to a spill file. Default: 5s.
	ShutdownTimeout caddy.Duration `json:"shutdown_timeout,omitempty"`

	// ResponseRetention is how long a Responses API response is kept for
	// previous_response_id and GET /v1/responses/{id} (see
	// [Service.PutResponse]); expired responses are deleted hourly. It
	// applies to responses stored from then on. In the Caddyfile it takes
	// day units too ("30d"). Default: 30 days.
	ResponseRetention caddy.Duration `json:"response_retention,omitempty"`
}

// Authentication modes of [AuthConfig].
const (
	AuthNone     = "none"
	AuthKeys     = "keys"
	AuthIdentity = "identity"
)

// AuthConfig says how callers are identified.
type AuthConfig struct {
	// Mode is "keys" (gateway-issued virtual keys sent as
	// "Authorization: Bearer sk-pg-..."), "identity" (the caller is the
	// value of Identity, typically set by an authentication handler that
	// runs earlier) or "none" (callers are told apart by client IP).
	// Default: "none".
	Mode string `json:"mode,omitempty"`

	// Identity is the placeholder naming the caller in identity mode,
	// such as {http.auth.user.id}. The host resolves it per request.
	// Required in identity mode.
	Identity string `json:"identity,omitempty"`

	// Plan is the caller's plan in identity mode: a plan name or a
	// placeholder such as {http.auth.user.plan}, resolved by the host per
	// request. Default: the configuration's DefaultPlan.
	Plan string `json:"plan,omitempty"`
}

// Plan is a named set of limits. A zero limit means no limit.
//
// Per-minute limits use a sliding window: the previous UTC minute's count
// weighted by the part of it still inside the last 60 seconds, plus the
// current minute's count. Per-day and per-month limits use fixed UTC
// calendar days and months. Token limits count input plus output tokens;
// until a request settles, its output is counted as its max_tokens
// (DefaultMaxTokens when the client sends none).
type Plan struct {
	// RequestsPerMinute caps requests in any 60 seconds (sliding).
	RequestsPerMinute int64 `json:"requests_per_minute,omitempty"`
	// RequestsPerDay caps requests per UTC day.
	RequestsPerDay int64 `json:"requests_per_day,omitempty"`
	// TokensPerMinute caps input plus output tokens in any 60 seconds.
	TokensPerMinute int64 `json:"tokens_per_minute,omitempty"`
	// TokensPerDay caps input plus output tokens per UTC day.
	TokensPerDay int64 `json:"tokens_per_day,omitempty"`
	// BudgetPerDay caps spend in USD per UTC day.
	BudgetPerDay float64 `json:"budget_per_day,omitempty"`
	// BudgetPerMonth caps spend in USD per UTC calendar month.
	BudgetPerMonth float64 `json:"budget_per_month,omitempty"`
	// Models, when not empty, is the list of models the plan may use. An
	// entry ending in "*" matches every model starting with what precedes
	// it. Other models are refused with a 403. Default: all models.
	Models []string `json:"models,omitempty"`
	// DefaultMaxTokens is the output reserved for a request that sends no
	// max_tokens. Default: 4096.
	DefaultMaxTokens int64 `json:"default_max_tokens,omitempty"`
	// UnmeteredPaths are the API paths the gateway passes through without
	// being able to account their cost (files, batches, vector stores,
	// fine-tuning jobs…) that callers on this plan may use although the
	// plan has a token or dollar limit; without such a limit every path is
	// allowed (see [Service.Metered]). A path is relative to the API's
	// version prefix, "files" or "vector_stores/vs_1/files"; an entry
	// ending in "*" matches every path starting with what precedes it
	// ("vector_stores/*", "batches*"). Default: none.
	UnmeteredPaths []string `json:"unmetered_paths,omitempty"`
}

// AllowsModel reports whether the plan may use model.
func (p *Plan) AllowsModel(model string) bool {
	if p == nil || len(p.Models) == 0 {
		return true
	}
	for _, m := range p.Models {
		if prefix, ok := strings.CutSuffix(m, "*"); ok {
			if strings.HasPrefix(model, prefix) {
				return true
			}
		} else if m == model {
			return true
		}
	}
	return false
}

func (p *Plan) maxTokens() int64 {
	if p == nil || p.DefaultMaxTokens <= 0 {
		return DefaultMaxTokens
	}
	return p.DefaultMaxTokens
}

// Validate checks the configuration without touching the database. The
// host calls it from its own Validate.
func (c *Config) Validate() error {
	if c.Auth != nil {
		switch c.Auth.Mode {
		case "", AuthNone, AuthKeys:
			if c.Auth.Identity != "" || c.Auth.Plan != "" {
				return fmt.Errorf("auth: identity and plan are only used in identity mode")
			}
		case AuthIdentity:
			if strings.TrimSpace(c.Auth.Identity) == "" {
				return fmt.Errorf("auth: identity mode needs an identity placeholder")
			}
		default:
			return fmt.Errorf("auth: unknown mode %q (want keys, identity or none)", c.Auth.Mode)
		}
	}
	if c.DefaultPlan != "" {
		if _, ok := c.Plans[c.DefaultPlan]; !ok {
			return fmt.Errorf("default_plan %q is not a configured plan", c.DefaultPlan)
		}
	}
	names := make([]string, 0, len(c.Plans))
	for name := range c.Plans {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.Plans[name]
		if name == "" {
			return fmt.Errorf("plan with empty name")
		}
		if p == nil {
			return fmt.Errorf("plan %q: empty", name)
		}
		if p.RequestsPerMinute < 0 || p.RequestsPerDay < 0 || p.TokensPerMinute < 0 ||
			p.TokensPerDay < 0 || p.BudgetPerDay < 0 || p.BudgetPerMonth < 0 || p.DefaultMaxTokens < 0 {
			return fmt.Errorf("plan %q: limits must not be negative", name)
		}
		for _, m := range p.Models {
			if m == "" || strings.Contains(strings.TrimSuffix(m, "*"), "*") {
				return fmt.Errorf("plan %q: invalid model pattern %q", name, m)
			}
		}
		for _, path := range p.UnmeteredPaths {
			if err := validUnmeteredPath(path); err != nil {
				return fmt.Errorf("plan %q: unmetered_paths: %v", name, err)
			}
		}
	}
	if c.BatchSize < 0 || c.BatchSize > maxBatchSize {
		return fmt.Errorf("batch_size must be between 1 and %d", maxBatchSize)
	}
	if c.BufferLimit < 0 {
		return fmt.Errorf("buffer_limit must not be negative")
	}
	for name, d := range map[string]caddy.Duration{
		"sync_interval": c.SyncInterval, "key_refresh_interval": c.KeyRefreshInterval,
		"flush_interval": c.FlushInterval, "shutdown_timeout": c.ShutdownTimeout,
		"response_retention": c.ResponseRetention,
	} {
		if d < 0 {
			return fmt.Errorf("%s must not be negative", name)
		}
	}
	return nil
}

// AuthMode returns the configured authentication mode: AuthKeys,
// AuthIdentity or AuthNone.
func (c *Config) AuthMode() string {
	if c.Auth == nil || c.Auth.Mode == "" {
		return AuthNone
	}
	return c.Auth.Mode
}

// responseRetention is ResponseRetention with its default applied.
func (c *Config) responseRetention() time.Duration {
	if c.ResponseRetention > 0 {
		return time.Duration(c.ResponseRetention)
	}
	return DefaultResponseRetention
}

// validUnmeteredPath checks an entry of Plan.UnmeteredPaths.
func validUnmeteredPath(p string) error {
	switch {
	case p == "" || p == "*":
		return fmt.Errorf("invalid path %q", p)
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, "v1/"):
		return fmt.Errorf("path %q: give it without a leading slash or version prefix, like \"files\" or \"vector_stores/*\"", p)
	case strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return fmt.Errorf("path %q: only a trailing * is allowed", p)
	case strings.ContainsAny(p, "?# \t"):
		return fmt.Errorf("path %q: a path has no query, fragment or spaces", p)
	}
	return nil
}

// settings are the engine tunables of a Config with defaults applied.
type settings struct {
	syncInterval    time.Duration
	keyRefresh      time.Duration
	batchSize       int
	flushInterval   time.Duration
	bufferLimit     int
	spillDir        string
	shutdownTimeout time.Duration

	// The Responses store's bounds (tests lower them).
	responseCacheBytes int
	responseQueueLimit int
}

func (c *Config) settings() settings {
	s := settings{
		syncInterval:    time.Duration(c.SyncInterval),
		keyRefresh:      time.Duration(c.KeyRefreshInterval),
		batchSize:       c.BatchSize,
		flushInterval:   time.Duration(c.FlushInterval),
		bufferLimit:     c.BufferLimit,
		spillDir:        c.SpillDir,
		shutdownTimeout: time.Duration(c.ShutdownTimeout),

		responseCacheBytes: DefaultResponseCacheBytes,
		responseQueueLimit: DefaultResponseQueueLimit,
	}
	if s.syncInterval <= 0 {
		s.syncInterval = DefaultSyncInterval
	}
	if s.keyRefresh <= 0 {
		s.keyRefresh = DefaultKeyRefreshInterval
	}
	if s.batchSize <= 0 {
		s.batchSize = DefaultBatchSize
	}
	if s.batchSize > maxBatchSize {
		s.batchSize = maxBatchSize
	}
	if s.flushInterval <= 0 {
		s.flushInterval = DefaultFlushInterval
	}
	if s.bufferLimit <= 0 {
		s.bufferLimit = DefaultBufferLimit
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	return s
}
