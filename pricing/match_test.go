package pricing

import (
	"strings"
	"testing"

	"github.com/polygate/polygate/providers"
)

// TestLookupEmbedded: upstream model ids in every form a provider names
// them find the entry they are a snapshot or a deployment of, and ids
// that merely start like an entry find nothing or their own entry.
func TestLookupEmbedded(t *testing.T) {
	c := Embedded()
	tests := []struct {
		model, want string // want "" when nothing may match
	}{
		// exact
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o-mini", "gpt-4o-mini"},
		{"claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"GPT-4o", "gpt-4o"},
		// an exact snapshot entry beats its family
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"},
		// dated snapshots
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-2024-11-20", "gpt-4o"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4.1-2025-04-14", "gpt-4.1"},
		{"gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"o1-2024-12-17", "o1"},
		{"o1-mini-2024-09-12", "o1-mini"},
		{"o3-mini-2025-01-31", "o3-mini"},
		{"o4-mini-2025-04-16", "o4-mini"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"gpt-5-mini-2025-08-07", "gpt-5-mini"},
		{"gpt-4-0613", "gpt-4"},
		{"gpt-3.5-turbo-0125", "gpt-3.5-turbo"},
		{"gpt-4o-audio-preview-2024-12-17", "gpt-4o-audio-preview"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-5-haiku-20241022", "claude-3-5-haiku"},
		{"claude-3-7-sonnet-20250219", "claude-3-7-sonnet"},
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet"},
		{"gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"},
		{"gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"},
		{"gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"},
		{"gemini-2.5-pro-preview-05-06", "gemini-2.5-pro"},
		{"gemini-3-pro-preview", "gemini-3-pro"},
		// aliases
		{"claude-opus-4-0", "claude-opus-4"},
		{"claude-sonnet-4-0", "claude-sonnet-4"},
		{"gpt-4-1106-preview", "gpt-4-turbo"},
		{"gpt-5-chat-latest", "gpt-5"},
		// Bedrock: vendor, region and inference-profile prefixes, versions
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet"},
		{"apac.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"},
		{"global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"},
		{"amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"},
		{"us.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"},
		{"eu.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"},
		{"amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2:0"},
		{"amazon.titan-embed-text-v1", "amazon.titan-embed-text-v1"},
		{"cohere.embed-english-v3", "cohere.embed-english-v3"},
		{"us.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"},
		{"meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0"},
		{"mistral.mistral-7b-instruct-v0:2", "mistral.mistral-7b-instruct-v0:2"},
		{"us.deepseek.r1-v1:0", "deepseek.r1-v1:0"},
		// Vertex: publishers paths and "@" versions
		{"claude-3-5-sonnet@20240620", "claude-3-5-sonnet"},
		{"claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"},
		{"claude-sonnet-4-5@20250929", "claude-sonnet-4-5"},
		{"publishers/anthropic/models/claude-opus-4-1@20250805", "claude-opus-4-1"},
		{"projects/p/locations/us-east5/publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"publishers/google/models/gemini-2.0-flash-001", "gemini-2.0-flash"},
		// Gemini API "models/" names
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"},
		// LiteLLM-style provider/model keys
		{"openai/gpt-4o-2024-08-06", "gpt-4o"},
		{"anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"gemini/gemini-2.5-pro", "gemini-2.5-pro"},
		{"bedrock/us.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"},
		// no false prefix: another model, a minor version, a variant
		{"gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts"},
		{"gpt-4o-foo", ""},
		{"gpt-4o2", ""},
		{"gpt-5.3", ""},
		{"gpt-5.1-mini", ""},
		{"claude-opus-4-9", ""},
		{"claude-sonnet-4-9-20270101", ""},
		{"gemini-2.5-flash-native-audio", ""},
		{"gemini-3-pro-image-preview", ""},
		{"o3-mini-high", ""},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", ""},
		{"text-embedding-3-small-v2x", ""},
		{"llama-3.3-70b", ""},
		{"", ""},
		{"-", ""},
		{"gpt-4o-", ""},
		{"gpt-4o--2024", ""},
		{strings.Repeat("a", 600), ""},
	}
	for _, tt := range tests {
		p, got, ok := c.Lookup(tt.model)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.model, got, ok, tt.want)
			continue
		}
		if ok && p.IsZero() {
			t.Errorf("Lookup(%q): zero price", tt.model)
		}
	}
}

// TestLookupKnownRates: the rates of a few well-known models, stated
// here by hand, so that a wrong or empty catalogue fails.
func TestLookupKnownRates(t *testing.T) {
	c := Embedded()
	tests := []struct {
		model string
		want  providers.Price
	}{
		{"gpt-4o-mini-2024-07-18", providers.Price{Input: 0.15, Output: 0.6, Cached: 0.075}},
		{"gpt-4o-2024-08-06", providers.Price{Input: 2.5, Output: 10, Cached: 1.25}},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", providers.Price{Input: 3, Output: 15, Cached: 0.3, CacheWrite: 3.75, CacheWrite1h: 6}},
		{"claude-3-5-haiku-20241022", providers.Price{Input: 0.8, Output: 4, Cached: 0.08, CacheWrite: 1, CacheWrite1h: 1.6}},
		{"gemini-2.0-flash-001", providers.Price{Input: 0.1, Output: 0.4, Cached: 0.025}},
		{"text-embedding-3-small", providers.Price{Input: 0.02}},
		{"amazon.nova-micro-v1:0", providers.Price{Input: 0.035, Output: 0.14, Cached: 0.00875}},
		{"whisper-1", providers.Price{AudioMinute: 0.006}},
	}
	for _, tt := range tests {
		if p, _, _ := c.Lookup(tt.model); p != tt.want {
			t.Errorf("Lookup(%q) = %+v, want %+v", tt.model, p, tt.want)
		}
	}
}

func TestCanon(t *testing.T) {
	tests := map[string]string{
		"GPT-4o":                "gpt-4o",
		"  gpt-4o ":             "gpt-4o",
		"models/gemini-2.5-pro": "gemini-2.5-pro",
		"publishers/google/models/gemini-2.5-pro":     "gemini-2.5-pro",
		"us.anthropic.claude-3-haiku-20240307-v1:0":   "claude-3-haiku-20240307-v1",
		"global.anthropic.claude-sonnet-4-5-v1:0":     "claude-sonnet-4-5-v1",
		"us-gov.anthropic.claude-3-haiku-20240307-v1": "claude-3-haiku-20240307-v1",
		"amazon.titan-embed-text-v2:0":                "amazon.titan-embed-text-v2",
		"claude-3-5-sonnet@20240620":                  "claude-3-5-sonnet-20240620",
		"gpt-4.1":                                     "gpt-4.1",
		"ft:gpt-4o-mini:org::id":                      "ft:gpt-4o-mini:org::id",
		"model:":                                      "model:",
	}
	for in, want := range tests {
		if got := canon(in); got != want {
			t.Errorf("canon(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFindPreferences: among entries of one name, a later layer wins,
// then the exactly named entry, then the provider's family, then the
// shortest name.
func TestFindPreferences(t *testing.T) {
	base := catalogueOf(t, "base", `{"models": {
		"gpt-4o": {"provider": "openai", "input": 2.5, "output": 10},
		"azure/gpt-4o": {"provider": "azure", "input": 2.75, "output": 11},
		"openrouter/openai/gpt-4o": {"provider": "openrouter", "input": 3, "output": 12},
		"OpenAI/GPT-4o": {"input": 9, "output": 9}
	}}`)
	tests := []struct {
		provider, model, want string
	}{
		{"", "gpt-4o", "gpt-4o"},
		{"", "gpt-4o-2024-08-06", "gpt-4o"},
		{"azure", "gpt-4o", "gpt-4o"}, // exactly named beats the family
		{"azure", "gpt-4o-2024-08-06", "azure/gpt-4o"},
		{"azure", "my/gpt-4o", "azure/gpt-4o"},
		{"openrouter", "openai/gpt-4o", "openrouter/openai/gpt-4o"},
		{"", "OpenAI/GPT-4o", "OpenAI/GPT-4o"},
		{"", "openai/gpt-4o", "gpt-4o"},
		{"bedrock", "gpt-4o", "gpt-4o"},
	}
	for _, tt := range tests {
		e, ok := base.Find(tt.provider, tt.model)
		if !ok || e.Model != tt.want {
			t.Errorf("Find(%q, %q) = %q, %v; want %q", tt.provider, tt.model, e.Model, ok, tt.want)
		}
	}

	over := catalogueOf(t, "over", `{"models": {"openai/gpt-4o": {"provider": "openai", "input": 1, "output": 2}, "azure/gpt-4o": {"input": 5, "output": 6}}}`)
	m := base.Merge(over)
	if e, _ := m.Find("openai", "gpt-4o"); e.Model != "openai/gpt-4o" || e.Source != "over" {
		t.Errorf("merged: gpt-4o is %q from %q, want openai/gpt-4o from the later layer", e.Model, e.Source)
	}
	if e, _ := m.Find("", "gpt-4o"); e.Model != "azure/gpt-4o" || e.Source != "over" {
		t.Errorf("merged: gpt-4o is %q from %q, want the shortest name of the later layer", e.Model, e.Source)
	}
	if e, _ := m.Find("azure", "gpt-4o-2024-08-06"); e.Model != "azure/gpt-4o" || e.Price.Input != 5 {
		t.Errorf("merged: an entry of the same name is replaced: got %+v", e)
	}
	if m.Len() != base.Len()+1 {
		t.Errorf("merged Len = %d, want %d (azure/gpt-4o replaced)", m.Len(), base.Len()+1)
	}
	if base.Merge(nil) != base || (*Catalogue)(nil).Merge(over) != over {
		t.Error("merging with nil should return the other catalogue")
	}
	if _, _, ok := (*Catalogue)(nil).Lookup("gpt-4o"); ok {
		t.Error("a nil catalogue priced a model")
	}
}

// TestMergeOverEmbedded: a prices file's entry for a model beats the
// embedded catalogue's, whatever its key form; an alias the file names
// leaves the embedded entry's aliases; the longest name still wins.
func TestMergeOverEmbedded(t *testing.T) {
	over := catalogueOf(t, "file.json", `{"models": {
		"openai/gpt-4o-mini": {"input": 1, "output": 2},
		"claude-opus-4-0": {"input": 7, "output": 8},
		"gpt-4o": {"input": 3, "output": 4}
	}}`)
	m := Embedded().Merge(over)
	tests := []struct {
		model, want, source string
	}{
		{"gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini", "file.json"},
		{"gpt-4o-2024-08-06", "gpt-4o", "file.json"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13", EmbeddedName},
		{"claude-opus-4-0", "claude-opus-4-0", "file.json"},
		{"claude-opus-4-20250514", "claude-opus-4", EmbeddedName},
		{"gpt-4.1", "gpt-4.1", EmbeddedName},
	}
	for _, tt := range tests {
		e, ok := m.Find("", tt.model)
		if !ok || e.Model != tt.want || e.Source != tt.source {
			t.Errorf("Find(%q) = %q from %q, want %q from %q", tt.model, e.Model, e.Source, tt.want, tt.source)
		}
	}
	if got := len(m.Sources()); got != 2 {
		t.Errorf("sources: %d, want 2", got)
	}
	if e, _ := Embedded().Find("", "claude-opus-4-0"); e.Source != EmbeddedName {
		t.Error("merging changed the embedded catalogue")
	}
}

func catalogueOf(t *testing.T, name, js string) *Catalogue {
	t.Helper()
	c, err := Parse(name, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func BenchmarkLookup(b *testing.B) {
	c := Embedded()
	for b.Loop() {
		c.Lookup("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
	}
}
