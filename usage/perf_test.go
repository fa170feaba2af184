package usage

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestWriterThroughput measures how fast the writer stores records and
// logs the rate (go test -v -run WriterThroughput); it asserts only that
// every record arrives.
func TestWriterThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db})
		waitReady(t, s)
		const total, producers = 50_000, 4
		start := time.Now()
		var wg sync.WaitGroup
		for range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range total / producers {
					s.Record(Caller{ID: "key:k" + fmt.Sprint(i%50), KeyID: "k"}, Record{
						Model: "gpt-4o-mini", Provider: "openai",
						UpstreamModel: "gpt-4o-mini-2024-07-18", InputTokens: 1200, OutputTokens: 300,
						CostUSD: 0.00036, LatencyMS: 850, TTFTMS: 120, Status: 200, Attempts: 1, Streamed: true,
					})
				}
			}()
		}
		wg.Wait()
		eventually(t, "all records written", func() bool { return s.Stats().Written >= total })
		elapsed := time.Since(start)
		t.Logf("%s: %d records in %v: %.0f records/s (batch %d)", s.e.d.name, total, elapsed.Round(time.Millisecond),
			float64(total)/elapsed.Seconds(), s.e.settings().batchSize)
		if rows, _ := countRecords(t, s); rows != total {
			t.Errorf("stored %d, want %d", rows, total)
		}
	})
}

func BenchmarkReserveSettle(b *testing.B) {
	s := openBench(b, &Config{Database: "sqlite://" + b.TempDir() + "/u.db", DefaultPlan: "p",
		Plans: map[string]*Plan{"p": {RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50, BudgetPerMonth: 1e12}}})
	c := Caller{ID: "key:bench", KeyID: "bench"}
	h := http.Header{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, lerr := s.Reserve(c, "gpt-4o", est(1000, 500))
			if lerr != nil {
				b.Fatal(lerr)
			}
			r.Cancel()
		}
	})
	rl := s.RateLimits(c)
	rl.SetHeaders(h)
}

func BenchmarkAuthenticate(b *testing.B) {
	s := openBench(b, &Config{Database: "sqlite://" + b.TempDir() + "/u.db", Auth: &AuthConfig{Mode: AuthKeys}})
	for !s.e.ready.Load() {
		time.Sleep(time.Millisecond)
	}
	_, key, err := s.CreateKey(b.Context(), KeySpec{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + key
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(header); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetHeaders(b *testing.B) {
	rl := RateLimits{LimitRequests: 100, RemainingRequests: 42, ResetRequests: 1500 * time.Millisecond,
		LimitTokens: 100000, RemainingTokens: 5000, ResetTokens: 90 * time.Second}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		rl.SetHeaders(h)
	}
}

func openBench(b *testing.B, cfg *Config) *Service {
	cfg.SpillDir = b.TempDir()
	tg, err := parseTarget(cfg.Database, "")
	if err != nil {
		b.Fatal(err)
	}
	set := cfg.settings()
	e, err := newEngine(tg, set, testLogger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Destruct() })
	s := &Service{e: e, plans: cfg.Plans, defaultPlan: cfg.DefaultPlan, authMode: cfg.AuthMode()}
	return s
}

// BenchmarkAccountingDefault is what accounting costs a request in the
// gateway's default configuration (no plan, SQLite): identify the
// caller, reserve, set the rate-limit headers, settle, and the writer's
// share of storing the record, which runs in the background and so counts
// only in the process's CPU time per request (cpu-ns/op).
func BenchmarkAccountingDefault(b *testing.B) {
	s := openBench(b, &Config{Database: "sqlite://" + b.TempDir() + "/u.db"})
	for !s.e.ready.Load() {
		time.Sleep(time.Millisecond)
	}
	h := http.Header{}
	b.ReportAllocs()
	start := cpuNow()
	for i := 0; b.Loop(); i++ {
		c := s.Anonymous("127.0.0.1")
		if lerr := s.Allowed(c, "gpt-4o-mini"); lerr != nil {
			b.Fatal(lerr)
		}
		r, lerr := s.Reserve(c, "gpt-4o-mini", Estimate{MaxOutputTokens: 4096})
		if lerr != nil {
			b.Fatal(lerr)
		}
		rl := r.RateLimits()
		rl.SetHeaders(h)
		r.Settle(Record{Model: "gpt-4o-mini", Provider: "mock", UpstreamModel: "gpt-4o-mini-2024-07-18",
			InputTokens: 27, OutputTokens: 18, LatencyMS: 2, TTFTMS: 1, Status: 200, Attempts: 1,
			Endpoint: "chat/completions"})
	}
	if err := s.Flush(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op")
	if n := s.Stats().Written; n != int64(b.N) {
		b.Fatalf("%d records for %d requests", n, b.N)
	}
}
