package usage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"
	"go.uber.org/zap"
)

// Record is one request's usage: one row of polygate_usage, and one line
// of a spill file.
type Record struct {
	// RequestID makes the record idempotent: a record replayed from a
	// spill file is stored once. Default: random.
	RequestID string `json:"request_id"`
	// Time is when the request started. Default: the reservation's start,
	// or now.
	Time time.Time `json:"time"`
	// CallerID, KeyID and Plan identify the caller (see Caller). Default:
	// filled from the Caller.
	CallerID string `json:"caller,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	Plan     string `json:"plan,omitempty"`
	// Model is the model the client asked for; Provider and UpstreamModel
	// are who served it under which name.
	Model         string `json:"model,omitempty"`
	Provider      string `json:"provider,omitempty"`
	UpstreamModel string `json:"upstream_model,omitempty"`
	// InputTokens counts every prompt token: CachedTokens (read from the
	// provider's prompt cache) and CacheWriteTokens (written to it) are
	// part of it, as in OpenAI's usage object.
	InputTokens  int64 `json:"input_tokens,omitempty"`
	OutputTokens int64 `json:"output_tokens,omitempty"`
	CachedTokens int64 `json:"cached_tokens,omitempty"`
	// CacheWriteTokens are the prompt tokens written to the provider's
	// prompt cache, of which CacheWrite1hTokens with a one-hour lifetime
	// (the rest with the default five minutes). Default: 0.
	CacheWriteTokens   int64 `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens,omitempty"`
	// ReasoningTokens is the part of OutputTokens the model spent
	// reasoning. Default: 0.
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
	// CostUSD is what the request cost. Default (0): computed by Settle
	// from the estimate's prices.
	CostUSD float64 `json:"cost_usd,omitempty"`
	// LatencyMS is the total duration and TTFTMS the time to the first
	// token, in milliseconds.
	LatencyMS int64 `json:"latency_ms,omitempty"`
	TTFTMS    int64 `json:"ttft_ms,omitempty"`
	// Status is the HTTP status answered to the client.
	Status int `json:"status,omitempty"`
	// CacheHit is set when the gateway answered from its response cache.
	CacheHit bool `json:"cache_hit,omitempty"`
	// Guardrails holds the guardrail verdicts, as text or JSON.
	Guardrails string `json:"guardrails,omitempty"`
	// Attempts is how many upstream attempts (retries, fallbacks) were made.
	Attempts int `json:"attempts,omitempty"`
	// Streamed is set for streamed responses.
	Streamed bool `json:"streamed,omitempty"`
	// Endpoint is the API endpoint the request was for, without the
	// version prefix: "chat/completions", "embeddings", "responses",
	// "messages", "moderations", … Default: empty (as in rows stored
	// before the column existed).
	Endpoint string `json:"endpoint,omitempty"`
	// Origin is empty for a client's request. For a call the gateway made
	// itself on the caller's behalf it says who made it, e.g. "guardrail
	// moderation". Default: empty.
	Origin string `json:"origin,omitempty"`
}

// usageColumns are the columns of polygate_usage in the order every
// write path (COPY rows, unnest arrays, SQLite parameters) gives them.
var usageColumns = []string{
	"request_id", "ts", "caller", "key_id", "plan", "model", "provider", "upstream_model",
	"input_tokens", "output_tokens", "cached_tokens", "cost_usd", "latency_ms", "ttft_ms",
	"status", "cache_hit", "guardrails", "attempts", "streamed", "endpoint", "origin",
	"cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens",
}

