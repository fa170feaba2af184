package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Claude's Messages API on the fake Bedrock: InvokeModel and
// InvokeModelWithResponseStream with Anthropic bodies, and CountTokens.

// messagesMembers are the members Bedrock takes in a Claude InvokeModel
// body; any other is refused, model and stream among them.
var messagesMembers = set("anthropic_version", "anthropic_beta", "max_tokens", "messages", "system",
	"stop_sequences", "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata",
	"output_config", "context_management", "mcp_servers", "container")

// fakeBetas are the beta flags the fake's Claude accepts; any other is an
// "invalid beta flag", as on Bedrock.
var fakeBetas = set("interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "token-efficient-tools-2025-02-19",
	"computer-use-2025-01-24", "output-128k-2025-02-19", "context-management-2025-06-27", "tool-search-tool-2025-10-19")

// checkMessages returns the ValidationException message Bedrock gives a
// Claude InvokeModel body, or "".
func checkMessages(req map[string]any) string {
	for k := range req {
		if !messagesMembers[k] {
			return "Malformed input request: #: extraneous key [" + k + "] is not permitted, please reformat your input and try again."
		}
	}
	v, ok := req["anthropic_version"]
	if !ok {
		return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
	}
	if v != "bedrock-2023-05-31" {
		return "Invalid API version: " + mustJSON(v)
	}
	maxTokens, ok := integer(req["max_tokens"])
	if !ok || maxTokens < 1 {
		return "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
	}
	msgs := asList(req["messages"])
	if len(msgs) == 0 {
		return "messages: at least one message is required"
	}
	for i, mv := range msgs {
		m := obj(mv)
		at := "messages." + strconv.Itoa(i)
		if r := str(m["role"]); r != "user" && r != "assistant" {
			return at + ".role: Input should be 'user' or 'assistant'"
		}
		switch c := m["content"].(type) {
		case string:
			if c == "" {
				return at + ": text content blocks must be non-empty"
			}
		case []any:
			for j, b := range c {
				if str(obj(b)["type"]) == "" {
					return at + ".content." + strconv.Itoa(j) + ".type: Field required"
				}
			}
		default:
			return at + ".content: Input should be a valid list"
		}
	}
	if beta, ok := req["anthropic_beta"]; ok {
		list, isList := beta.([]any)
		if !isList {
			return "Malformed input request: #/anthropic_beta: expected type: JSONArray, found: " + mustJSON(beta)
		}
		for _, b := range list {
			if !fakeBetas[str(b)] {
				return "invalid beta flag"
			}
		}
	}
	if th := obj(req["thinking"]); th["type"] == "enabled" {
		budget, _ := integer(th["budget_tokens"])
		if budget < 1024 {
			return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
		}
		if budget >= maxTokens {
			return "`max_tokens` must be greater than `thinking.budget_tokens`."
		}
	}
	return ""
}

// messagesAnswer is what the fake Claude says: "You said: <last user
// text>" cut at max_tokens words, after signed thinking when thinking is
// enabled; one input token per word of the prompt.
type messagesAnswer struct {
	id                  string
	thinking, signature string
	text                string
	stop                string
	in, out             int
}

// texts returns the texts of a system prompt or a message content.
func texts(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, b := range asList(v) {
		if obj(b)["type"] == "text" {
			out = append(out, str(obj(b)["text"]))
		}
	}
	return out
}

func words(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(strings.Fields(s))
	}
	return n
}

func messagesAnswerFor(req map[string]any, reqID string) messagesAnswer {
	msgs := asList(req["messages"])
	a := messagesAnswer{id: "msg_bdrk_" + strings.ReplaceAll(reqID, "-", ""), stop: "end_turn"}
	a.in = words(texts(req["system"]))
	for _, m := range msgs {
		a.in += words(texts(obj(m)["content"]))
	}
	a.text = "You said: " + strings.Join(texts(obj(msgs[len(msgs)-1])["content"]), " ")
	if obj(req["thinking"])["type"] == "enabled" {
		a.thinking, a.signature = "The user wants an echo.", "ErUBCkYIBxgCKkBfakeSignature=="
	}
	if n, ok := integer(req["max_tokens"]); ok {
		if w := strings.Fields(a.text); int64(len(w)) > n {
			a.text, a.stop = strings.Join(w[:n], " "), "max_tokens"
		}
	}
	a.out = words([]string{a.text, a.thinking})
	return a
}

