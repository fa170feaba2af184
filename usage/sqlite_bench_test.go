package usage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRecords(n int) []Record {
	recs := make([]Record, n)
	now := time.Now()
	for i := range recs {
		recs[i] = Record{Time: now, CallerID: "ip:127.0.0." + strconv.Itoa(i%50), Model: "gpt-4o-mini",
			Provider: "mock", UpstreamModel: "gpt-4o-mini-2024-07-18", InputTokens: 27, OutputTokens: 18,
			LatencyMS: 2, TTFTMS: 1, Status: 200, Attempts: 1, Streamed: true}
		recs[i].prepare(now.Add(time.Duration(i)))
	}
	return recs
}

func benchSQLite(b *testing.B, schema string, params ...string) *sql.DB {
	dsn := "sqlite://" + filepath.Join(b.TempDir(), "u.db")
	if len(params) > 0 {
		dsn += "?" + strings.Join(params, "&")
	}
	tg, err := parseTarget(dsn, "")
	if err != nil {
		b.Fatal(err)
	}
	db, err := openDB(tg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := migrate(context.Background(), db.DB, tg); err != nil {
		b.Fatal(err)
	}
	if schema != "" {
		if _, err := db.Exec(schema); err != nil {
			b.Fatal(err)
		}
	}
	return db.DB
}

// runInsert times write over b.N records in batches of batch, and reports
// the process's CPU time per record.
func runInsert(b *testing.B, batch int, write func(recs []Record) error) {
	recs := benchRecords(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNow()
	for i := 0; i < len(recs); i += batch {
		if err := write(recs[i:min(i+batch, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/rec")
}

func multiRowSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(usageColumns)), ", ") + ")"
	return "INSERT INTO polygate_usage (" + strings.Join(usageColumns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " ON CONFLICT (request_id) DO NOTHING"
}

func driverArgs(dst []driver.NamedValue, r *Record) []driver.NamedValue {
	return r.appendLiteArgs(dst)
}

// args boxes r's values for database/sql, as writer.go did.
func (r *Record) args(dst []any) []any {
	return append(dst, r.RequestID, r.Time, r.CallerID, r.KeyID, r.Plan, r.Model, r.Provider,
		r.UpstreamModel, r.InputTokens, r.OutputTokens, r.CachedTokens, r.CostUSD, r.LatencyMS,
		r.TTFTMS, r.Status, r.CacheHit, r.Guardrails, r.Attempts, r.Streamed, r.Endpoint, r.Origin)
}

// BenchmarkSQLiteInsertAlternatives measures ways of storing usage records
// in SQLite, per record (b.N records in batches of 500), as wall time,
// allocations and the process's CPU time (cpu-ns/rec):
//
//   - exec-multirow: one INSERT … VALUES (…), (…) per batch, through
//     DB.ExecContext (what the writer did: SQLite parses it every time)
//   - stmt-multirow: the same statement prepared once (database/sql Stmt)
//   - tx-stmt-row, raw-tx-row: a prepared one-row INSERT per record in a
//     transaction, through database/sql and on the driver connection
//   - raw-multirow[-N]: a prepared N-row INSERT on the driver connection
//   - writer: what writer.go does (prepared 64-row INSERTs and smaller,
//     one transaction per batch, on the driver connection)
//   - page16k, autockpt10000, syncoff, no-ts-index, without-rowid: what
//     SQLite's own settings and the schema change
//
// The machine is shared, so the repeatable figure is the instruction count
// per record, which bench/callgrind.sh takes from two runs under callgrind:
//
//	go test -c -o /tmp/usage.test ./usage
//	bash bench/callgrind.sh /tmp/usage.test 'SQLiteInsertAlternatives/^writer$'
func BenchmarkSQLiteInsertAlternatives(b *testing.B) {
	const batch = DefaultBatchSize
	ctx := context.Background()

	b.Run("exec-multirow", func(b *testing.B) { // what writer.go did
		db := benchSQLite(b, "")
		q := multiRowSQL(batch)
		runInsert(b, batch, func(recs []Record) error {
			args := make([]any, 0, len(recs)*len(usageColumns))
			for i := range recs {
				args = recs[i].args(args)
			}
			qq := q
			if len(recs) != batch {
				qq = multiRowSQL(len(recs))
			}
			_, err := db.ExecContext(ctx, qq, args...)
			return err
		})
	})

	b.Run("stmt-multirow", func(b *testing.B) {
		db := benchSQLite(b, "")
		stmts := map[int]*sql.Stmt{}
		runInsert(b, batch, func(recs []Record) error {
			st := stmts[len(recs)]
			if st == nil {
				var err error
				if st, err = db.PrepareContext(ctx, multiRowSQL(len(recs))); err != nil {
					return err
				}
				stmts[len(recs)] = st
			}
			args := make([]any, 0, len(recs)*len(usageColumns))
			for i := range recs {
				args = recs[i].args(args)
			}
			_, err := st.ExecContext(ctx, args...)
			return err
		})
	})

	b.Run("tx-stmt-row", func(b *testing.B) {
		db := benchSQLite(b, "")
		st, err := db.Prepare(multiRowSQL(1))
		if err != nil {
			b.Fatal(err)
		}
		args := make([]any, 0, len(usageColumns))
		runInsert(b, batch, func(recs []Record) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			ts := tx.Stmt(st)
			for i := range recs {
				if _, err := ts.Exec(recs[i].args(args[:0])...); err != nil {
					return err
				}
			}
			return tx.Commit()
		})
	})

	rawRow := func(b *testing.B, schema string) {
		db := benchSQLite(b, schema)
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		var st driver.Stmt
		var nv []driver.NamedValue
		runInsert(b, batch, func(recs []Record) error {
			return conn.Raw(func(dc any) error {
				c := dc.(interface {
					driver.ConnPrepareContext
					driver.ConnBeginTx
				})
				if st == nil {
					var err error
					if st, err = c.PrepareContext(ctx, multiRowSQL(1)); err != nil {
						return err
					}
				}
				tx, err := c.BeginTx(ctx, driver.TxOptions{})
				if err != nil {
					return err
				}
				for i := range recs {
					nv = driverArgs(nv[:0], &recs[i])
					if _, err := st.(driver.StmtExecContext).ExecContext(context.Background(), nv); err != nil {
						tx.Rollback()
						return err
					}
				}
				return tx.Commit()
			})
		})
	}
	b.Run("raw-tx-row", func(b *testing.B) { rawRow(b, "") })

	b.Run("writer", func(b *testing.B) { // what writer.go does
		s := openBench(b, &Config{Database: "sqlite://" + filepath.Join(b.TempDir(), "u.db")})
		for !s.e.ready.Load() {
			time.Sleep(time.Millisecond)
		}
		s.e.w.flushMu.Lock()
		defer s.e.w.flushMu.Unlock()
		runInsert(b, batch, func(recs []Record) error { return s.e.w.insertBatch(ctx, recs) })
	})

	rawMulti := func(b *testing.B, batch int, params ...string) {
		db := benchSQLite(b, "", params...)
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		stmts := map[int]driver.Stmt{}
		var nv []driver.NamedValue
		runInsert(b, batch, func(recs []Record) error {
			return conn.Raw(func(dc any) error {
				st := stmts[len(recs)]
				if st == nil {
					var err error
					if st, err = dc.(driver.ConnPrepareContext).PrepareContext(ctx, multiRowSQL(len(recs))); err != nil {
						return err
					}
					stmts[len(recs)] = st
				}
				nv = nv[:0]
				for i := range recs {
					nv = driverArgs(nv, &recs[i])
				}
				_, err := st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
				return err
			})
		})
	}
	b.Run("raw-multirow", func(b *testing.B) { rawMulti(b, batch) })
	b.Run("raw-multirow-1000", func(b *testing.B) { rawMulti(b, 1000) })
	for _, n := range []int{16, 32, 64, 128} {
		b.Run("raw-multirow-"+strconv.Itoa(n), func(b *testing.B) { rawMulti(b, n) })
	}
	b.Run("raw-multirow-page16k", func(b *testing.B) { rawMulti(b, batch, "_pragma=page_size(16384)") })
	b.Run("raw-multirow-autockpt10000", func(b *testing.B) { rawMulti(b, batch, "_pragma=wal_autocheckpoint(10000)") })
	b.Run("raw-multirow-syncoff", func(b *testing.B) { rawMulti(b, batch, "_pragma=synchronous(OFF)") })

	// The SQLite engine's own share: the same single-row path without
	// the ts index, and without the unique index on request_id.
	b.Run("raw-tx-row-no-ts-index", func(b *testing.B) {
		rawRow(b, "DROP INDEX polygate_usage_ts")
	})
	b.Run("raw-tx-row-without-rowid", func(b *testing.B) {
		rawRow(b, `DROP TABLE polygate_usage; CREATE TABLE polygate_usage (
	request_id TEXT PRIMARY KEY, ts TIMESTAMP NOT NULL, caller TEXT NOT NULL DEFAULT '',
	key_id TEXT NOT NULL DEFAULT '', plan TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
	provider TEXT NOT NULL DEFAULT '', upstream_model TEXT NOT NULL DEFAULT '',
	input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0,
	cached_tokens BIGINT NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
	latency_ms BIGINT NOT NULL DEFAULT 0, ttft_ms BIGINT NOT NULL DEFAULT 0,
	status INTEGER NOT NULL DEFAULT 0, cache_hit INTEGER NOT NULL DEFAULT 0,
	guardrails TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
	streamed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
	CREATE INDEX polygate_usage_ts ON polygate_usage (ts)`)
	})
}
