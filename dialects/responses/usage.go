package responses

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// Usage is the token accounting of a Response in the Responses API's terms.
type Usage struct {
	// InputTokens counts every input token: uncached, cache reads and cache
	// writes (input_tokens).
	InputTokens int64
	// CachedTokens were read from the prompt cache
	// (input_tokens_details.cached_tokens).
	CachedTokens int64
	// CacheWriteTokens were written to the prompt cache
	// (input_tokens_details.cache_write_tokens).
	CacheWriteTokens int64
	// CacheWrite1hTokens is the part of CacheWriteTokens written with a
	// 1-hour TTL (input_tokens_details.cache_write_1h_tokens, the hub's
	// extension; OpenAI does not send it).
	CacheWrite1hTokens int64
	// OutputTokens counts every output token, reasoning included
	// (output_tokens).
	OutputTokens int64
	// ReasoningTokens is the reasoning part of OutputTokens
	// (output_tokens_details.reasoning_tokens).
	ReasoningTokens int64
	// TotalTokens is total_tokens (InputTokens + OutputTokens when the body
	// leaves it out).
	TotalTokens int64
}

// appendJSON appends u as a Responses usage object. cache_write_tokens and
// cache_write_1h_tokens are written only when not zero.
func (u *Usage) appendJSON(b []byte) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, u.InputTokens, 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.CachedTokens, 10)
	if u.CacheWriteTokens != 0 {
		b = append(b, `,"cache_write_tokens":`...)
		b = strconv.AppendInt(b, u.CacheWriteTokens, 10)
	}
	if u.CacheWrite1hTokens != 0 {
		b = append(b, `,"cache_write_1h_tokens":`...)
		b = strconv.AppendInt(b, u.CacheWrite1hTokens, 10)
	}
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.ReasoningTokens, 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, u.TotalTokens, 10)
	return append(b, '}')
}

// ResponseUsage reads the usage of a Response object, one of this package's
// or one straight from OpenAI. ok is false when the body has no usage
// object.
func ResponseUsage(body []byte) (u Usage, ok bool) {
	return readUsage(gjson.GetBytes(body, "usage"))
}

// EventUsage reads the usage of a Responses stream event's data: the
// response.completed, response.incomplete and response.failed events carry
// it, from this package or straight from OpenAI. ok is false for every other
// event, and for a terminal event whose usage is null.
func EventUsage(data []byte) (u Usage, ok bool) {
	return readUsage(gjson.GetBytes(data, "response.usage"))
}

func readUsage(r gjson.Result) (u Usage, ok bool) {
	if !r.IsObject() {
		return Usage{}, false
	}
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			u.InputTokens = v.Int()
		case "output_tokens":
			u.OutputTokens = v.Int()
		case "total_tokens":
			u.TotalTokens = v.Int()
		case "input_tokens_details":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "cached_tokens":
					u.CachedTokens = v.Int()
				case "cache_write_tokens":
					u.CacheWriteTokens = v.Int()
				case "cache_write_1h_tokens":
					u.CacheWrite1hTokens = v.Int()
				}
				return true
			})
		case "output_tokens_details":
			u.ReasoningTokens = v.Get("reasoning_tokens").Int()
		}
		return true
	})
	if u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	return u, true
}
