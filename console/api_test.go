package console_test

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polygate/polygate/console"
	"github.com/polygate/polygate/usage"
)

// traffic is a set of records written through the usage Service.
type traffic []usage.Record

// windowStart is the start of the two days most test records fall in.
var windowStart = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// makeTraffic returns 30 records spread over 2024-03-01 and 2024-03-02
// (UTC) with various callers, models, providers, statuses, cache hits and
// guardrail verdicts, plus one record on each side of those days.
func makeTraffic() (in traffic, outside traffic) {
	callers := []struct{ id, key string }{{"key:key_alpha", "key_alpha"}, {"key:key_beta", "key_beta"}, {"user:carol", ""}, {"ip:192.0.2.7", ""}}
	models := []string{"gpt-4o-mini", "claude-sonnet", "gemini-flash"}
	providers := []string{"openai", "anthropic"}
	for i := range 30 {
		c := callers[i%len(callers)]
		r := usage.Record{
			RequestID:    fmt.Sprintf("req-%02d", i),
			Time:         windowStart.Add(10*time.Minute + time.Duration(i)*97*time.Minute),
			CallerID:     c.id,
			KeyID:        c.key,
			Model:        models[i%len(models)],
			Provider:     providers[i%len(providers)],
			InputTokens:  int64(100 + 7*i),
			OutputTokens: int64(20 + 3*i),
			CachedTokens: int64(i % 4),
			CostUSD:      0.001 * float64(i+1),
			LatencyMS:    int64(100 + 10*i),
			Status:       200,
			Attempts:     1 + i%3,
		}
		r.UpstreamModel = r.Model + "-2024"
		r.Endpoint = []string{"chat/completions", "embeddings", "responses"}[i%3]
		if i%10 == 9 {
			r.Origin = "guardrail moderation"
		}
		switch {
		case i%7 == 0:
			r.Status = 502
		case i%5 == 0:
			r.Status = 429
		}
		if i%2 == 0 {
			r.Streamed = true
			r.TTFTMS = int64(40 + i)
		}
		r.CacheHit = i%6 == 1
		switch {
		case i%8 == 3:
			r.Guardrails = `[{"guardrail":"pii","action":"block","category":"email","stage":"input","location":"messages[0]"}]`
		case i%9 == 4:
			r.Guardrails = `[{"guardrail":"pii","action":"redact","category":"phone","stage":"output","location":"choices[0].message.content"}]`
		}
		in = append(in, r)
	}
	outside = traffic{
		{RequestID: "req-before", Time: windowStart.Add(-time.Minute), CallerID: "user:carol", Model: "gpt-4o-mini", Provider: "openai", Status: 200, CostUSD: 5},
		{RequestID: "req-after", Time: windowStart.Add(48 * time.Hour), CallerID: "user:carol", Model: "gpt-4o-mini", Provider: "openai", Status: 200, CostUSD: 7},
	}
	return in, outside
}

