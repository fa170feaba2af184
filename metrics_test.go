package polygate_test

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func metricsSite(up string) string {
	return fmt.Sprintf(`	metrics /metrics
	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
	}`, up)
}

func TestMetrics(t *testing.T) {
	up := newFakeOpenAI(t)
	site := metricsSite(up.URL)
	// Twice: metrics must work again after a reload.
	for round := 0; round < 2; round++ {
		g := startGateway(t, site)
		for i := 0; i < 3; i++ {
			chatOK(t, g, "gpt-4o-mini", i == 2)
		}
		resp, body := g.do("POST", "/v1/chat/completions", "application/json", `{"model":"nope","messages":[]}`)
		if resp.StatusCode != 404 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		expected := `
# HELP caddy_ai_gateway_requests_total Gateway requests by public model, provider and HTTP status.
# TYPE caddy_ai_gateway_requests_total counter
caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="up",status="200"} 3
caddy_ai_gateway_requests_total{model="unknown",provider="",status="404"} 1
# HELP caddy_ai_gateway_tokens_total Tokens by public model, provider and kind (input, output, cached).
# TYPE caddy_ai_gateway_tokens_total counter
caddy_ai_gateway_tokens_total{kind="cached",model="gpt-4o-mini",provider="up"} 4
caddy_ai_gateway_tokens_total{kind="input",model="gpt-4o-mini",provider="up"} 36
caddy_ai_gateway_tokens_total{kind="output",model="gpt-4o-mini",provider="up"} 9
# HELP caddy_ai_gateway_upstream_attempts_total Upstream calls made, retries included.
# TYPE caddy_ai_gateway_upstream_attempts_total counter
caddy_ai_gateway_upstream_attempts_total{model="gpt-4o-mini",provider="up"} 3
`
		if err := testutil.ScrapeAndCompare(g.URL+"/metrics", strings.NewReader(expected),
			"caddy_ai_gateway_requests_total", "caddy_ai_gateway_tokens_total", "caddy_ai_gateway_upstream_attempts_total"); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		// Cost: 3 × (12 × 0.15 + 3 × 0.60) / 1e6 USD.
		if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_cost_usd_total{model="gpt-4o-mini",provider="up"}`); math.Abs(got-3*3.6e-6) > 1e-12 {
			t.Errorf("round %d: cost = %g, want %g", round, got, 3*3.6e-6)
		}
		if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_time_to_first_token_seconds_count{model="gpt-4o-mini",provider="up"}`); got != 1 {
			t.Errorf("round %d: ttft observations = %g, want 1", round, got)
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
	up := newFakeOpenAI(t)
	g := startGateway(t, metricsSite(up.URL)+"\n}\n:"+fmt.Sprint(freePort(t))+" {\n"+metricsSite(up.URL))
	chatOK(t, g, "gpt-4o-mini", false)
	if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_requests_total{model="gpt-4o-mini",provider="up",status="200"}`); got != 1 {
		t.Errorf("requests = %g, want 1", got)
	}
}
