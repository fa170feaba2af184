package pricing

import (
	"math"
	"os"
	"strings"
	"testing"
)

// FuzzParse: the loader never panics; what it accepts has finite,
// non-negative prices that its own names find; what it refuses is said
// in an error that names the file.
func FuzzParse(f *testing.F) {
	// Small seeds: the fuzzer mutates them faster than whole files.
	data, err := os.ReadFile("testdata/polygate_prices.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"sample_spec": {"input_cost_per_token": 0.0, "mode": "chat"},
	"claude-sonnet-4-5-20250929": {"cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
		"cache_read_input_token_cost": 3e-07, "input_cost_per_token": 3e-06, "litellm_provider": "anthropic", "mode": "chat", "output_cost_per_token": 1.5e-05},
	"tts-1": {"input_cost_per_character": 1.5e-05, "litellm_provider": "openai", "mode": "audio_speech"},
	"amazon.nova-canvas-v1:0": {"litellm_provider": "bedrock", "mode": "image_generation", "output_cost_per_image": 0.06}}`))
	for _, s := range []string{`{}`, `[]`, `{"a": {"input_cost_per_token": 1e-6}}`, `{"models": {"m": {"input": 1, "aliases": ["n"]}}}`,
		`{"a": {"input_cost_per_token": "1"}}`, `{"a": {"input_cost_per_token": 1e-6}, "a": {}}`, `{"as_of": "2026-01-01", "models": {}}`,
		`{"us.x-v1:0": {"input_cost_per_second": 0.0001, "mode": "audio_transcription"}}`, `{"a": {"input_cost_per_token": 1e308}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.json", data)
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "prices_file fuzz.json: ") {
				t.Fatalf("error %q with catalogue %v", err, c)
			}
			return
		}
		if c.Len() == 0 {
			t.Fatal("an empty catalogue was accepted")
		}
		for _, e := range c.Entries() {
			p := e.Price
			for _, v := range []float64{p.Input, p.Output, p.Cached, p.CacheWrite, p.CacheWrite1h, p.Image, p.AudioMinute, p.TTSChars} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%q: rate %v", e.Model, v)
				}
			}
			if p.IsZero() {
				t.Fatalf("%q: zero price accepted", e.Model)
			}
			if _, ok := c.Find("", e.Model); !ok {
				t.Fatalf("%q does not find itself", e.Model)
			}
		}
		m := Embedded().Merge(c)
		for _, e := range c.Entries() {
			if got, ok := m.Find("", e.Model); !ok || got.Source != "fuzz.json" {
				t.Fatalf("merged: %q found %q from %q", e.Model, got.Model, got.Source)
			}
		}
	})
}

// FuzzFind: any model id is looked up without panicking, and a match is
// an entry whose canonical name is the id's, or a prefix of it ending at
// a separator.
func FuzzFind(f *testing.F) {
	for _, s := range []string{"gpt-4o-2024-08-06", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "models/gemini-2.0-flash-001",
		"claude-3-5-sonnet@20240620", "gpt-4o-mini", "----", "a:0", "global.", "/", "É-001"} {
		f.Add("", s)
		f.Add("bedrock", s)
	}
	c := Embedded()
	f.Fuzz(func(t *testing.T, provider, model string) {
		e, ok := c.Find(provider, model)
		if !ok {
			return
		}
		q := canon(model)
		for _, name := range append([]string{e.Model}, e.Aliases...) {
			k := canon(name)
			if q == k || strings.HasPrefix(q, k) && len(q) > len(k) && isSep(q[len(k)]) {
				return
			}
		}
		t.Fatalf("Find(%q) = %q, whose names are not %q or a prefix of it", model, e.Model, q)
	})
}
