package polygate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"golang.org/x/crypto/bcrypt"
)

// forEachDatabase runs fn with the `database` setting of a fresh SQLite
// file and, when POLYGATE_TEST_POSTGRES is set, of a fresh PostgreSQL
// schema.
func forEachDatabase(t *testing.T, fn func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite "+filepath.Join(t.TempDir(), "usage.db")) })
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("POLYGATE_TEST_POSTGRES")
		if base == "" {
			t.Skip("POLYGATE_TEST_POSTGRES not set (eval \"$(bash .ci/postgres.sh)\")")
		}
		b := make([]byte, 5)
		_, _ = rand.Read(b)
		schema := "e2e_" + hex.EncodeToString(b)
		admin, err := sql.Open("postgres", base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		})
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		fn(t, u.String())
	})
}

func accountingSite(up, db string) string {
	return fmt.Sprintf(`	ai_gateway {
		database %s
		auth keys
		default_plan free
		plan free {
			requests_per_minute 3
			models gpt-4o-mini
		}
		plan pro {
			requests_per_minute 1000
			tokens_per_day 2000000
			budget_per_month 25
		}
		provider up openai {
			base_url %s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
		model echo {
			upstream up echo
			price 1 2
		}
		model hang {
			upstream up hang-stream
		}
	}`, db, up)
}

