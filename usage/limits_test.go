package usage

import (
	"context"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// noon is a fixed instant halfway through a minute.
var noon = time.Date(2025, 3, 15, 12, 0, 30, 0, time.UTC)

var testPrice = Estimate{InputPricePerM: 5, OutputPricePerM: 10}

func est(input, maxOut int64) Estimate {
	e := testPrice
	e.InputTokens, e.MaxOutputTokens = input, maxOut
	return e
}

func TestLimits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		plans := map[string]*Plan{
			"rpm":    {RequestsPerMinute: 2},
			"tpm":    {TokensPerMinute: 1000},
			"rpd":    {RequestsPerDay: 3},
			"tpd":    {TokensPerDay: 1000},
			"bpd":    {BudgetPerDay: 0.01},
			"bpm":    {BudgetPerMonth: 0.01},
			"models": {Models: []string{"gpt-4o-mini", "claude-*"}},
			"free":   {},
		}
		s := openService(t, &Config{Database: db, Plans: plans, DefaultPlan: "free", SyncInterval: caddy1h})
		setNow(s, noon)
		for _, tc := range []struct {
			name     string
			caller   Caller
			model    string
			est      Estimate
			ok       int // admitted before the refusal
			limit    string
			code     string
			status   int
			minRetry int
			maxRetry int
		}{
			{"rpm", Caller{ID: "c:rpm", Plan: "rpm"}, "m", est(10, 10), 2, "requests_per_minute", CodeRateLimit, 429, 1, 60},
			{"tpm", Caller{ID: "c:tpm", Plan: "tpm"}, "m", est(100, 400), 2, "tokens_per_minute", CodeRateLimit, 429, 1, 120},
			{"tpm too large", Caller{ID: "c:tpm2", Plan: "tpm"}, "m", est(2000, 10), 0, "tokens_per_minute", CodeRateLimit, 429, 1, 60},
			{"rpd", Caller{ID: "c:rpd", Plan: "rpd"}, "m", est(10, 10), 3, "requests_per_day", CodeInsufficientQuota, 429, 43170, 43171},
			{"tpd", Caller{ID: "c:tpd", Plan: "tpd"}, "m", est(100, 400), 2, "tokens_per_day", CodeInsufficientQuota, 429, 43170, 43171},
			// 1000 input at $5/M plus 500 output at $10/M: $0.01 each.
			{"bpd", Caller{ID: "c:bpd", Plan: "bpd"}, "m", est(1000, 500), 1, "budget_per_day", CodeInsufficientQuota, 429, 43170, 43171},
			{"bpm", Caller{ID: "c:bpm", Plan: "bpm"}, "m", est(1000, 500), 1, "budget_per_month", CodeInsufficientQuota, 429, 16 * 86400, 18 * 86400},
			{"key budget", Caller{ID: "key:k1", KeyID: "k1", BudgetUSD: 0.01}, "m", est(1000, 500), 1, "key_budget", CodeInsufficientQuota, 429, 16 * 86400, 18 * 86400},
			{"model", Caller{ID: "c:models", Plan: "models"}, "gpt-4o", est(10, 10), 0, "model", CodeModelNotAllowed, 403, 0, 0},
			{"plan", Caller{ID: "c:gold", Plan: "gold"}, "m", est(10, 10), 0, "plan", CodeInvalidPlan, 403, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for i := range tc.ok {
					r, lerr := s.Reserve(tc.caller, tc.model, tc.est)
					if lerr != nil {
						t.Fatalf("request %d refused: %v", i+1, lerr)
					}
					// Settle with the full estimate so the window fills.
					r.Settle(Record{InputTokens: tc.est.InputTokens, OutputTokens: tc.est.MaxOutputTokens})
				}
				r, lerr := s.Reserve(tc.caller, tc.model, tc.est)
				if lerr == nil {
					r.Cancel()
					t.Fatalf("request %d admitted", tc.ok+1)
				}
				if lerr.Limit != tc.limit || lerr.Code != tc.code || lerr.StatusCode != tc.status {
					t.Errorf("got %s/%s/%d, want %s/%s/%d: %s", lerr.Limit, lerr.Code, lerr.StatusCode,
						tc.limit, tc.code, tc.status, lerr.Message)
				}
				if lerr.RetryAfter < tc.minRetry || lerr.RetryAfter > tc.maxRetry {
					t.Errorf("Retry-After = %d, want %d..%d", lerr.RetryAfter, tc.minRetry, tc.maxRetry)
				}
				if tc.status == 429 && lerr.RetryAfter < 1 {
					t.Error("Retry-After < 1")
				}
				if lerr.Message == "" || lerr.Error() != lerr.Message {
					t.Error("no message")
				}
			})
		}

		if lerr := s.Allowed(Caller{ID: "c:models", Plan: "models"}, "gpt-4o"); lerr == nil || lerr.Limit != "model" {
			t.Errorf("Allowed: %v", lerr)
		}
		if lerr := s.Allowed(Caller{ID: "c:models", Plan: "models"}, "claude-3"); lerr != nil {
			t.Errorf("Allowed: %v", lerr)
		}
		// Allowed models pass, including by prefix.
		for _, m := range []string{"gpt-4o-mini", "claude-3-5-sonnet"} {
			r, lerr := s.Reserve(Caller{ID: "c:models", Plan: "models"}, m, est(1, 1))
			if lerr != nil {
				t.Errorf("%s refused: %v", m, lerr)
			} else {
				r.Cancel()
			}
		}
	})
}

