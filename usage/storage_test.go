package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestMigrations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		tg, err := parseTarget(db, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		// Twice in a row.
		conn, err := openDB(tg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 2 {
			if err := migrate(context.Background(), conn.DB, tg); err != nil {
				t.Fatalf("migration %d: %v", i+1, err)
			}
		}
		// Concurrently from several connection pools.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := openDB(tg)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				errs <- migrate(context.Background(), c.DB, tg)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent migration: %v", err)
			}
		}
		files, err := fs.Glob(migrationsFS, "migrations/"+tg.dialect.name+"/*.sql")
		if err != nil || len(files) < 2 {
			t.Fatalf("embedded migrations: %v %v", files, err)
		}
		var version int64
		if err := conn.QueryRow("SELECT MAX(version_id) FROM " + schemaTable).Scan(&version); err != nil || version != int64(len(files)) {
			t.Errorf("schema version %d, want %d (%v)", version, len(files), err)
		}
		for _, table := range []string{"polygate_api_keys", "polygate_usage", "polygate_counters", "polygate_instances"} {
			if _, err := conn.Exec("SELECT COUNT(*) FROM " + table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
}

func TestMigrationsConcurrentServices(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		var wg sync.WaitGroup
		services := make([]*Service, 3)
		for i := range services {
			wg.Add(1)
			go func() {
				defer wg.Done()
				services[i] = openService(t, &Config{Database: variant(db, fmt.Sprint("s", i))})
			}()
		}
		wg.Wait()
		for _, s := range services {
			waitReady(t, s)
		}
	})
}

func TestKeyLifecycle(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		plans := map[string]*Plan{"free": {RequestsPerDay: 5}, "pro": {}}
		a := openService(t, &Config{Database: variant(db, "a"), Auth: &AuthConfig{Mode: AuthKeys},
			DefaultPlan: "free", Plans: plans, KeyRefreshInterval: caddyMS(50)})
		b := openService(t, &Config{Database: variant(db, "b"), Auth: &AuthConfig{Mode: AuthKeys},
			DefaultPlan: "free", Plans: plans, KeyRefreshInterval: caddyMS(50)})
		waitReady(t, a)
		waitReady(t, b)
		ctx := context.Background()

		if _, _, err := a.CreateKey(ctx, KeySpec{Name: "x", Plan: "gold"}); err == nil {
			t.Error("created a key on an unknown plan")
		}
		if _, _, err := a.CreateKey(ctx, KeySpec{Name: " "}); err == nil {
			t.Error("created a key without a name")
		}
		info, key, err := a.CreateKey(ctx, KeySpec{Name: "ci", Plan: "pro", BudgetUSD: 12.5})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(key, KeyPrefix) || len(key) != len(KeyPrefix)+keyBodyLen || !validKeyFormat(key) {
			t.Fatalf("key %q", key)
		}
		if info.Hint != KeyPrefix+"..."+key[len(key)-4:] || info.Status != "active" || info.BudgetUSD != 12.5 || info.Plan != "pro" {
			t.Errorf("info %+v", info)
		}

		// Works on a at once, on b after a refresh.
		c, err := a.Authenticate("Bearer " + key)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != "key:"+info.ID || c.KeyID != info.ID || c.Name != "ci" || c.Plan != "pro" || c.BudgetUSD != 12.5 {
			t.Errorf("caller %+v", c)
		}
		eventually(t, "b knows the key", func() bool { _, err := b.Authenticate(key); return err == nil })

		// Missing, malformed, unknown: all ErrInvalidKey.
		for _, bad := range []string{"", "Bearer ", "Bearer sk-pg-short", key[:len(key)-1] + "!",
			"Bearer " + KeyPrefix + strings.Repeat("a", keyBodyLen), "Basic " + key, strings.ToUpper(key)} {
			if _, err := a.Authenticate(bad); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Authenticate(%q) = %v", bad, err)
			}
		}

		// The database holds the hash only.
		var hash string
		if err := a.e.db.QueryRow(a.e.d.q("SELECT hash FROM polygate_api_keys WHERE id = ?"), info.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if hash != hashKey(key) || strings.Contains(hash, key[len(KeyPrefix):]) {
			t.Error("stored hash is not the key's SHA-256")
		}
		keys, err := a.Keys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("Keys: %v %v", keys, err)
		}
		listed, _ := json.Marshal(keys)
		if strings.Contains(string(listed), key[len(KeyPrefix):]) || strings.Contains(string(listed), hash) {
			t.Error("listing shows the key or its hash")
		}

		// Revoked on b: refused on b at once and on a within the refresh.
		if _, err := b.RevokeKey(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Authenticate(key); !errors.Is(err, ErrInvalidKey) {
			t.Error("revoked key accepted on the revoking instance")
		}
		eventually(t, "a refuses the revoked key", func() bool {
			_, err := a.Authenticate(key)
			return errors.Is(err, ErrInvalidKey)
		})
		if again, err := b.RevokeKey(ctx, info.ID); err != nil || again.Status != "revoked" {
			t.Errorf("revoking twice: %+v %v", again, err)
		}
		if _, err := b.RevokeKey(ctx, "key_nope"); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("unknown key: %v", err)
		}

		// Expiry.
		info2, key2, err := a.CreateKey(ctx, KeySpec{Name: "temp", ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(key2); err != nil {
			t.Fatal(err)
		}
		c2, _ := a.Authenticate(key2)
		if c2.Plan != "" {
			t.Errorf("key without plan has plan %q", c2.Plan)
		}
		setNow(a, time.Now().Add(2*time.Hour))
		if _, err := a.Authenticate(key2); !errors.Is(err, ErrInvalidKey) {
			t.Error("expired key accepted")
		}
		keys, _ = a.Keys(ctx)
		if len(keys) != 2 || keys[0].Status != "revoked" || keys[1].Status != "expired" || keys[1].ID != info2.ID {
			t.Errorf("statuses: %+v", keys)
		}
	})
}

