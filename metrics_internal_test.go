package polygate

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardUsesRealMetrics checks that every metric the Grafana
// dashboard queries is one the gateway registers.
func TestDashboardUsesRealMetrics(t *testing.T) {
	m, err := newGatewayMetrics(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	descName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, f := range m.fields() {
		ch := make(chan *prometheus.Desc, 4)
		switch c := f.(type) {
		case **prometheus.CounterVec:
			(*c).Describe(ch)
		case **prometheus.HistogramVec:
			(*c).Describe(ch)
		}
		close(ch)
		for d := range ch {
			if m := descName.FindStringSubmatch(d.String()); m != nil {
				known[m[1]] = true
			}
		}
	}
	if len(known) != len(m.fields()) {
		t.Fatalf("described %d metrics, want %d", len(known), len(m.fields()))
	}
	dash, err := os.ReadFile("grafana/polygate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`caddy_ai_gateway_[a-z_]+`).FindAllString(string(dash), -1)
	if len(used) == 0 {
		t.Fatal("the dashboard uses no gateway metrics")
	}
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !known[base] {
			t.Errorf("the dashboard queries %s, which the gateway does not register", name)
		}
	}
}

func TestEndpointLabel(t *testing.T) {
	for in, want := range map[string]string{
		"chat/completions": "chat/completions", "responses": "responses", "messages/count_tokens": "messages/count_tokens",
		"files/file-abc123/content": "files", "batches/batch_1/cancel": "batches", "images/generations": "images/generations",
		"responses/retrieve": "responses", "fine_tuning/jobs/ftjob-1": "fine_tuning/jobs",
	} {
		if got := endpointLabel(in); got != want {
			t.Errorf("endpointLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
