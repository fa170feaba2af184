package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/polygate/polygate/console"
	"github.com/polygate/polygate/usage"
)

// keys is api/keys.
type keys struct {
	AuthMode    string `json:"auth_mode"`
	DefaultPlan string `json:"default_plan"`
	Plans       []struct {
		Name           string  `json:"name"`
		BudgetPerDay   float64 `json:"budget_per_day"`
		BudgetPerMonth float64 `json:"budget_per_month"`
	} `json:"plans"`
	Keys []usage.KeyUsage `json:"keys"`
}

func (k keys) find(id string) *usage.KeyUsage {
	for i := range k.Keys {
		if k.Keys[i].ID == id {
			return &k.Keys[i]
		}
	}
	return nil
}

func budgetOf(k *usage.KeyUsage, kind string) *usage.Budget {
	for i := range k.Budgets {
		if k.Budgets[i].Kind == kind {
			return &k.Budgets[i]
		}
	}
	return nil
}

func TestKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db string) {
		srv := server(t, &console.Console{})
		s := openService(t, &usage.Config{Database: db, Auth: &usage.AuthConfig{Mode: usage.AuthKeys},
			DefaultPlan: "free", Plans: map[string]*usage.Plan{
				"free": {BudgetPerMonth: 10, BudgetPerDay: 2},
				"pro":  {RequestsPerMinute: 100},
			}})

		a := call(t, srv, "GET", "/console/api/keys", nil)
		var list keys
		a.decode(t, &list)
		if a.status != 200 || len(list.Keys) != 0 || list.AuthMode != "keys" || list.DefaultPlan != "free" ||
			len(list.Plans) != 2 || list.Plans[0].Name != "free" || list.Plans[0].BudgetPerMonth != 10 || list.Plans[1].Name != "pro" {
			t.Fatalf("empty list: %d %s", a.status, a.body)
		}

		a = call(t, srv, "POST", "/console/api/keys", map[string]any{"name": "billing team", "budget_usd": 5, "expires_at": "2099-01-01"})
		if a.status != http.StatusCreated {
			t.Fatalf("create: %d %s", a.status, a.body)
		}
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		var created struct {
			usage.KeyInfo
			Key string `json:"key"`
		}
		a.decode(t, &created)
		if !strings.HasPrefix(created.Key, usage.KeyPrefix) || created.ID == "" || created.Name != "billing team" ||
			created.BudgetUSD != 5 || created.ExpiresAt == nil || created.ExpiresAt.Year() != 2099 || created.Status != "active" {
			t.Fatalf("created: %s", a.body)
		}
		caller, err := s.Authenticate("Bearer " + created.Key)
		if err != nil || caller.KeyID != created.ID {
			t.Fatalf("the new key does not authenticate: %v", err)
		}

		// Spend of the key this month and day, written as the gateway does.
		before := time.Now().UTC()
		write(t, s, traffic{{Time: before, CallerID: caller.ID, KeyID: caller.KeyID, Model: "m", Provider: "p", Status: 200, CostUSD: 1.25}})

		a = call(t, srv, "GET", "/console/api/keys", nil)
		list = keys{}
		a.decode(t, &list)
		after := time.Now().UTC()
		if strings.Contains(string(a.body), created.Key[len(usage.KeyPrefix):]) {
			t.Fatal("the key list shows the key")
		}
		k := list.find(created.ID)
		if k == nil || k.Hint != usage.KeyPrefix+"..."+created.Key[len(created.Key)-4:] || k.Plan != "" {
			t.Fatalf("listed: %s", a.body)
		}
		sameMonth := before.Month() == after.Month()
		sameDay := sameMonth && before.Day() == after.Day()
		if sameMonth {
			kb, pm := budgetOf(k, "key"), budgetOf(k, "plan_month")
			if !near(k.SpentMonthUSD, 1.25) || kb == nil || kb.LimitUSD != 5 || !near(kb.SpentUSD, 1.25) ||
				pm == nil || pm.Plan != "free" || pm.LimitUSD != 10 || !near(pm.SpentUSD, 1.25) {
				t.Errorf("monthly budgets: %+v", k)
			}
		}
		if sameDay {
			pd := budgetOf(k, "plan_day")
			if !near(k.SpentDayUSD, 1.25) || pd == nil || pd.LimitUSD != 2 || !near(pd.SpentUSD, 1.25) {
				t.Errorf("daily budget: %+v", k)
			}
		}

		// Set and remove the key's budget.
		a = call(t, srv, "PATCH", "/console/api/keys/"+created.ID, map[string]any{"budget_usd": 12.5})
		var info usage.KeyInfo
		a.decode(t, &info)
		if a.status != 200 || info.BudgetUSD != 12.5 {
			t.Fatalf("set budget: %d %s", a.status, a.body)
		}
		if c, err := s.Authenticate(created.Key); err != nil || c.BudgetUSD != 12.5 {
			t.Errorf("the new budget is not enforced at once: %+v %v", c, err)
		}
		a = call(t, srv, "GET", "/console/api/keys", nil)
		list = keys{}
		a.decode(t, &list)
		if kb := budgetOf(list.find(created.ID), "key"); kb == nil || kb.LimitUSD != 12.5 {
			t.Errorf("listed budget after PATCH: %s", a.body)
		}
		a = call(t, srv, "PATCH", "/console/api/keys/"+created.ID, map[string]any{"budget_usd": nil})
		info = usage.KeyInfo{}
		a.decode(t, &info)
		if a.status != 200 || info.BudgetUSD != 0 {
			t.Errorf("remove budget: %d %s", a.status, a.body)
		}

		// Revoke.
		a = call(t, srv, "DELETE", "/console/api/keys/"+created.ID, nil)
		info = usage.KeyInfo{}
		a.decode(t, &info)
		if a.status != 200 || info.Status != "revoked" || info.RevokedAt == nil {
			t.Fatalf("revoke: %d %s", a.status, a.body)
		}
		if _, err := s.Authenticate(created.Key); err == nil {
			t.Error("the revoked key still authenticates")
		}
		a = call(t, srv, "GET", "/console/api/keys", nil)
		list = keys{}
		a.decode(t, &list)
		if k := list.find(created.ID); k == nil || k.Status != "revoked" {
			t.Errorf("listed after revoke: %s", a.body)
		}

		// A key on a plan without budgets has only its own.
		a = call(t, srv, "POST", "/console/api/keys", map[string]any{"name": "pro app", "plan": "pro"})
		a.decode(t, &created)
		a = call(t, srv, "GET", "/console/api/keys", nil)
		list = keys{}
		a.decode(t, &list)
		if k := list.find(created.ID); k == nil || k.Plan != "pro" || len(k.Budgets) != 0 {
			t.Errorf("pro key: %s", a.body)
		}

		// Bad input.
		for _, tc := range []struct {
			method, path string
			body         any
			status       int
		}{
			{"POST", "/console/api/keys", map[string]any{"plan": "pro"}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": "x", "plan": "gold"}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": "x", "budget_usd": -1}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": "x", "expires_at": "2001-01-01"}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": "x", "expires_at": "soon"}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": "x", "colour": "red"}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": strings.Repeat("n", 201)}, 400},
			{"POST", "/console/api/keys", map[string]any{"name": strings.Repeat("n", 70<<10)}, http.StatusRequestEntityTooLarge},
			{"PATCH", "/console/api/keys/" + created.ID, map[string]any{"budget_usd": -2}, 400},
			{"PATCH", "/console/api/keys/" + created.ID, map[string]any{"budget_usd": "lots"}, 400},
			{"PATCH", "/console/api/keys/" + created.ID, map[string]any{}, 400},
			{"PATCH", "/console/api/keys/key_unknown", map[string]any{"budget_usd": 1}, 404},
			{"DELETE", "/console/api/keys/key_unknown", nil, 404},
		} {
			a := call(t, srv, tc.method, tc.path, tc.body)
			if a.status != tc.status {
				t.Errorf("%s %s %v: %d %s, want %d", tc.method, tc.path, tc.body, a.status, a.body, tc.status)
				continue
			}
			a.errorMessage(t)
		}
		a = call(t, srv, "GET", "/console/api/keys", nil)
		list = keys{}
		a.decode(t, &list)
		if len(list.Keys) != 2 {
			t.Errorf("bad requests created keys: %s", a.body)
		}
	})
}

