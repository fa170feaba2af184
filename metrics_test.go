package polygate_test

import (
	"bufio"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// brokenSeq names the failing provider of each metricsSite: upstream health
// is kept per provider name for the life of the process, so a name reused
// by several tests (or rounds) would end up cooled down and skipped.
var brokenSeq atomic.Int64

// metricsSite is a gateway with the metrics directive, a priced model, a
// model whose only upstream answers 500 and falls back to the priced one,
// and a regex guardrail blocking "forbidden-word". db is a database
// setting, or "" for the default.
func metricsSite(up, db string) string {
	database := ""
	if db != "" {
		database = "database " + db
	}
	return fmt.Sprintf(`	metrics /metrics
	ai_gateway {
		%[3]s
		provider up openai {
			base_url %[1]s/v1
		}
		provider %[2]s openai {
			base_url %[1]s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
		model flaky {
			upstream %[2]s error-500
			fallback gpt-4o-mini
		}
		guardrail regex {
			on input
			deny "forbidden-word"
		}
	}`, up, fmt.Sprintf("broken%d", brokenSeq.Add(1)), database)
}

// quotaSite is a gateway on plan-limited virtual keys with per-key metrics.
func quotaSite(up, db string) string {
	return fmt.Sprintf(`	ai_gateway {
		metrics per_key
		database %s
		auth keys
		plan one {
			requests_per_minute 1
		}
		provider up openai {
			base_url %s/v1
		}
		model metered {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
	}`, db, up)
}

// fallbackAndBlocked sends a request that falls back from flaky to
// gpt-4o-mini and one the guardrail blocks.
func fallbackAndBlocked(t *testing.T, g *gatewaytest.Gateway) {
	t.Helper()
	if resp := chatOK(t, g, "flaky", false); resp.Header.Get("X-Polygate-Attempts") != "2" || resp.Header.Get("X-Polygate-Provider") != "up" {
		t.Errorf("fallback: attempts %q, provider %q; want 2, up", resp.Header.Get("X-Polygate-Attempts"), resp.Header.Get("X-Polygate-Provider"))
	}
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json",
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"say the forbidden-word"}]}`)
	gatewaytest.ExpectOpenAIError(t, resp, body, 400, "invalid_request_error", "content_filter")
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	db := "sqlite " + filepath.Join(t.TempDir(), "usage.db")
	// Twice: metrics must work again after a reload.
	for round := 0; round < 2; round++ {
		quotaPort := gatewaytest.FreePort(t)
		g := gatewaytest.Start(t, metricsSite(up.URL, db)+fmt.Sprintf("\n}\n:%d {\n", quotaPort)+quotaSite(up.URL, db))
		for i := 0; i < 3; i++ {
			chatOK(t, g, "gpt-4o-mini", i == 2)
		}
		resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"nope","messages":[]}`)
		if resp.StatusCode != 404 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		fallbackAndBlocked(t, g)

		// Plan "one" allows one request per minute: the second is refused.
		// A new key each round, so the first round's request does not count.
		q := &gatewaytest.Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", quotaPort), Admin: g.Admin}
		keyID, key := q.CreateKey("one")
		metered := `{"model":"metered","messages":[{"role":"user","content":"hi"}]}`
		if resp, body := q.DoKey(key, "POST", "/v1/chat/completions", metered, nil); resp.StatusCode != 200 {
			t.Fatalf("round %d: first metered request: %d %s", round, resp.StatusCode, body)
		}
		resp, body = q.DoKey(key, "POST", "/v1/chat/completions", metered, nil)
		gatewaytest.ExpectOpenAIError(t, resp, body, 429, "", "rate_limit_exceeded")

		expected := fmt.Sprintf(`
# HELP caddy_ai_gateway_requests_total Gateway requests by public model, provider and HTTP status.
# TYPE caddy_ai_gateway_requests_total counter
caddy_ai_gateway_requests_total{model="flaky",provider="up",status="200"} 1
caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="",status="400"} 1
caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="up",status="200"} 3
caddy_ai_gateway_requests_total{model="metered",provider="",status="429"} 1
caddy_ai_gateway_requests_total{model="metered",provider="up",status="200"} 1
caddy_ai_gateway_requests_total{model="unknown",provider="",status="404"} 1
# HELP caddy_ai_gateway_tokens_total Tokens by public model, provider and kind (input, output, cached, cache_write).
# TYPE caddy_ai_gateway_tokens_total counter
caddy_ai_gateway_tokens_total{kind="cached",model="flaky",provider="up"} 2
caddy_ai_gateway_tokens_total{kind="input",model="flaky",provider="up"} 12
caddy_ai_gateway_tokens_total{kind="output",model="flaky",provider="up"} 3
caddy_ai_gateway_tokens_total{kind="cached",model="gpt-4o-mini",provider="up"} 4
caddy_ai_gateway_tokens_total{kind="input",model="gpt-4o-mini",provider="up"} 36
caddy_ai_gateway_tokens_total{kind="output",model="gpt-4o-mini",provider="up"} 9
caddy_ai_gateway_tokens_total{kind="cached",model="metered",provider="up"} 2
caddy_ai_gateway_tokens_total{kind="input",model="metered",provider="up"} 12
caddy_ai_gateway_tokens_total{kind="output",model="metered",provider="up"} 3
# HELP caddy_ai_gateway_upstream_attempts_total Upstream calls made, retries included.
# TYPE caddy_ai_gateway_upstream_attempts_total counter
caddy_ai_gateway_upstream_attempts_total{model="flaky",provider="up"} 2
caddy_ai_gateway_upstream_attempts_total{model="gpt-4o-mini",provider="up"} 3
caddy_ai_gateway_upstream_attempts_total{model="metered",provider="up"} 1
# HELP caddy_ai_gateway_fallbacks_total Requests served by a fallback model.
# TYPE caddy_ai_gateway_fallbacks_total counter
caddy_ai_gateway_fallbacks_total{model="flaky"} 1
# HELP caddy_ai_gateway_guardrail_actions_total Guardrail verdicts by guardrail, action, category and stage.
# TYPE caddy_ai_gateway_guardrail_actions_total counter
caddy_ai_gateway_guardrail_actions_total{action="block",category="deny_pattern",guardrail="regex",stage="input"} 1
# HELP caddy_ai_gateway_quota_rejections_total Requests rejected by a plan limit.
# TYPE caddy_ai_gateway_quota_rejections_total counter
caddy_ai_gateway_quota_rejections_total{limit="requests_per_minute",plan="one"} 1
# HELP caddy_ai_gateway_key_requests_total Requests per caller (only with metrics per_key).
# TYPE caddy_ai_gateway_key_requests_total counter
caddy_ai_gateway_key_requests_total{key="key:%s"} 2
`, keyID)
		if err := testutil.ScrapeAndCompare(g.URL+"/metrics", strings.NewReader(expected),
			"caddy_ai_gateway_requests_total", "caddy_ai_gateway_tokens_total", "caddy_ai_gateway_upstream_attempts_total",
			"caddy_ai_gateway_fallbacks_total", "caddy_ai_gateway_guardrail_actions_total",
			"caddy_ai_gateway_quota_rejections_total", "caddy_ai_gateway_key_requests_total"); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		// Cost: 3 × (12 × 0.15 + 3 × 0.60) / 1e6 USD; the fallback is
		// charged at the price of the model that answered.
		const one = 3.6e-6
		for series, want := range map[string]float64{
			`caddy_ai_gateway_cost_usd_total{model="gpt-4o-mini",provider="up"}`: 3 * one,
			`caddy_ai_gateway_cost_usd_total{model="flaky",provider="up"}`:       one,
			`caddy_ai_gateway_cost_usd_total{model="metered",provider="up"}`:     one,
			`caddy_ai_gateway_key_cost_usd_total{key="key:` + keyID + `"}`:       one,
		} {
			if got := scrapeValue(t, g.URL+"/metrics", series); math.Abs(got-want) > 1e-12 {
				t.Errorf("round %d: %s = %g, want %g", round, series, got, want)
			}
		}
		if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_time_to_first_token_seconds_count{model="gpt-4o-mini",provider="up"}`); got != 1 {
			t.Errorf("round %d: ttft observations = %g, want 1", round, got)
		}
		// The per-key series name the caller, never the key.
		if text := scrape(t, g.URL+"/metrics"); strings.Contains(text, key) || strings.Contains(text, key[len(key)-8:]) {
			t.Errorf("round %d: the metrics expose the virtual key", round)
		}
	}
}

// scrapeValue reads one sample's value from a metrics endpoint.
func scrapeValue(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("series %s not found at %s", series, url)
	return 0
}

// TestMetricsTwoSites loads the directive on two sites: the second
// registration must reuse the first's collectors, and both count.
func TestMetricsTwoSites(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	port2 := gatewaytest.FreePort(t)
	g := gatewaytest.Start(t, metricsSite(up.URL, "")+fmt.Sprintf("\n}\n:%d {\n", port2)+metricsSite(up.URL, ""))
	g2 := &gatewaytest.Gateway{T: t, URL: fmt.Sprintf("http://127.0.0.1:%d", port2), Admin: g.Admin}
	chatOK(t, g, "gpt-4o-mini", false)
	chatOK(t, g2, "gpt-4o-mini", false)
	fallbackAndBlocked(t, g)
	fallbackAndBlocked(t, g2)
	// Per-key series need `metrics per_key`, which neither site has.
	expected := `
