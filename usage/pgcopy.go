package usage

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"

	"github.com/lib/pq"
)

// copyChunk is how many bytes of COPY rows go to the driver at a time:
// lib/pq sends its buffer once it passes 63 KiB.
const copyChunk = 32 << 10

// copyData is lib/pq's raw COPY entry point: it appends line and a
// newline to the COPY stream.
type copyData interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// copyBatch writes a batch to PostgreSQL with COPY, which the server
// stores at about a third of the CPU of an INSERT … SELECT FROM unnest(…)
// ON CONFLICT. The rows are encoded here, in COPY's text format, into one
// reused buffer and handed to the driver a chunk at a time: no value is
// boxed or converted per row (database/sql's per-row Exec did both, for
// every column). COPY cannot skip a record that is stored already: the
// whole batch then fails with a unique violation and nothing is written.
// flushMu is held (w.copyBuf is the flusher's).
func (w *writer) copyBatch(ctx context.Context, recs []Record) error {
	conn, err := w.e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		w.copyBuf, err = copyRecords(ctx, dc, recs, w.copyBuf[:0])
		return err
	})
}

// copyRecords runs BEGIN; COPY polygate_usage FROM STDIN; COMMIT on the
// driver connection dc. buf is scratch space, returned for reuse.
func copyRecords(ctx context.Context, dc any, recs []Record, buf []byte) (_ []byte, err error) {
	begin, ok1 := dc.(driver.ConnBeginTx)
	prep, ok2 := dc.(driver.ConnPrepareContext)
	if !ok1 || !ok2 {
		return buf, fmt.Errorf("usage: driver connection %T cannot COPY", dc)
	}
	tx, err := begin.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return buf, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := prep.PrepareContext(ctx, pq.CopyIn("polygate_usage", usageColumns...))
	if err != nil {
		return buf, err
	}
	defer stmt.Close()
	cd, ok := stmt.(copyData)
	if !ok {
		return buf, fmt.Errorf("usage: driver statement %T has no CopyData", stmt)
	}
	send := func() error {
		if len(buf) == 0 {
			return nil
		}
		// CopyData adds the newline that ends the last row.
		_, err := cd.CopyData(ctx, string(buf[:len(buf)-1]))
		buf = buf[:0]
		return err
	}
	for i := range recs {
		buf = recs[i].appendCopyRow(buf)
		if len(buf) >= copyChunk {
			if err = send(); err != nil {
				return buf, err
			}
		}
	}
	if err = send(); err != nil {
		return buf, err
	}
	// lib/pq ends the stream, and reports what the server refused, on
	// an Exec without values (its COPY statement has no ExecContext).
	if _, err = stmt.Exec(nil); err != nil {
		return buf, err
	}
	if err = stmt.Close(); err != nil {
		return buf, err
	}
	return buf, tx.Commit()
}

// appendCopyRow appends r as one line of COPY's text format (columns in
// usageColumns' order, tab-separated, newline-terminated). r has been
// prepared: its strings hold no NUL and are valid UTF-8, and its time is
// UTC.
func (r *Record) appendCopyRow(b []byte) []byte {
	b = appendCopyText(b, r.RequestID)
	b = append(b, '\t')
	b = r.Time.AppendFormat(b, "2006-01-02 15:04:05.999999Z07:00")
	for _, s := range [...]string{r.CallerID, r.KeyID, r.Plan, r.Model, r.Provider, r.UpstreamModel} {
		b = append(b, '\t')
		b = appendCopyText(b, s)
	}
	for _, n := range [...]int64{r.InputTokens, r.OutputTokens, r.CachedTokens} {
		b = append(b, '\t')
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, '\t')
	b = appendCopyFloat(b, r.CostUSD)
	for _, n := range [...]int64{r.LatencyMS, r.TTFTMS, int64(r.Status)} {
		b = append(b, '\t')
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, '\t')
	b = appendCopyBool(b, r.CacheHit)
	b = append(b, '\t')
	b = appendCopyText(b, r.Guardrails)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	b = append(b, '\t')
	b = appendCopyBool(b, r.Streamed)
	b = append(b, '\t')
	b = appendCopyText(b, r.Endpoint)
	b = append(b, '\t')
	b = appendCopyText(b, r.Origin)
	for _, n := range [...]int64{r.CacheWriteTokens, r.CacheWrite1hTokens, r.ReasoningTokens} {
		b = append(b, '\t')
		b = strconv.AppendInt(b, n, 10)
	}
	return append(b, '\n')
}

// appendCopyText escapes the four bytes COPY's text format gives a
// meaning to inside a column: backslash, tab, newline and carriage return.
func appendCopyText(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendCopyFloat writes the shortest text that reads back as f;
// PostgreSQL spells the non-finite values NaN, Infinity and -Infinity.
func appendCopyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func appendCopyBool(b []byte, v bool) []byte {
	if v {
		return append(b, 't')
	}
	return append(b, 'f')
}
