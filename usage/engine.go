package usage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/jmoiron/sqlx"
	"go.uber.org/zap"
)

// engine is the state shared by every Service of one database: the
// connection pool, key snapshot, quota counters, record writer and
// response store. It
// lives in the usage pool and so survives config reloads; Destruct runs
// when the last configuration using the database is unloaded.
type engine struct {
	t        *target
	d        *dialect
	db       *sqlx.DB
	instance string
	host     string
	// fixedNow, when not zero, is the time in Unix nanoseconds (tests).
	fixedNow atomic.Int64

	logger atomic.Pointer[zap.Logger]
	set    atomic.Pointer[settings]

	// ctx is cancelled when Destruct starts, aborting background queries.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once

	// ready is set once migrations are applied; until then no loop
	// touches the database.
	ready atomic.Bool

	keys keyStore
	lim  limiter
	w    writer
	resp responseStore
	sync syncState

	kickKeys, kickSync chan struct{}
}

var _ caddy.Destructor = (*engine)(nil)

func newEngine(t *target, set settings, logger *zap.Logger) (*engine, error) {
	db, err := openDB(t)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	e := &engine{
		t:        t,
		d:        t.dialect,
		db:       db,
		instance: randomID(8),
		host:     host,
		done:     make(chan struct{}),
		kickKeys: make(chan struct{}, 1),
		kickSync: make(chan struct{}, 1),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.logger.Store(logger)
	e.set.Store(&set)
	e.w.init(e)
	e.resp.init(e)
	e.loadKeyCache()
	e.start()
	return e, nil
}

// now is the engine's clock.
func (e *engine) now() time.Time {
	if f := e.fixedNow.Load(); f != 0 {
		return time.Unix(0, f).UTC()
	}
	return time.Now()
}

func (e *engine) log() *zap.Logger { return e.logger.Load() }

func (e *engine) settings() *settings { return e.set.Load() }

func (e *engine) start() {
	e.wg.Add(1)
	go e.migrateLoop()
	e.every("keys", func() time.Duration { return e.settings().keyRefresh }, e.kickKeys, e.keysTick)
	e.every("sync", func() time.Duration { return e.settings().syncInterval }, e.kickSync, e.syncTick)
	e.every("writer", func() time.Duration { return e.settings().flushInterval }, e.w.kick, e.w.tick)
	e.every("responses", func() time.Duration { return e.settings().flushInterval }, e.resp.kick, e.resp.tick)
}

// every runs tick every interval, or when kicked, until Destruct.
func (e *engine) every(name string, interval func() time.Duration, kick chan struct{}, tick func(context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		timer := time.NewTimer(interval())
		defer timer.Stop()
		for {
			select {
			case <-e.done:
				return
			case <-timer.C:
			case <-kick:
			}
			e.safely(name, func() { tick(e.ctx) })
			timer.Reset(interval())
		}
	}()
}

// safely runs fn, logging a panic with its stack instead of crashing.
func (e *engine) safely(name string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			e.log().Error("panic in usage background loop",
				zap.String("loop", name),
				zap.Any("panic", r),
				zap.ByteString("stack", debug.Stack()))
		}
	}()
	fn()
}

// migrateLoop applies migrations, retrying with backoff while the
// database is unreachable, then marks the engine ready.
func (e *engine) migrateLoop() {
	defer e.wg.Done()
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := errMigrationPanicked
		e.safely("migrate", func() {
			ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
			defer cancel()
			err = migrate(ctx, e.db.DB, e.t)
		})
		if err == nil {
			break
		}
		if e.ctx.Err() != nil {
			return
		}
		e.log().Warn("usage database not ready; serving from memory and retrying",
			zap.String("database", e.t.name),
			zap.Int("attempt", attempt),
			zap.Duration("retry_in", backoff),
			zap.Error(err))
		select {
		case <-e.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	e.ready.Store(true)
	e.log().Debug("usage database ready", zap.String("database", e.t.name), zap.String("instance", e.instance))
	for _, ch := range []chan struct{}{e.kickKeys, e.kickSync, e.w.kick, e.resp.kick} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Destruct stops the background loops, pushes the counters, flushes the
// records (spilling what cannot be written within the shutdown timeout)
// and the responses waiting to be written, and closes the database.
func (e *engine) Destruct() error {
	e.closed.Do(func() {
		close(e.done)
		e.cancel()
		e.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), e.settings().shutdownTimeout)
		defer cancel()
		if e.ready.Load() {
			if err := e.syncCounters(ctx, false); err != nil {
				e.log().Warn("pushing usage counters at shutdown", zap.Error(err))
			}
		}
		e.w.close(ctx)
		e.resp.close(ctx)
		if err := e.db.Close(); err != nil {
			e.log().Warn("closing usage database", zap.String("database", e.t.name), zap.Error(err))
		}
	})
	return nil
}

var errMigrationPanicked = errors.New("migration panicked")

// orderedID returns a unique id that sorts by time: the time in
// nanoseconds (16 hex digits) and 32 random bits. New rows then land at the
// end of the primary-key index instead of at random places in it, which
// halves the cost of writing usage records.
//
// The random bits tell apart records of the same nanosecond (on other
// instances): they need not be unpredictable, so they come from the
// runtime's per-thread generator, not from the kernel.
func orderedID(now time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	binary.BigEndian.PutUint32(b[8:], mrand.Uint32())
	return hex.EncodeToString(b[:])
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
