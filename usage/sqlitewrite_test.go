package usage

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestSQLiteWriterStatements: batches of any size are stored through at
// most one prepared statement per power of two up to liteChunk rows, which
// the writer keeps between batches, and its connection is given back when
// the engine closes.
func TestSQLiteWriterStatements(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), FlushInterval: caddy1h})
	waitReady(t, s)
	total := 0
	for _, n := range []int{1, 2, 3, 63, 64, 65, 127, 200, 500} {
		for i := range n {
			s.Record(Caller{ID: "ip:1"}, Record{RequestID: fmt.Sprint(n, "-", i), InputTokens: int64(i)})
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		total += n
		if rows, distinct := countRecords(t, s); rows != total || distinct != total {
			t.Fatalf("after a batch of %d: %d rows (%d distinct), want %d", n, rows, distinct, total)
		}
	}
	var sizes []int
	for n := range s.e.w.lite.stmts {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	if want := []int{1, 2, 4, 8, 16, 32, 64}; !slices.Equal(sizes, want) {
		t.Errorf("prepared statements of %v rows, want %v", sizes, want)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	if s.e.w.lite.conn != nil || s.e.db.Stats().OpenConnections != 0 {
		t.Errorf("after release: writer connection %v, %d connections open", s.e.w.lite.conn, s.e.db.Stats().OpenConnections)
	}
}