// prepare fills defaults and makes the strings storable (PostgreSQL
// refuses NUL bytes and invalid UTF-8, which would otherwise block the
// batch they are in).
func (r *Record) prepare(now time.Time) {
	if r.RequestID == "" {
		r.RequestID = orderedID(now)
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Time = r.Time.UTC().Round(time.Microsecond)
	for _, s := range [...]*string{&r.RequestID, &r.CallerID, &r.KeyID, &r.Plan, &r.Model,
		&r.Provider, &r.UpstreamModel, &r.Guardrails, &r.Endpoint, &r.Origin} {
		if !utf8.ValidString(*s) || strings.IndexByte(*s, 0) >= 0 {
			*s = strings.ReplaceAll(strings.ToValidUTF8(*s, "\uFFFD"), "\x00", "")
		}
	}
}

// writer batches records into the database. While the database is
// unreachable, records wait in memory up to buffer_limit and are then
// appended to spill files, which are replayed once it is back.
type writer struct {
	e    *engine
	kick chan struct{}

	mu     sync.Mutex
	buf    []Record
	spare  []Record // an empty buffer for buf, see recycle
	closed bool

	flushMu  sync.Mutex // one flush at a time
	retry    []Record   // records a failed flush kept; flushMu
	down     bool       // the last write failed; flushMu
	retryLen atomic.Int64

	spillPending atomic.Bool
	seq          atomic.Uint64

	written, spilled, replayed atomic.Int64

	copyBuf []byte     // COPY rows being encoded; flushMu
	lite    liteWriter // the SQLite writer's connection; flushMu
}

func (w *writer) init(e *engine) {
	w.e = e
	w.kick = make(chan struct{}, 1)
	// Spill files of an earlier run may be waiting.
	w.spillPending.Store(true)
}

func (w *writer) stats() Stats {
	w.mu.Lock()
	n := len(w.buf)
	w.mu.Unlock()
	return Stats{
		Buffered: n + int(w.retryLen.Load()),
		Written:  w.written.Load(),
		Spilled:  w.spilled.Load(),
		Replayed: w.replayed.Load(),
		Ready:    w.e.ready.Load(),
	}
}

// add queues a record. It never blocks on the database.
func (w *writer) add(rec Record) {
	rec.prepare(w.e.now())
	set := w.e.settings()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		// Settled after shutdown (a stream outlived the grace period).
		if err := w.spill([]Record{rec}); err != nil {
			w.e.log().Error("losing usage record: database closed and spill failed",
				zap.String("request_id", rec.RequestID), zap.Error(err))
		}
		return
	}
	w.buf = append(w.buf, rec)
	n := len(w.buf)
	var overflow []Record
	if n >= 2*set.bufferLimit {
		// The flush loop is stuck on an unresponsive database: keep the
		// memory bound by spilling from here.
		overflow, w.buf = w.buf, nil
	}
	w.mu.Unlock()
	if overflow != nil {
		if err := w.spill(overflow); err != nil {
			w.e.log().Error("spilling usage records", zap.Int("records", len(overflow)), zap.Error(err))
			w.mu.Lock()
			w.buf = append(overflow, w.buf...)
			w.mu.Unlock()
		}
		return
	}
	if n >= set.batchSize {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// tick is the writer loop's step.
func (w *writer) tick(ctx context.Context) {
	_ = w.flush(ctx)
}

var errNotReady = errors.New("database not ready")

// flush writes what is buffered; what cannot be written is kept, and
// spilled once more than buffer_limit records wait.
func (w *writer) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	taken := w.buf
	w.buf, w.spare = w.spare, nil
	w.mu.Unlock()
	pending := taken
	if len(w.retry) > 0 {
		pending = append(w.retry, taken...)
	}
	w.retry = nil
	defer w.recycle(taken)

	var err error
	if w.e.ready.Load() {
		if w.spillPending.Load() {
			err = w.replay(ctx)
		}
		pending, err = w.writeAll(ctx, pending, err)
		w.setDown(err, len(pending))
	} else if len(pending) > 0 {
		err = errNotReady
	}
	if len(pending) >= w.e.settings().bufferLimit {
		if serr := w.spill(pending); serr != nil {
			w.e.log().Error("spilling usage records", zap.Int("records", len(pending)), zap.Error(serr))
		} else {
			pending = nil
		}
	}
	if len(pending) > 0 {
		pending = append([]Record(nil), pending...) // drop the written head
	}
	w.retry = pending
	w.retryLen.Store(int64(len(pending)))
	return err
}

// recycle keeps buf, which flush took from add and is done with, for add
// to fill next. Growing a buffer from nothing on every flush, and copying
// it into the pending list, allocated about three times the batch's
// records (~900 bytes a record) for the collector. A buffer grown far past
// a batch (during an outage) is left to the collector. flushMu is held.
func (w *writer) recycle(buf []Record) {
	if cap(buf) == 0 || cap(buf) > 4*w.e.settings().batchSize {
		return
	}
	clear(buf) // keep no strings alive
	w.mu.Lock()
	if w.buf == nil {
		w.buf = buf[:0]
	} else {
		w.spare = buf[:0]
	}
	w.mu.Unlock()
}

// writeAll writes recs in batches unless err is already set, and returns
// what is left.
func (w *writer) writeAll(ctx context.Context, recs []Record, err error) ([]Record, error) {
	batch := w.e.settings().batchSize
	for err == nil && len(recs) > 0 {
		n := min(batch, len(recs))
		if err = w.insert(ctx, recs[:n]); err == nil {
			w.written.Add(int64(n))
			recs = recs[n:]
		}
	}
	return recs, err
}

func (w *writer) setDown(err error, left int) {
	switch {
	case err != nil && !w.down:
		w.down = true
		w.e.log().Warn("usage database unreachable; keeping records in memory, then in spill files",
			zap.String("database", w.e.t.name), zap.Int("buffered", left), zap.Error(err))
	case err == nil && w.down:
		w.down = false
		w.e.log().Info("usage database reachable again; buffered records written",
			zap.String("database", w.e.t.name))
	}
}

// insert writes one batch. When the database refuses the batch for its
// data (not for being unreachable or busy), the records it refuses one by
// one go to a .rejected file instead of blocking the writer forever.
func (w *writer) insert(ctx context.Context, recs []Record) error {
	err := w.insertBatch(ctx, recs)
	if err == nil || !refusesData(err) {
		return err
	}
	for i := range recs {
		if err := w.insertBatch(ctx, recs[i:i+1]); err != nil {
			if !refusesData(err) {
				return err
			}
			w.reject(recs[i], err)
		}
	}
	return nil
}

// refusesData reports whether err is the database refusing the values
// rather than failing to store them: SQLSTATE classes 22 (data exception),
// 23 (integrity) and 54 (limit exceeded) on PostgreSQL, SQLITE_TOOBIG,
// SQLITE_CONSTRAINT, SQLITE_MISMATCH and SQLITE_RANGE on SQLite.
func refusesData(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch state := pg.SQLState(); {
		case strings.HasPrefix(state, "22"), strings.HasPrefix(state, "23"), strings.HasPrefix(state, "54"):
			return true
		}
		return false
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 18, 19, 20, 25:
			return true
		}
	}
	return false
}

