package messages

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// Usage is token usage in Anthropic's terms. InputTokens counts only the
// input that was neither read from nor written to the prompt cache; the
// total input is InputTokens + CacheReadInputTokens +
// CacheCreationInputTokens. CacheCreationInputTokens is split by the
// cache entry's lifetime into CacheCreation5mInputTokens and
// CacheCreation1hInputTokens.
type Usage struct {
	InputTokens                int64
	OutputTokens               int64
	CacheReadInputTokens       int64
	CacheCreationInputTokens   int64
	CacheCreation5mInputTokens int64
	CacheCreation1hInputTokens int64
}

// Hub returns u in the hub's terms: prompt_tokens counts every input token,
// cached_tokens the cache reads, cache_write_tokens the cache writes.
// (openai.Usage has no member for the 1-hour part of the writes; it is
// CacheCreation1hInputTokens here.)
func (u Usage) Hub() *openai.Usage {
	prompt := int(u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens)
	return &openai.Usage{
		PromptTokens:     prompt,
		CompletionTokens: int(u.OutputTokens),
		TotalTokens:      prompt + int(u.OutputTokens),
		PromptTokensDetails: &openai.PromptTokensDetails{
			CachedTokens:     int(u.CacheReadInputTokens),
			CacheWriteTokens: int(u.CacheCreationInputTokens),
		},
	}
}

// usageFromHub reads a hub usage object: input_tokens is prompt_tokens
// less the cache reads and writes, the 1-hour writes are
// prompt_tokens_details.cache_write_1h_tokens and the rest of the writes
// 5-minute ones. Counts are clamped so that none is negative.
func usageFromHub(u gjson.Result) Usage {
	d := u.Get("prompt_tokens_details")
	read := nonNegative(d.Get("cached_tokens").Int())
	write := nonNegative(d.Get("cache_write_tokens").Int())
	write1h := min(nonNegative(d.Get("cache_write_1h_tokens").Int()), write)
	return Usage{
		InputTokens:                nonNegative(u.Get("prompt_tokens").Int() - read - write),
		OutputTokens:               nonNegative(u.Get("completion_tokens").Int()),
		CacheReadInputTokens:       read,
		CacheCreationInputTokens:   write,
		CacheCreation5mInputTokens: write - write1h,
		CacheCreation1hInputTokens: write1h,
	}
}

func nonNegative(n int64) int64 { return max(n, 0) }

// appendUsage appends u as a Messages usage object: input_tokens,
// cache_creation_input_tokens, cache_read_input_tokens, cache_creation
// {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}, output_tokens
// and, when tier is not empty, service_tier.
func appendUsage(b []byte, u Usage, tier string) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, u.InputTokens, 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, u.CacheCreationInputTokens, 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, u.CacheReadInputTokens, 10)
	b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	b = strconv.AppendInt(b, u.CacheCreation5mInputTokens, 10)
	b = append(b, `,"ephemeral_1h_input_tokens":`...)
	b = strconv.AppendInt(b, u.CacheCreation1hInputTokens, 10)
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	if tier != "" {
		b = append(b, `,"service_tier":`...)
		b = openai.AppendString(b, tier)
	}
	return append(b, '}')
}

// serviceTier maps a hub service_tier to Anthropic's usage.service_tier.
func serviceTier(hub string) string {
	if hub == "priority" {
		return "priority"
	}
	return "standard"
}

// UsageReader reads the usage of an Anthropic Messages stream, for
// same-dialect pass-through: feed it the data of every event, in order.
// message_start gives the first counts; every count that message_delta
// carries replaces it (they are cumulative), since input and cache counts
// may arrive only there. The zero value is ready to use.
type UsageReader struct {
	u    Usage
	seen bool
	// split reports that a cache_creation breakdown was read.
	split bool
}

// Event reads one event's data (a JSON object); events without usage are
// ignored.
func (r *UsageReader) Event(data []byte) {
	if !gjson.ValidBytes(data) {
		return
	}
	ev := gjson.ParseBytes(data)
	switch ev.Get("type").String() {
	case "message_start":
		r.merge(ev.Get("message.usage"))
	case "message_delta":
		r.merge(ev.Get("usage"))
	}
}

// Usage returns the usage read so far; ok is false when no event carried
// any.
func (r *UsageReader) Usage() (u Usage, ok bool) {
	u = r.u
	if !r.split {
		// Without a breakdown every write has the default 5-minute TTL.
		u.CacheCreation1hInputTokens = 0
	}
	u.CacheCreation1hInputTokens = min(u.CacheCreation1hInputTokens, u.CacheCreationInputTokens)
	u.CacheCreation5mInputTokens = u.CacheCreationInputTokens - u.CacheCreation1hInputTokens
	return u, r.seen
}

func (r *UsageReader) merge(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	r.seen = true
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			setCount(&r.u.InputTokens, v)
		case "output_tokens":
			setCount(&r.u.OutputTokens, v)
		case "cache_read_input_tokens":
			setCount(&r.u.CacheReadInputTokens, v)
		case "cache_creation_input_tokens":
			setCount(&r.u.CacheCreationInputTokens, v)
		case "cache_creation":
			if v.IsObject() {
				r.split = true
				setCount(&r.u.CacheCreation5mInputTokens, v.Get("ephemeral_5m_input_tokens"))
				setCount(&r.u.CacheCreation1hInputTokens, v.Get("ephemeral_1h_input_tokens"))
			}
		}
		return true
	})
}

// setCount stores a JSON number that is a count; null, absent and other
// values leave dst alone.
func setCount(dst *int64, v gjson.Result) {
	if v.Type == gjson.Number {
		*dst = nonNegative(v.Int())
	}
}

// ResponseUsage reads the usage of a Messages response body; ok is false
// when it has none.
func ResponseUsage(body []byte) (Usage, bool) {
	if !gjson.ValidBytes(body) {
		return Usage{}, false
	}
	var r UsageReader
	r.merge(gjson.GetBytes(body, "usage"))
	return r.Usage()
}