func (a messagesAnswer) content() []any {
	var c []any
	if a.thinking != "" {
		c = append(c, map[string]any{"type": "thinking", "thinking": a.thinking, "signature": a.signature})
	}
	return append(c, map[string]any{"type": "text", "text": a.text})
}

// message is the InvokeModel answer: Anthropic's message.
func (a messagesAnswer) message() map[string]any {
	return map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
		"content": a.content(), "stop_reason": a.stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": a.in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": a.out},
	}
}

// chunkPayload is a chunk event's payload as Bedrock sends it: the event
// JSON in base64, and padding.
func chunkPayload(event []byte) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(event), "p": padding[:1+len(event)%len(padding)]})
	return b
}

// stream writes the InvokeModelWithResponseStream answer, one flushed
// event at a time; exception, if set, replaces everything from the second
// text delta on (or everything, prefixed with "start:").
func (a messagesAnswer) stream(w http.ResponseWriter, exception string) {
	fl := w.(http.Flusher)
	if typ, ok := strings.CutPrefix(exception, "start:"); ok {
		encodeEvent(w, fixtureEvent{Exception: typ, Payload: json.RawMessage(`{"message":"Too many requests, please wait before trying again."}`)})
		return
	}
	send := func(ev map[string]any) {
		b, _ := json.Marshal(ev)
		encodeEvent(w, fixtureEvent{Event: "chunk", Payload: chunkPayload(b)})
		fl.Flush()
	}
	send(map[string]any{"type": "message_start", "message": map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": a.in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}})
	idx := 0
	if a.thinking != "" {
		send(map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "thinking", "thinking": ""}})
		send(map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "thinking_delta", "thinking": a.thinking}})
		send(map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "signature_delta", "signature": a.signature}})
		send(map[string]any{"type": "content_block_stop", "index": idx})
		idx++
	}
	send(map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "text", "text": ""}})
	for i, word := range strings.SplitAfter(a.text, " ") {
		if i == 1 && exception != "" {
			encodeEvent(w, fixtureEvent{Exception: exception, Payload: json.RawMessage(`{"message":"The stream failed: ` + exception + `"}`)})
			return
		}
		send(map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": word}})
	}
	send(map[string]any{"type": "content_block_stop", "index": idx})
	send(map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": a.stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": a.out}})
	send(map[string]any{"type": "message_stop", "amazon-bedrock-invocationMetrics": map[string]any{
		"inputTokenCount": a.in, "outputTokenCount": a.out, "invocationLatency": 812, "firstByteLatency": 301}})
}

// countTokens serves CountTokens for Claude InvokeModel bodies; it
// returns a ValidationException message or "". Like Bedrock, it counts
// for base model ids only (anthropic.claude-…), not for inference
// profiles or ARNs, nor for models whose id holds "no-count".
func (f *FakeBedrock) countTokens(w http.ResponseWriter, model string, req map[string]any) string {
	input := obj(req["input"])
	if len(req) != 1 || len(input) != 1 {
		return "Malformed input request: input must hold exactly one of converse, invokeModel."
	}
	if !strings.HasPrefix(model, "anthropic.claude") || strings.Contains(model, "no-count") {
		return "The provided model doesn't support counting tokens."
	}
	k, v := only(input)
	if k != "invokeModel" {
		return "The fake counts invokeModel inputs only, not " + k + "."
	}
	raw, err := base64.StdEncoding.DecodeString(str(obj(v)["body"]))
	if err != nil || len(obj(v)) != 1 {
		return "Malformed input request: input.invokeModel.body must be base64-encoded bytes."
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&body) != nil {
		return "Malformed input request, please reformat your input and try again."
	}
	if msg := checkMessages(body); msg != "" {
		return msg
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"inputTokens": messagesAnswerFor(body, "").in})
	return ""
}
