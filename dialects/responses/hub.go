package responses

import (
	"encoding/json"
	"strconv"

	"github.com/polygate/polygate/openai"
)

// Hub request types. They mirror openai.ChatCompletionRequest for the members
// this translator writes, plus the hub extensions (thinking_blocks,
// cache_control) that package openai does not model yet. Numbers taken from
// the client are kept as their JSON text so that 0.7 stays 0.7.

type hubRequest struct {
	Model               string          `json:"model"`
	Messages            json.RawMessage `json:"messages"`
	MaxCompletionTokens json.RawMessage `json:"max_completion_tokens,omitempty"`
	Temperature         json.RawMessage `json:"temperature,omitempty"`
	TopP                json.RawMessage `json:"top_p,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *hubStreamOpts  `json:"stream_options,omitempty"`
	Tools               []hubTool       `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      json.RawMessage `json:"response_format,omitempty"`
	User                string          `json:"user,omitempty"`
	SafetyIdentifier    string          `json:"safety_identifier,omitempty"`
	PromptCacheKey      string          `json:"prompt_cache_key,omitempty"`
	Logprobs            bool            `json:"logprobs,omitempty"`
	TopLogprobs         json.RawMessage `json:"top_logprobs,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
	Verbosity           string          `json:"verbosity,omitempty"`
	ServiceTier         string          `json:"service_tier,omitempty"`
}

// appendJSON appends r as JSON, members in the order of the type's
// fields (what encoding/json would write, without its reflection: this runs
// for every translated request). Raw members are written as they are: the
// translator builds them from valid JSON.
func (r *hubRequest) appendJSON(b []byte) ([]byte, *openai.Error) {
	b = append(b, `{"model":`...)
	b = openai.AppendString(b, r.Model)
	b = append(b, `,"messages":`...)
	b = append(b, r.Messages...)
	raw := func(name string, v json.RawMessage) {
		if len(v) > 0 {
			b = append(append(append(b, ',', '"'), name...), '"', ':')
			b = append(b, v...)
		}
	}
	str := func(name, v string) {
		if v != "" {
			b = append(append(append(b, ',', '"'), name...), '"', ':')
			b = openai.AppendString(b, v)
		}
	}
	raw("max_completion_tokens", r.MaxCompletionTokens)
	raw("temperature", r.Temperature)
	raw("top_p", r.TopP)
	if r.Stream {
		b = append(b, `,"stream":true`...)
	}
	if r.StreamOptions != nil {
		b = strconv.AppendBool(append(b, `,"stream_options":{"include_usage":`...), r.StreamOptions.IncludeUsage)
		b = append(b, '}')
	}
	if len(r.Tools) > 0 {
		tools, err := marshal(r.Tools)
		if err != nil {
			return nil, err
		}
		raw("tools", tools)
	}
	raw("tool_choice", r.ToolChoice)
	if r.ParallelToolCalls != nil {
		b = strconv.AppendBool(append(b, `,"parallel_tool_calls":`...), *r.ParallelToolCalls)
	}
	raw("response_format", r.ResponseFormat)
	str("user", r.User)
	str("safety_identifier", r.SafetyIdentifier)
	str("prompt_cache_key", r.PromptCacheKey)
	if r.Logprobs {
		b = append(b, `,"logprobs":true`...)
	}
	raw("top_logprobs", r.TopLogprobs)
	str("reasoning_effort", r.ReasoningEffort)
	str("verbosity", r.Verbosity)
	str("service_tier", r.ServiceTier)
	return append(b, '}'), nil
}

type hubStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

// hubMessage is one message written by ToChat. Content is a JSON string, an
// array of hubPart or null.
type hubMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	ToolCalls        []hubToolCall   `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	ThinkingBlocks   []any           `json:"thinking_blocks,omitempty"`
}

type hubPart struct {
	Type         string           `json:"type"`
	Text         *string          `json:"text,omitempty"`
	ImageURL     *openai.ImageURL `json:"image_url,omitempty"`
	File         *openai.FilePart `json:"file,omitempty"`
	CacheControl json.RawMessage  `json:"cache_control,omitempty"`
}

type hubToolCall struct {
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Function     openai.FunctionCall `json:"function"`
	ExtraContent json.RawMessage     `json:"extra_content,omitempty"`
}

type hubTool struct {
	Type     string      `json:"type"`
	Function hubFunction `json:"function"`
}

type hubFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Hub answer types: what FromChat reads of a chat.completion.

type hubCompletion struct {
	ID          string      `json:"id"`
	Created     int64       `json:"created"`
	Model       string      `json:"model"`
	Choices     []hubChoice `json:"choices"`
	Usage       *hubUsage   `json:"usage"`
	ServiceTier string      `json:"service_tier"`
}

type hubChoice struct {
	Index        int                `json:"index"`
	Message      hubAnswer          `json:"message"`
	FinishReason string             `json:"finish_reason"`
	Logprobs     *hubChoiceLogprobs `json:"logprobs"`
}

type hubChoiceLogprobs struct {
	Content json.RawMessage `json:"content"`
}

type hubAnswer struct {
	Content          openai.Content    `json:"content"`
	Refusal          *string           `json:"refusal"`
	ReasoningContent *string           `json:"reasoning_content"`
	ThinkingBlocks   []json.RawMessage `json:"thinking_blocks"`
	ToolCalls        []openai.ToolCall `json:"tool_calls"`
	Annotations      json.RawMessage   `json:"annotations"`
}

// hubUsage is the hub's usage: PromptTokens counts every input token
// (uncached, cache reads and cache writes).
type hubUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens       int64 `json:"cached_tokens"`
		CacheWriteTokens   int64 `json:"cache_write_tokens"`
		CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// usage converts u to the Responses form.
func (u *hubUsage) usage() Usage {
	out := Usage{
		InputTokens:  u.PromptTokens,
		OutputTokens: u.CompletionTokens,
		TotalTokens:  u.TotalTokens,
	}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedTokens = d.CachedTokens
		out.CacheWriteTokens = d.CacheWriteTokens
		out.CacheWrite1hTokens = d.CacheWrite1hTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.InputTokens + out.OutputTokens
	}
	return out
}