func caddyMS(ms int) caddy.Duration { return caddy.Duration(time.Duration(ms) * time.Millisecond) }

// TestOutageLosesNothing: records settled while the database goes away
// and comes back are all stored, once each.
func TestOutageLosesNothing(t *testing.T) {
	for _, dialect := range allDialects {
		t.Run(dialect, func(t *testing.T) { checkOutageLosesNothing(t, breakable(t, dialect)) })
	}
	// A real PostgreSQL server stopped (as by a crash: immediate mode) in
	// the middle of the load and started again.
	t.Run("postgres-restart", func(t *testing.T) { checkOutageLosesNothing(t, ownPostgres(t)) })
}

// checkOutageLosesNothing records 3000 requests while br cuts the database
// off for the middle third of them, and counts the rows once it is back.
func checkOutageLosesNothing(t *testing.T, br breaker) {
	s := openService(t, &Config{Database: br.db, BatchSize: 100, BufferLimit: 300,
		FlushInterval: caddyMS(20), SyncInterval: caddyMS(50)})
	waitReady(t, s)
	const total = 3000
	var wg sync.WaitGroup
	var produced atomic.Int64
	cutAt, restoreAt := make(chan struct{}), make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range total {
			switch i {
			case total / 3:
				close(cutAt)
			case 2 * total / 3:
				close(restoreAt)
			}
			r, lerr := s.Reserve(Caller{ID: "ip:9"}, "m", est(10, 10))
			if lerr != nil {
				t.Error(lerr)
				return
			}
			r.Settle(Record{RequestID: fmt.Sprint("out-", i), InputTokens: 10, OutputTokens: 5})
			produced.Add(1)
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	<-cutAt
	br.cut()
	<-restoreAt
	// Let the writer notice the outage and spill before restoring.
	eventually(t, "records spilled during the outage", func() bool { return s.Stats().Spilled > 0 })
	br.restore()
	wg.Wait()
	flushAll(t, s)
	rows, distinct := countRecords(t, s)
	st := s.Stats()
	t.Logf("produced %d, stored %d, spilled %d, replayed %d", produced.Load(), rows, st.Spilled, st.Replayed)
	if rows != total || distinct != total {
		t.Errorf("stored %d records (%d distinct), want %d", rows, distinct, total)
	}
}

// TestSpillReplay: spill files, including a torn one and an abandoned
// one, are written once and removed; records already stored are not
// duplicated.
func TestSpillReplay(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		dir := t.TempDir()
		s := openService(t, &Config{Database: db, SpillDir: dir, BatchSize: 7})
		waitReady(t, s)
		flushAll(t, s)
		recs := func(from, to int) []Record {
			var out []Record
			for i := from; i < to; i++ {
				r := Record{RequestID: fmt.Sprint("sp-", i), Model: "m", InputTokens: int64(i)}
				r.prepare(time.Now())
				out = append(out, r)
			}
			return out
		}
		// Records 0..9 stored already and spilled too (a replay after a
		// write that succeeded but was not acknowledged).
		s.Record(Caller{ID: "ip:1"}, recs(0, 1)[0])
		for _, r := range recs(1, 10) {
			s.Record(Caller{ID: "ip:1"}, r)
		}
		flushAll(t, s)
		if err := s.e.w.spill(recs(0, 50)); err != nil {
			t.Fatal(err)
		}
		if err := s.e.w.spill(recs(50, 60)); err != nil {
			t.Fatal(err)
		}
		// A file whose last line was cut by a crash.
		torn := filepath.Join(dir, s.e.t.tag+"-dead-1-1.jsonl")
		var lines []string
		for _, r := range recs(60, 70) {
			b, _ := json.Marshal(r)
			lines = append(lines, string(b))
		}
		os.WriteFile(torn, []byte(strings.Join(lines, "\n")+"\n{\"request_id\":\"sp-70\",\"mod"), 0o600)
		// A temp file abandoned by a crashed writer, and a claim abandoned
		// by a crashed replayer.
		old := time.Now().Add(-time.Hour)
		tmp := filepath.Join(dir, s.e.t.tag+"-dead-1-2.jsonl.tmp")
		b, _ := json.Marshal(recs(71, 72)[0])
		os.WriteFile(tmp, append(b, '\n'), 0o600)
		os.Chtimes(tmp, old, old)
		claim := filepath.Join(dir, s.e.t.tag+"-dead-1-3.jsonl.deadbeef.replaying")
		b, _ = json.Marshal(recs(72, 73)[0])
		os.WriteFile(claim, append(b, '\n'), 0o600)
		os.Chtimes(claim, old, old)
		// Another database's spill file is left alone.
		foreign := filepath.Join(dir, "0123456789ab-x-1-1.jsonl")
		os.WriteFile(foreign, append(b, '\n'), 0o600)

		flushAll(t, s)
		rows, distinct := countRecords(t, s)
		if rows != 72 || distinct != 72 {
			t.Errorf("stored %d (%d distinct), want 72 (0..69, 71, 72)", rows, distinct)
		}
		left, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range left {
			if f != foreign && !strings.HasSuffix(f, "-keys.json") {
				t.Errorf("left behind: %s", f)
			}
		}
	})
}