const caddy1h = caddy.Duration(time.Hour)

func TestSlidingMinute(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db, DefaultPlan: "p",
			Plans: map[string]*Plan{"p": {RequestsPerMinute: 10}}, SyncInterval: caddy1h})
		c := Caller{ID: "ip:1"}
		start := time.Date(2025, 3, 15, 12, 0, 50, 0, time.UTC) // 10 s before the minute ends
		setNow(s, start)
		for range 10 {
			r, lerr := s.Reserve(c, "m", est(1, 1))
			if lerr != nil {
				t.Fatal(lerr)
			}
			r.Settle(Record{InputTokens: 1})
		}
		// 15 s into the next minute, the previous one still weighs 75%:
		// 7.5 of 10 used, so 2 more pass and the third waits.
		setNow(s, start.Add(25*time.Second))
		for i := range 2 {
			r, lerr := s.Reserve(c, "m", est(1, 1))
			if lerr != nil {
				t.Fatalf("request %d: %v", i, lerr)
			}
			r.Settle(Record{})
		}
		_, lerr := s.Reserve(c, "m", est(1, 1))
		if lerr == nil || lerr.Limit != "requests_per_minute" {
			t.Fatalf("got %v", lerr)
		}
		// 9.5 used; room for 1 once the old minute weighs 7: at 18 s.
		if lerr.RetryAfter < 3 || lerr.RetryAfter > 4 {
			t.Errorf("Retry-After = %d, want 3", lerr.RetryAfter)
		}
		setNow(s, start.Add(25*time.Second+time.Duration(lerr.RetryAfter)*time.Second))
		r, lerr := s.Reserve(c, "m", est(1, 1))
		if lerr != nil {
			t.Fatalf("after Retry-After: %v", lerr)
		}
		r.Cancel()
	})
}

