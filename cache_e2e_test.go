package polygate_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func cacheSite(up, db string) string {
	return fmt.Sprintf(`	metrics /metrics
	ai_gateway {
		database %s
		auth keys
		plan pro {
			requests_per_minute 1000
		}
		cache {
			ttl 1m
			max_size 8MiB
			scope key
		}
		provider up openai {
			base_url %s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
		model tools {
			upstream up tools-model
		}
		model embed {
			upstream up text-embedding-3-small
		}
	}`, db, up)
}

// cachedChat sends the same request until the answer comes from the cache
// (stores are asynchronous) and returns the headers of the hit.
func cachedChat(t *testing.T, g *gatewaytest.Gateway, key, body string) (*http.Response, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, text := g.DoKey(key, "POST", "/v1/chat/completions", body, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
		if resp.Header.Get("X-Polygate-Cache") == "HIT" {
			return resp, text
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cache hit; last X-Polygate-Cache = %q", resp.Header.Get("X-Polygate-Cache"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usageRecord is a polygate_usage row.
type usageRecord struct {
	CacheHit    bool
	CostUSD     float64
	InputTokens int64
	Status      int
}

// usageRecords polls the SQLite usage database at path until cond holds
// for the records of a key and model (oldest first), and returns them.
func usageRecords(t *testing.T, path, keyID, model string, cond func([]usageRecord) bool) []usageRecord {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var recs []usageRecord
		rows, err := db.Query(`SELECT cache_hit, cost_usd, input_tokens, status FROM polygate_usage
			WHERE key_id = ? AND model = ? ORDER BY ts, request_id`, keyID, model)
		if err == nil {
			for rows.Next() {
				var r usageRecord
				if err := rows.Scan(&r.CacheHit, &r.CostUSD, &r.InputTokens, &r.Status); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			err = rows.Err()
			rows.Close()
		}
		if err == nil && cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage records of %s/%s: %+v (err %v)", keyID, model, recs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestResponseCache(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	dbPath := filepath.Join(t.TempDir(), "u.db")
	g := gatewaytest.Start(t, cacheSite(up.URL, "sqlite "+dbPath))
	idA, keyA := g.CreateKey("pro")
	_, keyB := g.CreateKey("pro")
	body := `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"cache me"}]}`

	resp, _ := g.DoKey(keyA, "POST", "/v1/chat/completions", body, nil)
	if got := resp.Header.Get("X-Polygate-Cache"); got != "MISS" {
		t.Errorf("first request: X-Polygate-Cache = %q, want MISS", got)
	}
	hit, text := cachedChat(t, g, keyA, body)
	if !strings.Contains(text, "Hello world") || hit.Header.Get("X-Polygate-Provider") != "" && hit.Header.Get("X-Polygate-Provider") != "cache" {
		t.Errorf("hit = %s %v", text, hit.Header)
	}
	// Usage records: the miss cost the model's price, the hit nothing
	// (its tokens are kept).
	recs := usageRecords(t, dbPath, idA, "gpt-4o-mini", func(rs []usageRecord) bool {
		return len(rs) > 0 && rs[len(rs)-1].CacheHit
	})
	t.Logf("usage records: %+v", recs)
	const price = (12*0.15 + 3*0.60) / 1e6
	if miss := recs[0]; miss.CacheHit || miss.Status != 200 || math.Abs(miss.CostUSD-price) > 1e-12 {
		t.Errorf("record of the miss = %+v, want no cache hit and $%g", miss, price)
	}
	for _, r := range recs[1:] {
		if r.CacheHit && (r.CostUSD != 0 || r.Status != 200 || r.InputTokens != 12) {
			t.Errorf("record of a hit = %+v, want status 200, 12 input tokens and no cost", r)
		}
		if !r.CacheHit && math.Abs(r.CostUSD-price) > 1e-12 {
			t.Errorf("record of a miss = %+v, want $%g", r, price)
		}
	}
	calls := up.Count()

	// Key order and whitespace do not matter; stream does not either.
	reordered := `{ "messages":[{"content":"cache me","role":"user"}], "temperature":0, "model":"gpt-4o-mini" }`
	if resp, _ := g.DoKey(keyA, "POST", "/v1/chat/completions", reordered, nil); resp.Header.Get("X-Polygate-Cache") != "HIT" {
		t.Errorf("reordered body missed the cache")
	}
	// Another key does not see A's answers (scope key).
	if resp, _ := g.DoKey(keyB, "POST", "/v1/chat/completions", body, nil); resp.Header.Get("X-Polygate-Cache") != "MISS" {
		t.Errorf("key B got %q, want MISS", resp.Header.Get("X-Polygate-Cache"))
	}
	// Cache-Control: no-cache and no-store bypass the lookup.
	for _, cc := range []string{"no-cache", "no-store"} {
		before := up.Count()
		resp, _ := g.DoKey(keyA, "POST", "/v1/chat/completions", body, http.Header{"Cache-Control": {cc}})
		if resp.Header.Get("X-Polygate-Cache") != "BYPASS" || up.Count() != before+1 {
			t.Errorf("Cache-Control %s: %q, upstream calls +%d", cc, resp.Header.Get("X-Polygate-Cache"), up.Count()-before)
		}
	}
	if up.Count() != calls+3 {
		t.Errorf("upstream calls = %d, want %d (hits must not call it)", up.Count(), calls+3)
	}

	// Non-streamed answer → cache → replayed as a stream to openai-go.
	client := g.OpenAI(option.WithAPIKey(keyA))
	params := openaigo.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Temperature:   openaigo.Float(0),
		Messages:      []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("cache me")},
		StreamOptions: openaigo.ChatCompletionStreamOptionsParam{IncludeUsage: openaigo.Bool(true)},
	}
	var httpResp *http.Response
	s := client.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&httpResp))
	var acc openaigo.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if httpResp.Header.Get("X-Polygate-Cache") != "HIT" || acc.Choices[0].Message.Content != "Hello world" || acc.Usage.TotalTokens != 15 {
		t.Errorf("replay: cache=%q content=%q usage=%d", httpResp.Header.Get("X-Polygate-Cache"), acc.Choices[0].Message.Content, acc.Usage.TotalTokens)
	}

	// Streamed answer with tool calls → cache → streamed and plain hits.
	toolBody := `{"model":"tools","stream":true,"messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`
	g.DoKey(keyA, "POST", "/v1/chat/completions", toolBody, nil)
	_, text = cachedChat(t, g, keyA, toolBody)
	if !strings.Contains(text, `"name":"get_weather"`) || !strings.HasSuffix(text, "data: [DONE]\n\n") {
		t.Errorf("streamed hit = %s", text)
	}
	_, text = cachedChat(t, g, keyA, strings.Replace(toolBody, `"stream":true`, `"stream":false`, 1))
	if !strings.Contains(text, `"arguments":"{\"city\":\"Paris\"}"`) || !strings.Contains(text, `"finish_reason":"tool_calls"`) {
		t.Errorf("plain hit of a streamed answer = %s", text)
	}

	// Embeddings are cached too.
	embBody := `{"model":"embed","input":"hello"}`
	g.DoKey(keyA, "POST", "/v1/embeddings", embBody, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := g.DoKey(keyA, "POST", "/v1/embeddings", embBody, nil)
		if resp.Header.Get("X-Polygate-Cache") == "HIT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("embeddings never hit the cache")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Hits are accounted with zero cost; the metrics count them.
	if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_cache_requests_total{model="gpt-4o-mini",result="hit"}`); got < 3 {
		t.Errorf("cache hits counted = %g", got)
	}
	if got := scrapeValue(t, g.URL+"/metrics", `caddy_ai_gateway_cost_usd_total{model="gpt-4o-mini",provider="up"}`); got <= 0 {
		t.Errorf("cost of misses = %g", got)
	}
}

// TestCacheSurvivesReload: an answer stored before a reload is a hit after.
func TestCacheSurvivesReload(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	site := cacheSite(up.URL, "sqlite "+filepath.Join(t.TempDir(), "u.db"))
	g := gatewaytest.Start(t, site)
	_, key := g.CreateKey("pro")
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"remember me"}]}`
	g.DoKey(key, "POST", "/v1/chat/completions", body, nil)
	cachedChat(t, g, key, body)
	g.Reload(site)
	http.DefaultClient.CloseIdleConnections() // the old server closed them
	if resp, _ := g.DoKey(key, "POST", "/v1/chat/completions", body, nil); resp.Header.Get("X-Polygate-Cache") != "HIT" {
		t.Errorf("after reload: X-Polygate-Cache = %q", resp.Header.Get("X-Polygate-Cache"))
	}
}
