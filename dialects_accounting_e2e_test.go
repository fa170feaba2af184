package polygate_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	oai "github.com/openai/openai-go/v3/responses"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// TestDialectsAccounted: Responses (native and translated, streamed and
// not), Messages with prompt-cache reads and 5m/1h writes, completions and
// images are recorded with exact tokens and cost, each token kind at its
// own rate; a small budget stops /responses and /completions; a path the
// gateway cannot account is refused to a metered plan unless the plan
// lists it.
func TestDialectsAccounted(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db string) {
		a, claude, oa := newFakeResponsesAPI(t, "a"), newFakeAnthropic(t), gatewaytest.NewFakeOpenAI(t)
		g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		database %s
		auth keys
		default_provider oa
		plan pro {
			budget_per_month 25
			unmetered_paths files
		}
		plan tiny {
			budget_per_month 0.003
		}
		provider a openai {
			base_url %s/v1
			api_key key-a
		}
		provider claude anthropic {
			base_url %s
			api_key key-anthropic
		}
		provider oa openai {
			base_url %s/v1
		}
		model gpt {
			upstream a gpt-5-mini
			price 1 2 cached 0.5
		}
		model gpt-pricey {
			upstream a gpt-5-mini
			price 100 200 cached 50
		}
		model sonnet {
			upstream claude claude-sonnet-4-5
			price 3 15 cached 0.3 cache_write 3.75 cache_write_1h 6
		}
		model text {
			upstream oa davinci-002
			price 100 100
		}
		model img {
			upstream oa gpt-image-1
			price_image 0.04
		}
	}`, db, a.URL, claude.URL, oa.URL))
		_, key := g.CreateKey("pro")
		client := g.OpenAI(option.WithAPIKey(key))
		ctx := t.Context()

		hello := oai.ResponseNewParamsInputUnion{OfString: openaigo.String("hello")}
		for _, model := range []string{"gpt", "sonnet"} {
			if _, err := client.Responses.New(ctx, oai.ResponseNewParams{Model: model, Input: hello}); err != nil {
				t.Fatal(err)
			}
			s := client.Responses.NewStreaming(ctx, oai.ResponseNewParams{Model: model, Input: hello})
			for s.Next() {
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		}
		ac := anthropicClient(g, key)
		if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "sonnet", MaxTokens: 100,
			System:   []anthropic.TextBlockParam{{Text: "long prefix", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Completions.New(ctx, openaigo.CompletionNewParams{Model: "text",
			Prompt: openaigo.CompletionNewParamsPromptUnion{OfString: openaigo.String("hello")}}); err != nil {
			t.Fatal(err)
		}
		cs := client.Completions.NewStreaming(ctx, openaigo.CompletionNewParams{Model: "text",
			Prompt: openaigo.CompletionNewParamsPromptUnion{OfString: openaigo.String("hello")}})
		for cs.Next() {
		}
		if err := cs.Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Images.Generate(ctx, openaigo.ImageGenerateParams{Model: "img", Prompt: "a cat", N: openaigo.Int(2)}); err != nil {
			t.Fatal(err)
		}

		rows := usageBy(g, "model", func(r map[string]usageRow) bool {
			return r["gpt"].Requests == 2 && r["sonnet"].Requests == 3 && r["text"].Requests == 2 && r["img"].Requests == 1
		})
		// gpt: 11 input of which 3 cached, 7 output, twice.
		// sonnet Responses: 20 in, 5 out, twice; Messages: 20 uncached +
		// 100 cache reads + 50 writes (20 of them 1h), 5 out.
		// text: 6 in, 4 out, twice. img: two images.
		want := map[string]usageRow{
			"gpt":    {Requests: 2, InputTokens: 22, OutputTokens: 14, CostUSD: 2 * (8*1 + 3*0.5 + 7*2) / 1e6},
			"sonnet": {Requests: 3, InputTokens: 40 + 170, OutputTokens: 15, CostUSD: 2*(20*3+5*15)/1e6 + (20*3+100*0.3+30*3.75+20*6+5*15)/1e6},
			"text":   {Requests: 2, InputTokens: 12, OutputTokens: 8, CostUSD: 2 * (6*100 + 4*100) / 1e6},
			"img":    {Requests: 1, CostUSD: 0.08},
		}
		for model, w := range want {
			r := rows[model]
			if r.Requests != w.Requests || r.InputTokens != w.InputTokens || r.OutputTokens != w.OutputTokens || math.Abs(r.CostUSD-w.CostUSD) > 1e-12 {
				t.Errorf("%s: usage %+v, want %+v", model, r, w)
			}
		}

		// A path the gateway cannot account: refused to a metered plan
		// unless listed in its unmetered_paths (pro lists files).
		if resp, body := g.DoKey(key, "GET", "/v1/files", "", nil); resp.StatusCode != 200 {
			t.Errorf("GET /v1/files on pro: %d %s", resp.StatusCode, body)
		}
		_, tinyKey := g.CreateKey("tiny")
		if resp, body := g.DoKey(tinyKey, "GET", "/v1/files", "", nil); resp.StatusCode != 403 {
			t.Errorf("GET /v1/files on tiny: %d %s", resp.StatusCode, body)
		}

		// A small budget: one call spends it; the next /responses and
		// /completions are refused before any upstream is called.
		tiny := g.OpenAI(option.WithAPIKey(tinyKey))
		if _, err := tiny.Responses.New(ctx, oai.ResponseNewParams{Model: "gpt-pricey", Input: hello, MaxOutputTokens: openaigo.Int(10)}); err != nil {
			t.Fatal(err)
		}
		before := a.count()
		var apiErr *openaigo.Error
		_, err := tiny.Responses.New(ctx, oai.ResponseNewParams{Model: "gpt-pricey", Input: hello, MaxOutputTokens: openaigo.Int(10)})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 && apiErr.StatusCode != 403 {
			t.Errorf("over budget on /responses: %v", err)
		}
		_, err = tiny.Completions.New(ctx, openaigo.CompletionNewParams{Model: "text", MaxTokens: openaigo.Int(10),
			Prompt: openaigo.CompletionNewParamsPromptUnion{OfString: openaigo.String("hello")}})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 && apiErr.StatusCode != 403 {
			t.Errorf("over budget on /completions: %v", err)
		}
		if a.count() != before {
			t.Errorf("a refused request reached the upstream")
		}
	})
}

// TestTokenBoundThenCount: a prompt whose bytes exceed the plan's token
// limit but whose tokens fit is admitted (counted exactly once its bound
// did not fit), and one whose tokens do not fit is refused.
func TestTokenBoundThenCount(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		default_plan small
		plan small {
			tokens_per_minute 3000
		}
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up gpt-4o-mini
		}
	}`, up.URL))
	ask := func(words int) int {
		prompt := strings.Repeat("hello ", words)
		resp, _ := g.Do("POST", "/v1/chat/completions", "application/json",
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"`+prompt+`"}]}`)
		return resp.StatusCode
	}
	// 1300 words: 7800 bytes, about 1300 tokens.
	if status := ask(1300); status != 200 {
		t.Errorf("a prompt of ~1300 tokens in 7800 bytes under a 3000-token limit: %d", status)
	}
	// 4000 words: about 4000 tokens.
	if status := ask(4000); status != 429 {
		t.Errorf("a prompt of ~4000 tokens under a 3000-token limit: %d", status)
	}
}
