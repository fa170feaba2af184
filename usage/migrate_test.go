package usage

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
)

// TestMigrateFrom00003: a database at version 00003 holding rows (as
// every gateway before the cache-write columns and the responses table)
// is migrated up by a new engine: its rows keep their values and read 0
// in the new columns, records with the new columns are written and
// reported, and responses are stored.
func TestMigrateFrom00003(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		tg, err := parseTarget(db, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := openDB(tg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fsys, err := fs.Sub(migrationsFS, "migrations/"+tg.dialect.name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(tg.dialect.goose, conn.DB, fsys,
			goose.WithTableName(schemaTable), goose.WithDisableGlobalRegistry(true))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := p.UpTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		old := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		if _, err := conn.Exec(tg.dialect.q(`INSERT INTO polygate_usage (request_id, ts, caller, model,
			input_tokens, output_tokens, cached_tokens, cost_usd, endpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			"old-1", old, "ip:1", "gpt-4o", 100, 7, 40, 0.5, "chat/completions"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec("SELECT cache_write_tokens FROM polygate_usage"); err == nil {
			t.Fatal("version 3 already has cache_write_tokens")
		}

		s := openService(t, &Config{Database: db})
		waitReady(t, s)
		var version int64
		if err := conn.QueryRow("SELECT MAX(version_id) FROM " + schemaTable).Scan(&version); err != nil || version != 5 {
			t.Fatalf("schema version %d (%v), want 5", version, err)
		}
		var in, cached, writes, writes1h, reasoning int64
		if err := conn.QueryRow(`SELECT input_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens,
			reasoning_tokens FROM polygate_usage WHERE request_id = 'old-1'`).Scan(&in, &cached, &writes, &writes1h, &reasoning); err != nil {
			t.Fatal(err)
		}
		if in != 100 || cached != 40 || writes != 0 || writes1h != 0 || reasoning != 0 {
			t.Errorf("old row: input %d cached %d writes %d/%d reasoning %d", in, cached, writes, writes1h, reasoning)
		}

		s.Record(Caller{ID: "ip:1"}, Record{RequestID: "new-1", Time: old.Add(time.Hour), Model: "gpt-4o",
			InputTokens: 1000, CachedTokens: 100, CacheWriteTokens: 500, CacheWrite1hTokens: 200,
			OutputTokens: 80, ReasoningTokens: 60, CostUSD: 1})
		flushAll(t, s)
		rows, err := s.Usage(ctx, "model", old.Add(-time.Hour), old.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := UsageRow{Group: "gpt-4o", Requests: 2, InputTokens: 1100, OutputTokens: 87, CachedTokens: 140,
			CacheWriteTokens: 500, CacheWrite1hTokens: 200, ReasoningTokens: 60, CostUSD: 1.5}
		if len(rows) != 1 || rows[0] != want {
			t.Errorf("report %+v, want %+v", rows, want)
		}

		s.PutResponse(StoredResponse{ID: "resp_1", CallerID: "ip:1", Request: []byte(`{}`)})
		if err := s.e.resp.flush(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow("SELECT COUNT(*) FROM polygate_responses").Scan(&n); err != nil || n != 1 {
			t.Errorf("%d responses stored (%v), want 1", n, err)
		}
	})
}
