package usage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// caddy1hFlush, as flush_interval, keeps the background loops from
// writing during a test: only explicit flushes and the final one write.
var caddy1hFlush = caddy1h

// responsesStarted waits for the responses loop's first step, which runs
// when the database is ready (writing the queue and pruning), so that
// with caddy1hFlush nothing more is written behind the test's back.
func responsesStarted(t *testing.T, s *Service) {
	t.Helper()
	waitReady(t, s)
	eventually(t, "responses loop started", func() bool {
		s.e.resp.writeMu.Lock()
		defer s.e.resp.writeMu.Unlock()
		return !s.e.resp.lastPrune.IsZero()
	})
}

func testResponse(id, caller string) StoredResponse {
	return StoredResponse{
		ID: id, CallerID: caller, Model: "claude-sonnet",
		Request:  []byte(`{"model":"claude-sonnet","input":"hi \u00e9 ` + id + `","store":true}`),
		Response: []byte(`{"id":"` + id + `","object":"response","output":[{"type":"message"}]}`),
		History:  []byte(`[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]`),
	}
}

func storedResponses(t *testing.T, s *Service) int {
	t.Helper()
	var n int
	if err := s.e.db.QueryRow("SELECT COUNT(*) FROM polygate_responses").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameResponse(t *testing.T, what string, got, want StoredResponse) {
	t.Helper()
	if got.ID != want.ID || got.CallerID != want.CallerID || got.Model != want.Model || got.Upstream != want.Upstream ||
		got.UpstreamModel != want.UpstreamModel || got.Native != want.Native ||
		!bytes.Equal(got.Request, want.Request) || !bytes.Equal(got.Response, want.Response) ||
		!bytes.Equal(got.History, want.History) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// TestResponsesStore: a response is readable at once, before anything is
// written; by its caller only; from the database by a fresh engine once
// the first was released (which flushes the queue); not after it expires;
// and not after it is deleted.
func TestResponsesStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		ctx := context.Background()
		s := openService(t, &Config{Database: db, FlushInterval: caddy1hFlush, ResponseRetention: caddyMS(3_600_000)})
		responsesStarted(t, s)
		now := time.Now().UTC().Truncate(time.Second)
		setNow(s, now)

		translated := testResponse("resp_a", "key:k1")
		s.PutResponse(translated)
		native := StoredResponse{ID: "resp_n", CallerID: "key:k1", Model: "gpt-5", Upstream: "openai-eu",
			UpstreamModel: "gpt-5-2025", Native: true}
		s.PutResponse(native)
		translated.CreatedAt, translated.ExpiresAt = now, now.Add(time.Hour)
		native.CreatedAt, native.ExpiresAt = now, now.Add(time.Hour)

		got, err := s.GetResponse(ctx, "resp_a", "key:k1")
		if err != nil {
			t.Fatal(err)
		}
		sameResponse(t, "from memory", got, translated)
		if n := storedResponses(t, s); n != 0 {
			t.Errorf("%d responses in the database before any flush: the put waited for it", n)
		}
		for _, c := range []struct{ id, caller string }{{"resp_a", "key:k2"}, {"resp_a", ""}, {"resp_nope", "key:k1"}, {"", "key:k1"}} {
			if _, err := s.GetResponse(ctx, c.id, c.caller); !errors.Is(err, ErrResponseNotFound) {
				t.Errorf("GetResponse(%q, %q) = %v, want not found", c.id, c.caller, err)
			}
		}
		// Another caller cannot replace it either.
		s.PutResponse(testResponse("resp_a", "key:k2"))
		if got, err := s.GetResponse(ctx, "resp_a", "key:k1"); err != nil || got.CallerID != "key:k1" {
			t.Errorf("after another caller's put: %+v %v", got, err)
		}

		// Released: the queue is flushed; a fresh engine reads the database.
		if err := s.Release(); err != nil {
			t.Fatal(err)
		}
		s2 := openService(t, &Config{Database: db, FlushInterval: caddy1hFlush, ResponseRetention: caddyMS(3_600_000)})
		if s2.e == s.e {
			t.Fatal("the released engine was reused")
		}
		responsesStarted(t, s2)
		setNow(s2, now.Add(time.Minute))
		if n := storedResponses(t, s2); n != 2 {
			t.Fatalf("%d responses stored at release, want 2", n)
		}
		got, err = s2.GetResponse(ctx, "resp_a", "key:k1")
		if err != nil {
			t.Fatal(err)
		}
		sameResponse(t, "from the database", got, translated)
		got, err = s2.GetResponse(ctx, "resp_n", "key:k1")
		if err != nil {
			t.Fatal(err)
		}
		sameResponse(t, "native from the database", got, native)
		if _, err := s2.GetResponse(ctx, "resp_a", "key:k2"); !errors.Is(err, ErrResponseNotFound) {
			t.Errorf("another caller's from the database: %v", err)
		}

		// Delete: another caller's attempt finds nothing and changes nothing.
		if err := s2.DeleteResponse(ctx, "resp_n", "key:k2"); !errors.Is(err, ErrResponseNotFound) {
			t.Errorf("delete by another caller: %v", err)
		}
		if err := s2.DeleteResponse(ctx, "resp_n", "key:k1"); err != nil {
			t.Errorf("delete: %v", err)
		}
		if _, err := s2.GetResponse(ctx, "resp_n", "key:k1"); !errors.Is(err, ErrResponseNotFound) {
			t.Errorf("get after delete: %v", err)
		}
		if err := s2.DeleteResponse(ctx, "resp_n", "key:k1"); !errors.Is(err, ErrResponseNotFound) {
			t.Errorf("delete twice: %v", err)
		}
		// Deleting one still waiting to be written removes it too.
		s2.PutResponse(testResponse("resp_w", "key:k1"))
		if err := s2.DeleteResponse(ctx, "resp_w", "key:k1"); err != nil {
			t.Errorf("delete of a queued response: %v", err)
		}
		if err := s2.e.resp.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.GetResponse(ctx, "resp_w", "key:k1"); !errors.Is(err, ErrResponseNotFound) {
			t.Errorf("queued response written after its delete: %v", err)
		}

		// Expiry: in memory and in the database alike, then pruned.
		s2.PutResponse(testResponse("resp_m", "key:k1"))
		setNow(s2, now.Add(2*time.Hour))
		for _, id := range []string{"resp_a", "resp_m"} {
			if _, err := s2.GetResponse(ctx, id, "key:k1"); !errors.Is(err, ErrResponseNotFound) {
				t.Errorf("expired %s: %v", id, err)
			}
			if err := s2.DeleteResponse(ctx, id, "key:k1"); !errors.Is(err, ErrResponseNotFound) {
				t.Errorf("delete of expired %s: %v", id, err)
			}
		}
		s2.PutResponse(testResponse("resp_live", "key:k1"))
		if err := s2.e.resp.flush(ctx); err != nil {
			t.Fatal(err)
		}
		s2.e.resp.prune(ctx)
		if n := storedResponses(t, s2); n != 1 {
			t.Errorf("%d responses after pruning, want the live one", n)
		}
		if _, err := s2.GetResponse(ctx, "resp_live", "key:k1"); err != nil {
			t.Errorf("live response after pruning: %v", err)
		}
	})
}