type usageRow struct {
	Group        string  `json:"group"`
	Requests     int64   `json:"requests"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// usageBy polls the usage report until cond holds for it.
func usageBy(g *gatewaytest.Gateway, groupBy string, cond func(map[string]usageRow) bool) map[string]usageRow {
	g.T.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var report struct{ Rows []usageRow }
		g.AdminJSON("GET", "/ai_gateway/usage?group_by="+groupBy, nil, &report)
		rows := map[string]usageRow{}
		for _, r := range report.Rows {
			rows[r.Group] = r
		}
		if cond(rows) || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVirtualKeys(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		g := gatewaytest.Start(t, accountingSite(up.URL, db))
		id, key := g.CreateKey("pro")
		if !strings.HasPrefix(key, "sk-") {
			t.Fatalf("key = %q", key)
		}
		client := g.OpenAI(option.WithAPIKey(key))
		chat := func(c openaigo.Client) error {
			_, err := c.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
			})
			return err
		}
		if err := chat(client); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(fmt.Sprint(up.Last().Header), key) {
			t.Error("the virtual key reached the upstream")
		}
		// Missing, malformed and unknown keys get the same 401.
		var bodies []string
		for _, auth := range []string{"", "Basic abc", "Bearer sk-pg-unknownkeyunknownkeyunknownkey12", "Bearer " + key + "x"} {
			req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[]}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			gatewaytest.ExpectOpenAIError(t, resp, string(b), 401, "invalid_request_error", "invalid_api_key")
			bodies = append(bodies, string(b))
		}
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Errorf("401 bodies differ: %s vs %s", b, bodies[0])
			}
		}
		// Revocation is honoured within seconds.
		if status := g.AdminJSON("DELETE", "/ai_gateway/keys/"+id, nil, nil); status != 200 {
			t.Fatalf("revoke: %d", status)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := chat(client)
			var apiErr *openaigo.Error
			if errors.As(err, &apiErr) && apiErr.StatusCode == 401 && apiErr.Code == "invalid_api_key" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked key still works: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestPlanLimits(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		g := gatewaytest.Start(t, accountingSite(up.URL, db))
		_, key := g.CreateKey("free")
		do := func(model string) (*http.Response, string) {
			req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			return gatewaytest.RoundTrip(t, req)
		}
		// A model outside the plan: 403, provider not called.
		before := up.Count()
		resp, body := do("echo")
		gatewaytest.ExpectOpenAIError(t, resp, body, 403, "", "model_not_allowed")
		if up.Count() != before {
			t.Error("the provider was called for a model outside the plan")
		}
		for i := 0; i < 3; i++ {
			resp, body := do("gpt-4o-mini")
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != strconv.Itoa(2-i) {
				t.Errorf("request %d: x-ratelimit-remaining-requests = %q", i, got)
			}
			if resp.Header.Get("X-Ratelimit-Limit-Requests") != "3" || resp.Header.Get("X-Ratelimit-Reset-Requests") == "" {
				t.Errorf("rate-limit headers = %v", resp.Header)
			}
		}
		resp, body = do("gpt-4o-mini")
		gatewaytest.ExpectOpenAIError(t, resp, body, 429, "", "rate_limit_exceeded")
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
		}
	})
}

// TestAccountingExact checks that non-streamed and streamed calls are
// recorded with the upstream's usage and the model's price, that the
// usage chunk the gateway asked for is hidden from clients that did not,
// and that a stream cut off without usage is counted with the tokenizer.
func TestAccountingExact(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		g := gatewaytest.Start(t, accountingSite(up.URL, db))
		_, key := g.CreateKey("pro")
		client := g.OpenAI(option.WithAPIKey(key))
		params := openaigo.ChatCompletionNewParams{
			Model:    "echo",
			Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("count me exactly")},
		}
		if _, err := client.Chat.Completions.New(context.Background(), params); err != nil {
			t.Fatal(err)
		}
		s := client.Chat.Completions.NewStreaming(context.Background(), params)
		for s.Next() {
			if s.Current().Usage.TotalTokens != 0 {
				t.Error("the client saw a usage chunk it did not ask for")
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		// The echo upstream reports 5 input and 7 output tokens per call.
		rows := usageBy(g, "model", func(r map[string]usageRow) bool { return r["echo"].Requests == 2 })
		want := 2 * (5*1.0 + 7*2.0) / 1e6
		if r := rows["echo"]; r.Requests != 2 || r.InputTokens != 10 || r.OutputTokens != 14 || r.CostUSD < want-1e-12 || r.CostUSD > want+1e-12 {
			t.Errorf("usage = %+v, want 2 requests, 10/14 tokens, $%g", r, want)
		}

		// A stream the client abandons before any usage arrives is still
		// recorded, its output counted with the tokenizer.
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"hang","stream":true,"messages":[{"role":"user","content":"hello there"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32)
		_, _ = resp.Body.Read(buf)
		cancel()
		resp.Body.Close()
		rows = usageBy(g, "model", func(r map[string]usageRow) bool { return r["hang"].Requests == 1 })
		if r := rows["hang"]; r.Requests != 1 || r.OutputTokens < 1 {
			t.Errorf("cut-off stream usage = %+v, want 1 request with the sent output counted", r)
		}
	})
}

// TestReloadUnderLoadLosesNothing reloads the config while requests are
// in flight: every answered request (429s of the plan included) must be
// recorded exactly once; a request cut off by the reload may be recorded
// (the gateway served it) but nothing more.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		site := accountingSite(up.URL, db)
		g := gatewaytest.Start(t, site)
		_, key := g.CreateKey("pro")
		var answered, cut atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		port := strings.TrimPrefix(g.URL, "http://127.0.0.1:")
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("POST", "http://127.0.0.1:"+port+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						cut.Add(1) // the old server may close the connection
						continue
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode == 200 && !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
						cut.Add(1)
						continue
					}
					answered.Add(1)
				}
			}()
		}
		for i := 0; i < 3; i++ {
			time.Sleep(300 * time.Millisecond)
			g.Reload(site)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		wg.Wait()
		n, c := answered.Load(), cut.Load()
		if n < 10 {
			t.Fatalf("only %d requests were answered", n)
		}
		rows := usageBy(g, "model", func(r map[string]usageRow) bool { return r["gpt-4o-mini"].Requests >= n })
		if got := rows["gpt-4o-mini"].Requests; got < n || got > n+c {
			t.Errorf("recorded %d requests; %d were answered and %d cut off", got, n, c)
		}
		t.Logf("%d answered, %d cut off by reloads, %d recorded", n, c, rows["gpt-4o-mini"].Requests)
	})
}

// TestBudgetUnderConcurrency sends 200 concurrent requests against a
// budget that covers only some of them: what was spent must stay within
// the budget (one instance admits nothing past a limit).
func TestBudgetUnderConcurrency(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		const budget = 0.0005
		g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		database %s
		auth keys
		plan tight {
			budget_per_day %g
		}
		provider up openai {
			base_url %s/v1
		}
		model echo {
			upstream up echo
			price 1 2
		}
	}`, db, budget, up.URL))
		_, key := g.CreateKey("tight")
		var wg sync.WaitGroup
		var okCount, limited atomic.Int64
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"echo","max_tokens":20,"messages":[{"role":"user","content":"spend a little"}]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					okCount.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d", resp.StatusCode)
				}
			}()
		}
		wg.Wait()
		if okCount.Load() == 0 || limited.Load() == 0 {
			t.Fatalf("%d succeeded and %d were limited; want both", okCount.Load(), limited.Load())
		}
		rows := usageBy(g, "model", func(r map[string]usageRow) bool { return r["echo"].Requests == 200 })
		spent := rows["echo"].CostUSD
		if rows["echo"].Requests != 200 {
			t.Fatalf("recorded %d of 200 requests", rows["echo"].Requests)
		}
		if spent > budget+1e-12 {
			t.Errorf("spent $%g of a $%g budget", spent, budget)
		}
		if want := float64(okCount.Load()) * (5*1 + 7*2) / 1e6; spent < want-1e-12 || spent > want+1e-12 {
			t.Errorf("spent $%g, want $%g for %d answered requests", spent, want, okCount.Load())
		}
		t.Logf("%d answered, %d limited, $%g of $%g spent", okCount.Load(), limited.Load(), spent, budget)
	})
}