# HELP caddy_ai_gateway_requests_total Gateway requests by public model, provider and HTTP status.
# TYPE caddy_ai_gateway_requests_total counter
caddy_ai_gateway_requests_total{model="flaky",provider="up",status="200"} 2
caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="",status="400"} 2
caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="up",status="200"} 2
# HELP caddy_ai_gateway_fallbacks_total Requests served by a fallback model.
# TYPE caddy_ai_gateway_fallbacks_total counter
caddy_ai_gateway_fallbacks_total{model="flaky"} 2
# HELP caddy_ai_gateway_guardrail_actions_total Guardrail verdicts by guardrail, action, category and stage.
# TYPE caddy_ai_gateway_guardrail_actions_total counter
caddy_ai_gateway_guardrail_actions_total{action="block",category="deny_pattern",guardrail="regex",stage="input"} 2
`
	for _, site := range []*gatewaytest.Gateway{g, g2} {
		if err := testutil.ScrapeAndCompare(site.URL+"/metrics", strings.NewReader(expected),
			"caddy_ai_gateway_requests_total", "caddy_ai_gateway_fallbacks_total", "caddy_ai_gateway_guardrail_actions_total",
			"caddy_ai_gateway_key_requests_total", "caddy_ai_gateway_key_cost_usd_total"); err != nil {
			t.Errorf("%s: %v", site.URL, err)
		}
	}
}