func TestSlidingWait(t *testing.T) {
	for _, tc := range []struct {
		cur, prev, need, limit, frac float64
		want                         time.Duration
		ok                           bool
	}{
		{0, 0, 1, 10, 0.5, 0, true},
		{5, 10, 1, 10, 0.5, 6 * time.Second, true},   // 10*(1-f)+6 <= 10 at f=0.6
		{10, 0, 1, 10, 0.5, 36 * time.Second, true},  // next minute: 10*(1-g)+1 <= 10 at g=0.1
		{0, 0, 11, 10, 0.5, 0, false},                // too large
		{10, 10, 10, 10, 0, 120 * time.Second, true}, // a full minute's worth
	} {
		got, ok := slidingWait(tc.cur, tc.prev, tc.need, tc.limit, tc.frac)
		if ok != tc.ok || (got-tc.want).Abs() > time.Millisecond {
			t.Errorf("slidingWait(%v) = %v, %v; want %v, %v", tc, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWindows(t *testing.T) {
	w := windowsAt(time.Date(2025, 12, 31, 23, 59, 30, 0, time.UTC))
	if w.untilDayEnd() != 30*time.Second || w.untilMonthEnd() != 30*time.Second || w.untilMinuteEnd() != 30*time.Second {
		t.Errorf("window ends: %v %v %v", w.untilMinuteEnd(), w.untilDayEnd(), w.untilMonthEnd())
	}
	next := windowsAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if next.month != w.month+1 || next.day != w.day+1 || next.minute != w.minute+1 || next.frac != 0 {
		t.Errorf("windows do not roll over: %+v %+v", w, next)
	}
	if seconds(0) != 1 || seconds(1500*time.Millisecond) != 2 {
		t.Error("seconds")
	}
}

func TestSettleReplacesReservation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db, DefaultPlan: "p",
			Plans: map[string]*Plan{"p": {TokensPerMinute: 10000, RequestsPerMinute: 100, BudgetPerDay: 1}}, SyncInterval: caddy1h})
		setNow(s, noon)
		c := Caller{ID: "user:alice", Name: "alice"}
		r, lerr := s.Reserve(c, "gpt-4o", est(100, 0)) // no max_tokens: reserves 4096
		if lerr != nil {
			t.Fatal(lerr)
		}
		rl := r.RateLimits()
		if rl.LimitTokens != 10000 || rl.RemainingTokens != 10000-4196 || rl.LimitRequests != 100 || rl.RemainingRequests != 99 {
			t.Errorf("after reserve: %+v", rl)
		}
		h := http.Header{}
		rl.SetHeaders(h)
		if h.Get("x-ratelimit-remaining-tokens") != "5804" || h.Get("x-ratelimit-limit-requests") != "100" ||
			h.Get("x-ratelimit-reset-tokens") != "1m30s" || h.Get("x-ratelimit-reset-requests") != "1m30s" {
			t.Errorf("headers: %v", h)
		}
		r.Settle(Record{RequestID: "settle-1", InputTokens: 100, OutputTokens: 50, Provider: "openai"})
		r.Settle(Record{RequestID: "settle-2", InputTokens: 100, OutputTokens: 5000}) // ignored
		r.Cancel()                                                                    // ignored
		rl = s.RateLimits(c)
		if rl.RemainingTokens != 10000-150 || rl.RemainingRequests != 99 {
			t.Errorf("after settle: %+v", rl)
		}
		sub := s.e.lim.lock(c.ID)
		day := sub.bucket(dayKind, windowsAt(noon).day, false)
		want := (100*5.0 + 50*10.0) / 1e6
		if day.reserved != (counts{}) || day.settled.tokens != 150 || !near(day.settled.cost, want) || sub.inflight != 0 {
			t.Errorf("day bucket: %+v inflight %d", day, sub.inflight)
		}
		sub.mu.Unlock()

		// Cancel releases everything and counts nothing.
		r2, _ := s.Reserve(c, "gpt-4o", est(100, 100))
		r2.Cancel()
		if rl := s.RateLimits(c); rl.RemainingTokens != 10000-150 || rl.RemainingRequests != 99 {
			t.Errorf("after cancel: %+v", rl)
		}

		flushAll(t, s)
		var rec struct {
			Caller   string  `db:"caller"`
			Plan     string  `db:"plan"`
			Model    string  `db:"model"`
			Cost     float64 `db:"cost_usd"`
			Provider string  `db:"provider"`
			Ts       time.Time
		}
		if err := s.e.db.QueryRow("SELECT caller, plan, model, cost_usd, provider, ts FROM polygate_usage WHERE request_id = 'settle-1'").
			Scan(&rec.Caller, &rec.Plan, &rec.Model, &rec.Cost, &rec.Provider, &rec.Ts); err != nil {
			t.Fatal(err)
		}
		if rec.Caller != "user:alice" || rec.Plan != "p" || rec.Model != "gpt-4o" || !near(rec.Cost, want) ||
			rec.Provider != "openai" || !rec.Ts.Equal(noon) {
			t.Errorf("record: %+v", rec)
		}
		if n, _ := countRecords(t, s); n != 1 {
			t.Errorf("%d records, want 1", n)
		}
	})
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }

