package telemetry_test

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/polygate/polygate/telemetry"
)

// gathered flattens the gathered histograms: "name{l=v,...}" → the histogram.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]*dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s is a %s, want a histogram", mf.GetName(), mf.GetType())
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(ls)
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetHistogram()
		}
	}
	return out
}

const base = "gen_ai_operation_name=chat,gen_ai_provider_name=anthropic,gen_ai_request_model=smart,gen_ai_response_model=claude-sonnet-4-5,polygate_endpoint=messages,polygate_provider=claude"

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := telemetry.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second site of the same config shares the collectors.
	m2, err := telemetry.NewMetrics(reg)
	if err != nil {
		t.Fatalf("registering twice: %v", err)
	}
	ok := telemetry.Observation{Endpoint: "messages", Provider: "claude", System: "anthropic", RequestModel: "smart",
		ResponseModel: "claude-sonnet-4-5", InputTokens: 1000, OutputTokens: 50, Duration: 1500 * time.Millisecond, TTFT: 300 * time.Millisecond}
	m.Record(ok)
	m2.Record(ok)
	failed := ok
	failed.InputTokens, failed.OutputTokens, failed.TTFT, failed.ErrorType = 0, 0, 200*time.Millisecond, "529"
	m.Record(failed)
	// No System: the configured name stands in.
	m.Record(telemetry.Observation{Endpoint: "embeddings", Provider: "local", RequestModel: "e5", ResponseModel: "e5", InputTokens: 8, Duration: time.Millisecond})

	h := gathered(t, reg)
	check := func(key string, count uint64, sum float64) {
		t.Helper()
		key = sortedKey(key)
		got, ok := h[key]
		if !ok {
			t.Errorf("no series %s; have %v", key, keys(h))
			return
		}
		if got.GetSampleCount() != count || math.Abs(got.GetSampleSum()-sum) > 1e-9 {
			t.Errorf("%s: count %d sum %v, want %d and %v", key, got.GetSampleCount(), got.GetSampleSum(), count, sum)
		}
	}
	check("gen_ai_client_token_usage{"+base+",gen_ai_token_type=input}", 2, 2000)
	check("gen_ai_client_token_usage{"+base+",gen_ai_token_type=output}", 2, 100)
	check("gen_ai_client_operation_duration_seconds{error_type=,"+base+"}", 2, 3)
	check("gen_ai_client_operation_duration_seconds{error_type=529,"+base+"}", 1, 1.5)
	check("gen_ai_server_time_to_first_token_seconds{"+base+"}", 2, 0.6) // not the failed one
	emb := "gen_ai_operation_name=embeddings,gen_ai_provider_name=local,gen_ai_request_model=e5,gen_ai_response_model=e5,polygate_endpoint=embeddings,polygate_provider=local"
	check("gen_ai_client_token_usage{"+emb+",gen_ai_token_type=input}", 1, 8)
	if len(h) != 7 { // no output tokens nor time to first token for the embeddings
		t.Errorf("%d series, want 7: %v", len(h), keys(h))
	}

	// The conventions' bucket boundaries.
	b := h[sortedKey("gen_ai_server_time_to_first_token_seconds{"+base+"}")].GetBucket()
	if len(b) != 16 || b[0].GetUpperBound() != 0.001 || b[15].GetUpperBound() != 10 {
		t.Errorf("time to first token buckets = %v", b)
	}
	if b := h[sortedKey("gen_ai_client_token_usage{"+emb+",gen_ai_token_type=input}")].GetBucket(); len(b) != 14 || b[13].GetUpperBound() != 67108864 {
		t.Errorf("token buckets = %v", b)
	}

	if n := testing.AllocsPerRun(100, func() { m.Record(ok) }); n != 0 {
		t.Errorf("Record of a known series: %v allocations, want 0", n)
	}
	var none *telemetry.Metrics
	none.Record(ok) // nil-safe
	if m, err := telemetry.NewMetrics(nil); m != nil || err != nil {
		t.Errorf("NewMetrics(nil) = %v, %v", m, err)
	}
}

// TestMetricsConflict: a different collector under one of the names is an
// error, not a panic.
func TestMetricsConflict(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: telemetry.MetricTokenUsage, Help: "other"}))
	if _, err := telemetry.NewMetrics(reg); err == nil {
		t.Fatal("no error for a conflicting collector")
	}
}

// sortedKey sorts the labels of "name{l=v,...}" as gathered does.
func sortedKey(key string) string {
	name, labels, _ := strings.Cut(strings.TrimSuffix(key, "}"), "{")
	ls := strings.Split(labels, ",")
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

func keys(m map[string]*dto.Histogram) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