// TestResponsesQueueBound: while nothing is written, the write queue keeps
// the newest responses up to its limit; the oldest waiting writes are
// dropped, counted and logged, and the rest are written once it flushes.
func TestResponsesQueueBound(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		ctx := context.Background()
		s := openService(t, &Config{Database: db, FlushInterval: caddy1hFlush})
		responsesStarted(t, s)
		core, logs := observer.New(zap.WarnLevel)
		s.e.logger.Store(zap.New(core))
		set := *s.e.settings()
		set.responseQueueLimit = 3
		s.e.set.Store(&set)

		for i := range 5 {
			s.PutResponse(testResponse(fmt.Sprint("resp_", i), "ip:1"))
		}
		st := s.e.resp.stats()
		if st.queued != 3 || st.dropped != 2 || st.cached != 5 {
			t.Errorf("stats %+v, want 3 queued, 2 dropped, 5 cached", st)
		}
		s.e.resp.tick(ctx)
		if n := storedResponses(t, s); n != 3 {
			t.Errorf("%d responses written, want 3", n)
		}
		for i := range 5 {
			var n int
			if err := s.e.db.QueryRow(s.e.d.q("SELECT COUNT(*) FROM polygate_responses WHERE id = ?"), fmt.Sprint("resp_", i)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := i >= 2; (n == 1) != want {
				t.Errorf("resp_%d stored: %v, want %v", i, n == 1, want)
			}
		}
		warned := logs.FilterMessageSnippet("response writes dropped").All()
		if len(warned) != 1 || warned[0].ContextMap()["dropped"] != int64(2) {
			t.Errorf("drop warnings: %+v", warned)
		}
	})
}

