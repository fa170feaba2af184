package console_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// chromiumPath returns the Chromium to drive: $POLYGATE_TEST_CHROMIUM
// (which must exist when set: CI sets it) or /usr/bin/chromium. Without
// either the test is skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("POLYGATE_TEST_CHROMIUM"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			t.Fatalf("POLYGATE_TEST_CHROMIUM=%s: not a browser: %v", p, err)
		}
		return p
	}
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	t.Skip("no Chromium: set POLYGATE_TEST_CHROMIUM or install Debian's chromium (.ci/run does)")
	return ""
}

const (
	consoleUser     = "ops"
	consolePassword = "console-test-password"
)

func browserSite(t *testing.T, upstream, db string) string {
	hash, err := bcrypt.GenerateFromPassword([]byte(consolePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`	route /console/* {
		basic_auth {
			%s %s
		}
		ai_gateway_console {
			refresh 1s
		}
	}
	ai_gateway {
		database sqlite %s {
			flush_interval 100ms
		}
		auth keys
		provider up openai {
			base_url %s/v1
			api_key %s
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
		model broken {
			upstream up broken
			price 1 2
		}
	}`, consoleUser, hash, db, upstream, upstreamKey)
}

// adminJSON calls Caddy's admin API and decodes its answer.
func adminJSON(t *testing.T, g *gatewaytest.Gateway, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, g.Admin+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, data := gatewaytest.RoundTrip(t, req)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(data), out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// waitFor polls cond; the deadline only guards against hanging, it is not
// what is tested.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storeTotals reads the usage table directly: what the page must show.
type storeTotals struct {
	requests int64
	cost     float64
	tokens   int64
	errors   int64
	newest   []string // request IDs, newest first
	statuses map[string]int
}

func readStore(t *testing.T, db *sql.DB) storeTotals {
	t.Helper()
	var st storeTotals
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens + output_tokens), 0),
		COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) FROM polygate_usage`).Scan(&st.requests, &st.cost, &st.tokens, &st.errors); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT request_id, status FROM polygate_usage ORDER BY ts DESC, request_id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	st.statuses = map[string]int{}
	for rows.Next() {
		var id string
		var status int
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		st.newest = append(st.newest, id)
		st.statuses[id] = status
	}
	return st
}

// browser drives one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// eval runs JavaScript in the page and decodes its result.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	waitFor(b.t, what, func() bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	})
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowser drives the console in a real headless Chromium behind
// basic_auth, on a gateway with real traffic, and checks that it shows
// what the store holds, updates itself, manages keys, and talks to no
// host but the gateway.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	up := newFakeOpenAI(t)
	dbPath := filepath.Join(t.TempDir(), "usage.db")
	g := gatewaytest.Start(t, browserSite(t, up.URL, dbPath))

	// A client key; the database is migrated in the background.
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	waitFor(t, "the admin API creates a key", func() bool {
		return adminJSON(t, g, "POST", "/ai_gateway/keys", map[string]any{"name": "checkout-service"}, &created) == http.StatusCreated
	})

	client := g.OpenAI(option.WithAPIKey(created.Key))
	send := func(model string, stream bool, text string) {
		t.Helper()
		params := openaigo.ChatCompletionNewParams{
			Model:    model,
			Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage(text)},
		}
		if stream {
			s := client.Chat.Completions.NewStreaming(context.Background(), params)
			for s.Next() {
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			return
		}
		_, err := client.Chat.Completions.New(context.Background(), params)
		if model == "broken" {
			if err == nil {
				t.Fatal("model broken answered")
			}
			return
		}
		if err != nil {
			t.Fatalf("chat: %v", err)
		}
	}
	for i := range 5 {
		send("gpt-4o-mini", false, strings.Repeat("word ", i+1))
	}
	send("gpt-4o-mini", true, "tell me a story")
	send("gpt-4o-mini", true, "and another one")
	send("broken", false, "this fails upstream")

	store, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, "8 records written", func() bool { return readStore(t, store).requests == 8 })
	st := readStore(t, store)
	if st.errors != 1 || st.cost <= 0 || st.tokens <= 0 {
		t.Fatalf("store: %+v", st)
	}

	// The browser: a fresh profile, nothing it would fetch by itself.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	b := &browser{t: t, ctx: ctx}
	b.do("starting Chromium")

	gw, _ := url.Parse(g.URL)
	var mu sync.Mutex
	var requested []string // every URL the page asked for
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, ev.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(ctx)
	var problems []string
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	// Answer basic_auth's challenge as a person at the browser's login
	// dialog would; refuse any request to another host.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auths := chromedp.Events(ctx, fetch.AuthRequired)
	var challenges int
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			u, _ := url.Parse(ev.Request.URL)
			if u != nil && u.Scheme != "data" && u.Host != gw.Host {
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
				continue
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range auths {
			if err != nil {
				return
			}
			resp := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if strings.HasPrefix(ev.Request.URL, g.URL+"/console/") {
				resp = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
					Username: consoleUser, Password: consolePassword}
				mu.Lock()
				challenges++
				mu.Unlock()
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
		}
	}()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatal(err)
	}

	// Without credentials the console is closed.
	resp, _ := gatewaytest.RoundTrip(t, mustRequest(t, "GET", g.URL+"/console/api/summary"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("console without credentials: %d", resp.StatusCode)
	}

	b.do("loading the console", chromedp.Navigate(g.URL+"/console/"))

	// The totals, the charts and the table show what the store holds.
	b.waitJS("the totals show 8 requests", `document.getElementById("kpi-requests").dataset.value === "8"`)
	b.waitJS("the charts are drawn", `!!document.querySelector("#chart-requests svg rect[data-value]")`)
	if got := eval[float64](b, `Number(document.getElementById("kpi-cost").dataset.value)`); math.Abs(got-st.cost) > 1e-9 {
		t.Errorf("spend shown %v, store %v", got, st.cost)
	}
	if got := eval[int64](b, `Number(document.getElementById("kpi-tokens").dataset.value)`); got != st.tokens {
		t.Errorf("tokens shown %d, store %d", got, st.tokens)
	}
	if got := eval[float64](b, `Number(document.getElementById("kpi-errors").dataset.value)`); math.Abs(got-1.0/8) > 1e-9 {
		t.Errorf("error rate shown %v, want 1/8", got)
	}
	if got := eval[float64](b, `Number(document.querySelector("#chart-requests svg").dataset.total)`); got != 8 {
		t.Errorf("the requests chart sums to %v", got)
	}
	if got := eval[float64](b, `[...document.querySelectorAll("#chart-requests svg rect[data-value]")].reduce((a, r) => a + Number(r.dataset.value), 0)`); got != 8 {
		t.Errorf("the requests chart's bars sum to %v", got)
	}
	if got := eval[float64](b, `Number(document.querySelector("#chart-cost svg").dataset.total)`); math.Abs(got-st.cost) > 1e-9 {
		t.Errorf("the spend chart sums to %v, store %v", got, st.cost)
	}
	if got := eval[float64](b, `Number(document.querySelector("#chart-tokens svg").dataset.total)`); int64(got) != st.tokens {
		t.Errorf("the tokens chart sums to %v, store %d", got, st.tokens)
	}
	if got := eval[int](b, `document.querySelectorAll("#chart-requests svg rect.err").length`); got != 1 {
		t.Errorf("%d error outlines, want 1", got)
	}
	ids := eval[[]string](b, `[...document.querySelectorAll("#recent tbody tr[data-request-id]")].map(r => r.dataset.requestId)`)
	if strings.Join(ids, ",") != strings.Join(st.newest, ",") {
		t.Errorf("recent requests %v, store (newest first) %v", ids, st.newest)
	}
	statuses := eval[[]string](b, `[...document.querySelectorAll("#recent tbody tr[data-request-id]")].map(r => r.children[6].textContent)`)
	for i, id := range ids {
		if i < len(statuses) && statuses[i] != fmt.Sprint(st.statuses[id]) {
			t.Errorf("request %s shows status %s, store %d", id, statuses[i], st.statuses[id])
		}
	}
	if got := eval[string](b, `document.querySelector("#top-caller tbody tr").dataset.group`); got != "key:"+created.ID {
		t.Errorf("top caller %q, want key:%s", got, created.ID)
	}

	// The page updates itself: new traffic shows without a reload.
	loads := eval[int](b, `Number(document.body.dataset.loaded)`)
	send("gpt-4o-mini", false, "one more")
	send("gpt-4o-mini", true, "and a streamed one")
	waitFor(t, "10 records written", func() bool { return readStore(t, store).requests == 10 })
	b.waitJS("the totals show 10 requests", `document.getElementById("kpi-requests").dataset.value === "10"`)
	b.waitJS("the table shows 10 requests", `document.querySelectorAll("#recent tbody tr[data-request-id]").length === 10`)
	if eval[int](b, `Number(document.body.dataset.loaded)`) <= loads {
		t.Error("the page did not poll")
	}
	st = readStore(t, store)
	if got := eval[string](b, `document.querySelector("#recent tbody tr").dataset.requestId`); got != st.newest[0] {
		t.Errorf("newest request shown %s, store %s", got, st.newest[0])
	}

	// Create a key through the form: shown once.
	b.do("creating a key",
		chromedp.SetValue(chromedp.ID("new-name"), "ui-made key"),
		chromedp.SetValue(chromedp.ID("new-budget"), "4"),
		chromedp.Click(chromedp.ID("create-button")),
	)
	b.waitJS("the new key is shown", `document.getElementById("new-key-value").textContent.startsWith("sk-pg-")`)
	newKey := eval[string](b, `document.getElementById("new-key-value").textContent`)
	var keys []struct {
		ID        string  `json:"id"`
		Name      string  `json:"name"`
		Hint      string  `json:"hint"`
		Status    string  `json:"status"`
		BudgetUSD float64 `json:"budget_usd"`
	}
	adminJSON(t, g, "GET", "/ai_gateway/keys", nil, &keys)
	var newID, newHint string
	for _, k := range keys {
		if k.Name == "ui-made key" {
			newID, newHint = k.ID, k.Hint
			if k.BudgetUSD != 4 {
				t.Errorf("created with budget %v, want 4", k.BudgetUSD)
			}
		}
	}
	if newID == "" || !strings.HasSuffix(newHint, newKey[len(newKey)-4:]) {
		t.Fatalf("the store has no such key: %+v", keys)
	}
	hi := openaigo.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")}}
	newClient := g.OpenAI(option.WithAPIKey(newKey))
	if _, err := newClient.Chat.Completions.New(context.Background(), hi); err != nil {
		t.Errorf("the key made in the console does not work: %v", err)
	}
	row := fmt.Sprintf(`document.querySelector('#keys tr[data-key-id=%q]')`, newID)
	b.waitJS("the new key is listed", row+` !== null`)
	if got := eval[string](b, row+`.children[2].textContent`); got != newHint {
		t.Errorf("listed hint %q, want %q", got, newHint)
	}
	if eval[bool](b, `document.getElementById("keys").textContent.includes(`+jsString(newKey)+`)`) {
		t.Error("the key list shows the whole key")
	}
	b.do("dismissing the key", chromedp.Click(chromedp.ID("dismiss-key")))
	if eval[bool](b, `document.documentElement.outerHTML.includes(`+jsString(newKey)+`) || !document.getElementById("new-key").hidden`) {
		t.Error("the key is still in the page after Done")
	}

	// Set its budget, then revoke it, through the table.
	b.do("setting the budget",
		chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`#keys tr[data-key-id=%q] input`, newID)), "2.5"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#keys tr[data-key-id=%q] button.set-budget`, newID))),
	)
	b.waitJS("the budget bar shows 2.5", row+`.querySelector('.budget[data-kind="key"]')?.dataset.limit === "2.5"`)
	keys = nil
	adminJSON(t, g, "GET", "/ai_gateway/keys", nil, &keys)
	for _, k := range keys {
		if k.ID == newID && k.BudgetUSD != 2.5 {
			t.Errorf("stored budget %v, want 2.5", k.BudgetUSD)
		}
	}
	revoke := chromedp.CSS(fmt.Sprintf(`#keys tr[data-key-id=%q] button.revoke`, newID))
	b.do("arming revoke", chromedp.Click(revoke))
	if eval[string](b, row+`.dataset.status`) != "active" {
		t.Fatal("one click revoked the key")
	}
	b.do("confirming revoke", chromedp.Click(revoke))
	b.waitJS("the key is shown revoked", row+`.dataset.status === "revoked"`)
	_, err = newClient.Chat.Completions.New(context.Background(), hi)
	var apiErr *openaigo.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked key: %v", err)
	}

	// A reload never shows the key again.
	b.do("reloading", chromedp.Reload())
	b.waitJS("the page loaded again", row+` !== null && document.body.dataset.loaded >= "1"`)
	if eval[bool](b, `document.documentElement.outerHTML.includes(`+jsString(newKey)+`)`) {
		t.Error("the key is in the page after a reload")
	}

	if os.Getenv("POLYGATE_TEST_SCREENSHOT") != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(os.Getenv("POLYGATE_TEST_SCREENSHOT"), png, 0o644)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if challenges == 0 {
		t.Error("basic_auth never challenged the browser")
	}
	sawAPI := false
	for _, raw := range requested {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "data" && u.Host != gw.Host) {
			t.Errorf("the page requested %s, not on the gateway %s", raw, gw.Host)
		}
		sawAPI = sawAPI || strings.Contains(raw, "/console/api/summary")
	}
	if !sawAPI {
		t.Errorf("no API request recorded: %v", requested)
	}
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
