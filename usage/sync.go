package usage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Counters are shared through polygate_counters: one row per subject,
// window and instance, holding that instance's absolute totals (so that
// writing a row twice is harmless) and its requests in flight. Each sync
// an instance (1) stamps its heartbeat, (2) writes the rows that changed
// since its last sync and (3) reads the other instances' sums, counting
// their requests in flight only while their heartbeat is fresh, so a
// crashed instance's reservations stop counting.
const (
	// fullPullEvery is how many syncs pass between reads of all current
	// counters; the others read only rows changed since the last sync.
	fullPullEvery = 30
	// pullOverlap re-reads rows stamped this long before the last read, so
	// rows committed late are not missed.
	pullOverlap = 5 * time.Second
	// staleAfter is the least time without a heartbeat after which an
	// instance's requests in flight stop counting.
	staleAfter = 10 * time.Second
	// pushChunk is how many counter rows one statement writes.
	pushChunk = 200
	// cleanupEvery is how often expired counter rows are deleted.
	cleanupEvery = 5 * time.Minute
	// sweepEvery is how often buckets of past windows are dropped from
	// memory when no full pull did it.
	sweepEvery = time.Minute
)

type syncState struct {
	mu          sync.Mutex
	lastPullMS  int64
	sincesFull  int
	gen         uint64
	lastCleanup time.Time
	lastSweep   time.Time
	down        bool
}

func (e *engine) syncTick(ctx context.Context) {
	defer func() {
		// Forget past windows even while the database is unreachable.
		e.sync.mu.Lock()
		defer e.sync.mu.Unlock()
		if time.Since(e.sync.lastSweep) > sweepEvery {
			e.sweep(windowsAt(e.now()), 0, false)
		}
	}()
	if !e.ready.Load() {
		return
	}
	err := e.syncCounters(ctx, true)
	e.sync.mu.Lock()
	defer e.sync.mu.Unlock()
	switch {
	case err != nil && !e.sync.down && ctx.Err() == nil:
		e.sync.down = true
		e.log().Warn("usage counters not synchronised; enforcing limits from this instance's view",
			zap.String("database", e.t.name), zap.Error(err))
	case err == nil && e.sync.down:
		e.sync.down = false
		e.log().Info("usage counters synchronised again", zap.String("database", e.t.name))
	}
}

type pushRow struct {
	sub               *subject
	b                 *bucket
	settled, reserved counts
}

// syncCounters pushes this instance's changed counters and, if pull is
// set, reads the other instances' ones.
func (e *engine) syncCounters(ctx context.Context, pull bool) error {
	e.sync.mu.Lock()
	defer e.sync.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	var dbNow int64
	err := e.db.QueryRowContext(ctx, e.d.q(`INSERT INTO polygate_instances (id, host, started_ms, seen_ms)
		VALUES (?, ?, `+e.d.nowMS+`, `+e.d.nowMS+`)
		ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms
		RETURNING seen_ms`), e.instance, e.host).Scan(&dbNow)
	if err != nil {
		return fmt.Errorf("writing heartbeat: %w", err)
	}

	rows := e.collectDirty()
	if err := e.push(ctx, rows); err != nil {
		e.requeue(rows)
		return fmt.Errorf("writing counters: %w", err)
	}
	for _, r := range rows {
		r.sub.mu.Lock()
		r.b.pushedSettled, r.b.pushedReserved = r.settled, r.reserved
		r.sub.mu.Unlock()
	}
	if !pull {
		return nil
	}

	full := e.sync.lastPullMS == 0 || e.sync.sincesFull >= fullPullEvery
	if err := e.pull(ctx, dbNow, full); err != nil {
		return fmt.Errorf("reading counters: %w", err)
	}
	e.sync.lastPullMS = dbNow
	if full {
		e.sync.sincesFull = 0
	} else {
		e.sync.sincesFull++
	}

	if time.Since(e.sync.lastCleanup) > cleanupEvery {
		e.sync.lastCleanup = time.Now()
		if err := e.cleanupCounters(ctx); err != nil {
			e.log().Debug("deleting expired usage counters", zap.Error(err))
		}
	}
	return nil
}

func (e *engine) collectDirty() []pushRow {
	l := &e.lim
	l.dmu.Lock()
	subs := l.dirty
	l.dirty = nil
	l.dmu.Unlock()
	var rows []pushRow
	for _, s := range subs {
		s.mu.Lock()
		s.queued = false
		for _, b := range s.buckets {
			if b.dirty() {
				rows = append(rows, pushRow{sub: s, b: b, settled: b.settled, reserved: b.reserved})
			}
		}
		s.mu.Unlock()
	}
	return rows
}

func (e *engine) requeue(rows []pushRow) {
	for _, r := range rows {
		r.sub.mu.Lock()
		e.lim.markDirty(r.sub)
		r.sub.mu.Unlock()
	}
}