// TestCSRF checks that requests which change keys need the console's
// header and a JSON body: a cross-site form can send neither.
func TestCSRF(t *testing.T) {
	srv := server(t, &console.Console{})
	s := openService(t, &usage.Config{Database: "sqlite://" + t.TempDir() + "/usage.db"})
	info, _, err := s.CreateKey(t.Context(), usage.KeySpec{Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	body := func() *strings.Reader { return strings.NewReader(`{"name":"evil"}`) }
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header http.Header
		body   *strings.Reader
		status int
	}{
		{"form post", "POST", "/console/api/keys", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader("name=evil"), 403},
		{"JSON without header", "POST", "/console/api/keys", http.Header{"Content-Type": {"application/json"}}, body(), 403},
		{"wrong header value", "POST", "/console/api/keys", http.Header{"Content-Type": {"application/json"}, console.CSRFHeader: {"yes"}}, body(), 403},
		{"cross-site", "POST", "/console/api/keys", http.Header{"Content-Type": {"application/json"}, console.CSRFHeader: {"1"}, "Sec-Fetch-Site": {"cross-site"}}, body(), 403},
		{"header with a form body", "POST", "/console/api/keys", http.Header{"Content-Type": {"text/plain"}, console.CSRFHeader: {"1"}}, body(), 415},
		{"revoke without header", "DELETE", "/console/api/keys/" + info.ID, http.Header{}, strings.NewReader(""), 403},
		{"budget without header", "PATCH", "/console/api/keys/" + info.ID, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(`{"budget_usd":1}`), 403},
	} {
		a := raw(t, srv, tc.method, tc.path, tc.header, tc.body)
		if a.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.status)
			continue
		}
		a.errorMessage(t)
	}
	list, err := s.Keys(t.Context())
	if err != nil || len(list) != 1 || list[0].Status != "active" || list[0].BudgetUSD != 0 {
		t.Errorf("refused requests changed keys: %+v %v", list, err)
	}
	// The same request with the header and JSON passes (same-origin fetch).
	a := raw(t, srv, "POST", "/console/api/keys", http.Header{"Content-Type": {"application/json; charset=utf-8"},
		console.CSRFHeader: {"1"}, "Sec-Fetch-Site": {"same-origin"}}, body())
	if a.status != http.StatusCreated {
		t.Errorf("same-origin create: %d %s", a.status, a.body)
	}
}
