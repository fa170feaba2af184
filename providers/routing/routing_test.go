package routing

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// idProvider is a provider with an identity of its own.
type idProvider struct {
	providers.Provider
	id string
}

func (p idProvider) Identity() string { return p.id }

func upstreamsFor(t *testing.T, weights ...int) []*Upstream {
	var ups []*Upstream
	for i, w := range weights {
		u := NewUpstream(fmt.Sprintf("%s-%d", t.Name(), i), nil, "m", w)
		t.Cleanup(u.Release)
		ups = append(ups, u)
	}
	return ups
}

func statusErr(status int, retryAfter time.Duration) error {
	return &providers.Error{Err: &openai.Error{Status: status, Message: "x"}, RetryAfter: retryAfter}
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
	fb := NewUpstream(t.Name()+"-fb", nil, "m", 1)
	defer fb.Release()
	fallback := &Route{Name: "f", Upstreams: []*Upstream{fb}}
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
	for _, u := range append(primary.Upstreams, fb) {
		if u.InFlight() != 0 {
			t.Errorf("%s: %d calls still in flight after every attempt failed", u.ProviderName, u.InFlight())
		}
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
		if !providers.Retryable(statusErr(s, 0)) || !providers.RetryableStatus(s) {
			t.Errorf("%d should be retryable", s)
		}
	}
	for _, s := range []int{400, 401, 403, 404, 422} {
		if providers.Retryable(statusErr(s, 0)) || providers.RetryableStatus(s) {
			t.Errorf("%d should not be retryable", s)
		}
	}
}

func TestCooldown(t *testing.T) {
	ups := upstreamsFor(t, 1, 1)
	bad := ups[0]
	r := &Route{Upstreams: ups}
	r.SetHealth(2, time.Hour)
	for i := 0; i < 2; i++ {
		if bad.CooledDown(time.Now()) {
			t.Fatalf("cooled down after %d failures", i)
		}
		bad.reportFailure(0)
	}
	if !bad.CooledDown(time.Now()) || !bad.CooledDown(time.Now().Add(59*time.Minute)) {
		t.Fatal("not cooled down for fail_duration after max_fails failures")
	}
	for i := 0; i < 100; i++ {
		if r.pick(nil, time.Now()) == bad {
			t.Fatal("picked a cooled-down upstream while another was left")
		}
	}
	// The same provider and model share health across routes (reloads).
	again := NewUpstream(bad.ProviderName, nil, bad.Model, 1)
	defer again.Release()
	if !again.CooledDown(time.Now()) {
		t.Error("health did not carry over to a new route")
	}
	again.reportSuccess()
	if bad.health.failures.Load() != 0 {
		t.Error("success did not reset the failure count")
	}
}

func TestHealthKeyedByIdentity(t *testing.T) {
	// Two configs call a provider "openai", with different keys: two
	// upstreams. The same identity under two names: one.
	a := NewUpstream("openai", idProvider{id: "openai https://x/v1 key-a"}, "m", 1)
	b := NewUpstream("openai", idProvider{id: "openai https://x/v1 key-b"}, "m", 1)
	c := NewUpstream("other-name", idProvider{id: "openai https://x/v1 key-a"}, "m", 1)
	defer a.Release()
	defer b.Release()
	defer c.Release()
	a.reportFailure(time.Hour)
	if b.CooledDown(time.Now()) {
		t.Error("a same-named provider with another key shares the cooldown")
	}
	if !c.CooledDown(time.Now()) {
		t.Error("the same upstream under another name does not share the cooldown")
	}
}

func TestHealthReleased(t *testing.T) {
	p := idProvider{id: t.Name()}
	u := NewUpstream("p", p, "m", 1)
	u.reportFailure(time.Hour)
	u.Release()
	again := NewUpstream("p", p, "m", 1)
	defer again.Release()
	if again.CooledDown(time.Now()) {
		t.Error("health outlived the last config that used it")
	}
}

