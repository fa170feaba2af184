package routing

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Health defaults, used when a model sets none.
const (
	// DefaultMaxFails is how many consecutive failures cool an upstream
	// down: 3.
	DefaultMaxFails = 3
	// DefaultFailDuration is how long a cooled-down upstream is skipped,
	// unless its Retry-After says longer: 30s.
	DefaultFailDuration = 30 * time.Second
	// MaxRetryAfterWait is the longest Retry-After honoured by waiting: 5s.
	// An upstream asking for longer is skipped for this request (and cooled
	// down for that long) and the next candidate is tried at once.
	MaxRetryAfterWait = 5 * time.Second
)

// health is what the gateway knows of one upstream (a provider endpoint
// and credentials serving one model): its failure record, its requests in
// flight and its moving average time to first byte. It is shared by every
// route and config that uses the same upstream.
type health struct {
	failures      atomic.Int32
	cooledUntilNs atomic.Int64
	inFlight      atomic.Int64
	ttfbNs        atomic.Int64 // moving average; 0 until measured
}

// Destruct implements caddy.Destructor; health holds nothing to release.
func (*health) Destruct() error { return nil }

// healthPool keeps health for as long as a config uses the upstream, so a
// cooldown survives reloads and is dropped when no config names the
// upstream any more.
var healthPool = caddy.NewUsagePool()

func pooledHealth(key string) *health {
	v, _, _ := healthPool.LoadOrNew(key, func() (caddy.Destructor, error) { return new(health), nil })
	return v.(*health)
}

// observeTTFB folds one time-to-first-byte sample into the moving average
// (weight 1/8 for the new sample).
func (h *health) observeTTFB(d time.Duration) {
	sample := int64(d)
	if sample <= 0 {
		sample = 1
	}
	for {
		old := h.ttfbNs.Load()
		next := sample
		if old != 0 {
			next = old + (sample-old)/8
		}
		if h.ttfbNs.CompareAndSwap(old, next) {
			return
		}
	}
}

// DirectHealth remembers the health of upstreams that clients address
// directly ("<provider>/<model>"), at most Max of them: their names come
// from clients, so they are keyed by a hash and an arbitrary entry is
// forgotten when the cache is full. Memory stays bounded whatever names
// clients send.
type DirectHealth struct {
	// Max bounds the entries; 0 means 4096.
	Max int

	mu sync.Mutex
	m  map[uint64]*health
}

func (d *DirectHealth) get(key uint64) *health {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.m[key]; ok {
		return h
	}
	max := d.Max
	if max <= 0 {
		max = 4096
	}
	if d.m == nil {
		d.m = make(map[uint64]*health)
	}
	if len(d.m) >= max {
		for k := range d.m {
			delete(d.m, k)
			break
		}
	}
	h := new(health)
	d.m[key] = h
	return h
}

// Len reports how many upstreams are remembered.
func (d *DirectHealth) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}