func (e *engine) push(ctx context.Context, rows []pushRow) error {
	for len(rows) > 0 {
		n := min(pushChunk, len(rows))
		var b strings.Builder
		b.WriteString(`INSERT INTO polygate_counters (kind, win, subject, instance, requests, tokens,
			cost_usd, res_requests, res_tokens, res_cost_usd, updated_ms) VALUES `)
		args := make([]any, 0, n*10)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, " + e.d.nowMS + ")")
			args = append(args, kindNames[r.b.kind], r.b.win, r.sub.id, e.instance,
				r.settled.requests, r.settled.tokens, r.settled.cost,
				r.reserved.requests, r.reserved.tokens, r.reserved.cost)
		}
		b.WriteString(` ON CONFLICT (kind, win, subject, instance) DO UPDATE SET
			requests = excluded.requests, tokens = excluded.tokens, cost_usd = excluded.cost_usd,
			res_requests = excluded.res_requests, res_tokens = excluded.res_tokens,
			res_cost_usd = excluded.res_cost_usd, updated_ms = excluded.updated_ms`)
		if _, err := e.db.ExecContext(ctx, e.d.q(b.String()), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

type pulledRow struct {
	Subject     string  `db:"subject"`
	Kind        string  `db:"kind"`
	Win         int64   `db:"win"`
	Requests    int64   `db:"requests"`
	Tokens      int64   `db:"tokens"`
	Cost        float64 `db:"cost_usd"`
	ResRequests int64   `db:"res_requests"`
	ResTokens   int64   `db:"res_tokens"`
	ResCost     float64 `db:"res_cost_usd"`
}

// pull reads the other instances' counters of the current windows: all of
// them if full, else those changed since the last pull.
func (e *engine) pull(ctx context.Context, dbNow int64, full bool) error {
	w := windowsAt(e.now())
	fresh := dbNow - max(staleAfter, 5*e.settings().syncInterval).Milliseconds()
	q := `SELECT c.subject AS subject, c.kind AS kind, c.win AS win,
		CAST(SUM(c.requests) AS BIGINT) AS requests,
		CAST(SUM(c.tokens) AS BIGINT) AS tokens,
		SUM(c.cost_usd) AS cost_usd,
		CAST(SUM(CASE WHEN i.seen_ms >= ? THEN c.res_requests ELSE 0 END) AS BIGINT) AS res_requests,
		CAST(SUM(CASE WHEN i.seen_ms >= ? THEN c.res_tokens ELSE 0 END) AS BIGINT) AS res_tokens,
		SUM(CASE WHEN i.seen_ms >= ? THEN c.res_cost_usd ELSE 0.0 END) AS res_cost_usd
		FROM polygate_counters c LEFT JOIN polygate_instances i ON i.id = c.instance
		WHERE c.instance <> ?
		AND ((c.kind = 'min' AND c.win >= ?) OR (c.kind = 'day' AND c.win = ?) OR (c.kind = 'mon' AND c.win = ?))`
	args := []any{fresh, fresh, fresh, e.instance, w.minute - 1, w.day, w.month}
	if !full {
		q += ` AND (c.subject, c.kind, c.win) IN
			(SELECT subject, kind, win FROM polygate_counters WHERE updated_ms >= ? AND instance <> ?)`
		args = append(args, e.sync.lastPullMS-pullOverlap.Milliseconds(), e.instance)
	}
	q += ` GROUP BY c.subject, c.kind, c.win`
	var rows []pulledRow
	if err := e.db.SelectContext(ctx, &rows, e.d.q(q), args...); err != nil {
		return err
	}
	e.sync.gen++
	gen := e.sync.gen
	for _, r := range rows {
		k, ok := kindByName(r.Kind)
		if !ok {
			continue
		}
		sub := e.lim.lock(r.Subject)
		b := sub.bucket(k, r.Win, true)
		b.othersSettled = counts{r.Requests, r.Tokens, r.Cost}
		b.othersReserved = counts{r.ResRequests, r.ResTokens, r.ResCost}
		b.pulled = gen
		sub.mu.Unlock()
	}
	if full {
		e.sweep(w, gen, true)
	}
	return nil
}

// sweep drops buckets of past windows and subjects left without any and,
// after a full pull of generation gen, forgets other instances' counts
// that the pull did not return. e.sync.mu is held.
func (e *engine) sweep(w windows, gen uint64, fullPull bool) {
	e.sync.lastSweep = time.Now()
	e.lim.subjects.Range(func(key, v any) bool {
		s := v.(*subject)
		s.mu.Lock()
		defer s.mu.Unlock()
		kept := s.buckets[:0]
		for _, b := range s.buckets {
			if fullPull && b.pulled != gen {
				b.othersSettled, b.othersReserved = counts{}, counts{}
			}
			past := b.win < w.of(b.kind)
			if b.kind == minuteKind {
				past = b.win < w.minute-1
			}
			if past && !b.dirty() && s.inflight == 0 {
				continue
			}
			kept = append(kept, b)
		}
		clear(s.buckets[len(kept):])
		s.buckets = kept
		if len(s.buckets) == 0 && s.inflight == 0 && !s.queued {
			s.gone = true
			e.lim.subjects.Delete(key)
			e.lim.size.Add(-1)
		}
		return true
	})
}

func (e *engine) cleanupCounters(ctx context.Context) error {
	w := windowsAt(e.now())
	if _, err := e.db.ExecContext(ctx, e.d.q(`DELETE FROM polygate_counters WHERE
		(kind = 'min' AND win < ?) OR (kind = 'day' AND win < ?) OR (kind = 'mon' AND win < ?)`),
		w.minute-10, w.day-2, w.month-2); err != nil {
		return err
	}
	_, err := e.db.ExecContext(ctx, `DELETE FROM polygate_instances WHERE seen_ms < `+e.d.nowMS+` - 604800000`)
	return err
}
