package usage

import (
	"container/list"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrResponseNotFound is returned by [Service.GetResponse] and
// [Service.DeleteResponse] for an unknown id, an expired response and
// another caller's response alike. The host answers 404.
var ErrResponseNotFound = errors.New("response not found")

// StoredResponse is what the gateway keeps of an answer of OpenAI's
// Responses API (POST /v1/responses). For a provider the gateway
// translates to (Native false, Upstream "") it is the conversation:
// Request and Response answer GET /v1/responses/{id} and its input_items,
// History (the messages up to and including the answer) continues it for
// previous_response_id. For a provider that speaks the Responses API
// itself (Native true) the response lives there: only which upstream made
// the id (Upstream, the provider's name, and UpstreamModel) is kept, so
// that requests naming it go back there.
type StoredResponse struct {
	// ID is the response's id ("resp_…"). Required.
	ID string
	// CallerID is who made the response (Caller.ID); nobody else can
	// read or delete it. Required.
	CallerID string
	// Model is the model the client asked for.
	Model string
	// Upstream is the provider that served a native response; empty for
	// a translated one.
	Upstream      string
	UpstreamModel string
	Native        bool
	// Request, Response and History are JSON, kept byte for byte.
	Request  json.RawMessage
	Response json.RawMessage
	History  json.RawMessage
	// CreatedAt defaults to now; ExpiresAt to CreatedAt plus the
	// configuration's response_retention.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// size is what r costs in memory, roughly.
func (r *StoredResponse) size() int {
	return len(r.ID) + len(r.CallerID) + len(r.Model) + len(r.Upstream) + len(r.UpstreamModel) +
		len(r.Request) + len(r.Response) + len(r.History) + 256
}

// PutResponse stores r without waiting for the database: it is readable
// at once from memory, on this instance, and written to the database by a
// background loop within about flush_interval (retried while the
// database is down, and flushed when the last configuration using the
// database is unloaded); other instances sharing the database read it
// from there once written. Memory is bounded: the most recent responses
// are kept up to 64 MiB, and writes waiting for the database up to
// 10,000 responses or 64 MiB, past which the oldest waiting write is
// dropped (and a warning logged). Putting an id again replaces the
// response, unless it is another caller's. r's slices are kept, not
// copied: do not change them afterwards.
func (s *Service) PutResponse(r StoredResponse) {
	if r.ID == "" || r.CallerID == "" {
		return
	}
	now := s.e.now()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.CreatedAt.Add(s.retention)
	}
	r.CreatedAt = r.CreatedAt.UTC().Round(time.Microsecond)
	r.ExpiresAt = r.ExpiresAt.UTC().Round(time.Microsecond)
	s.e.resp.put(r)
}

// GetResponse returns the response with the given id if callerID made it
// and it has not expired: from memory when this instance stored or read
// it recently, else from the database. Otherwise it returns
// ErrResponseNotFound; other errors are the database's. The returned
// slices are shared: do not change them.
func (s *Service) GetResponse(ctx context.Context, id, callerID string) (StoredResponse, error) {
	if id == "" || callerID == "" {
		return StoredResponse{}, ErrResponseNotFound
	}
	now := s.e.now()
	if r, known := s.e.resp.get(id, callerID, now); known {
		if r == nil {
			return StoredResponse{}, ErrResponseNotFound
		}
		return *r, nil
	}
	if !s.e.waitReady(ctx, responseReadyWait) {
		return StoredResponse{}, fmt.Errorf("reading response: usage database %s is not ready", s.e.t.name)
	}
	return s.e.resp.load(ctx, id, callerID, now)
}

// responseReadyWait is how long a response read waits for a database
// still being migrated (right after start) before it fails.
const responseReadyWait = 3 * time.Second

// waitReady waits up to max for the database to be migrated.
func (e *engine) waitReady(ctx context.Context, max time.Duration) bool {
	deadline := time.Now().Add(max)
	for !e.ready.Load() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// DeleteResponse deletes the response with the given id, from memory and
// from the database, if callerID made it and it has not expired;
// otherwise it returns ErrResponseNotFound. Other errors are the
// database's.
func (s *Service) DeleteResponse(ctx context.Context, id, callerID string) error {
	if id == "" || callerID == "" {
		return ErrResponseNotFound
	}
	return s.e.resp.delete(ctx, id, callerID, s.e.now())
}

// responseStore keeps the responses of one database: a cache of the most
// recent ones and a queue of writes for the database, which its loop
// (tick) drains. It lives in the engine, so both survive reloads.
type responseStore struct {
	e    *engine
	kick chan struct{}

	mu      sync.Mutex
	byID    map[string]*respEntry // cached, queued or being written
	lru     list.List             // of *respEntry cached, least recently used first
	cached  int                   // bytes of cached entries
	queue   list.List             // of *respEntry waiting to be written, oldest first
	queued  int                   // bytes of queued entries
	dropped int64                 // writes dropped since the last warning
	closed  bool

	writeMu   sync.Mutex // one flush or delete at a time
	down      bool       // the last write failed; writeMu
	lastPrune time.Time  // writeMu

	written, droppedTotal atomic.Int64
}

// respEntry is one response in memory. r is never changed once the entry
// exists: a Put of the same id replaces the entry.
type respEntry struct {
	r       StoredResponse
	size    int
	lru     *list.Element // in the cache
	q       *list.Element // in the write queue
	writing bool          // in the batch being written
}

// respBatch bounds what one write transaction holds.
const (
	respBatchLen   = 100
	respBatchBytes = 8 << 20
	respKickLen    = 64 // queued writes that wake the loop early
)

func (rs *responseStore) init(e *engine) {
	rs.e = e
	rs.kick = make(chan struct{}, 1)
	rs.byID = make(map[string]*respEntry)
}

// put caches r and queues its write.
func (rs *responseStore) put(r StoredResponse) {
	set := rs.e.settings()
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		rs.e.log().Warn("response not stored: the usage database is closed", zap.String("response_id", r.ID))
		return
	}
	if old := rs.byID[r.ID]; old != nil {
		if old.r.CallerID != r.CallerID {
			rs.mu.Unlock()
			rs.e.log().Warn("response not stored: its id belongs to another caller", zap.String("response_id", r.ID))
			return
		}
		rs.unlink(old)
	}
	e := &respEntry{r: r, size: r.size()}
	rs.byID[r.ID] = e
	if e.size <= set.responseCacheBytes {
		e.lru = rs.lru.PushBack(e)
		rs.cached += e.size
		for rs.cached > set.responseCacheBytes {
			old := rs.lru.Front().Value.(*respEntry)
			rs.lru.Remove(old.lru)
			old.lru = nil
			rs.cached -= old.size
			rs.forgetIfIdle(old)
		}
	}
	e.q = rs.queue.PushBack(e)
	rs.queued += e.size
	rs.bound(set)
	n := rs.queue.Len()
	rs.mu.Unlock()
	if n >= respKickLen {
		select {
		case rs.kick <- struct{}{}:
		default:
		}
	}
}

// bound drops the oldest queued writes past the queue's limits, keeping
// at least the newest; rs.mu is held.
func (rs *responseStore) bound(set *settings) {
	for rs.queue.Len() > 1 && (rs.queue.Len() > set.responseQueueLimit || rs.queued > set.responseCacheBytes) {
		old := rs.queue.Front().Value.(*respEntry)
		rs.queue.Remove(old.q)
		old.q = nil
		rs.queued -= old.size
		rs.forgetIfIdle(old)
		rs.dropped++
		rs.droppedTotal.Add(1)
	}
}

// unlink takes e out of the cache, the queue and the index; rs.mu is
// held. A write of e in flight completes and is superseded.
func (rs *responseStore) unlink(e *respEntry) {
	if e.lru != nil {
		rs.lru.Remove(e.lru)
		e.lru = nil
		rs.cached -= e.size
	}
	if e.q != nil {
		rs.queue.Remove(e.q)
		e.q = nil
		rs.queued -= e.size
	}
	if rs.byID[e.r.ID] == e {
		delete(rs.byID, e.r.ID)
	}
}

// forgetIfIdle drops e from the index once it is neither cached, queued
// nor being written; rs.mu is held.
func (rs *responseStore) forgetIfIdle(e *respEntry) {
	if e.lru == nil && e.q == nil && !e.writing && rs.byID[e.r.ID] == e {
		delete(rs.byID, e.r.ID)
	}
}

// get looks id up in memory. known reports whether memory has the
// answer: the response (nil when it is another caller's or expired; the
// database holds no newer one), or, when not known, the database must be
// asked.
func (rs *responseStore) get(id, callerID string, now time.Time) (r *StoredResponse, known bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e := rs.byID[id]
	if e == nil {
		return nil, false
	}
	if e.r.CallerID != callerID || !now.Before(e.r.ExpiresAt) {
		return nil, true
	}
	if e.lru != nil {
		rs.lru.MoveToBack(e.lru)
	}
	cp := e.r
	return &cp, true
}

// responseColumns are the columns of polygate_responses in the order the
// writer gives and the reader scans them.
const responseColumns = "id, caller_id, model, upstream, upstream_model, native, request, response, history, created_at, expires_at"

// responseRow is a row of polygate_responses.
type responseRow struct {
	ID            string    `db:"id"`
	CallerID      string    `db:"caller_id"`
	Model         string    `db:"model"`
	Upstream      string    `db:"upstream"`
	UpstreamModel string    `db:"upstream_model"`
	Native        bool      `db:"native"`
	Request       string    `db:"request"`
	Response      string    `db:"response"`
	History       string    `db:"history"`
	CreatedAt     time.Time `db:"created_at"`
	ExpiresAt     time.Time `db:"expires_at"`
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// load reads a response from the database.
func (rs *responseStore) load(ctx context.Context, id, callerID string, now time.Time) (StoredResponse, error) {
	var row responseRow
	err := rs.e.db.GetContext(ctx, &row, rs.e.d.q("SELECT "+responseColumns+
		" FROM polygate_responses WHERE id = ? AND caller_id = ? AND expires_at > ?"),
		id, callerID, now.UTC().Round(time.Microsecond))
	if errors.Is(err, sql.ErrNoRows) {
		return StoredResponse{}, ErrResponseNotFound
	}
	if err != nil {
		return StoredResponse{}, fmt.Errorf("reading response: %v", err)
	}
	return StoredResponse{
		ID: row.ID, CallerID: row.CallerID, Model: row.Model, Upstream: row.Upstream,
		UpstreamModel: row.UpstreamModel, Native: row.Native,
		Request: rawOrNil(row.Request), Response: rawOrNil(row.Response), History: rawOrNil(row.History),
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC(),
	}, nil
}

// delete removes a response from memory and the database. It holds
// writeMu, so a write in flight cannot store the response again after.
func (rs *responseStore) delete(ctx context.Context, id, callerID string, now time.Time) error {
	rs.writeMu.Lock()
	defer rs.writeMu.Unlock()
	rs.mu.Lock()
	found := false
	if e := rs.byID[id]; e != nil {
		if e.r.CallerID != callerID {
			rs.mu.Unlock()
			return ErrResponseNotFound
		}
		found = now.Before(e.r.ExpiresAt)
		rs.unlink(e)
	}
	rs.mu.Unlock()
	if !rs.e.ready.Load() {
		return fmt.Errorf("deleting response: usage database %s is not ready", rs.e.t.name)
	}
	res, err := rs.e.db.ExecContext(ctx, rs.e.d.q(
		"DELETE FROM polygate_responses WHERE id = ? AND caller_id = ? AND expires_at > ?"),
		id, callerID, now.UTC().Round(time.Microsecond))
	if err != nil {
		return fmt.Errorf("deleting response: %v", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		found = true
	}
	if !found {
		return ErrResponseNotFound
	}
	return nil
}

// respStats are the store's counters (tests and diagnostics).
type respStats struct {
	cached, queued   int
	written, dropped int64
}

func (rs *responseStore) stats() respStats {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return respStats{cached: rs.lru.Len(), queued: rs.queue.Len(),
		written: rs.written.Load(), dropped: rs.droppedTotal.Load()}
}