func write(t *testing.T, s *usage.Service, recs traffic) {
	t.Helper()
	for _, r := range recs {
		s.Record(usage.Caller{ID: r.CallerID, KeyID: r.KeyID}, r)
	}
	flush(t, s)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// summary is the part of api/summary the tests read.
type summary struct {
	Database      string                      `json:"database"`
	Totals        usage.Totals                `json:"totals"`
	ErrorRate     float64                     `json:"error_rate"`
	CacheHitRate  float64                     `json:"cache_hit_rate"`
	GuardrailRate float64                     `json:"guardrail_rate"`
	Top           map[string][]usage.UsageRow `json:"top"`
	Groups        map[string]int              `json:"groups"`
}

func TestSummary(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		srv := server(t, &console.Console{})
		if a := call(t, srv, "GET", "/console/api/summary", nil); a.status != http.StatusServiceUnavailable {
			t.Errorf("no database open: %d %s", a.status, a.body)
		} else {
			a.errorMessage(t)
		}
		s := openService(t, &usage.Config{Database: db})
		in, outside := makeTraffic()
		write(t, s, append(slices.Clone(in), outside...))

		a := call(t, srv, "GET", "/console/api/summary?since=2024-03-01&until=2024-03-02", nil)
		if a.status != http.StatusOK {
			t.Fatalf("summary: %d %s", a.status, a.body)
		}
		var got summary
		a.decode(t, &got)

		var want usage.Totals
		var latency, ttft float64
		var ttftN int64
		byModel := map[string]float64{}
		for _, r := range in {
			want.Requests++
			want.InputTokens += r.InputTokens
			want.OutputTokens += r.OutputTokens
			want.CachedTokens += r.CachedTokens
			want.CostUSD += r.CostUSD
			byModel[r.Model] += r.CostUSD
			if r.Status >= 400 {
				want.Errors++
			}
			if r.Status >= 500 {
				want.ServerErrors++
			}
			if r.CacheHit {
				want.CacheHits++
			}
			if r.Guardrails != "" {
				want.GuardrailRequests++
			}
			if strings.Contains(r.Guardrails, `"block"`) {
				want.GuardrailBlocks++
			}
			latency += float64(r.LatencyMS)
			if r.TTFTMS > 0 {
				ttft += float64(r.TTFTMS)
				ttftN++
			}
		}
		want.AvgLatencyMS = latency / float64(want.Requests)
		want.AvgTTFTMS = ttft / float64(ttftN)
		g := got.Totals
		if g.Requests != want.Requests || g.InputTokens != want.InputTokens || g.OutputTokens != want.OutputTokens ||
			g.CachedTokens != want.CachedTokens || !near(g.CostUSD, want.CostUSD) || g.Errors != want.Errors ||
			g.ServerErrors != want.ServerErrors || g.CacheHits != want.CacheHits ||
			g.GuardrailRequests != want.GuardrailRequests || g.GuardrailBlocks != want.GuardrailBlocks ||
			!near(g.AvgLatencyMS, want.AvgLatencyMS) || !near(g.AvgTTFTMS, want.AvgTTFTMS) {
			t.Errorf("totals:\n got %+v\nwant %+v", g, want)
		}
		n := float64(want.Requests)
		if !near(got.ErrorRate, float64(want.Errors)/n) || !near(got.CacheHitRate, float64(want.CacheHits)/n) ||
			!near(got.GuardrailRate, float64(want.GuardrailRequests)/n) {
			t.Errorf("rates: %v %v %v", got.ErrorRate, got.CacheHitRate, got.GuardrailRate)
		}
		if got.Database != s.Database() {
			t.Errorf("database = %q, want %q", got.Database, s.Database())
		}
		// The top groups are the admin API's report, biggest spender first.
		report, err := s.Usage(t.Context(), "model", windowStart, windowStart.Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Top["model"]) != len(byModel) || got.Groups["model"] != len(byModel) || len(report) != len(byModel) {
			t.Fatalf("top models: %+v (groups %d)", got.Top["model"], got.Groups["model"])
		}
		for i, row := range got.Top["model"] {
			if !near(row.CostUSD, byModel[row.Group]) {
				t.Errorf("model %s: cost %v, want %v", row.Group, row.CostUSD, byModel[row.Group])
			}
			if i > 0 && row.CostUSD > got.Top["model"][i-1].CostUSD {
				t.Errorf("top models not by cost: %+v", got.Top["model"])
			}
		}
		if got.Groups["caller"] != 4 || got.Groups["key"] != 3 || got.Groups["provider"] != 2 || got.Groups["endpoint"] != 3 {
			t.Errorf("group counts: %v", got.Groups)
		}
		for _, row := range got.Top["key"] {
			if row.Group == "" && row.Requests == 0 {
				t.Errorf("empty key group: %+v", row)
			}
		}

		// An empty range answers zeros, not an error.
		a = call(t, srv, "GET", "/console/api/summary?since=2020-01-01&until=2020-01-02", nil)
		var empty summary
		a.decode(t, &empty)
		if a.status != 200 || empty.Totals.Requests != 0 || empty.ErrorRate != 0 || len(empty.Top["model"]) != 0 {
			t.Errorf("empty range: %d %s", a.status, a.body)
		}
	})
}

// series is api/series.
type series struct {
	Bucket  string              `json:"bucket"`
	GroupBy string              `json:"group_by"`
	Since   time.Time           `json:"since"`
	Until   time.Time           `json:"until"`
	Buckets []time.Time         `json:"buckets"`
	Groups  []usage.SeriesGroup `json:"groups"`
}

