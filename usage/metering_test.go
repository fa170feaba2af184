package usage

import "testing"

func TestMetered(t *testing.T) {
	s := openService(t, &Config{Database: freshDB(t, "sqlite"), DefaultPlan: "free", Plans: map[string]*Plan{
		"free":    {RequestsPerDay: 100, Models: []string{"gpt-4o-mini"}},
		"tokens":  {TokensPerMinute: 1000, UnmeteredPaths: []string{"files", "vector_stores/*", "batches*"}},
		"daytok":  {TokensPerDay: 1000},
		"daily":   {BudgetPerDay: 1},
		"monthly": {BudgetPerMonth: 1},
	}})
	for _, tc := range []struct {
		c    Caller
		want bool
	}{
		{Caller{ID: "ip:1"}, false},                        // the default plan limits requests only
		{Caller{ID: "ip:1", BudgetUSD: 5}, true},           // the key's own budget
		{Caller{ID: "ip:1", Plan: "tokens"}, true},         // tokens per minute
		{Caller{ID: "ip:1", Plan: "daytok"}, true},         // tokens per day
		{Caller{ID: "ip:1", Plan: "daily"}, true},          // dollars per day
		{Caller{ID: "ip:1", Plan: "monthly"}, true},        // dollars per month
		{Caller{ID: "ip:1", Plan: "not-configured"}, true}, // refused anyway: fail closed
		{Caller{ID: "ip:1", Plan: "free", BudgetUSD: 0}, false},
	} {
		if got := s.Metered(tc.c); got != tc.want {
			t.Errorf("Metered(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
	none := openService(t, &Config{Database: freshDB(t, "sqlite")})
	if none.Metered(Caller{ID: "ip:1"}) {
		t.Error("a caller without a plan is metered")
	}

	c := Caller{ID: "key:k", Plan: "tokens"}
	for path, want := range map[string]bool{
		"files": true, "/files": true, "files/file_1": false, "filesystem": false,
		"vector_stores": false, "vector_stores/": true, "vector_stores/vs_1/files": true,
		"batches": true, "batches/b_1/cancel": true, "images/variations": false, "": false,
	} {
		if got := s.Unmetered(c, path); got != want {
			t.Errorf("Unmetered(%q) = %v, want %v", path, got, want)
		}
	}
	if s.Unmetered(Caller{ID: "ip:1"}, "files") || s.Unmetered(Caller{ID: "ip:1", Plan: "gold"}, "files") ||
		none.Unmetered(Caller{ID: "ip:1"}, "files") {
		t.Error("a plan without unmetered_paths (or no plan) lists a path")
	}
	if p := s.Plans()["tokens"]; len(p.UnmeteredPaths) != 3 {
		t.Errorf("Plans() copy: %+v", p)
	}
}
