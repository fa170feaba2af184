package responses

import (
	"os"
	"testing"

	"github.com/tidwall/gjson"
)

func TestResponseUsageFromOpenAI(t *testing.T) {
	b, err := os.ReadFile("testdata/openai/response_web_search.json")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := ResponseUsage(b)
	want := Usage{InputTokens: 8712, CachedTokens: 4096, OutputTokens: 492, ReasoningTokens: 384, TotalTokens: 9204}
	if !ok || u != want {
		t.Errorf("got %+v %v, want %+v", u, ok, want)
	}
	if _, ok := ResponseUsage([]byte(`{"id":"resp_1","usage":null}`)); ok {
		t.Error("usage read from null")
	}
}

// TestEventUsageFromOpenAI: of a stream straight from OpenAI, only the
// terminal event carries usage.
func TestEventUsageFromOpenAI(t *testing.T) {
	b, err := os.ReadFile("testdata/openai/stream_codex.sse")
	if err != nil {
		t.Fatal(err)
	}
	var got []Usage
	for _, ev := range parseSSE(t, b) {
		if u, ok := EventUsage(ev.data); ok {
			if ev.name != "response.completed" {
				t.Errorf("usage in %s", ev.name)
			}
			got = append(got, u)
		}
	}
	want := Usage{InputTokens: 4006, CachedTokens: 3584, OutputTokens: 13, TotalTokens: 4019}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestUsageOfTranslatedAnswers: the readers get back every hub count from
// this package's own Responses and events, the 1-hour cache writes included.
func TestUsageOfTranslatedAnswers(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("completion.json") {
			continue
		}
		hub := gjson.GetBytes(sc.read(t, "completion.json"), "usage")
		want := Usage{
			InputTokens:        hub.Get("prompt_tokens").Int(),
			CachedTokens:       hub.Get("prompt_tokens_details.cached_tokens").Int(),
			CacheWriteTokens:   hub.Get("prompt_tokens_details.cache_write_tokens").Int(),
			CacheWrite1hTokens: hub.Get("prompt_tokens_details.cache_write_1h_tokens").Int(),
			OutputTokens:       hub.Get("completion_tokens").Int(),
			ReasoningTokens:    hub.Get("completion_tokens_details.reasoning_tokens").Int(),
			TotalTokens:        hub.Get("total_tokens").Int(),
		}
		if u, ok := ResponseUsage(sc.read(t, "response.json")); !ok || u != want {
			t.Errorf("%s: response usage %+v, want %+v", sc.name, u, want)
		}
		if !sc.has("events.sse") {
			continue
		}
		events := parseSSE(t, sc.read(t, "events.sse"))
		if u, ok := EventUsage(events[len(events)-1].data); !ok || u != want {
			t.Errorf("%s: event usage %+v, want %+v", sc.name, u, want)
		}
	}
}
