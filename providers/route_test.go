package providers

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/polygate/polygate/openai"
)

func upstreamsFor(t *testing.T, weights ...int) []*Upstream {
	var ups []*Upstream
	for i, w := range weights {
		ups = append(ups, NewUpstream(fmt.Sprintf("%s-%d", t.Name(), i), nil, "m", w))
	}
	return ups
}

func statusErr(status int, retryAfter time.Duration) error {
	return &Error{Err: &openai.Error{Status: status, Message: "x"}, RetryAfter: retryAfter}
}

func TestWeightedPick(t *testing.T) {
	r := &Route{Upstreams: upstreamsFor(t, 3, 1)}
	counts := map[*Upstream]int{}
	for i := 0; i < 4000; i++ {
		counts[r.pick(nil, time.Now())]++
	}
	share := float64(counts[r.Upstreams[0]]) / 4000
	if share < 0.70 || share > 0.80 {
		t.Errorf("weight 3 of 4 got %.2f of picks", share)
	}
}

func TestAttemptPlan(t *testing.T) {
	primary := &Route{Name: "p", Upstreams: upstreamsFor(t, 1, 1), Retries: 2}
	fallback := &Route{Name: "f", Upstreams: []*Upstream{NewUpstream(t.Name()+"-fb", nil, "m", 1)}}
	primary.Fallbacks = []*Route{fallback}
	a := primary.Attempts()
	var seen []string
	var prev *Upstream
	for {
		r, u := a.Next(context.Background())
		if u == nil {
			break
		}
		seen = append(seen, r.Name)
		if r == primary && prev != nil && len(seen) == 2 && u == prev {
			t.Error("the retry picked the upstream that just failed although another was left")
		}
		prev = u
		if !a.Failed(u, statusErr(http.StatusServiceUnavailable, 0)) {
			t.Fatal("a 503 should be retryable")
		}
	}
	if got := fmt.Sprint(seen); got != "[p p p f]" {
		t.Errorf("attempts = %s, want [p p p f]", got)
	}
	if a.Count() != 4 {
		t.Errorf("Count = %d", a.Count())
	}
}

func TestAttemptPlanStopsOnClientError(t *testing.T) {
	r := &Route{Upstreams: upstreamsFor(t, 1), Retries: 3}
	a := r.Attempts()
	_, u := a.Next(context.Background())
	if a.Failed(u, statusErr(http.StatusBadRequest, 0)) {
		t.Error("a 400 must not be retried")
	}
	for _, s := range []int{408, 429, 500, 502, 503, 504} {
		if !Retryable(statusErr(s, 0)) {
			t.Errorf("%d should be retryable", s)
		}
	}
	for _, s := range []int{400, 401, 403, 404, 422} {
		if Retryable(statusErr(s, 0)) {
			t.Errorf("%d should not be retryable", s)
		}
	}
}

func TestCooldown(t *testing.T) {
	ups := upstreamsFor(t, 1, 1)
	bad := ups[0]
	for i := 0; i < CooldownAfter; i++ {
		if bad.CooledDown(time.Now()) {
			t.Fatalf("cooled down after %d failures", i)
		}
		bad.ReportFailure(0)
	}
	if !bad.CooledDown(time.Now()) {
		t.Fatal("not cooled down after CooldownAfter failures")
	}
	r := &Route{Upstreams: ups}
	for i := 0; i < 100; i++ {
		if r.pick(nil, time.Now()) == bad {
			t.Fatal("picked a cooled-down upstream while another was left")
		}
	}
	// The same provider and model share health across routes (reloads).
	again := NewUpstream(bad.ProviderName, nil, bad.Model, 1)
	if !again.CooledDown(time.Now()) {
		t.Error("health did not carry over to a new route")
	}
	again.ReportSuccess()
	if bad.health.failures.Load() != 0 {
		t.Error("success did not reset the failure count")
	}
}

func TestLongRetryAfterCoolsAtOnce(t *testing.T) {
	ups := upstreamsFor(t, 1)
	ups[0].ReportFailure(time.Minute)
	if !ups[0].CooledDown(time.Now().Add(45 * time.Second)) {
		t.Error("a Retry-After of 1m should cool the upstream for 1m")
	}
}

func TestCooledRouteFallsBackAtOnce(t *testing.T) {
	primary := &Route{Name: "p", Upstreams: upstreamsFor(t, 1), Retries: 1}
	fallback := &Route{Name: "f", Upstreams: []*Upstream{NewUpstream(t.Name()+"-fb", nil, "m", 1)}}
	primary.Fallbacks = []*Route{fallback}
	primary.Upstreams[0].ReportFailure(time.Hour)
	r, _ := primary.Attempts().Next(context.Background())
	if r != fallback {
		t.Errorf("first attempt went to %s, want the fallback", r.Name)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:10 GMT": 10 * time.Second,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