// TestDestructUnderLoad: records settled while the last Service is
// released, and after, all end up stored once, whether the database is
// up (flushed) or down (spilled, then replayed by the next start).
func TestDestructUnderLoad(t *testing.T) {
	for _, dialect := range allDialects {
		for _, down := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/down=%v", dialect, down), func(t *testing.T) {
				br := breakable(t, dialect)
				dir := t.TempDir()
				cfg := &Config{Database: br.db, SpillDir: dir, FlushInterval: caddyMS(200),
					ShutdownTimeout: caddyMS(2000)}
				s := openService(t, cfg)
				waitReady(t, s)
				var produced atomic.Int64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; ; i++ {
							select {
							case <-stop:
								return
							default:
							}
							r, lerr := s.Reserve(Caller{ID: "ip:3"}, "m", est(1, 1))
							if lerr != nil {
								t.Error(lerr)
								return
							}
							r.Settle(Record{RequestID: fmt.Sprint("d-", g, "-", i), InputTokens: 1})
							produced.Add(1)
							if i%50 == 0 {
								time.Sleep(time.Millisecond)
							}
						}
					}()
				}
				eventually(t, "load running", func() bool { return produced.Load() > 2000 })
				if down {
					br.cut()
				}
				if err := s.Release(); err != nil {
					t.Fatal(err)
				}
				// Keep settling after the engine is gone (streams that
				// outlived the grace period).
				after := produced.Load()
				eventually(t, "records settled after release", func() bool { return produced.Load() > after+200 })
				close(stop)
				wg.Wait()
				if down {
					br.restore()
				}
				s2 := openService(t, &Config{Database: br.db, SpillDir: dir})
				waitReady(t, s2)
				flushAll(t, s2)
				rows, distinct := countRecords(t, s2)
				t.Logf("produced %d, stored %d, replayed %d", produced.Load(), rows, s2.Stats().Replayed)
				if int64(rows) != produced.Load() || rows != distinct {
					t.Errorf("stored %d (%d distinct), produced %d", rows, distinct, produced.Load())
				}
			})
		}
	}
}

