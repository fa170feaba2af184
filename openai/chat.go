package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Chat completion wire types. Translating providers decode requests into
// these and encode their answers from them. Optional scalars are pointers so
// that "absent" and "zero" stay distinct; polymorphic or rarely used members
// are kept as json.RawMessage, so a decode/encode round trip keeps them.

// ChatCompletionRequest is the body of POST /v1/chat/completions. Fields the
// gateway does not model are dropped when it is decoded; translators read
// only what they translate.
type ChatCompletionRequest struct {
	Model               string             `json:"model"`
	Messages            []Message          `json:"messages"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	N                   *int               `json:"n,omitempty"`
	Stop                StringList         `json:"stop,omitempty"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *StreamOptions     `json:"stream_options,omitempty"`
	Tools               []Tool             `json:"tools,omitempty"`
	ToolChoice          *ToolChoice        `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat    `json:"response_format,omitempty"`
	User                string             `json:"user,omitempty"`
	SafetyIdentifier    string             `json:"safety_identifier,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
	Verbosity           string             `json:"verbosity,omitempty"`
	Modalities          []string           `json:"modalities,omitempty"`
	Audio               json.RawMessage    `json:"audio,omitempty"`
	Prediction          json.RawMessage    `json:"prediction,omitempty"`
	WebSearchOptions    json.RawMessage    `json:"web_search_options,omitempty"`
	Store               *bool              `json:"store,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`
	ServiceTier         string             `json:"service_tier,omitempty"`
	// Functions and FunctionCall are the deprecated forerunners of Tools
	// and ToolChoice.
	Functions    json.RawMessage `json:"functions,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// StreamOptions are the options of a streamed chat completion.
type StreamOptions struct {
	// IncludeUsage asks for a final chunk with empty choices and the usage.
	IncludeUsage       bool  `json:"include_usage,omitempty"`
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// Message roles.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleFunction  = "function"
)

// Message is one message of a conversation, in a request or as a choice of
// a chat.completion. Content is always encoded, as null when unset, like
// OpenAI does for an assistant message that only calls tools.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    *string    `json:"refusal,omitempty"`
	// ReasoningContent carries a model's visible reasoning (Anthropic
	// thinking blocks, Gemini thought parts). It is not part of OpenAI's
	// API; the name is the one DeepSeek, vLLM and others use.
	ReasoningContent *string `json:"reasoning_content,omitempty"`
	// ThinkingBlocks are the signed reasoning blocks of an assistant
	// message (Anthropic thinking and redacted_thinking), which must come
	// back unchanged with the next request for tool use with thinking to
	// work. Not part of OpenAI's API; the convention is LiteLLM's.
	ThinkingBlocks []ThinkingBlock `json:"thinking_blocks,omitempty"`
	// CacheControl marks the end of a cacheable prefix (Anthropic's
	// {"type":"ephemeral","ttl":"1h"}). Not part of OpenAI's API.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
	Audio        json.RawMessage `json:"audio,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// Thinking block types.
const (
	ThinkingSigned   = "thinking"
	ThinkingRedacted = "redacted_thinking"
)

// ThinkingBlock is one signed reasoning block: Type "thinking" with
// Thinking and Signature, or "redacted_thinking" with Data. In a streamed
// delta a block may come in pieces (the text first, the signature last).
type ThinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`
}

// Content is a message's content: null, a string, or an array of parts.
// Parts, when non-nil (even empty), wins over Text; otherwise Text is the
// content when HasText is set, and the content is null when it is not.
type Content struct {
	Text    string
	HasText bool
	Parts   []ContentPart
}

// TextContent returns string content s.
func TextContent(s string) Content { return Content{Text: s, HasText: true} }

// IsNull reports whether the content is null or absent.
func (c Content) IsNull() bool { return c.Parts == nil && !c.HasText }

// String returns the text of the content: the string itself, or the text
// parts joined without separator.
func (c Content) String() string {
	if c.Parts == nil {
		return c.Text
	}
	var n int
	for _, p := range c.Parts {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range c.Parts {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// MarshalJSON implements json.Marshaler.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.Parts != nil:
		return json.Marshal(c.Parts)
	case c.HasText:
		return AppendString(nil, c.Text), nil
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '"':
		c.HasText = true
		return json.Unmarshal(b, &c.Text)
	case b[0] == '[':
		c.Parts = []ContentPart{}
		return json.Unmarshal(b, &c.Parts)
	default:
		return errors.New("content must be a string, an array of content parts or null")
	}
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one element of an array content. Members that do not
// belong to its Type are empty and omitted when encoded (so is empty Text).
type ContentPart struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *FilePart   `json:"file,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
	// CacheControl marks the end of a cacheable prefix, as on Message.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ImageURL is an image_url part's image: an http(s) URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// InputAudio is an input_audio part's base64 audio.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// FilePart is a file part's file: inline data (a data URL) or an uploaded
// file's id.
type FilePart struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Tool is a tool the model may call. Only "function" tools have a Function;
// others (such as "custom") keep their definition in Custom.
type Tool struct {
	Type     string          `json:"type"`
	Function *FunctionDef    `json:"function,omitempty"`
	Custom   json.RawMessage `json:"custom,omitempty"`
	// CacheControl marks the end of a cacheable prefix, as on Message.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// FunctionDef declares a function tool. Parameters is its JSON Schema.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Tool choice modes (the string forms of tool_choice).
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// ToolChoice is tool_choice: a mode string ("none", "auto", "required") or
// an object naming a function ({"type":"function","function":{"name":…}}) or
// another kind of choice (Type "allowed_tools" or "custom", kept in Raw). A
// function choice is encoded from Type and Function, any other object from
// Raw.
type ToolChoice struct {
	// Mode is the string form; empty for an object.
	Mode string
	// Type is the object's type, e.g. "function".
	Type string
	// Function is the chosen function's name for Type "function".
	Function string
	// Raw is the object as received.
	Raw json.RawMessage
}

// MarshalJSON implements json.Marshaler.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	switch {
	case t.Mode != "":
		return AppendString(nil, t.Mode), nil
	case len(t.Raw) > 0 && (t.Type != "function" || t.Function == ""):
		return t.Raw, nil
	default:
		b := append([]byte(`{"type":`), AppendString(nil, t.Type)...)
		if t.Function != "" {
			b = append(b, `,"function":{"name":`...)
			b = AppendString(b, t.Function)
			b = append(b, '}')
		}
		return append(b, '}'), nil
	}
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	*t = ToolChoice{}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.Mode)
	}
	var obj struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return errors.New("tool_choice must be a string or an object")
	}
	t.Type = obj.Type
	if obj.Function != nil {
		t.Function = obj.Function.Name
	}
	t.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Response format types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat is response_format.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// StringList is a list of strings that also accepts a single string (as in
