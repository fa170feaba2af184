package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/polygate/polygate/openai"
)

// Gemini API response types: only what the translation reads.

type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
}

type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
	Index        int      `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
}

// openAI converts usage: prompt tokens include tool-use prompt tokens and
// cached content (reported again as cached_tokens); completion tokens
// include thoughts (reported again as reasoning_tokens).
func (u *usageMetadata) openAI() *openai.Usage {
	prompt := u.PromptTokenCount + u.ToolUsePromptTokenCount
	completion := u.CandidatesTokenCount + u.ThoughtsTokenCount
	return &openai.Usage{
		PromptTokens:            prompt,
		CompletionTokens:        completion,
		TotalTokens:             prompt + completion,
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount},
	}
}

// finishReason maps a Gemini finishReason to an OpenAI finish_reason;
// a candidate that called functions and stopped normally gives
// "tool_calls".
func finishReason(reason string, calledTools bool) string {
	switch reason {
	case "MAX_TOKENS":
		return openai.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return openai.FinishContentFilter
	}
	if calledTools {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// newCallID returns an id for a function call Gemini gave none:
// "call_" and 24 random alphanumerics, fixed once the call is translated.
func newCallID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 5+24)
	copy(b, "call_")
	for i := 5; i < len(b); i++ {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// signatureExtra returns the extra_content carrying a thought signature.
func signatureExtra(sig string) []byte {
	if sig == "" {
		return nil
	}
	b := append([]byte(`{"google":{"thought_signature":`), openai.AppendString(nil, sig)...)
	return append(b, "}}"...)
}

// translateResponse turns a generateContent response into a
// chat.completion: candidates become choices, text parts the content,
// thought parts reasoning_content and functionCall parts tool_calls, each
// with its thoughtSignature in extra_content.google.thought_signature (the
// id is Gemini's, or generated: never the signature). A thoughtSignature
// on any other part (Gemini 3 puts one on the last text part of an answer
// without calls) is dropped: chat messages have no place that comes back
// with the next request, and Gemini validates only the signatures of
// function calls. A blocked prompt gives one choice without content and
// finish_reason content_filter.
func translateResponse(body []byte, model string, created int64) ([]byte, error) {
	var r generateResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("decoding the generateContent response: " + err.Error())
	}
	cc := openai.ChatCompletion{
		ID:      "chatcmpl-" + r.ResponseID,
		Object:  "chat.completion",
		Created: created,
		Model:   model,
	}
	if r.ResponseID == "" {
		cc.ID = "chatcmpl-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	if r.ModelVersion != "" {
		cc.Model = r.ModelVersion
	}
	for i, c := range r.Candidates {
		idx := c.Index
		if idx == 0 {
			idx = i
		}
		msg := openai.Message{Role: openai.RoleAssistant}
		var text, thought []byte
		hasText, hasThought := false, false
		if c.Content != nil {
			for _, pt := range c.Content.Parts {
				switch {
				case pt.FunctionCall != nil:
					id := pt.FunctionCall.ID
					if id == "" {
						id = newCallID()
					}
					msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
						ID: id, Type: "function",
						Function:     openai.FunctionCall{Name: pt.FunctionCall.Name, Arguments: compactArgs(pt.FunctionCall.Args)},
						ExtraContent: signatureExtra(pt.ThoughtSignature),
					})
				case pt.Thought:
					thought = append(thought, pt.Text...)
					hasThought = true
				case pt.Text != "":
					text = append(text, pt.Text...)
					hasText = true
				}
			}
		}
		if hasText {
			msg.Content = openai.TextContent(string(text))
		}
		if hasThought {
			s := string(thought)
			msg.ReasoningContent = &s
		}
		cc.Choices = append(cc.Choices, openai.Choice{
			Index: idx, Message: msg, FinishReason: finishReason(c.FinishReason, len(msg.ToolCalls) > 0),
		})
	}
	if len(cc.Choices) == 0 {
		if r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "" {
			return nil, errors.New("the answer has no candidates")
		}
		cc.Choices = []openai.Choice{{Message: openai.Message{Role: openai.RoleAssistant}, FinishReason: openai.FinishContentFilter}}
	}
	if r.UsageMetadata != nil {
		cc.Usage = r.UsageMetadata.openAI()
	} else {
		cc.Usage = (&usageMetadata{}).openAI()
	}
	return json.Marshal(&cc)
}

// compactArgs returns function call arguments as compact JSON text; absent
// arguments are "{}".
func compactArgs(args json.RawMessage) string {
	if isNull(args) {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, args) != nil {
		return "{}"
	}
	return buf.String()
}

// errorBody is Google's error shape:
// {"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}}.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// parseError reads a Gemini error body (an object, or an array of one)
// into OpenAI's shape, keeping Google's message; Google's status (such as
// RESOURCE_EXHAUSTED) becomes the code.
func parseError(status int, body []byte) *openai.Error {
	eb, ok := readError(body)
	if !ok {
		return openai.ParseError(status, body)
	}
	return &openai.Error{Status: status, Type: openai.TypeForStatus(status), Code: eb.Error.Status, Message: eb.Error.Message}
}

func readError(body []byte) (errorBody, bool) {
	var eb errorBody
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var list []errorBody
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return eb, false
		}
		eb = list[0]
	} else if json.Unmarshal(body, &eb) != nil {
		return eb, false
	}
	return eb, eb.Error.Message != ""
}