func (w *writer) insertBatch(ctx context.Context, recs []Record) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if w.e.d == postgresDialect {
		err := w.copyBatch(ctx, recs)
		if isUniqueViolation(err) {
			// Some of these are stored already (a spill file replayed after
			// its records were written): store the others.
			_, err = w.e.db.ExecContext(ctx, pgInsertSQL, pgArrays(recs)...)
		}
		return err
	}
	return w.liteBatch(ctx, recs)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation
// (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && pg.SQLState() == "23505"
}

// pgInsertSQL inserts a batch passed as one array per column: 24
// parameters whatever the batch size, which PostgreSQL parses and binds
// far faster than a VALUES list of thousands.
var pgInsertSQL = "INSERT INTO polygate_usage (" + strings.Join(usageColumns, ", ") + `)
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::float8[], $13::bigint[],
		$14::bigint[], $15::int[], $16::bool[], $17::text[], $18::int[], $19::bool[], $20::text[], $21::text[],
		$22::bigint[], $23::bigint[], $24::bigint[])
	ON CONFLICT (request_id) DO NOTHING`

func pgArrays(recs []Record) []any {
	n := len(recs)
	var (
		ids, ts, callers, keys, plans, models, providers, upstream, guardrails = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n)
		endpoints, origins                               = make([]string, n), make([]string, n)
		in, out, cached, latency, ttft, status, attempts = make([]int64, n), make([]int64, n),
			make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		writes, writes1h, reasoning = make([]int64, n), make([]int64, n), make([]int64, n)
		cost                        = make([]float64, n)
		cacheHit, streamed          = make([]bool, n), make([]bool, n)
	)
	for i := range recs {
		r := &recs[i]
		ids[i], ts[i], callers[i], keys[i], plans[i] = r.RequestID, r.Time.Format(time.RFC3339Nano), r.CallerID, r.KeyID, r.Plan
		models[i], providers[i], upstream[i], guardrails[i] = r.Model, r.Provider, r.UpstreamModel, r.Guardrails
		in[i], out[i], cached[i], cost[i] = r.InputTokens, r.OutputTokens, r.CachedTokens, r.CostUSD
		latency[i], ttft[i], status[i], attempts[i] = r.LatencyMS, r.TTFTMS, int64(r.Status), int64(r.Attempts)
		cacheHit[i], streamed[i] = r.CacheHit, r.Streamed
		endpoints[i], origins[i] = r.Endpoint, r.Origin
		writes[i], writes1h[i], reasoning[i] = r.CacheWriteTokens, r.CacheWrite1hTokens, r.ReasoningTokens
	}
	return []any{pq.StringArray(ids), pq.StringArray(ts), pq.StringArray(callers), pq.StringArray(keys),
		pq.StringArray(plans), pq.StringArray(models), pq.StringArray(providers), pq.StringArray(upstream),
		pq.Int64Array(in), pq.Int64Array(out), pq.Int64Array(cached), pq.Float64Array(cost),
		pq.Int64Array(latency), pq.Int64Array(ttft), pq.Int64Array(status), pq.BoolArray(cacheHit),
		pq.StringArray(guardrails), pq.Int64Array(attempts), pq.BoolArray(streamed),
		pq.StringArray(endpoints), pq.StringArray(origins),
		pq.Int64Array(writes), pq.Int64Array(writes1h), pq.Int64Array(reasoning)}
}