// "stop"). It is encoded as an array.
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*l = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	default:
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return errors.New("must be a string or an array of strings")
		}
		*l = list
		return nil
	}
}

// ToolCall is a call of a function tool, in an assistant message or, with
// Index set, as a fragment in a streamed delta (where ID, Type and the name
// come only with a call's first fragment).
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
	// ExtraContent carries provider data that must come back with the call
	// in the next request, e.g. {"google":{"thought_signature":…}} for
	// Gemini (the convention of Google's own OpenAI-compatible endpoint).
	ExtraContent json.RawMessage `json:"extra_content,omitempty"`
}

// FunctionCall is a called function: its name and its arguments as a JSON
// text.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Finish reasons.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatCompletion is a non-streamed chat completion (object
// "chat.completion").
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`
}

// Choice is one choice of a ChatCompletion. A nil Logprobs is encoded as
// null.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

// ChatCompletionChunk is one event of a streamed chat completion (object
// "chat.completion.chunk"). The final usage chunk has empty Choices.
type ChatCompletionChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
}

// ChunkChoice is one choice of a chunk; FinishReason is null until the
// choice ends.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the increment of a chunk choice.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	Refusal          *string    `json:"refusal,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	// ThinkingBlocks carries signed reasoning: typically a block with only
	// a signature after the reasoning_content deltas it signs, or a whole
	// redacted_thinking block.
	ThinkingBlocks []ThinkingBlock `json:"thinking_blocks,omitempty"`
}