// TestIdentityAuth: with `auth identity`, the caller is the user Caddy's
// basic_auth established and the plan comes from a placeholder. Users are
// separate callers for limits and usage; an unknown plan is a 403.
func TestIdentityAuth(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		up := gatewaytest.NewFakeOpenAI(t)
		const password = "correct horse"
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		g := gatewaytest.Start(t, fmt.Sprintf(`	basic_auth {
		alice %[1]s
		bob %[1]s
		carol %[1]s
	}
	ai_gateway {
		database %[2]s
		auth identity {http.auth.user.id} plan {http.request.header.X-Plan}
		plan one {
			requests_per_minute 1
		}
		plan many {
			requests_per_minute 1000
		}
		provider up openai {
			base_url %[3]s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
	}`, hash, db, up.URL))
		send := func(user, pass, plan string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Content-Type", "application/json")
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			if plan != "" {
				req.Header.Set("X-Plan", plan)
			}
			return gatewaytest.RoundTrip(t, req)
		}
		// basic_auth refuses strangers before the gateway runs.
		before := up.Count()
		for _, who := range [][2]string{{"", ""}, {"alice", "wrong"}, {"mallory", password}} {
			if resp, body := send(who[0], who[1], "one"); resp.StatusCode != 401 {
				t.Errorf("user %q, password %q: %d %s, want 401", who[0], who[1], resp.StatusCode, body)
			}
		}

		// Plan "one" allows one request per minute per user: alice's second
		// request is refused, bob's first still passes.
		if resp, body := send("alice", password, "one"); resp.StatusCode != 200 {
			t.Fatalf("alice: %d %s", resp.StatusCode, body)
		}
		resp, body := send("alice", password, "one")
		gatewaytest.ExpectOpenAIError(t, resp, body, 429, "", "rate_limit_exceeded")
		if resp, body := send("bob", password, "one"); resp.StatusCode != 200 {
			t.Fatalf("bob after alice's 429: %d %s", resp.StatusCode, body)
		}
		// The plan placeholder is resolved per request.
		if resp, body := send("alice", password, "many"); resp.StatusCode != 200 {
			t.Fatalf("alice on plan many: %d %s", resp.StatusCode, body)
		}
		// A plan the gateway does not have: 403 in OpenAI's shape.
		resp, body = send("carol", password, "gold")
		e := gatewaytest.ExpectOpenAIError(t, resp, body, 403, "invalid_request_error", "invalid_plan")
		if !strings.Contains(e.Error.Message, `"gold"`) {
			t.Errorf("403 message = %q, want it to name the plan", e.Error.Message)
		}
		if got := up.Count() - before; got != 3 {
			t.Errorf("upstream calls = %d, want 3 (refused requests must not reach it)", got)
		}

		// Usage is recorded per user, 429s included.
		rows := usageBy(g, "caller", func(r map[string]usageRow) bool {
			return r["user:alice"].Requests == 3 && r["user:bob"].Requests == 1
		})
		const one = 3.6e-6 // 12 × 0.15 + 3 × 0.60 USD per million
		for who, want := range map[string]usageRow{
			"user:alice": {Requests: 3, InputTokens: 24, OutputTokens: 6, CostUSD: 2 * one},
			"user:bob":   {Requests: 1, InputTokens: 12, OutputTokens: 3, CostUSD: one},
		} {
			got := rows[who]
			if got.Requests != want.Requests || got.InputTokens != want.InputTokens || got.OutputTokens != want.OutputTokens ||
				got.CostUSD < want.CostUSD-1e-12 || got.CostUSD > want.CostUSD+1e-12 {
				t.Errorf("usage of %s = %+v, want %+v", who, got, want)
			}
		}
		for name, r := range rows {
			if name != "user:alice" && name != "user:bob" && (r.InputTokens != 0 || r.OutputTokens != 0 || r.CostUSD != 0) {
				t.Errorf("unexpected usage row %s: %+v", name, r)
			}
		}
	})
}

// TestDatabaseDownAtStart: the gateway starts and serves when its
// database cannot be reached, and says so in the log without the
// database's password.
func TestDatabaseDownAtStart(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	const password = "hunter2-db-secret"
	g, logFile := gatewaytest.StartLogged(t, fmt.Sprintf(`	ai_gateway {
		database postgres://nobody:%s@127.0.0.1:1/none?sslmode=disable&connect_timeout=1
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up x
		}
	}`, password, up.URL))
	chatOK(t, g, "m", false)
	chatOK(t, g, "m", true)

	line, all := gatewaytest.WaitLog(t, logFile, func(l map[string]any) bool {
		msg, _ := l["msg"].(string)
		return l["level"] == "warn" && strings.Contains(msg, "database") &&
			(strings.Contains(msg, "unreachable") || strings.Contains(msg, "not ready"))
	})
	t.Logf("warning: %v", line)
	if db, _ := line["database"].(string); !strings.Contains(db, "127.0.0.1:1") {
		t.Errorf("the warning does not name the database: %v", line)
	}
	if strings.Contains(all, password) {
		t.Errorf("the log holds the database password:\n%s", all)
	}
}
