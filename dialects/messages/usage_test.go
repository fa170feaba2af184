package messages

import (
	"testing"

	"github.com/polygate/polygate/openai"
)

// readStreamUsage feeds every event of a recorded stream to a UsageReader.
func readStreamUsage(t *testing.T, sse []byte) (Usage, bool) {
	var r UsageReader
	for _, ev := range parseSSE(t, sse, "") {
		r.Event(ev.data)
	}
	return r.Usage()
}

func TestUsageReader(t *testing.T) {
	tests := []struct {
		name string
		sse  []byte
		want Usage
	}{
		{"anthropic, 1h cache writes", readFile(t, "anthropic_stream_cache.sse"), Usage{InputTokens: 12, OutputTokens: 87, CacheReadInputTokens: 20480, CacheCreationInputTokens: 4096, CacheCreation5mInputTokens: 1024, CacheCreation1hInputTokens: 3072}},
		{"anthropic, input known only in message_delta", readFile(t, "anthropic_stream_late_usage.sse"), Usage{InputTokens: 1530, OutputTokens: 312, CacheReadInputTokens: 2048}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readStreamUsage(t, tt.sse)
			if !ok || got != tt.want {
				t.Errorf("usage %+v (ok %v), want %+v", got, ok, tt.want)
			}
		})
	}
	t.Run("no usage", func(t *testing.T) {
		var r UsageReader
		r.Event([]byte(`{"type":"ping"}`))
		r.Event([]byte(`not json`))
		if _, ok := r.Usage(); ok {
			t.Error("usage reported for a stream without any")
		}
	})
}

// TestUsageReaderReadsTranslatedStreams checks that the usage of a
// translated stream reads back as the hub's usage, 1-hour writes included.
func TestUsageReaderReadsTranslatedStreams(t *testing.T) {
	_, sse := translateStream(t, readFile(t, "stream_thinking_tool.jsonl"), &Info{Model: "m", Thinking: true})
	got, ok := readStreamUsage(t, sse)
	want := Usage{InputTokens: 210, OutputTokens: 187, CacheReadInputTokens: 3000, CacheCreationInputTokens: 2000, CacheCreation5mInputTokens: 500, CacheCreation1hInputTokens: 1500}
	if !ok || got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	whole, _ := ResponseUsage(readFile(t, "resp_thinking_tool.want.json"))
	if whole != want {
		t.Errorf("response usage %+v, want %+v", whole, want)
	}
}

func TestResponseUsage(t *testing.T) {
	got, ok := ResponseUsage(readFile(t, "anthropic_web_search.json"))
	want := Usage{InputTokens: 6039, OutputTokens: 931, CacheCreationInputTokens: 100, CacheCreation5mInputTokens: 100}
	if !ok || got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	if _, ok := ResponseUsage([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`)); ok {
		t.Error("usage reported for an error")
	}
	hub := want.Hub()
	wantHub := &openai.Usage{PromptTokens: 6139, CompletionTokens: 931, TotalTokens: 7070, PromptTokensDetails: &openai.PromptTokensDetails{CacheWriteTokens: 100}}
	if hub.PromptTokens != wantHub.PromptTokens || hub.CompletionTokens != wantHub.CompletionTokens ||
		hub.TotalTokens != wantHub.TotalTokens || *hub.PromptTokensDetails != *wantHub.PromptTokensDetails {
		t.Errorf("hub usage %+v %+v", hub, hub.PromptTokensDetails)
	}
}

// TestUsageFromHubClamps checks that inconsistent hub counts never give
// negative Anthropic counts.
func TestUsageFromHubClamps(t *testing.T) {
	hub := `{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":-1,"prompt_tokens_details":{"cached_tokens":8,"cache_write_tokens":5,"cache_write_1h_tokens":9}}}`
	out, err := TranslateResponse([]byte(hub), &Info{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ResponseUsage(out)
	want := Usage{InputTokens: 0, OutputTokens: 0, CacheReadInputTokens: 8, CacheCreationInputTokens: 5, CacheCreation1hInputTokens: 5}
	if got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
}