// close writes what is buffered within ctx, spills the rest, and makes
// later records go straight to spill files.
func (w *writer) close(ctx context.Context) {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	defer w.lite.release()
	w.mu.Lock()
	w.closed = true
	taken := w.buf
	w.buf = nil
	w.mu.Unlock()
	pending := append(w.retry, taken...)
	w.retry = nil
	w.retryLen.Store(0)
	if len(pending) == 0 {
		return
	}
	var err error = errNotReady
	if w.e.ready.Load() {
		pending, err = w.writeAll(ctx, pending, nil)
	}
	if len(pending) == 0 {
		return
	}
	if serr := w.spill(pending); serr != nil {
		w.e.log().Error("losing usage records: database and spill directory both failed",
			zap.Int("records", len(pending)), zap.NamedError("write_error", err), zap.Error(serr))
		return
	}
	w.e.log().Warn("usage records spilled at shutdown; they are written when the database is next reachable",
		zap.Int("records", len(pending)), zap.String("spill_dir", w.e.settings().spillDir), zap.Error(err))
}

// Spill files are named <tag>-<instance>-<unix ms>-<seq>.jsonl. They are
// written under a .tmp name and renamed when complete, so a file with the
// .jsonl suffix is never appended to. A replayer claims one by renaming it
// to <name>.<instance>.replaying, writes its records (idempotently, by
// request ID) and deletes it. Files left by a crash (.tmp older than a
// minute, .replaying untouched for ten minutes) are claimed too.
const (
	spillSuffix     = ".jsonl"
	tmpSuffix       = ".tmp"
	replayingSuffix = ".replaying"
	rejectedSuffix  = ".rejected"
	staleTmp        = time.Minute
	staleClaim      = 10 * time.Minute
)

// spill appends recs to a new spill file.
func (w *writer) spill(recs []Record) error {
	dir := w.e.settings().spillDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating spill directory: %v", err)
	}
	name := fmt.Sprintf("%s-%s-%d-%d%s", w.e.t.tag, w.e.instance, time.Now().UnixMilli(), w.seq.Add(1), spillSuffix)
	path := filepath.Join(dir, name)
	if err := writeLines(path+tmpSuffix, recs); err != nil {
		return err
	}
	if err := os.Rename(path+tmpSuffix, path); err != nil {
		return fmt.Errorf("sealing spill file: %v", err)
	}
	w.spilled.Add(int64(len(recs)))
	w.spillPending.Store(true)
	return nil
}