func TestInFlightRetryAfter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db, DefaultPlan: "p",
			Plans: map[string]*Plan{"p": {BudgetPerDay: 0.02}}, SyncInterval: caddy1h})
		setNow(s, noon)
		c := Caller{ID: "ip:2"}
		r1, _ := s.Reserve(c, "m", est(1000, 500))
		r2, _ := s.Reserve(c, "m", est(1000, 500))
		_, lerr := s.Reserve(c, "m", est(1000, 500))
		if lerr == nil || lerr.RetryAfter != 1 {
			t.Fatalf("with only requests in flight holding the budget, Retry-After should be 1: %+v", lerr)
		}
		r1.Settle(Record{InputTokens: 10, OutputTokens: 10})
		r2.Cancel()
		r3, lerr := s.Reserve(c, "m", est(1000, 500))
		if lerr != nil {
			t.Fatalf("after settling below the estimate: %v", lerr)
		}
		r3.Cancel()
	})
}

// TestConcurrentBudget: 200 concurrent requests against a budget that
// fits 50 estimates never spend more than the budget.
func TestConcurrentBudget(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		const budget = 0.5
		s := openService(t, &Config{Database: db, DefaultPlan: "p",
			Plans: map[string]*Plan{"p": {BudgetPerDay: budget}}})
		waitReady(t, s)
		c := Caller{ID: "key:shared", KeyID: "shared"}
		var admitted, refused atomic.Int64
		var spentMu sync.Mutex
		spent := 0.0
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for attempt := range 3 {
					// Estimate: 1000 in at $2/M + 1000 out at $8/M = $0.01.
					e := Estimate{InputTokens: 1000, MaxOutputTokens: 1000, InputPricePerM: 2, OutputPricePerM: 8}
					r, lerr := s.Reserve(c, "m", e)
					if lerr != nil {
						refused.Add(1)
						if lerr.Limit != "budget_per_day" || lerr.RetryAfter < 1 {
							t.Errorf("refusal: %+v", lerr)
						}
						continue
					}
					admitted.Add(1)
					out := rand.Int64N(1001)
					time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
					r.Settle(Record{RequestID: "c-" + strconv.Itoa(i) + "-" + strconv.Itoa(attempt), InputTokens: 1000, OutputTokens: out})
					spentMu.Lock()
					spent += e.Cost(1000, 0, 0, 0, out)
					spentMu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		t.Logf("admitted %d, refused %d, spent $%.4f of $%.2f", admitted.Load(), refused.Load(), spent, budget)
		if spent > budget+1e-9 {
			t.Errorf("spent $%.6f, more than the budget $%.2f", spent, budget)
		}
		if admitted.Load() < 50 || refused.Load() == 0 {
			t.Errorf("admitted %d, refused %d", admitted.Load(), refused.Load())
		}
		flushAll(t, s)
		var stored float64
		var n int64
		if err := s.e.db.QueryRow("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM polygate_usage").Scan(&n, &stored); err != nil {
			t.Fatal(err)
		}
		if n != admitted.Load() || stored > budget+1e-9 {
			t.Errorf("stored %d records costing $%.6f; admitted %d", n, stored, admitted.Load())
		}
	})
}

// TestCrossInstance: two instances on one database share limits through
// the counters, including requests in flight, and stop counting a dead
// instance's requests in flight.
func TestCrossInstance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		cfg := func(d string) *Config {
			return &Config{Database: d, DefaultPlan: "p", SyncInterval: caddy1h,
				Plans: map[string]*Plan{"p": {RequestsPerDay: 10}}}
		}
		a := openService(t, cfg(variant(db, "a")))
		b := openService(t, cfg(variant(db, "b")))
		if a.e == b.e {
			t.Fatal("variants share an engine")
		}
		waitReady(t, a)
		waitReady(t, b)
		ctx := context.Background()
		sync := func(s ...*Service) {
			t.Helper()
			for _, x := range s {
				if err := x.e.syncCounters(ctx, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		c := Caller{ID: "user:bob"}
		for range 6 {
			r, lerr := a.Reserve(c, "m", est(1, 1))
			if lerr != nil {
				t.Fatal(lerr)
			}
			r.Settle(Record{InputTokens: 1})
		}
		inflight := make([]*Reservation, 2)
		for i := range inflight {
			var lerr *LimitError
			if inflight[i], lerr = a.Reserve(c, "m", est(1, 1)); lerr != nil {
				t.Fatal(lerr)
			}
		}
		sync(a, b)
		admit := func(s *Service) int {
			n := 0
			for {
				r, lerr := s.Reserve(c, "m", est(1, 1))
				if lerr != nil {
					if lerr.Limit != "requests_per_day" {
						t.Fatalf("refused for %s", lerr.Limit)
					}
					return n
				}
				r.Settle(Record{})
				n++
			}
		}
		if n := admit(b); n != 2 {
			t.Errorf("b admitted %d, want 2 (6 settled and 2 in flight on a)", n)
		}
		inflight[0].Cancel()
		inflight[1].Cancel()
		sync(b, a) // a learns of b's 2: 6 + 2 used
		if n := admit(a); n != 2 {
			t.Errorf("a admitted %d after cancelling 2, want 2", n)
		}
		sync(a, b)
		if n := admit(b); n != 0 {
			t.Errorf("b admitted %d with the day used up, want 0", n)
		}

		// A dead instance's requests in flight stop counting.
		c2 := Caller{ID: "user:carol"}
		for range 5 {
			r, _ := a.Reserve(c2, "m", est(1, 1))
			_ = r // in flight on a until the end
			t.Cleanup(r.Cancel)
		}
		sync(a, b)
		if rl := b.dayRequests(c2); rl != 5 {
			t.Errorf("b counts %d of a's requests in flight, want 5", rl)
		}
		if _, err := a.e.db.Exec(a.e.d.q("UPDATE polygate_instances SET seen_ms = 0 WHERE id = ?"), a.e.instance); err != nil {
			t.Fatal(err)
		}
		b.e.sync.sincesFull = fullPullEvery // a full pull
		sync(b)
		if rl := b.dayRequests(c2); rl != 0 {
			t.Errorf("b still counts %d requests in flight of a stale instance", rl)
		}
	})
}

