// Command writer measures the usage record writer on its own, without a
// gateway in front of it: it opens a usage.Service on -database, waits until
// the schema is migrated, queues -records records from -producers goroutines
// with Service.Record (the call the gateway makes per request) and waits
// until Stats().Written counts them all. It prints one line:
//
//	BENCHJSON {"records":50000,"seconds":0.81,"per_second":61728,...}
//
// `go run ./bench` builds it as bench/bin/writer and runs it against the
// PostgreSQL it uses for ai_gateway_pg (a fresh schema). By hand:
//
//	go run ./bench/writer -database 'postgres://postgres@127.0.0.1:54329/polygate?sslmode=disable&search_path=s'
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/polygate/polygate/usage"
)

type result struct {
	Database  string  `json:"database"`
	Records   int     `json:"records"`
	Producers int     `json:"producers"`
	Written   int64   `json:"written"`
	Spilled   int64   `json:"spilled"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	QueueSecs float64 `json:"queue_seconds"` // time the producers took to queue every record
	Error     string  `json:"error,omitempty"`
}

func main() {
	db := flag.String("database", "", "usage database (postgres://... or a SQLite path), as in the Caddyfile's database")
	n := flag.Int("records", 50_000, "records to write")
	producers := flag.Int("producers", 4, "goroutines calling Service.Record")
	spill := flag.String("spill-dir", "", "spill directory (default: a temporary directory)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()

	res := result{Database: *db, Records: *n, Producers: *producers}
	if err := run(&res, *spill, *timeout); err != nil {
		res.Error = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Printf("BENCHJSON %s\n", b)
	if res.Error != "" {
		os.Exit(1)
	}
}

func run(res *result, spill string, timeout time.Duration) error {
	if spill == "" {
		dir, err := os.MkdirTemp("", "polygate-writer-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		spill = dir
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	s, err := usage.Open(ctx, &usage.Config{Database: res.Database, SpillDir: spill})
	if err != nil {
		return err
	}
	defer s.Release()
	deadline := time.Now().Add(timeout)
	for !s.Stats().Ready {
		if time.Now().After(deadline) {
			return fmt.Errorf("database %s not ready within %v", s.Database(), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := s.Stats().Written

	start := time.Now()
	var wg sync.WaitGroup
	per := res.Records / res.Producers
	for p := range res.Producers {
		count := per
		if p == 0 {
			count += res.Records - per*res.Producers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range count {
				// The shape of a gateway record: a streamed chat completion.
				s.Record(usage.Caller{ID: "ip:127.0.0." + strconv.Itoa(i%50), Name: "127.0.0.1"}, usage.Record{
					Model: "gpt-4o-mini", Provider: "mock", UpstreamModel: "gpt-4o-mini-2024-07-18",
					InputTokens: 27, OutputTokens: 18, LatencyMS: 2, TTFTMS: 1, Status: 200, Attempts: 1, Streamed: true,
					Endpoint: "chat/completions",
				})
			}
		}()
	}
	wg.Wait()
	res.QueueSecs = time.Since(start).Seconds()
	for {
		st := s.Stats()
		res.Written, res.Spilled = st.Written-base, st.Spilled
		if res.Written >= int64(res.Records) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d records written within %v", res.Written, res.Records, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.Written) / res.Seconds
	return nil
}
