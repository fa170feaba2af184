package pricing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polygate/polygate/providers"
)

// TestLiteLLMSample: LiteLLM's format as it is: per-token costs become
// exact per-million rates, per-second audio per-minute, per-character TTS
// per million characters; sample_spec, per-pixel image costs and zero
// costs are skipped; litellm_provider helps pick among keys of one model.
func TestLiteLLMSample(t *testing.T) {
	c, err := LoadFile("testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]any
	data, _ := os.ReadFile("testdata/litellm_sample.json")
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	skipped := []string{"sample_spec", "standard/1024-x-1024/dall-e-3", "omni-moderation-latest", "ollama/llama3.1"}
	if c.Len() != len(raw)-len(skipped) {
		t.Errorf("Len = %d, want %d", c.Len(), len(raw)-len(skipped))
	}
	for _, name := range skipped {
		for _, e := range c.Entries() {
			if e.Model == name {
				t.Errorf("%q was kept", name)
			}
		}
	}
	for _, e := range c.Entries() {
		if e.Source != "testdata/litellm_sample.json" || e.Provider != raw[e.Model]["litellm_provider"] {
			t.Errorf("%s: source %q provider %q", e.Model, e.Source, e.Provider)
		}
	}

	tests := []struct {
		provider, model, entry string
		want                   providers.Price
	}{
		{"", "gpt-4o-2024-08-06", "gpt-4o", providers.Price{Input: 2.5, Output: 10, Cached: 1.25}},
		{"azure", "gpt-4o", "gpt-4o", providers.Price{Input: 2.5, Output: 10, Cached: 1.25}},
		{"azure", "gpt-4o-2024-08-06", "azure/gpt-4o", providers.Price{Input: 2.75, Output: 11, Cached: 1.25}},
		{"", "ft:gpt-4o-mini-2024-07-18", "ft:gpt-4o-mini-2024-07-18", providers.Price{Input: 0.3, Output: 1.2, Cached: 0.15}},
		{"", "gpt-5-mini", "gpt-5-mini", providers.Price{Input: 0.25, Output: 2, Cached: 0.025}},
		{"", "text-embedding-3-small", "text-embedding-3-small", providers.Price{Input: 0.02}},
		{"", "whisper-1", "whisper-1", providers.Price{AudioMinute: 0.006}},
		{"", "tts-1", "tts-1", providers.Price{TTSChars: 15}},
		{"", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", providers.Price{Input: 3, Output: 15, Cached: 0.3, CacheWrite: 3.75, CacheWrite1h: 6}},
		{"bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", providers.Price{Input: 1, Output: 5, Cached: 0.1, CacheWrite: 1.25}},
		{"bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "bedrock/us-east-1/anthropic.claude-3-haiku-20240307-v1:0", providers.Price{Input: 0.25, Output: 1.25}},
		{"bedrock", "amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0", providers.Price{Input: 0.8, Output: 3.2, Cached: 0.2}},
		{"bedrock", "amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0", providers.Price{Image: 0.06}},
		{"vertex", "claude-opus-4-1@20250805", "vertex_ai/claude-opus-4-1@20250805", providers.Price{Input: 15, Output: 75, Cached: 1.5, CacheWrite: 18.75}},
		{"vertex", "publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash", providers.Price{Input: 0.3, Output: 2.5, Cached: 0.03}},
		{"gemini", "models/gemini-2.5-flash", "gemini/gemini-2.5-flash", providers.Price{Input: 0.3, Output: 2.5, Cached: 0.075}},
		{"", "gemini-2.5-flash", "gemini-2.5-flash", providers.Price{Input: 0.3, Output: 2.5, Cached: 0.03}},
	}
	for _, tt := range tests {
		e, ok := c.Find(tt.provider, tt.model)
		if !ok || e.Model != tt.entry || e.Price != tt.want {
			t.Errorf("Find(%q, %q) = %q %+v, %v; want %q %+v", tt.provider, tt.model, e.Model, e.Price, ok, tt.entry, tt.want)
		}
	}
	if _, ok := c.Find("", "omni-moderation-latest"); ok {
		t.Error("a zero-cost entry priced a model")
	}
}

// TestPerMillionExact: per-token costs become per-million rates equal to
// the decimal number a person would write, not its float product.
func TestPerMillionExact(t *testing.T) {
	tests := map[string]float64{
		"3e-06": 3, "3E-6": 3, "3e-6": 3, "0.000003": 3, "2.5e-06": 2.5, "1e-05": 10, "1.25e-07": 0.125,
		"8.75e-09": 0.00875, "2.1875e-06": 2.1875, "5.46875e-07": 0.546875, "1.1000000000000001e-06": 1.1,
		"2.9999999999999997e-06": 3, "7.5e-08": 0.075, "1.5e-05": 15, "6e-06": 6, "0": 0, "0.0": 0, "1e+2": 1e8,
	}
	for in, want := range tests {
		got, err := scaled(in, perMillion)
		if err != nil || got != want {
			t.Errorf("scaled(%q) = %v, %v; want exactly %v", in, got, err, want)
		}
	}
	if got, _ := scaled("0.0001", perMinute); got != 0.006 {
		t.Errorf("per second 0.0001 = %v per minute, want 0.006", got)
	}
	for _, in := range []string{"1e400", "1e-9999999999999999999", "1e300"} {
		if _, err := scaled(in, perMillion); err == nil {
			t.Errorf("scaled(%q) accepted", in)
		}
	}
}

// TestOwnFormat: Polygate's format with aliases, providers and non-token
// rates, and the JSON the CLI prints reads back the same.
func TestOwnFormat(t *testing.T) {
	c, err := LoadFile("testdata/polygate_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Sources(); len(s) != 1 || s[0].AsOf != "2026-11-15" || s[0].Entries != 3 {
		t.Errorf("sources: %+v", s)
	}
	e, ok := c.Find("", "acme-large-2026-10-01")
	if !ok || e.Model != "acme-large" || e.Provider != "openai" ||
		e.Price != (providers.Price{Input: 4, Output: 16, Cached: 0.4}) {
		t.Errorf("acme-large snapshot: %+v, %v", e, ok)
	}
	if e, ok := c.Find("", "acme-xl"); !ok || e.Model != "acme-large" {
		t.Errorf("alias acme-xl: %+v, %v", e, ok)
	}
	if e, _ := c.Find("", "acme-draw"); e.Price != (providers.Price{Image: 0.05}) {
		t.Errorf("acme-draw: %+v", e.Price)
	}
	if e, _ := c.Find("", "acme-voice"); e.Price != (providers.Price{AudioMinute: 0.01, TTSChars: 20}) {
		t.Errorf("acme-voice: %+v", e.Price)
	}
}

// TestEmbeddedCatalogue: the embedded catalogue is dated, every entry
// finds itself and its aliases, no two names share a canonical form, and
// Anthropic's cache rates follow its multipliers (writes 1.25× and 2× the
// input rate, reads at most 0.1×; Claude 3 Haiku's list rates are its
// own).
func TestEmbeddedCatalogue(t *testing.T) {
	c := Embedded()
	src := c.Sources()
	if len(src) != 1 || src[0].Name != EmbeddedName {
		t.Fatalf("sources: %+v", src)
	}
	asOf, err := time.Parse(time.DateOnly, src[0].AsOf)
	if err != nil || asOf.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || asOf.After(time.Now()) {
		t.Errorf("as_of %q: want a 2026 date not in the future", src[0].AsOf)
	}
	if c.Len() < 100 || c.Len() > 500 {
		t.Errorf("%d entries, want a few hundred at most and more than 100", c.Len())
	}
	canons := map[string]string{}
	families := map[string]int{}
	for _, e := range c.Entries() {
		families[e.Provider]++
		for _, name := range append([]string{e.Model}, e.Aliases...) {
			if other, dup := canons[canon(name)]; dup {
				t.Errorf("%q and %q have the same canonical form", name, other)
			}
			canons[canon(name)] = name
			if got, ok := c.Find("", name); !ok || got.Model != e.Model {
				t.Errorf("Find(%q) = %q, want %q", name, got.Model, e.Model)
			}
		}
		p := e.Price
		if e.Provider == "anthropic" && e.Model != "claude-3-haiku" {
			if p.CacheWrite != p.Input*1.25 || p.CacheWrite1h != p.Input*2 || p.Cached <= 0 || p.Cached > p.Input*0.1+1e-12 {
				t.Errorf("%s: cache rates %+v do not follow Anthropic's multipliers", e.Model, p)
			}
		}
		if p.Cached > p.Input || p.Output > 0 && p.Input == 0 {
			t.Errorf("%s: implausible rates %+v", e.Model, p)
		}
	}
	for _, f := range []string{"openai", "anthropic", "gemini", "bedrock"} {
		if families[f] < 10 {
			t.Errorf("only %d %s entries", families[f], f)
		}
	}
}

// TestLoadErrors: errors name the file and the first bad entry.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"string cost", `{"gpt-ok": {"input_cost_per_token": 1e-6}, "gpt-x": {"input_cost_per_token": "0.1"}, "gpt-y": {"input_cost_per_token": "x"}}`,
			`entry "gpt-x": input_cost_per_token: must be a number`},
		{"negative", `{"gpt-x": {"input_cost_per_token": 1e-6, "output_cost_per_token": -2e-6}}`, `entry "gpt-x": output_cost_per_token: must not be negative`},
		{"bool cost", `{"gpt-x": {"cache_read_input_token_cost": true}}`, `entry "gpt-x": cache_read_input_token_cost: must be a number`},
		{"huge", `{"gpt-x": {"input_cost_per_token": 1e999}}`, `entry "gpt-x": input_cost_per_token: must be a finite number`},
		{"not an object", `{"gpt-x": 3}`, `entry "gpt-x": must be an object`},
		{"array", `[{"model": "gpt-4o"}]`, `not a JSON object: expected Polygate's`},
		{"string", `"prices"`, `not a JSON object`},
		{"syntax", "{\n\"gpt-x\": {\n\"input_cost_per_token\": 1e-6,,\n}}", `invalid JSON at line 3`},
		{"truncated", `{"gpt-x": {"input_cost_per_token": 1e-6`, `invalid JSON`},
		{"trailing", `{"gpt-x": {"input_cost_per_token": 1e-6}} {}`, `more data after the top-level object`},
		{"duplicate", `{"gpt-x": {"input_cost_per_token": 1e-6}, "gpt-x": {"input_cost_per_token": 2e-6}}`, `"gpt-x" defined more than once`},
		{"empty", `{}`, `no entry states a price`},
		{"only zeros", `{"sample_spec": {"input_cost_per_token": 0.0}, "free": {"input_cost_per_token": 0}}`, `no entry states a price`},
		{"empty key", `{"": {"input_cost_per_token": 1e-6}}`, `entry "": a name of 1 to 512 bytes is required`},
		{"own unknown field", `{"as_of": "2026-12-01", "models": {"m": {"input": 1, "inptu": 2}}}`, `entry "m": unknown field "inptu"`},
		{"own string rate", `{"models": {"ok": {"input": 1}, "m": {"input": "1"}}}`, `entry "m": input: must be a number`},
		{"own negative", `{"models": {"m": {"input": 1, "cache_write_1h": -1}}}`, `entry "m": cache_write_1h: must not be negative`},
		{"own no price", `{"models": {"m": {"provider": "openai"}}}`, `entry "m": states no price`},
		{"own bad date", `{"as_of": "December 2026", "models": {"m": {"input": 1}}}`, `as_of "December 2026": must be a date`},
		{"own date type", `{"as_of": 20261201, "models": {"m": {"input": 1}}}`, `as_of: must be a date`},
		{"own no models", `{"as_of": "2026-12-01"}`, `models: required`},
		{"own models array", `{"models": [{"m": {"input": 1}}]}`, `models: must be an object`},
		{"own unknown top field", `{"as_of": "2026-12-01", "modles": {}, "models": {"m": {"input": 1}}}`, `unknown field "modles"`},
		{"own provider type", `{"models": {"m": {"input": 1, "provider": 3}}}`, `entry "m": provider: must be a string`},
		{"own aliases type", `{"models": {"m": {"input": 1, "aliases": "m2"}}}`, `entry "m": aliases: must be a list`},
		{"own alias clash", `{"models": {"m": {"input": 1}, "n": {"input": 2, "aliases": ["m"]}}}`, `entry "n": "m" is already the name or an alias of entry "m"`},
		{"own field twice", `{"models": {"m": {"input": 1, "input": 2}}}`, `entry "m": "input" defined more than once`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".json")
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil {
			t.Errorf("%s: loaded", tt.name)
			continue
		}
		prefix := "prices_file " + path + ": "
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want %q…%q", tt.name, err, prefix, tt.want)
		}
	}

	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadFile(missing); err == nil || err.Error() != "prices_file "+missing+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := LoadFile(big); err == nil || !strings.Contains(err.Error(), "prices_file "+big+": larger than 32 MiB") {
		t.Errorf("big file: %v", err)
	}
}