// dayRequests returns the requests counted today for c.
func (s *Service) dayRequests(c Caller) int64 {
	sub := s.e.lim.lock(c.ID)
	defer sub.mu.Unlock()
	return sub.bucket(dayKind, windowsAt(s.e.now()).day, false).used().requests
}

// TestReservationCleanup: a reservation dropped without Settle or Cancel
// is released when collected.
func TestReservationCleanup(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), SyncInterval: caddy1h})
	func() {
		_, lerr := s.Reserve(Caller{ID: "ip:leak"}, "m", est(1, 1))
		if lerr != nil {
			t.Fatal(lerr)
		}
	}()
	eventually(t, "the leaked reservation released", func() bool {
		runtime.GC()
		sub := s.e.lim.lock("ip:leak")
		defer sub.mu.Unlock()
		return sub.inflight == 0
	})
}

// TestSweep: subjects whose windows are past are forgotten once pushed;
// ones with requests in flight are kept.
func TestSweep(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), SyncInterval: caddy1h})
	waitReady(t, s)
	setNow(s, noon)
	r, _ := s.Reserve(Caller{ID: "ip:a"}, "m", est(1, 1))
	r.Settle(Record{})
	held, _ := s.Reserve(Caller{ID: "ip:b"}, "m", est(1, 1))
	setNow(s, noon.AddDate(0, 1, 0))
	if err := s.e.syncCounters(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	s.e.sync.mu.Lock()
	s.e.sweep(windowsAt(s.e.now()), 0, false)
	s.e.sync.mu.Unlock()
	if _, ok := s.e.lim.subjects.Load("ip:a"); ok {
		t.Error("idle subject of last month kept")
	}
	if _, ok := s.e.lim.subjects.Load("ip:b"); !ok {
		t.Error("subject with a request in flight dropped")
	}
	held.Settle(Record{InputTokens: 1})
	if err := s.e.syncCounters(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	s.e.sync.mu.Lock()
	s.e.sweep(windowsAt(s.e.now()), 0, false)
	s.e.sync.mu.Unlock()
	if _, ok := s.e.lim.subjects.Load("ip:b"); ok || s.e.lim.size.Load() != 0 {
		t.Errorf("subjects left: %d", s.e.lim.size.Load())
	}
}

// TestHeaderTexts: remembered header values are always the number's own
// text, also when numbers share a slot and replace each other.
func TestHeaderTexts(t *testing.T) {
	var c textCache
	formatted := 0
	format := func(n int64) string { formatted++; return strconv.FormatInt(n, 10) }
	for round := range 3 {
		for n := int64(-5); n < 1000; n += 7 {
			if got := c.get(n, format); got != strconv.FormatInt(n, 10) {
				t.Fatalf("round %d: %d read as %q", round, n, got)
			}
		}
	}
	if c.get(100, format) != "100" || c.get(100, format) != "100" {
		t.Fatal("100")
	}
	before := formatted
	c.get(100, format)
	if formatted != before {
		t.Error("a repeated number was formatted again")
	}
	for _, d := range []time.Duration{0, 250 * time.Millisecond, 1499 * time.Millisecond, 90 * time.Second, 6 * time.Minute} {
		want := "0s"
		if d > 0 {
			want = map[time.Duration]string{250 * time.Millisecond: "250ms", 1499 * time.Millisecond: "1s",
				90 * time.Second: "1m30s", 6 * time.Minute: "6m0s"}[d]
		}
		for range 2 {
			if got := formatReset(d); got != want {
				t.Errorf("reset %v: %q, want %q", d, got, want)
			}
		}
	}
}

// TestEstimateCost prices each kind of input token at its own rate, with
// the defaults providers.Price has: cached and cache-write rates default
// to the input rate, the one-hour write rate to the write rate.
func TestEstimateCost(t *testing.T) {
	full := Estimate{InputPricePerM: 3, OutputPricePerM: 15, CachedInputPricePerM: 0.3,
		CacheWritePricePerM: 3.75, CacheWrite1hPricePerM: 6}
	for _, tc := range []struct {
		name                                         string
		e                                            Estimate
		input, cached, cacheWrite, cacheWrite1h, out int64
		want                                         float64
	}{
		// 1000 input: 200 read, 300 written (100 of them for an hour), 500 plain.
		{"every rate", full, 1000, 200, 300, 100, 50, 500*3 + 200*0.3 + 200*3.75 + 100*6 + 50*15},
		{"no writes", full, 1000, 200, 0, 0, 50, 800*3 + 200*0.3 + 50*15},
		{"1h defaults to the write rate", Estimate{InputPricePerM: 3, CacheWritePricePerM: 3.75}, 1000, 0, 300, 100, 0, 700*3 + 300*3.75},
		{"writes default to the input rate", Estimate{InputPricePerM: 3, CachedInputPricePerM: 0.3}, 1000, 200, 300, 100, 0, 800*3 + 200*0.3},
		{"1h part capped by the writes", full, 1000, 0, 100, 500, 0, 900*3 + 100*6},
		{"more cached and written than input", full, 100, 80, 40, 0, 0, 80*0.3 + 40*3.75},
		{"negative counts count nothing", full, 100, -5, -5, -5, 0, 100 * 3},
	} {
		if got, want := tc.e.Cost(tc.input, tc.cached, tc.cacheWrite, tc.cacheWrite1h, tc.out), tc.want/1e6; !near(got, want) {
			t.Errorf("%s: cost %.12f, want %.12f", tc.name, got, want)
		}
	}
}

// TestSettlePricesCacheWrites: a record settled without a cost is priced
// with its cache reads and writes, and stored with them.
func TestSettlePricesCacheWrites(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		s := openService(t, &Config{Database: db, SyncInterval: caddy1h})
		e := Estimate{InputTokens: 1000, MaxOutputTokens: 100, InputPricePerM: 3, OutputPricePerM: 15,
			CachedInputPricePerM: 0.3, CacheWritePricePerM: 3.75, CacheWrite1hPricePerM: 6}
		r, lerr := s.Reserve(Caller{ID: "ip:1"}, "claude", e)
		if lerr != nil {
			t.Fatal(lerr)
		}
		r.Settle(Record{RequestID: "w-1", InputTokens: 1000, CachedTokens: 200, CacheWriteTokens: 300,
			CacheWrite1hTokens: 100, OutputTokens: 50, ReasoningTokens: 20})
		flushAll(t, s)
		var cost float64
		var writes, writes1h, reasoning int64
		if err := s.e.db.QueryRow(`SELECT cost_usd, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens
			FROM polygate_usage WHERE request_id = 'w-1'`).Scan(&cost, &writes, &writes1h, &reasoning); err != nil {
			t.Fatal(err)
		}
		want := e.Cost(1000, 200, 300, 100, 50)
		if !near(cost, want) || want == e.Cost(1000, 200, 0, 0, 50) || writes != 300 || writes1h != 100 || reasoning != 20 {
			t.Errorf("stored cost %v (want %v), writes %d/%d, reasoning %d", cost, want, writes, writes1h, reasoning)
		}
	})
}