// TestUnreachableAtStart: Open succeeds without a database, enforces
// limits from memory, spills what it could not write, and the next start
// stores it.
func TestUnreachableAtStart(t *testing.T) {
	for _, dialect := range allDialects {
		t.Run(dialect, func(t *testing.T) {
			br := breakable(t, dialect)
			br.cut()
			dir := t.TempDir()
			u := openService(t, &Config{Database: br.db, SpillDir: dir, DefaultPlan: "p",
				Plans: map[string]*Plan{"p": {RequestsPerDay: 2}}})
			if u.Stats().Ready {
				t.Fatal("ready without a database")
			}
			c := u.Anonymous("192.0.2.1")
			if c.ID != "ip:192.0.2.1" {
				t.Errorf("anonymous caller %+v", c)
			}
			for range 2 {
				r, lerr := u.Reserve(c, "m", est(1, 1))
				if lerr != nil {
					t.Fatal(lerr)
				}
				r.Settle(Record{InputTokens: 1})
			}
			if _, lerr := u.Reserve(c, "m", est(1, 1)); lerr == nil || lerr.Limit != "requests_per_day" {
				t.Errorf("limits not enforced without a database: %v", lerr)
			}
			if err := u.Flush(context.Background()); err == nil {
				t.Error("Flush without a database succeeded")
			}
			if err := u.Release(); err != nil {
				t.Fatal(err)
			}
			if n := spilledLines(t, dir, u.e.t.tag); n != 2 {
				t.Errorf("%d records spilled, want 2", n)
			}
			br.restore()
			s := openService(t, &Config{Database: br.db, SpillDir: dir})
			waitReady(t, s)
			flushAll(t, s)
			if rows, _ := countRecords(t, s); rows != 2 {
				t.Errorf("stored %d, want 2", rows)
			}
		})
	}
}

// TestKeyCache: an instance starting while the database is unreachable
// still authenticates the keys it knew.
func TestKeyCache(t *testing.T) {
	for _, dialect := range allDialects {
		t.Run(dialect, func(t *testing.T) {
			br := breakable(t, dialect)
			dir := t.TempDir()
			cfg := func() *Config {
				return &Config{Database: br.db, SpillDir: dir, Auth: &AuthConfig{Mode: AuthKeys}}
			}
			s := openService(t, cfg())
			waitReady(t, s)
			ctx := context.Background()
			_, key, err := s.CreateKey(ctx, KeySpec{Name: "kept"})
			if err != nil {
				t.Fatal(err)
			}
			revoked, revokedKey, _ := s.CreateKey(ctx, KeySpec{Name: "gone"})
			if _, err := s.RevokeKey(ctx, revoked.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Release(); err != nil {
				t.Fatal(err)
			}
			br.cut()
			s2 := openService(t, cfg())
			if dialect == "postgres" && s2.Stats().Ready {
				t.Fatal("ready through a cut proxy")
			}
			if _, err := s2.Authenticate(key); err != nil {
				t.Errorf("known key refused while the database is down: %v", err)
			}
			if _, err := s2.Authenticate(revokedKey); !errors.Is(err, ErrInvalidKey) {
				t.Error("revoked key accepted from the cache")
			}
			br.restore()
		})
	}
}

func spilledLines(t *testing.T, dir, tag string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, tag+"-*.jsonl"))
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(data), "\n")
	}
	return n
}