func TestSeries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		srv := server(t, &console.Console{})
		s := openService(t, &usage.Config{Database: db})
		in, outside := makeTraffic()
		write(t, s, append(slices.Clone(in), outside...))

		for _, tc := range []struct {
			bucket, groupBy string
			step            time.Duration
			key             func(usage.Record) string
		}{
			{"hour", "model", time.Hour, func(r usage.Record) string { return r.Model }},
			{"hour", "none", time.Hour, func(usage.Record) string { return "" }},
			{"day", "caller", 24 * time.Hour, func(r usage.Record) string { return r.CallerID }},
			{"day", "key", 24 * time.Hour, func(r usage.Record) string { return r.KeyID }},
			{"hour", "provider", time.Hour, func(r usage.Record) string { return r.Provider }},
			{"day", "endpoint", 24 * time.Hour, func(r usage.Record) string { return r.Endpoint }},
		} {
			t.Run(tc.bucket+"/"+tc.groupBy, func(t *testing.T) {
				// A range that is not on bucket boundaries is widened.
				q := url.Values{"since": {"2024-03-01T00:30:00Z"}, "until": {"2024-03-02T23:10:00Z"}, "bucket": {tc.bucket}, "group_by": {tc.groupBy}}
				a := call(t, srv, "GET", "/console/api/series?"+q.Encode(), nil)
				if a.status != 200 {
					t.Fatalf("%d %s", a.status, a.body)
				}
				var got series
				a.decode(t, &got)
				n := int(48 * time.Hour / tc.step)
				if !got.Since.Equal(windowStart) || !got.Until.Equal(windowStart.Add(48*time.Hour)) || len(got.Buckets) != n {
					t.Fatalf("range %v..%v, %d buckets", got.Since, got.Until, len(got.Buckets))
				}
				for i, b := range got.Buckets {
					if !b.Equal(windowStart.Add(time.Duration(i) * tc.step)) {
						t.Fatalf("bucket %d = %v", i, b)
					}
				}
				want := map[string][]float64{}
				wantReq := map[string][]int64{}
				wantErr := map[string][]int64{}
				wantTok := map[string][]int64{}
				for _, r := range in {
					k := tc.key(r)
					if want[k] == nil {
						want[k], wantReq[k], wantErr[k], wantTok[k] = make([]float64, n), make([]int64, n), make([]int64, n), make([]int64, n)
					}
					i := int(r.Time.Sub(windowStart) / tc.step)
					want[k][i] += r.CostUSD
					wantReq[k][i]++
					wantTok[k][i] += r.InputTokens + r.OutputTokens
					if r.Status >= 400 {
						wantErr[k][i]++
					}
				}
				if len(got.Groups) != len(want) {
					t.Fatalf("%d groups, want %d: %+v", len(got.Groups), len(want), got.Groups)
				}
				for _, g := range got.Groups {
					w, ok := want[g.Group]
					if !ok || g.Other {
						t.Errorf("unexpected group %q", g.Group)
						continue
					}
					for i := range n {
						if !near(g.CostUSD[i], w[i]) || g.Requests[i] != wantReq[g.Group][i] || g.Errors[i] != wantErr[g.Group][i] ||
							g.InputTokens[i]+g.OutputTokens[i] != wantTok[g.Group][i] {
							t.Errorf("group %q bucket %d: cost %v req %d err %d; want %v %d %d", g.Group, i,
								g.CostUSD[i], g.Requests[i], g.Errors[i], w[i], wantReq[g.Group][i], wantErr[g.Group][i])
						}
					}
				}
			})
		}

		t.Run("other", func(t *testing.T) {
			// Twelve callers: the eight biggest spenders are shown, the
			// four others summed.
			base := time.Date(2024, 4, 1, 12, 0, 0, 0, time.UTC)
			var recs traffic
			for i := range 12 {
				for j := range 2 {
					recs = append(recs, usage.Record{RequestID: fmt.Sprintf("other-%d-%d", i, j), Time: base.Add(time.Duration(j) * time.Hour),
						CallerID: fmt.Sprintf("user:u%02d", i), Model: "m", Provider: "p", Status: 200, CostUSD: float64(i + 1)})
				}
			}
			write(t, s, recs)
			a := call(t, srv, "GET", "/console/api/series?since=2024-04-01&until=2024-04-01&bucket=hour&group_by=caller", nil)
			if a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			var got series
			a.decode(t, &got)
			if len(got.Buckets) != 24 || len(got.Groups) != usage.MaxSeriesGroups+1 {
				t.Fatalf("%d buckets, %d groups", len(got.Buckets), len(got.Groups))
			}
			for i, g := range got.Groups[:usage.MaxSeriesGroups] {
				want := fmt.Sprintf("user:u%02d", 11-i)
				if g.Group != want || g.Other || g.Requests[12] != 1 || g.Requests[13] != 1 || !near(g.CostUSD[12], float64(12-i)) {
					t.Errorf("group %d: %+v, want %s", i, g, want)
				}
			}
			other := got.Groups[usage.MaxSeriesGroups]
			if !other.Other || other.Requests[12] != 4 || other.Requests[13] != 4 || !near(other.CostUSD[12], 1+2+3+4) {
				t.Errorf("other: %+v", other)
			}
		})
	})
}

// recent is api/recent.
type recent struct {
	Requests []usage.RecentRequest `json:"requests"`
}

