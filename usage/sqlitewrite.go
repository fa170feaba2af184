package usage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
)

// liteChunk is the most records one INSERT of the SQLite writer holds.
//
// Parsing a multi-row INSERT costs SQLite about as much as storing its
// rows, so the writer prepares each statement once and keeps it: one of
// liteChunk rows and one for every smaller power of two, and writes a
// batch as a run of them (500 records: 7 × 64 + 32 + 16 + 4) in one
// transaction. Past about 32 rows a longer statement saves nothing more,
// while its bound values (and SQLite's memory for them) grow with it.
const liteChunk = 64

// liteWriter is the SQLite writer's connection, which it keeps between
// batches with its prepared statements. Its fields belong to whoever holds
// the writer's flushMu.
type liteWriter struct {
	conn  *sql.Conn
	stmts map[int]driver.Stmt // multi-row INSERTs by rows
	args  []driver.NamedValue // one statement's values, reused
}

// liteBatch writes recs to SQLite in one transaction. The statements run
// on the driver connection: its values go to the driver as they are,
// without database/sql's per-value conversion and copying.
func (w *writer) liteBatch(ctx context.Context, recs []Record) error {
	l := &w.lite
	if l.conn == nil {
		conn, err := w.e.db.Conn(ctx)
		if err != nil {
			return err
		}
		l.conn = conn
	}
	err := l.conn.Raw(func(dc any) error { return l.write(ctx, dc, recs) })
	if err != nil && !refusesData(err) {
		// Start afresh with the next batch: the connection may be broken.
		l.release()
	}
	return err
}

// write runs BEGIN, the INSERTs and COMMIT on the driver connection dc.
func (l *liteWriter) write(ctx context.Context, dc any, recs []Record) (err error) {
	conn, ok := dc.(interface {
		driver.ConnBeginTx
		driver.ConnPrepareContext
	})
	if !ok {
		return fmt.Errorf("usage: driver connection %T cannot prepare statements", dc)
	}
	tx, err := conn.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for len(recs) > 0 {
		n := liteChunk
		for n > len(recs) {
			n /= 2
		}
		stmt, err := l.stmt(ctx, conn, n)
		if err != nil {
			return err
		}
		args := l.args[:0]
		for i := range recs[:n] {
			args = recs[i].appendLiteArgs(args)
		}
		_, err = stmt.ExecContext(ctx, args)
		clear(args) // keep no strings alive until the next batch
		l.args = args[:0]
		if err != nil {
			return err
		}
		recs = recs[n:]
	}
	return tx.Commit()
}

// stmt returns the prepared INSERT of n rows.
func (l *liteWriter) stmt(ctx context.Context, conn driver.ConnPrepareContext, n int) (driver.StmtExecContext, error) {
	if st, ok := l.stmts[n]; ok {
		return st.(driver.StmtExecContext), nil
	}
	st, err := conn.PrepareContext(ctx, liteInsertSQL(n))
	if err != nil {
		return nil, err
	}
	se, ok := st.(driver.StmtExecContext)
	if !ok {
		_ = st.Close()
		return nil, fmt.Errorf("usage: driver statement %T has no ExecContext", st)
	}
	if l.stmts == nil {
		l.stmts = make(map[int]driver.Stmt)
	}
	l.stmts[n] = st
	return se, nil
}

// release closes the statements and gives the connection back to the
// pool. The writer calls it after a failed batch and when it closes.
func (l *liteWriter) release() {
	if l.conn == nil {
		return
	}
	_ = l.conn.Raw(func(any) error {
		for _, st := range l.stmts {
			_ = st.Close()
		}
		return nil
	})
	clear(l.stmts)
	_ = l.conn.Close()
	l.conn = nil
}

// liteInsertSQL is the INSERT of rows records, in usageColumns' order.
// A record stored already (a spill file replayed after its records were
// written) is skipped.
func liteInsertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO polygate_usage (")
	b.WriteString(strings.Join(usageColumns, ", "))
	b.WriteString(") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(usageColumns)), ", ") + ")"
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (request_id) DO NOTHING")
	return b.String()
}

// appendLiteArgs appends r's values in usageColumns' order, numbered on
// from dst's, as the driver takes them: int64, float64, bool, string and
// time.Time (which the driver formats as its DSN says).
func (r *Record) appendLiteArgs(dst []driver.NamedValue) []driver.NamedValue {
	n := len(dst)
	dst = append(dst,
		driver.NamedValue{Value: r.RequestID},
		driver.NamedValue{Value: r.Time},
		driver.NamedValue{Value: r.CallerID},
		driver.NamedValue{Value: r.KeyID},
		driver.NamedValue{Value: r.Plan},
		driver.NamedValue{Value: r.Model},
		driver.NamedValue{Value: r.Provider},
		driver.NamedValue{Value: r.UpstreamModel},
		driver.NamedValue{Value: r.InputTokens},
		driver.NamedValue{Value: r.OutputTokens},
		driver.NamedValue{Value: r.CachedTokens},
		driver.NamedValue{Value: r.CostUSD},
		driver.NamedValue{Value: r.LatencyMS},
		driver.NamedValue{Value: r.TTFTMS},
		driver.NamedValue{Value: int64(r.Status)},
		driver.NamedValue{Value: r.CacheHit},
		driver.NamedValue{Value: r.Guardrails},
		driver.NamedValue{Value: int64(r.Attempts)},
		driver.NamedValue{Value: r.Streamed},
		driver.NamedValue{Value: r.Endpoint},
		driver.NamedValue{Value: r.Origin},
		driver.NamedValue{Value: r.CacheWriteTokens},
		driver.NamedValue{Value: r.CacheWrite1hTokens},
		driver.NamedValue{Value: r.ReasoningTokens},
	)
	for i := n; i < len(dst); i++ {
		dst[i].Ordinal = i + 1
	}
	return dst
}