// Usage is the token accounting of a completion. PromptTokens counts every
// input token, cached or not; CompletionTokens counts every output token,
// reasoning included.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks down PromptTokens.
type PromptTokensDetails struct {
	// CachedTokens were read from the provider's prompt cache.
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens were written to the provider's prompt cache
	// (Anthropic's cache_creation_input_tokens). Not part of OpenAI's API,
	// which has no priced cache writes; the name is OpenRouter's. Omitted
	// when zero.
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	// CacheWrite1hTokens is the part of CacheWriteTokens written with a
	// one-hour lifetime (priced higher than the default five minutes).
	// Polygate's own field; omitted when zero.
	CacheWrite1hTokens int `json:"cache_write_1h_tokens,omitempty"`
	AudioTokens        int `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down CompletionTokens.
type CompletionTokensDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens,omitempty"`
}

// AppendJSON appends u as a JSON object to b, as encoding/json would.
func (u *Usage) AppendJSON(b []byte) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	if d := u.PromptTokensDetails; d != nil {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(d.CachedTokens), 10)
		b = appendIntField(b, `,"cache_write_tokens":`, d.CacheWriteTokens)
		b = appendIntField(b, `,"cache_write_1h_tokens":`, d.CacheWrite1hTokens)
		b = appendIntField(b, `,"audio_tokens":`, d.AudioTokens)
		b = append(b, '}')
	}
	if d := u.CompletionTokensDetails; d != nil {
		b = append(b, `,"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(d.ReasoningTokens), 10)
		b = appendIntField(b, `,"audio_tokens":`, d.AudioTokens)
		b = appendIntField(b, `,"accepted_prediction_tokens":`, d.AcceptedPredictionTokens)
		b = appendIntField(b, `,"rejected_prediction_tokens":`, d.RejectedPredictionTokens)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendIntField(b []byte, name string, v int) []byte {
	if v == 0 {
		return b
	}
	b = append(b, name...)
	return strconv.AppendInt(b, int64(v), 10)
}

// ChunkWriter builds the chat.completion.chunk objects of one stream by
// appending JSON to a reused buffer, with no reflection: a translating
// provider calls Begin, then for each choice BeginChoice, the delta's
// members (Role, Content, Reasoning, ToolCall) and EndChoice, then End. The
// bytes End returns stay valid until the next Begin. Every chunk carries the
// id, creation time and model given to Reset.
type ChunkWriter struct {
	head    []byte
	buf     []byte
	choices int // choices written in the current chunk
	fields  int // members written in the current delta
	calls   int // tool calls in the open tool_calls array, -1 when closed
}

// Reset starts a stream: later chunks carry id, created and model.
func (w *ChunkWriter) Reset(id string, created int64, model string) {
	h := append(w.head[:0], `{"id":`...)
	h = AppendString(h, id)
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = strconv.AppendInt(h, created, 10)
	h = append(h, `,"model":`...)
	h = AppendString(h, model)
	w.head = append(h, `,"choices":[`...)
}

// Begin starts a chunk.
func (w *ChunkWriter) Begin() {
	w.buf = append(w.buf[:0], w.head...)
	w.choices = 0
}

// BeginChoice starts the choice with the given index and its delta.
func (w *ChunkWriter) BeginChoice(index int) {
	if w.choices > 0 {
		w.buf = append(w.buf, ',')
	}
	w.choices++
	w.buf = append(w.buf, `{"index":`...)
	w.buf = strconv.AppendInt(w.buf, int64(index), 10)
	w.buf = append(w.buf, `,"delta":{`...)
	w.fields = 0
	w.calls = -1
}

func (w *ChunkWriter) field(name string) {
	if w.calls >= 0 {
		w.buf = append(w.buf, ']')
		w.calls = -1
	}
	if w.fields > 0 {
		w.buf = append(w.buf, ',')
	}
	w.fields++
	w.buf = append(w.buf, name...)
}

// Role sets the delta's role.
func (w *ChunkWriter) Role(role string) {
	w.field(`"role":`)
	w.buf = AppendString(w.buf, role)
}

// Content sets the delta's content.
func (w *ChunkWriter) Content(text string) {
	w.field(`"content":`)
	w.buf = AppendString(w.buf, text)
}

// Reasoning sets the delta's reasoning_content (see
// Message.ReasoningContent).
func (w *ChunkWriter) Reasoning(text string) {
	w.field(`"reasoning_content":`)
	w.buf = AppendString(w.buf, text)
}

// Thinking adds one element of the delta's thinking_blocks (see
// Message.ThinkingBlocks).
func (w *ChunkWriter) Thinking(tb ThinkingBlock) {
	w.field(`"thinking_blocks":[{"type":`)
	w.buf = AppendString(w.buf, tb.Type)
	if tb.Thinking != "" {
		w.buf = append(w.buf, `,"thinking":`...)
		w.buf = AppendString(w.buf, tb.Thinking)
	}
	if tb.Signature != "" {
		w.buf = append(w.buf, `,"signature":`...)
		w.buf = AppendString(w.buf, tb.Signature)
	}
	if tb.Data != "" {
		w.buf = append(w.buf, `,"data":`...)
		w.buf = AppendString(w.buf, tb.Data)
	}
	w.buf = append(w.buf, `}]`...)
}

// ToolCall adds a tool call fragment to the delta. The first fragment of a
// call has its id and name (then "type":"function" is written too); later
// fragments only add arguments. extra, when not empty, is written as the
// call's extra_content and must be a JSON object.
func (w *ChunkWriter) ToolCall(index int, id, name, arguments string, extra []byte) {
	if w.calls < 0 {
		w.field(`"tool_calls":[`)
		w.calls = 0
	} else {
		w.buf = append(w.buf, ',')
	}
	w.calls++
	w.buf = append(w.buf, `{"index":`...)
	w.buf = strconv.AppendInt(w.buf, int64(index), 10)
	if id != "" {
		w.buf = append(w.buf, `,"id":`...)
		w.buf = AppendString(w.buf, id)
		w.buf = append(w.buf, `,"type":"function"`...)
	}
	w.buf = append(w.buf, `,"function":{`...)
	if name != "" {
		w.buf = append(w.buf, `"name":`...)
		w.buf = AppendString(w.buf, name)
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, `"arguments":`...)
	w.buf = AppendString(w.buf, arguments)
	w.buf = append(w.buf, '}')
	if len(extra) > 0 {
		w.buf = append(w.buf, `,"extra_content":`...)
		w.buf = append(w.buf, extra...)
	}
	w.buf = append(w.buf, '}')
}

// EndChoice ends the current choice; an empty finishReason is written as
// null.
func (w *ChunkWriter) EndChoice(finishReason string) {
	if w.calls >= 0 {
		w.buf = append(w.buf, ']')
		w.calls = -1
	}
	w.buf = append(w.buf, `},"finish_reason":`...)
	if finishReason == "" {
		w.buf = append(w.buf, "null"...)
	} else {
		w.buf = AppendString(w.buf, finishReason)
	}
	w.buf = append(w.buf, '}')
}

// Choices returns how many choices the current chunk has so far.
func (w *ChunkWriter) Choices() int { return w.choices }

// End finishes the chunk, with usage when u is not nil, and returns it.
func (w *ChunkWriter) End(u *Usage) []byte {
	w.buf = append(w.buf, ']')
	if u != nil {
		w.buf = append(w.buf, `,"usage":`...)
		w.buf = u.AppendJSON(w.buf)
	}
	w.buf = append(w.buf, '}')
	return w.buf
}

// UsageChunk returns the final chunk of a stream: empty choices and u.
func (w *ChunkWriter) UsageChunk(u *Usage) []byte {
	w.Begin()
	return w.End(u)
}

// ParseDataURL splits a base64 data URL ("data:image/png;base64,iVBOR…")
// into its media type and base64 payload. ok is false for anything else,
// including data URLs that are not base64-encoded.
func ParseDataURL(s string) (mediaType, data string, ok bool) {
	const scheme = "data:"
	if len(s) < len(scheme) || !asciiEqualFold(s[:len(scheme)], scheme) {
		return "", "", false
	}
	s = s[len(scheme):]
	comma := strings.IndexByte(s[:min(len(s), 256)], ',')
	if comma < 0 {
		return "", "", false
	}
	meta, data := s[:comma], s[comma+1:]
	const b64 = ";base64"
	if len(meta) < len(b64) || !asciiEqualFold(meta[len(meta)-len(b64):], b64) {
		return "", "", false
	}
	mediaType = meta[:len(meta)-len(b64)]
	if i := strings.IndexByte(mediaType, ';'); i >= 0 {
		mediaType = mediaType[:i] // drop parameters such as charset
	}
	return mediaType, data, true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