func writeLines(path string, recs []Record) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating spill file: %v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("writing spill file: %v", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing spill file: %v", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing spill file: %v", err)
	}
	return f.Close()
}

// reject keeps a record the database refuses in a .rejected file, which
// is not replayed.
func (w *writer) reject(rec Record, cause error) {
	dir := w.e.settings().spillDir
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d-%d%s", w.e.t.tag, w.e.instance,
		time.Now().UnixMilli(), w.seq.Add(1), rejectedSuffix))
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = writeLines(path, []Record{rec})
	}
	w.e.log().Error("usage database refused a record; kept it in a .rejected file",
		zap.String("request_id", rec.RequestID), zap.String("file", path),
		zap.NamedError("cause", cause), zap.Error(err))
}

// replay writes the records of the spill files of this database.
func (w *writer) replay(ctx context.Context) error {
	dir := w.e.settings().spillDir
	names, err := filepath.Glob(filepath.Join(dir, w.e.t.tag+"-*"))
	if err != nil {
		return err
	}
	found := false
	for _, path := range names {
		base, ok := claimable(path)
		if !ok {
			continue
		}
		claim := base + "." + w.e.instance + replayingSuffix
		if err := os.Rename(path, claim); err != nil {
			continue // another instance took it
		}
		found = true
		now := time.Now()
		_ = os.Chtimes(claim, now, now)
		n, err := w.replayFile(ctx, claim)
		if err != nil {
			// Give it back for a later attempt.
			_ = os.Rename(claim, base)
			w.spillPending.Store(true)
			return err
		}
		_ = os.Remove(claim)
		w.replayed.Add(int64(n))
		w.e.log().Info("replayed spilled usage records", zap.String("file", filepath.Base(base)), zap.Int("records", n))
	}
	if !found {
		w.spillPending.Store(false)
	} else {
		w.spillPending.Store(true) // look once more next time
	}
	return nil
}

// claimable reports whether the file at path can be replayed, and its
// .jsonl name.
func claimable(path string) (string, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	age := time.Since(info.ModTime())
	switch {
	case strings.HasSuffix(path, spillSuffix):
		return path, true
	case strings.HasSuffix(path, spillSuffix+tmpSuffix):
		return strings.TrimSuffix(path, tmpSuffix), age > staleTmp
	case strings.HasSuffix(path, replayingSuffix):
		i := strings.LastIndex(path, spillSuffix+".")
		if i < 0 {
			return "", false
		}
		return path[:i+len(spillSuffix)], age > staleClaim
	}
	return "", false
}

func (w *writer) replayFile(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	batch := make([]Record, 0, w.e.settings().batchSize)
	total, bad := 0, 0
	for {
		line, rerr := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var rec Record
			if err := json.Unmarshal(line, &rec); err != nil || rec.RequestID == "" {
				bad++ // a line cut by a crash
			} else {
				rec.prepare(rec.Time)
				batch = append(batch, rec)
			}
		}
		if len(batch) == cap(batch) || (rerr != nil && len(batch) > 0) {
			if err := w.insert(ctx, batch); err != nil {
				return total, err
			}
			total += len(batch)
			batch = batch[:0]
			now := time.Now()
			_ = os.Chtimes(path, now, now)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return total, rerr
		}
	}
	if bad > 0 {
		w.e.log().Warn("skipped unreadable lines of a spill file", zap.String("file", path), zap.Int("lines", bad))
	}
	return total, nil
}

// spillFiles lists the spill files of this database (for tests and
// diagnostics).
func (w *writer) spillFiles() []string {
	names, _ := filepath.Glob(filepath.Join(w.e.settings().spillDir, w.e.t.tag+"-*"+spillSuffix+"*"))
	return names
}