func TestRecent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		srv := server(t, &console.Console{})
		s := openService(t, &usage.Config{Database: db})
		in, outside := makeTraffic()
		write(t, s, append(slices.Clone(in), outside...))

		a := call(t, srv, "GET", "/console/api/recent?since=2024-03-01&until=2024-03-02&limit=12", nil)
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		var got recent
		a.decode(t, &got)
		if len(got.Requests) != 12 {
			t.Fatalf("%d requests, want 12", len(got.Requests))
		}
		for i, r := range got.Requests {
			w := in[len(in)-1-i] // newest first
			if r.RequestID != w.RequestID || !r.Time.Equal(w.Time) || r.Caller != w.CallerID || r.KeyID != w.KeyID ||
				r.Endpoint != w.Endpoint || r.Origin != w.Origin ||
				r.Model != w.Model || r.Provider != w.Provider || r.UpstreamModel != w.UpstreamModel || r.Status != w.Status ||
				r.LatencyMS != w.LatencyMS || r.TTFTMS != w.TTFTMS || r.Attempts != w.Attempts || r.CacheHit != w.CacheHit ||
				r.Streamed != w.Streamed || r.InputTokens != w.InputTokens || r.OutputTokens != w.OutputTokens ||
				r.CachedTokens != w.CachedTokens || !near(r.CostUSD, w.CostUSD) {
				t.Errorf("request %d:\n got %+v\nwant %+v", i, r, w)
			}
			switch {
			case w.Guardrails == "" && (len(r.Guardrails) != 0 || r.GuardrailsRaw != ""):
				t.Errorf("request %d: guardrails %+v %q, want none", i, r.Guardrails, r.GuardrailsRaw)
			case w.Guardrails != "" && (len(r.Guardrails) != 1 || r.Guardrails[0].Guardrail != "pii" || r.GuardrailsRaw != "" ||
				!strings.Contains(w.Guardrails, `"action":"`+r.Guardrails[0].Action+`"`) ||
				!strings.Contains(w.Guardrails, `"location":"`+r.Guardrails[0].Location+`"`)):
				t.Errorf("request %d: guardrails %+v, want %s", i, r.Guardrails, w.Guardrails)
			}
		}
		// The default limit, and the range bounds the list.
		a = call(t, srv, "GET", "/console/api/recent?since=2024-03-01&until=2024-03-02", nil)
		a.decode(t, &got)
		if len(got.Requests) != len(in) {
			t.Errorf("whole range: %d requests, want %d", len(got.Requests), len(in))
		}
	})
}

func TestBadInput(t *testing.T) {
	srv := server(t, &console.Console{})
	openService(t, &usage.Config{Database: "sqlite://" + t.TempDir() + "/usage.db"})
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/c/api/series?bucket=week", 400, "bucket"},
		{"/c/api/series?group_by=colour", 400, "group_by"},
		{"/c/api/series?range=30d&bucket=hour", 400, "buckets"},
		{"/c/api/summary?range=5x", 400, "range"},
		{"/c/api/summary?range=0d", 400, "range"},
		{"/c/api/summary?range=-3h", 400, "range"},
		{"/c/api/summary?range=100000d", 400, "range"},
		{"/c/api/summary?since=yesterday", 400, "since"},
		{"/c/api/summary?since=2024-03-02&until=2024-03-01", 400, "after"},
		{"/c/api/summary?since=2020-01-01&until=2024-01-01", 400, "longer"},
		{"/c/api/summary?range=1h&since=2024-03-01", 400, "not both"},
		{"/c/api/summary?until=2024-03-01", 400, "since"},
		{"/c/api/recent?limit=500", 400, "limit"},
		{"/c/api/recent?limit=x", 400, "limit"},
		{"/c/api/recent?limit=0", 400, "limit"},
		{"/c/api/nothing", 404, "endpoint"},
	} {
		a := call(t, srv, "GET", tc.path, nil)
		if a.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, a.status, a.body, tc.status)
			continue
		}
		if msg := a.errorMessage(t); !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: error %q does not mention %q", tc.path, msg, tc.msg)
		}
	}
	for _, path := range []string{"/c/api/summary", "/c/api/series", "/c/api/recent", "/c/api/databases"} {
		if a := call(t, srv, "POST", path, map[string]any{}); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") == "" {
			t.Errorf("POST %s: %d", path, a.status)
		}
	}
	if a := call(t, srv, "PUT", "/c/api/keys", map[string]any{}); a.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT keys: %d", a.status)
	}
	if a := call(t, srv, "GET", "/c/api/keys/key_x", nil); a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET a key: %d", a.status)
	}
}
