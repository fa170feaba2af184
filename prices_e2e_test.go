package polygate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	openaigo "github.com/openai/openai-go/v3"
	"github.com/spf13/cobra"

	"github.com/polygate/polygate/internal/gatewaytest"
	"github.com/polygate/polygate/pricing"
)

// pricedUpstream is an OpenAI stand-in that checks the key and the model
// and reports 1000 prompt tokens (200 of them cached) and 500 completion
// tokens on every answer.
func pricedUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-priced" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`)
			return
		}
		var req struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" || r.URL.Path != "/v1/chat/completions" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"model is required","type":"invalid_request_error"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-p","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":200}}}`, req.Model)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// costOf is what 1000 prompt tokens, 200 of them cached, and 500
// completion tokens cost at p, computed here from the rates.
func costOf(p struct{ in, cached, out float64 }) float64 {
	return (800*p.in + 200*p.cached + 500*p.out) / 1e6
}

func TestCataloguePrices(t *testing.T) {
	litellm, err := filepath.Abs("pricing/testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	// The embedded catalogue prices gpt-4.1 and its dated snapshots; the
	// LiteLLM file prices a fine-tuned id the catalogue cannot know.
	cat, ok := pricing.Embedded().Find("openai", "gpt-4.1-2025-04-14")
	if !ok || cat.Model != "gpt-4.1" || cat.Price.Input == 0 || cat.Price.Output == 0 || cat.Price.Cached == 0 {
		t.Fatalf("catalogue entry for gpt-4.1-2025-04-14 = %+v, %v; want gpt-4.1 with input, output and cached rates", cat, ok)
	}
	if _, ok := pricing.Embedded().Find("openai", "ft:gpt-4o-mini-2024-07-18"); ok {
		t.Fatal("the embedded catalogue prices the fine-tuned id: pick another for the file's test")
	}
	// The file's rates, read here from the file as LiteLLM writes them
	// (USD per token).
	var file map[string]struct {
		In     float64 `json:"input_cost_per_token"`
		Out    float64 `json:"output_cost_per_token"`
		Cached float64 `json:"cache_read_input_token_cost"`
	}
	data, err := os.ReadFile(litellm)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	ft := file["ft:gpt-4o-mini-2024-07-18"]
	if ft.In == 0 || ft.Out == 0 || ft.Cached == 0 {
		t.Fatalf("the LiteLLM sample lost its fine-tuned entry: %+v", ft)
	}

	forEachDatabase(t, func(t *testing.T, db string) {
		up := pricedUpstream(t)
		site := fmt.Sprintf(`	ai_gateway {
		database %s
		prices_file %s
		provider up openai {
			base_url %s/v1
			api_key sk-priced
		}
		model snapshot {
			upstream up gpt-4.1-2025-04-14
		}
		model tuned {
			upstream up ft:gpt-4o-mini-2024-07-18
		}
		model lined {
			upstream up gpt-4.1-2025-04-14
			price 1 2 cached 0.5
		}
		model unknown {
			upstream up acme-unpriced-9
		}
	}`, db, litellm, up.URL)
		g := gatewaytest.Start(t, site)
		client := g.OpenAI()
		for _, model := range []string{"snapshot", "tuned", "lined", "unknown", "up/gpt-4.1-2025-04-14"} {
			_, err := client.Chat.Completions.New(context.Background(), openaigo.ChatCompletionNewParams{
				Model:    model,
				Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("price me")},
			})
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
		}
		rows := usageBy(g, "model", func(r map[string]usageRow) bool { return len(r) >= 5 })
		type rates = struct{ in, cached, out float64 }
		want := map[string]float64{
			"snapshot":              costOf(rates{cat.Price.Input, cat.Price.Cached, cat.Price.Output}),
			"up/gpt-4.1-2025-04-14": costOf(rates{cat.Price.Input, cat.Price.Cached, cat.Price.Output}),
			"tuned":                 costOf(rates{ft.In * 1e6, ft.Cached * 1e6, ft.Out * 1e6}),
			"lined":                 costOf(rates{1, 0.5, 2}),
			"unknown":               0,
		}
		for model, cost := range want {
			r := rows[model]
			if r.Requests != 1 || r.InputTokens != 1000 || r.OutputTokens != 500 || math.Abs(r.CostUSD-cost) > 1e-12 {
				t.Errorf("%s: usage = %+v, want 1 request, 1000/500 tokens, $%g", model, r, cost)
			}
		}

		// caddy ai-gateway prices reads the same config and says where
		// each price comes from.
		dir := t.TempDir()
		cf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(cf, []byte(":0 {\n"+site+"\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for model, wants := range map[string][]string{
			"snapshot": {"upstream up gpt-4.1-2025-04-14 matches gpt-4.1 (catalogue as of"},
			"tuned":    {"matches ft:gpt-4o-mini-2024-07-18 (prices_file " + litellm},
			"lined":    {"lined is priced by its price line in " + cf, "cached"},
			"unknown":  {"upstream up acme-unpriced-9: no price matches"},
			// Not a config model: an upstream id, matched in the file over
			// the catalogue.
			"claude-sonnet-4-5@20250929": {"claude-sonnet-4-5@20250929 matches claude-sonnet-4-5-20250929 (prices_file " + litellm},
			"acme-nothing-1":             {}, // matches nothing: an error
		} {
			out, err := runPricesCommand(t, "prices", model, "--config", cf)
			if len(wants) == 0 {
				if err == nil {
					t.Errorf("prices %s: no error, output %q", model, out)
				}
				continue
			}
			if err != nil {
				t.Errorf("prices %s: %v", model, err)
			}
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("prices %s: output %q lacks %q", model, out, w)
				}
			}
		}
	})
}

// runPricesCommand runs `caddy ai-gateway <args>` in-process.
func runPricesCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c, ok := caddycmd.Commands()["ai-gateway"]
	if !ok {
		t.Fatal("the ai-gateway command is not registered")
	}
	cmd := &cobra.Command{Use: c.Name, SilenceUsage: true, SilenceErrors: true}
	c.CobraFunc(cmd)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestPricesFileBad(t *testing.T) {
	dir := t.TempDir()
	// The CLI with a config that cannot be read says so.
	if out, err := runPricesCommand(t, "prices", "gpt-4o", "--config", filepath.Join(dir, "Caddyfile")); err == nil {
		t.Errorf("prices --config with a missing file: no error, output %q", out)
	}
	bad := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(bad, []byte(`{"gpt-4o":{"input_cost_per_token":2.5e-6,"output_cost_per_token":1e-5},"acme-x":{"input_cost_per_token":"cheap"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{bad, "acme-x"},
		{filepath.Join(dir, "missing.json"), "no such file"},
	} {
		err := validateCaddyfile(t, ":0 {\n\tai_gateway {\n\t\taccounting off\n\t\tprices_file "+tc.path+"\n\t}\n}\n")
		if err == nil || !strings.Contains(err.Error(), "prices_file "+tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate with prices_file %s: error = %v, want it to name the file and %q", tc.path, err, tc.want)
		}
	}
}
