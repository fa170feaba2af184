// Package cache is the exact-match response cache of the ai_gateway
// handler: a repeated request (same endpoint, model, answer-changing
// parameters and scope) is answered from memory, at no cost and at once.
//
// Entries live in a ristretto cache bounded in bytes. The host handler
// embeds a [Config], calls [Open] in Provision and the release function in
// Cleanup, so that the entries survive config reloads. Per request it
// computes a [Key] with [Cache.Key], honours the client's Cache-Control
// ([ParseCacheControl]), looks up with [Cache.Get] and, after a complete
// successful answer, stores it with [Cache.Set]. A streamed answer is
// rebuilt into a chat.completion with an [Accumulator] before it is stored,
// and a stored chat.completion is served to a streaming client with
// [Replay].
//
// Only complete, successful answers may be stored: a 200 chat.completion or
// embeddings list from the upstream, or a stream for which
// [Accumulator.Complete] reports true. Deciding that is the host's job;
// this package stores whatever it is given.
package cache

import (
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// Defaults and bounds of [Config].
const (
	// DefaultTTL is how long an entry is served when Config.TTL is unset.
	DefaultTTL = 10 * time.Minute
	// DefaultMaxSize is the byte bound when Config.MaxSize is unset: 64 MiB.
	DefaultMaxSize = 64 << 20
	// MinMaxSize is the smallest accepted Config.MaxSize: 1 MiB.
	MinMaxSize = 1 << 20

	// EntryOverhead is added to the length of an entry's body to make its
	// cost, accounting for the bookkeeping ristretto and this package keep
	// per entry, so that MaxSize bounds memory and not only body bytes.
	EntryOverhead = 256
)

// Scopes: who may be served an entry another request stored.
const (
	// ScopeKey shares entries only between requests of the same caller
	// (API key, or identity when callers are identified otherwise). The
	// default: one caller never sees another's cached answer.
	ScopeKey = "key"
	// ScopePlan shares entries between the callers of one plan.
	ScopePlan = "plan"
	// ScopeGlobal shares entries between all callers.
	ScopeGlobal = "global"
)

// Config configures the response cache. The host embeds it (as a pointer:
// present means enabled) in its JSON configuration; all fields are
// optional.
type Config struct {
	// TTL is how long a stored answer is served. Default: 10m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// MaxSize bounds the memory the entries take, in bytes: the sum of
	// every entry's body length plus EntryOverhead never exceeds it. When
	// it is full, rarely requested entries make room for new ones, and a
	// new answer may be refused if everything in the cache is requested
	// more often. At least 1 MiB. Default: 64 MiB.
	MaxSize int64 `json:"max_size,omitempty"`

	// Scope says who shares entries: "key" (each caller has its own
	// entries), "plan" (callers of one plan share) or "global" (everyone
	// shares). Default: "key".
	Scope string `json:"scope,omitempty"`
}

// withDefaults returns c with unset fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.TTL == 0 {
		c.TTL = caddy.Duration(DefaultTTL)
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.Scope == "" {
		c.Scope = ScopeKey
	}
	return c
}

// Validate reports the first invalid value of c. Unset fields are valid
// (they take their defaults).
func (c Config) Validate() error {
	if c.TTL < 0 {
		return fmt.Errorf("cache: ttl %s: must be positive", time.Duration(c.TTL))
	}
	if c.MaxSize != 0 && c.MaxSize < MinMaxSize {
		return fmt.Errorf("cache: max_size %d: must be at least %d bytes (1MiB)", c.MaxSize, MinMaxSize)
	}
	switch c.Scope {
	case "", ScopeKey, ScopePlan, ScopeGlobal:
	default:
		return fmt.Errorf("cache: scope %q: must be key, plan or global", c.Scope)
	}
	return nil
}

// poolKey identifies the instance a configuration gets from [Open].
func (c Config) poolKey() string {
	c = c.withDefaults()
	return fmt.Sprintf("max_size=%d ttl=%d scope=%s", c.MaxSize, int64(c.TTL), c.Scope)
}

// Entry is one stored answer.
type Entry struct {
	// Body is the complete successful answer as JSON: a chat.completion
	// object, or an embeddings list. The cache keeps the slice it is given
	// and hands out the same slice on every hit: neither side may modify
	// it.
	Body []byte
	// Stored is when the entry was stored; [Cache.Set] sets it when zero.
	// The host may derive an Age header from it.
	Stored time.Time

	key Key // verified on Get: the ristretto key is only 64 bits of it
}

// Cache is a response cache. Its methods are safe for concurrent use, and
// safe (as no-ops) after Close.
type Cache struct {
	cfg Config

	// mu guards rc against Close: ristretto panics when used while or
	// after it is closed.
	mu     sync.RWMutex
	closed bool
	rc     *ristretto.Cache[uint64, Entry]

	// setLocks serialise the delete-then-insert of Set per key stripe, so
	// that ristretto always sees a fresh insertion (which evicts to make
	// room) and never an in-place update (which does not).
	setLocks [64]sync.Mutex
}

