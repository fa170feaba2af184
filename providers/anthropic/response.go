package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/polygate/polygate/openai"
)

// Messages API response types: only what the translation reads.

type response struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Model      string      `json:"model"`
	Content    []respBlock `json:"content"`
	StopReason string      `json:"stop_reason"`
	Usage      usage       `json:"usage"`
}

type respBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	Data      string          `json:"data"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	// CacheCreation splits the writes by lifetime.
	CacheCreation *struct {
		Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation,omitempty"`
}

// openAI converts usage: every input token, cached or not, counts as a
// prompt token; cache reads are cached_tokens and cache writes
// cache_write_tokens.
func (u *usage) openAI() *openai.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return &openai.Usage{
		PromptTokens:     prompt,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      prompt + u.OutputTokens,
		PromptTokensDetails: &openai.PromptTokensDetails{
			CachedTokens:       u.CacheReadInputTokens,
			CacheWriteTokens:   u.CacheCreationInputTokens,
			CacheWrite1hTokens: u.cacheWrite1h(),
		},
	}
}

// cacheWrite1h is the part of the cache writes with a one-hour lifetime.
func (u *usage) cacheWrite1h() int {
	if u.CacheCreation == nil {
		return 0
	}
	return min(u.CacheCreation.Ephemeral1h, u.CacheCreationInputTokens)
}

// finishReason maps a stop_reason to an OpenAI finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return openai.FinishLength
	case "tool_use":
		return openai.FinishToolCalls
	case "refusal":
		return openai.FinishContentFilter
	default: // end_turn, stop_sequence, pause_turn
		return openai.FinishStop
	}
}

// translateResponse turns a Messages response into a chat.completion. Text
// blocks are joined into the content, tool_use blocks become tool_calls and
// thinking blocks reasoning_content and, signed, thinking_blocks; other
// blocks are dropped.
func translateResponse(body []byte, model string, created int64) ([]byte, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("decoding the Messages response: " + err.Error())
	}
	if r.Type != "message" {
		return nil, errors.New("the answer is not a message")
	}
	msg := openai.Message{Role: openai.RoleAssistant}
	var text, thinking []byte
	hasText, hasThinking := false, false
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text = append(text, b.Text...)
			hasText = true
		case "thinking":
			thinking = append(thinking, b.Thinking...)
			hasThinking = true
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: openai.ThinkingSigned, Thinking: b.Thinking, Signature: b.Signature})
		case "redacted_thinking":
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: openai.ThinkingRedacted, Data: b.Data})
		case "tool_use":
			args := "{}"
			if !isNull(b.Input) {
				var buf bytes.Buffer
				if json.Compact(&buf, b.Input) == nil {
					args = buf.String()
				}
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
				ID: b.ID, Type: "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: args},
			})
		}
	}
	if hasText {
		msg.Content = openai.TextContent(string(text))
	}
	if hasThinking {
		s := string(thinking)
		msg.ReasoningContent = &s
	}
	if r.Model != "" {
		model = r.Model
	}
	return json.Marshal(&openai.ChatCompletion{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: created,
		Model:   model,
		Choices: []openai.Choice{{Message: msg, FinishReason: finishReason(r.StopReason)}},
		Usage:   r.Usage.openAI(),
	})
}

// errorBody is Anthropic's error shape:
// {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}.
type errorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseError reads an Anthropic error body into OpenAI's shape, keeping
// Anthropic's message; Anthropic's error type becomes the code when it is
// not one of OpenAI's types.
func parseError(status int, body []byte) *openai.Error {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || eb.Error.Message == "" {
		return openai.ParseError(status, body)
	}
	return anthropicError(status, eb.Error.Type, eb.Error.Message)
}

func anthropicError(status int, typ, msg string) *openai.Error {
	e := &openai.Error{Status: status, Message: msg}
	switch typ {
	case openai.TypeInvalidRequest, openai.TypeAuthentication, openai.TypePermission,
		openai.TypeNotFound, openai.TypeRateLimit:
		e.Type = typ
	default:
		e.Type = openai.TypeForStatus(status)
		e.Code = typ
	}
	return e
}

// streamErrorStatus is the HTTP status Anthropic uses for an error type;
// it classifies errors that arrive as stream events.
func streamErrorStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "api_error":
		return http.StatusInternalServerError
	case "overloaded_error":
		return 529
	case "timeout_error":
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}