// TestRecordsStoredExactly: every field of a record reads back as it was
// given, whatever its strings hold (COPY's text format gives backslash,
// tab, newline and carriage return a meaning; PostgreSQL refuses NUL and
// invalid UTF-8, which the writer replaces), along every path a record
// takes: the writer's batches (COPY, SQLite's prepared INSERTs), and a
// spill file replayed (JSON lines; on PostgreSQL through the INSERT …
// unnest fallback, as the file also holds a record stored already).
func TestRecordsStoredExactly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db})
		waitReady(t, s)
		at := time.Date(2026, 3, 9, 17, 4, 5, 123456789, time.FixedZone("CET", 3600))
		tricky := "a\tb\nc\rd\\e \\N ünï 🚀 \"q\" 'r' ,;|"
		given := []Record{
			{RequestID: "1", Time: at, CallerID: "key:" + tricky, KeyID: "k\\1", Plan: "p\tlan",
				Model: "m\nodel", Provider: "pro\rvider", UpstreamModel: `\.`, InputTokens: 1 << 40,
				OutputTokens: 7, CachedTokens: 3, CostUSD: 0.000123456789012345, LatencyMS: 1234,
				TTFTMS: 56, Status: 200, CacheHit: true, Guardrails: `[{"guardrail":"pii","note":"` + tricky + `"}]`,
				Attempts: 3, Streamed: true, Endpoint: "chat/completions", Origin: "guardrail\t" + tricky,
				CacheWriteTokens: 1<<41 + 5, CacheWrite1hTokens: 1 << 33, ReasoningTokens: 6},
			{RequestID: "2", Time: at.Add(time.Hour), CallerID: "ip:bad\x00nul\xff", CostUSD: 1e-12,
				Endpoint: "embe\x00ddings\xfe", Origin: "guardrail moderation"},
			{RequestID: "3", Time: at.Add(-time.Second), CostUSD: 12345.678, Status: 429, Endpoint: "messages",
				CacheWriteTokens: 9, ReasoningTokens: -2},
			{RequestID: "4", Time: time.Date(2026, 3, 9, 17, 4, 5, 0, time.UTC), Endpoint: "responses",
				Origin: "x", LatencyMS: -1},
		}
		with := func(prefix string) []Record {
			out := append([]Record(nil), given...)
			for i := range out {
				out[i].RequestID = prefix + out[i].RequestID
			}
			return out
		}
		// The writer's batches.
		for _, r := range with("rt-") {
			s.Record(Caller{}, r)
		}
		flushAll(t, s)
		// A spill file with those records again (its first is stored
		// already), prepared as the writer does before spilling.
		spilled := append(with("rt-")[:1], with("sp-")...)
		for i := range spilled {
			spilled[i].prepare(time.Now())
		}
		if err := s.e.w.spill(spilled); err != nil {
			t.Fatal(err)
		}
		flushAll(t, s)

		want := append(with("rt-"), with("sp-")...)
		for i := range want {
			if want[i].RequestID[3:] == "2" {
				want[i].CallerID = "ip:badnul\uFFFD"
				want[i].Endpoint = "embeddings\uFFFD"
			}
			want[i].Time = want[i].Time.UTC().Round(time.Microsecond)
		}
		sort.Slice(want, func(i, j int) bool { return want[i].RequestID < want[j].RequestID })
		var got []Record
		rows, err := s.e.db.Query("SELECT " + strings.Join(usageColumns, ", ") + " FROM polygate_usage ORDER BY request_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var r Record
			if err := rows.Scan(&r.RequestID, &r.Time, &r.CallerID, &r.KeyID, &r.Plan, &r.Model, &r.Provider,
				&r.UpstreamModel, &r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.CostUSD, &r.LatencyMS,
				&r.TTFTMS, &r.Status, &r.CacheHit, &r.Guardrails, &r.Attempts, &r.Streamed,
				&r.Endpoint, &r.Origin, &r.CacheWriteTokens, &r.CacheWrite1hTokens, &r.ReasoningTokens); err != nil {
				t.Fatal(err)
			}
			r.Time = r.Time.UTC()
			got = append(got, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records stored, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("record %d\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	})
}

// TestRefusedRecordSetAside: a record PostgreSQL refuses for its content
// (here a time in year 0, which it has no such day for) goes to a
// .rejected file; the others of its COPY batch are stored and nothing
// stays buffered.
func TestRefusedRecordSetAside(t *testing.T) {
	db := freshDB(t, "postgres")
	spill := t.TempDir()
	s := openService(t, &Config{Database: db, SpillDir: spill})
	waitReady(t, s)
	for i := range 3 {
		s.Record(Caller{ID: "ip:a"}, Record{RequestID: fmt.Sprintf("good-%d", i)})
	}
	s.Record(Caller{ID: "ip:a"}, Record{RequestID: "year-zero", Time: time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := countRecords(t, s); rows != 3 || s.Stats().Buffered != 0 {
		t.Errorf("%d rows stored, %d buffered; want 3 and 0", rows, s.Stats().Buffered)
	}
	files, _ := filepath.Glob(filepath.Join(spill, "*"+rejectedSuffix))
	if len(files) != 1 {
		t.Fatalf("rejected files: %v", files)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `"request_id":"year-zero"`) {
		t.Errorf("rejected file holds %s", b)
	}
}