// New returns a cache configured by cfg, with defaults for unset fields.
// Most hosts want [Open], which shares the cache across config reloads.
// Call Close when done with it.
func New(cfg Config) (*Cache, error) {
	return newCache(cfg, false)
}

func newCache(cfg Config, metrics bool) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, Entry]{
		NumCounters:        numCounters(cfg.MaxSize),
		MaxCost:            cfg.MaxSize,
		BufferItems:        64,
		IgnoreInternalCost: true, // EntryOverhead accounts for it
		Metrics:            metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: creating store: %v", err)
	}
	return &Cache{cfg: cfg, rc: rc}, nil
}

// numCounters sizes ristretto's admission counters at ten per entry the
// cache could hold, assuming 1 KiB per entry, within [10,000, 10,000,000]
// (about 3 bytes each).
func numCounters(maxSize int64) int64 {
	return min(max(maxSize/1024*10, 10_000), 10_000_000)
}

// pool shares caches between the configurations that are loaded at the
// same time during a reload.
var pool = caddy.NewUsagePool()

// Open returns the cache for cfg, shared with every other user of an equal
// configuration (after defaults), so that a config reload that keeps the
// cache configuration keeps its entries. A changed configuration gets a new,
// empty cache. Call release once when done (in Cleanup); the cache is
// closed when its last user has released it.
func Open(cfg Config) (c *Cache, release func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	key := cfg.poolKey()
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return New(cfg)
	})
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	release = func() {
		once.Do(func() { _, _ = pool.Delete(key) })
	}
	return v.(*Cache), release, nil
}

// Config returns the configuration of c, defaults applied.
func (c *Cache) Config() Config { return c.cfg }

// TTL returns how long entries are served.
func (c *Cache) TTL() time.Duration { return time.Duration(c.cfg.TTL) }

// Key returns the key of a request to endpoint ("chat/completions" or
// "embeddings") for the public model, with body its JSON body, in the
// scope the configuration says: caller is the caller's key id (or identity
// when callers are identified otherwise; "" for anonymous callers, who then
// share entries) and plan its plan's name. ok is false when body is not a
// valid JSON object (or nests deeper than 64 levels): such a request is not
// cacheable. See [MakeKey] for what the key covers.
func (c *Cache) Key(endpoint, model, caller, plan string, body []byte) (k Key, ok bool) {
	var scope string
	switch c.cfg.Scope {
	case ScopeKey:
		scope = caller
	case ScopePlan:
		scope = plan
	}
	return makeKey(endpoint, model, c.cfg.Scope, scope, body)
}

// Get returns the entry stored under k and whether there is one that has
// not expired. The entry's Body is shared: do not modify it.
func (c *Cache) Get(k Key) (Entry, bool) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return Entry{}, false
	}
	e, ok := c.rc.Get(k.hash())
	c.mu.RUnlock()
	if !ok || e.key != k {
		return Entry{}, false
	}
	return e, true
}

// Set stores e under k for the configured TTL, replacing any entry already
// there, and reports whether the entry was handed to the store. Stores are
// applied asynchronously: an entry becomes visible to Get shortly after Set
// returns (call Wait to be sure), and ristretto may still refuse it, when
// it is bigger than MaxSize or when the cache is full of entries requested
// more often. Set keeps e.Body; the caller must not modify it afterwards.
func (c *Cache) Set(k Key, e Entry) bool {
	cost := int64(len(e.Body)) + EntryOverhead
	if cost > c.cfg.MaxSize {
		return false
	}
	if e.Stored.IsZero() {
		e.Stored = time.Now()
	}
	e.key = k
	h := k.hash()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	l := &c.setLocks[h%uint64(len(c.setLocks))]
	l.Lock()
	defer l.Unlock()
	// Deleting first turns a replacement into an insertion, which the
	// policy admits only after evicting enough to stay within MaxCost.
	c.rc.Del(h)
	return c.rc.SetWithTTL(h, e, cost, time.Duration(c.cfg.TTL))
}

// Wait blocks until every Set made before it has been applied.
func (c *Cache) Wait() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		c.rc.Wait()
	}
}

// Used returns the bytes the entries are accounted for (bodies plus
// EntryOverhead each), as of the last applied Set. It never exceeds
// MaxSize.
func (c *Cache) Used() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0
	}
	return c.rc.MaxCost() - c.rc.RemainingCost()
}

// Close drops every entry and stops the cache's goroutines. Later calls
// of any method are no-ops; Get misses.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.rc.Close()
}

// Destruct implements caddy.Destructor: it closes the cache when its last
// user released it.
func (c *Cache) Destruct() error {
	c.Close()
	return nil
}

// Interface guards.
var _ caddy.Destructor = (*Cache)(nil)
