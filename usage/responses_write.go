package usage

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// responsePruneInterval is how often expired responses are deleted.
const responsePruneInterval = time.Hour

// respPruneChunk is how many expired rows one DELETE removes, so that a
// large backlog is deleted in short transactions.
const respPruneChunk = 1000

// tick is the responses loop's step: write what is queued, and delete
// expired responses at start and then hourly.
func (rs *responseStore) tick(ctx context.Context) {
	rs.warnDrops()
	if !rs.e.ready.Load() {
		return
	}
	_ = rs.flush(ctx)
	rs.writeMu.Lock()
	due := rs.lastPrune.IsZero() || rs.e.now().Sub(rs.lastPrune) >= responsePruneInterval
	rs.writeMu.Unlock()
	if due {
		rs.prune(ctx)
	}
}

// warnDrops logs the writes dropped since the last warning.
func (rs *responseStore) warnDrops() {
	rs.mu.Lock()
	n := rs.dropped
	rs.dropped = 0
	rs.mu.Unlock()
	if n > 0 {
		rs.e.log().Warn("response writes dropped: too many waiting for the usage database",
			zap.String("database", rs.e.t.name), zap.Int64("dropped", n),
			zap.Int64("dropped_total", rs.droppedTotal.Load()))
	}
}

// flush writes the queued responses in batches until the queue is empty
// or a write fails; a failed batch goes back to the head of the queue.
func (rs *responseStore) flush(ctx context.Context) error {
	rs.writeMu.Lock()
	defer rs.writeMu.Unlock()
	for {
		batch := rs.take()
		if len(batch) == 0 {
			rs.setDown(nil)
			return nil
		}
		err := rs.write(ctx, batch)
		rs.done(batch, err)
		if err != nil {
			rs.setDown(err)
			return err
		}
	}
}

// take moves the oldest queued entries into a batch.
func (rs *responseStore) take() []*respEntry {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var batch []*respEntry
	bytes := 0
	for rs.queue.Len() > 0 && len(batch) < respBatchLen {
		e := rs.queue.Front().Value.(*respEntry)
		if len(batch) > 0 && bytes+e.size > respBatchBytes {
			break
		}
		rs.queue.Remove(e.q)
		e.q = nil
		rs.queued -= e.size
		e.writing = true
		bytes += e.size
		batch = append(batch, e)
	}
	return batch
}

// done ends a batch: written entries leave the index unless cached, and
// after a failure the entries not superseded or deleted meanwhile go back
// to the head of the queue, in order.
func (rs *responseStore) done(batch []*respEntry, err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i := len(batch) - 1; i >= 0; i-- {
		e := batch[i]
		e.writing = false
		if err != nil && rs.byID[e.r.ID] == e && e.q == nil && !rs.closed {
			e.q = rs.queue.PushFront(e)
			rs.queued += e.size
		}
		rs.forgetIfIdle(e)
	}
	if err != nil {
		rs.bound(rs.e.settings())
	} else {
		rs.written.Add(int64(len(batch)))
	}
}

func (rs *responseStore) setDown(err error) {
	switch {
	case err != nil && !rs.down:
		rs.down = true
		rs.e.log().Warn("usage database unreachable; keeping responses in memory and retrying",
			zap.String("database", rs.e.t.name), zap.Error(err))
	case err == nil && rs.down:
		rs.down = false
		rs.e.log().Info("usage database reachable again; waiting responses written",
			zap.String("database", rs.e.t.name))
	}
}

// respUpsertSQL stores a response, replacing an earlier version of the
// same id by the same caller (never another caller's).
const respUpsertSQL = `INSERT INTO polygate_responses (` + responseColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET model = excluded.model, upstream = excluded.upstream,
		upstream_model = excluded.upstream_model, native = excluded.native,
		request = excluded.request, response = excluded.response, history = excluded.history,
		created_at = excluded.created_at, expires_at = excluded.expires_at
	WHERE polygate_responses.caller_id = excluded.caller_id`

// write stores a batch in one transaction. When the database refuses a
// response for its content, the others are stored one by one and the
// refused ones dropped, with an error logged, rather than retried forever.
func (rs *responseStore) write(ctx context.Context, batch []*respEntry) error {
	err := rs.writeTx(ctx, batch)
	if err == nil || !refusesData(err) {
		return err
	}
	for _, e := range batch {
		if err := rs.writeTx(ctx, []*respEntry{e}); err != nil {
			if !refusesData(err) {
				return err
			}
			rs.e.log().Error("usage database refused a response; dropped it",
				zap.String("response_id", e.r.ID), zap.Error(err))
		}
	}
	return nil
}

func (rs *responseStore) writeTx(ctx context.Context, batch []*respEntry) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tx, err := rs.e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, rs.e.d.q(respUpsertSQL))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range batch {
		r := &e.r
		if _, err = stmt.ExecContext(ctx, storable(r.ID), storable(r.CallerID), storable(r.Model),
			storable(r.Upstream), storable(r.UpstreamModel), r.Native, storable(string(r.Request)),
			storable(string(r.Response)), storable(string(r.History)), r.CreatedAt, r.ExpiresAt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// storable makes s storable as text (PostgreSQL refuses NUL bytes and
// invalid UTF-8); valid JSON has neither, so this copies nothing in the
// usual case.
func storable(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// prune deletes expired responses from the database, a chunk at a time,
// and from memory.
func (rs *responseStore) prune(ctx context.Context) {
	rs.writeMu.Lock()
	defer rs.writeMu.Unlock()
	now := rs.e.now()
	q := rs.e.d.q(`DELETE FROM polygate_responses WHERE id IN
		(SELECT id FROM polygate_responses WHERE expires_at <= ? LIMIT ` + fmt.Sprint(respPruneChunk) + `)`)
	var total int64
	for {
		res, err := rs.e.db.ExecContext(ctx, q, now.UTC().Round(time.Microsecond))
		if err != nil {
			if ctx.Err() == nil {
				rs.e.log().Warn("deleting expired responses", zap.String("database", rs.e.t.name), zap.Error(err))
			}
			return // retried next tick
		}
		n, _ := res.RowsAffected()
		total += n
		if n < respPruneChunk {
			break
		}
	}
	rs.lastPrune = now
	rs.mu.Lock()
	for el := rs.lru.Front(); el != nil; {
		e := el.Value.(*respEntry)
		el = el.Next()
		if !now.Before(e.r.ExpiresAt) && e.q == nil && !e.writing {
			rs.unlink(e)
		}
	}
	rs.mu.Unlock()
	if total > 0 {
		rs.e.log().Debug("deleted expired responses", zap.String("database", rs.e.t.name), zap.Int64("responses", total))
	}
}

// close writes what is queued within ctx, and makes later puts fail. It
// runs once the loops have stopped.
func (rs *responseStore) close(ctx context.Context) {
	var err error = errNotReady
	if rs.e.ready.Load() {
		err = rs.flush(ctx)
	}
	rs.mu.Lock()
	rs.closed = true
	lost := rs.queue.Len()
	rs.mu.Unlock()
	rs.warnDrops()
	if lost > 0 {
		rs.e.log().Warn("responses not stored at shutdown: the usage database did not take them in time",
			zap.String("database", rs.e.t.name), zap.Int("responses", lost), zap.Error(err))
	}
}