// TestResponsesCacheBound: the cache keeps the most recent responses up to
// its size in bytes; older ones are read from the database.
func TestResponsesCacheBound(t *testing.T) {
	ctx := context.Background()
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), FlushInterval: caddy1hFlush})
	responsesStarted(t, s)
	r := testResponse("resp_0", "ip:1")
	set := *s.e.settings()
	set.responseCacheBytes = 3*r.size() + 10
	s.e.set.Store(&set)
	for i := range 3 {
		s.PutResponse(testResponse(fmt.Sprint("resp_", i), "ip:1"))
	}
	if err := s.e.resp.flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Read resp_0 so that it is the most recently used.
	if _, err := s.GetResponse(ctx, "resp_0", "ip:1"); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 5; i++ {
		s.PutResponse(testResponse(fmt.Sprint("resp_", i), "ip:1"))
	}
	s.e.resp.mu.Lock()
	var cached []string
	for el := s.e.resp.lru.Front(); el != nil; el = el.Next() {
		cached = append(cached, el.Value.(*respEntry).r.ID)
	}
	_, inIndex := s.e.resp.byID["resp_1"]
	s.e.resp.mu.Unlock()
	if strings.Join(cached, ",") != "resp_0,resp_3,resp_4" || inIndex {
		t.Errorf("cached %v (resp_1 indexed: %v), want resp_0,resp_3,resp_4", cached, inIndex)
	}
	for i := range 5 {
		got, err := s.GetResponse(ctx, fmt.Sprint("resp_", i), "ip:1")
		if err != nil || got.ID != fmt.Sprint("resp_", i) {
			t.Errorf("resp_%d: %+v %v", i, got.ID, err)
		}
	}
	// A response larger than the cache is not cached but still written.
	big := testResponse("resp_big", "ip:1")
	big.History = bytes.Repeat([]byte(" "), set.responseCacheBytes)
	s.PutResponse(big)
	if err := s.e.resp.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetResponse(ctx, "resp_big", "ip:1"); err != nil || len(got.History) != len(big.History) {
		t.Errorf("big response: %d bytes of history, %v", len(got.History), err)
	}
}

// TestResponsesRetry: writes that fail while the database is unreachable
// stay queued, and readable, and are written once it is back.
func TestResponsesRetry(t *testing.T) {
	for _, dialect := range allDialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			b := breakable(t, dialect)
			s := openService(t, &Config{Database: b.db, FlushInterval: caddy1hFlush})
			responsesStarted(t, s)
			b.cut()
			for i := range 3 {
				s.PutResponse(testResponse(fmt.Sprint("resp_", i), "ip:1"))
			}
			if err := s.e.resp.flush(ctx); err == nil {
				b.restore()
				t.Fatal("flush succeeded with the database cut")
			}
			if st := s.e.resp.stats(); st.queued != 3 || st.written != 0 {
				t.Errorf("after a failed flush: %+v", st)
			}
			if _, err := s.GetResponse(ctx, "resp_1", "ip:1"); err != nil {
				t.Errorf("queued response while the database is down: %v", err)
			}
			b.restore()
			eventually(t, "responses written", func() bool { return s.e.resp.flush(ctx) == nil })
			if n := storedResponses(t, s); n != 3 {
				t.Errorf("%d responses written, want 3", n)
			}
		})
	}
}

// TestResponsesSurviveReload: a configuration provisioned before the old
// one is cleaned up shares the store, its cache and its queue.
func TestResponsesSurviveReload(t *testing.T) {
	ctx := context.Background()
	db := freshDB(t, "sqlite")
	old := openService(t, &Config{Database: db, FlushInterval: caddy1hFlush})
	responsesStarted(t, old)
	old.PutResponse(testResponse("resp_r", "ip:1"))
	next := openService(t, &Config{Database: db, FlushInterval: caddy1hFlush})
	if err := old.Release(); err != nil {
		t.Fatal(err)
	}
	if st := next.e.resp.stats(); st.queued != 1 {
		t.Errorf("queue after reload: %+v", st)
	}
	if _, err := next.GetResponse(ctx, "resp_r", "ip:1"); err != nil {
		t.Errorf("after reload: %v", err)
	}
}

// TestResponsesConcurrent puts, reads and deletes from several goroutines
// while the queue is flushed (for the race detector).
func TestResponsesConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), FlushInterval: caddyMS(5)})
	waitReady(t, s)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			caller := fmt.Sprint("ip:", g)
			for i := range 200 {
				id := fmt.Sprint("resp_", g, "_", i)
				s.PutResponse(testResponse(id, caller))
				if got, err := s.GetResponse(ctx, id, caller); err != nil || got.ID != id {
					t.Errorf("%s: %v", id, err)
					return
				}
				if i%10 == 0 {
					if err := s.DeleteResponse(ctx, id, caller); err != nil {
						t.Errorf("delete %s: %v", id, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := s.e.resp.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storedResponses(t, s); n != 4*180 {
		t.Errorf("%d responses stored, want %d", n, 4*180)
	}
}