func TestDirectHealthBounded(t *testing.T) {
	d := &DirectHealth{Max: 10}
	p := idProvider{id: t.Name()}
	for i := 0; i < 1000; i++ {
		NewDirectUpstream(d, "p", p, fmt.Sprintf("model-%d", i))
	}
	if n := d.Len(); n > 10 {
		t.Errorf("%d direct upstreams remembered, want at most 10", n)
	}
	u := NewDirectUpstream(d, "p", p, "same")
	u.reportFailure(time.Hour)
	if !NewDirectUpstream(d, "p", p, "same").CooledDown(time.Now()) {
		t.Error("a direct upstream's cooldown is not remembered")
	}
}

func TestLongRetryAfterCoolsAtOnce(t *testing.T) {
	ups := upstreamsFor(t, 1)
	ups[0].reportFailure(time.Minute)
	if !ups[0].CooledDown(time.Now().Add(45 * time.Second)) {
		t.Error("a Retry-After of 1m should cool the upstream for 1m")
	}
}

func TestCooledRouteFallsBackAtOnce(t *testing.T) {
	primary := &Route{Name: "p", Upstreams: upstreamsFor(t, 1), Retries: 1}
	fallback := &Route{Name: "f", Upstreams: upstreamsFor(t, 1, 1)[1:]}
	primary.Fallbacks = []*Route{fallback}
	primary.Upstreams[0].reportFailure(time.Hour)
	r, _ := primary.Attempts().Next(context.Background())
	if r != fallback {
		t.Errorf("first attempt went to %s, want the fallback", r.Name)
	}
}

func TestLeastBusy(t *testing.T) {
	ups := upstreamsFor(t, 1, 1, 1)
	r := &Route{Upstreams: ups, Policy: LeastBusy{}}
	// Three calls in flight on the first, one on the second: the third is
	// picked every time, then the second once the third is as busy.
	for i := 0; i < 3; i++ {
		ups[0].health.inFlight.Add(1)
	}
	ups[1].health.inFlight.Add(1)
	for i := 0; i < 50; i++ {
		if got := r.pick(nil, time.Now()); got != ups[2] {
			t.Fatalf("picked %s with %d in flight, want the idle one", got.ProviderName, got.InFlight())
		}
	}
	ups[2].health.inFlight.Add(2)
	if got := r.pick(nil, time.Now()); got != ups[1] {
		t.Errorf("picked %s, want the one with 1 in flight", got.ProviderName)
	}
	// Attempts count the upstream busy until Done.
	a := r.Attempts()
	_, u := a.Next(context.Background())
	before := u.InFlight()
	a.Succeeded(u)
	u.Done()
	if u.InFlight() != before-1 {
		t.Errorf("Done left %d in flight, want %d", u.InFlight(), before-1)
	}
}

func TestLowestLatency(t *testing.T) {
	ups := upstreamsFor(t, 1, 1)
	r := &Route{Upstreams: ups, Policy: LowestLatency{}}
	for i := 0; i < 20; i++ {
		ups[0].health.observeTTFB(80 * time.Millisecond)
		ups[1].health.observeTTFB(5 * time.Millisecond)
	}
	for i := 0; i < 50; i++ {
		if got := r.pick(nil, time.Now()); got != ups[1] {
			t.Fatalf("picked the upstream at %s, want the one at %s", got.TTFB(), ups[1].TTFB())
		}
	}
	// The average moves: the fast one slows down and loses its place.
	for i := 0; i < 60; i++ {
		ups[1].health.observeTTFB(300 * time.Millisecond)
	}
	if got := r.pick(nil, time.Now()); got != ups[0] {
		t.Errorf("picked the upstream at %s, want the one at %s", got.TTFB(), ups[0].TTFB())
	}
	// An upstream not measured yet is tried first.
	fresh := NewUpstream(t.Name()+"-fresh", nil, "m", 1)
	defer fresh.Release()
	r.Upstreams = append(r.Upstreams, fresh)
	if got := r.pick(nil, time.Now()); got != fresh {
		t.Error("an unmeasured upstream was not tried first")
	}
}
