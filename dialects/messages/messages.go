package messages

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/polygate/polygate/openai"
)

// inBlock is a request content block of any type; members that do not
// belong to its type are empty. source is an object for images and
// documents but a string for search results, so it is kept raw.
type inBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	Source       json.RawMessage `json:"source"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	Thinking     *string         `json:"thinking"`
	Signature    *string         `json:"signature"`
	Data         *string         `json:"data"`
	Title        string          `json:"title"`
	Context      string          `json:"context"`
	CacheControl json.RawMessage `json:"cache_control"`
	Citations    json.RawMessage `json:"citations"`
}

// serverBlocks are content blocks of Anthropic's server tools and
// connectors: only Anthropic can continue a conversation that holds them.
var serverBlocks = map[string]bool{
	"server_tool_use": true, "web_search_tool_result": true, "web_fetch_tool_result": true,
	"code_execution_tool_result": true, "bash_code_execution_tool_result": true,
	"text_editor_code_execution_tool_result": true, "tool_search_tool_result": true,
	"mcp_tool_use": true, "mcp_tool_result": true, "container_upload": true,
	"compaction": true,
}

// system turns the system prompt into the first hub message: a string
// stays a string, text blocks become text parts that keep their
// cache_control.
func (t *translator) system() error {
	raw, ok := t.get("system")
	if !ok {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("system", "system: Input should be a valid string")
		}
		if s != "" {
			t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleSystem, Content: textContent(s)})
		}
		return nil
	}
	blocks, err := decodeBlocks(raw, "system")
	if err != nil {
		return err
	}
	parts := make([]hubPart, 0, len(blocks))
	for j, b := range blocks {
		p := path("system", j)
		if b.Type != "text" {
			return invalid(p+".type", p+".type: system blocks must be text blocks")
		}
		if b.Text == nil {
			return invalid(p+".text", p+".text: Field required")
		}
		cc, err := cacheControl(b.CacheControl, p)
		if err != nil {
			return err
		}
		parts = append(parts, textPart(*b.Text, cc))
	}
	if len(parts) > 0 {
		t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleSystem, Content: hubContent{parts: parts}})
	}
	return nil
}

// messages translates the conversation.
func (t *translator) messages() error {
	raw, ok := t.get("messages")
	if !ok {
		return invalid("messages", "messages: Field required")
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return invalid("messages", "messages: Input should be a valid list")
	}
	if len(msgs) == 0 {
		return invalid("messages", "messages: at least one message is required")
	}
	for i, m := range msgs {
		var im struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		p := path("messages", i)
		if err := json.Unmarshal(m, &im); err != nil {
			return invalid(p, p+": Input should be a valid message object")
		}
		if isNull(im.Content) {
			return invalid(p+".content", p+".content: Field required")
		}
		var err error
		switch im.Role {
		case "user":
			err = t.user(i, im.Content)
		case "assistant":
			err = t.assistant(i, im.Content)
		default:
			err = invalid(p+".role", p+".role: Input should be 'user' or 'assistant'")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeBlocks decodes an array of content blocks.
func decodeBlocks(raw json.RawMessage, p string) ([]inBlock, error) {
	var blocks []inBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, invalid(p, p+": Input should be a string or a valid list of content blocks")
	}
	return blocks, nil
}

// user translates a user message. Text, image, document and search_result
// blocks become the parts of a user message; each tool_result becomes a
// tool message, in place, so that the tool messages follow the assistant
// message that called them.
func (t *translator) user(i int, content json.RawMessage) error {
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return invalid(path("messages", i, "content"), path("messages", i, "content")+": Input should be a valid string")
		}
		t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleUser, Content: textContent(s)})
		return nil
	}
	blocks, err := decodeBlocks(content, path("messages", i, "content"))
	if err != nil {
		return err
	}
	var parts []hubPart
	flush := func() {
		if len(parts) > 0 {
			t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleUser, Content: hubContent{parts: parts}})
			parts = nil
		}
	}
	for j := range blocks {
		b := &blocks[j]
		p := path("messages", i, "content", j)
		if b.Type == "tool_result" {
			flush()
			m, err := t.toolResult(b, p)
			if err != nil {
				return err
			}
			t.out.Messages = append(t.out.Messages, m)
			continue
		}
		if parts, err = t.userPart(parts, b, p, "user"); err != nil {
			return err
		}
	}
	flush()
	if len(blocks) == 0 {
		t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleUser, Content: hubContent{parts: []hubPart{}}})
	}
	return nil
}

// userPart appends the parts of a text, image, document or search_result
// block; where names the message kind for errors.
func (t *translator) userPart(parts []hubPart, b *inBlock, p, where string) ([]hubPart, error) {
	cc, err := cacheControl(b.CacheControl, p)
	if err != nil {
		return nil, err
	}
	t.dropCitations(b, p)
	switch b.Type {
	case "text":
		if b.Text == nil {
			return nil, invalid(p+".text", p+".text: Field required")
		}
		return append(parts, textPart(*b.Text, cc)), nil
	case "image":
		part, err := imagePart(b.Source, p)
		if err != nil {
			return nil, err
		}
		part.CacheControl = cc
		return append(parts, part), nil
	case "document":
		return t.documentParts(parts, b, cc, p)
	case "search_result":
		return t.searchResultPart(parts, b, cc, p)
	case "thinking", "redacted_thinking", "tool_use":
		return nil, invalid(p+".type", p+".type: "+strconv.Quote(b.Type)+" blocks belong in assistant messages")
	}
	return nil, unsupportedBlock(b.Type, p, where)
}

// unsupportedBlock is the 400 for a block type the hub cannot carry.
func unsupportedBlock(typ, p, where string) error {
	if serverBlocks[typ] {
		return invalid(p+".type", p+".type: "+strconv.Quote(typ)+" blocks come from Anthropic's server tools, which this model's provider cannot continue")
	}
	if typ == "" {
		return invalid(p+".type", p+".type: Field required")
	}
	return invalid(p+".type", p+".type: content blocks of type "+strconv.Quote(typ)+" are not supported in "+where+" messages for this model's provider")
}

func (t *translator) dropCitations(b *inBlock, p string) {
	if !isNull(b.Citations) && !isEmptyArray(b.Citations) {
		t.info.Dropped = append(t.info.Dropped, p+".citations")
	}
}

// toolResult turns a tool_result block into a tool message. Its content
// stays a string when it is one text without cache_control, otherwise it
// becomes parts (text, images, documents). An error result is marked by
// "Error: " before its first text (or an "Error" text when it has none),
// since the hub has no error flag. The block's cache_control goes on the
// message, which holds nothing else.
func (t *translator) toolResult(b *inBlock, p string) (hubMessage, error) {
	if b.ToolUseID == "" {
		return hubMessage{}, invalid(p+".tool_use_id", p+".tool_use_id: Field required")
	}
	cc, err := cacheControl(b.CacheControl, p)
	if err != nil {
		return hubMessage{}, err
	}
	m := hubMessage{Role: openai.RoleTool, ToolCallID: b.ToolUseID, CacheControl: cc}
	var parts []hubPart
	switch {
	case isNull(b.Content):
	case b.Content[0] == '"':
		var s string
		if err := json.Unmarshal(b.Content, &s); err != nil {
			return hubMessage{}, invalid(p+".content", p+".content: Input should be a valid string")
		}
		parts = append(parts, textPart(s, nil))
	default:
		blocks, err := decodeBlocks(b.Content, p+".content")
		if err != nil {
			return hubMessage{}, err
		}
		for k := range blocks {
			kb := &blocks[k]
			kp := path(p, "content", k)
			switch kb.Type {
			case "text", "image", "document", "search_result":
			default:
				return hubMessage{}, unsupportedBlock(kb.Type, kp, "tool_result")
			}
			if parts, err = t.userPart(parts, kb, kp, "tool_result"); err != nil {
				return hubMessage{}, err
			}
		}
	}
	if b.IsError {
		if len(parts) > 0 && parts[0].Type == openai.PartText {
			s := "Error: " + *parts[0].Text
			parts[0].Text = &s
		} else {
			parts = append([]hubPart{textPart("Error", nil)}, parts...)
		}
	}
	m.Content = partsContent(parts)
	return m, nil
}

// partsContent is a string for no parts ("") or one text part without
// cache_control, otherwise the parts.
func partsContent(parts []hubPart) hubContent {
	switch {
	case len(parts) == 0:
		return textContent("")
	case len(parts) == 1 && parts[0].Type == openai.PartText && parts[0].CacheControl == nil:
		return textContent(*parts[0].Text)
	default:
		return hubContent{parts: parts}
	}
}

// assistant translates an assistant message: text blocks become its
// content, thinking and redacted_thinking blocks its thinking_blocks
// (unchanged, signatures kept) and reasoning_content (their texts joined
// by a blank line), tool_use blocks its tool_calls. A tool_use block's
// cache_control goes on the message.
func (t *translator) assistant(i int, content json.RawMessage) error {
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return invalid(path("messages", i, "content"), path("messages", i, "content")+": Input should be a valid string")
		}
		t.out.Messages = append(t.out.Messages, hubMessage{Role: openai.RoleAssistant, Content: textContent(s)})
		return nil
	}
	blocks, err := decodeBlocks(content, path("messages", i, "content"))
	if err != nil {
		return err
	}
	m := hubMessage{Role: openai.RoleAssistant}
	var parts []hubPart
	var reasoning []string
	for j := range blocks {
		b := &blocks[j]
		p := path("messages", i, "content", j)
		cc, err := cacheControl(b.CacheControl, p)
		if err != nil {
			return err
		}
		switch b.Type {
		case "text":
			if b.Text == nil {
				return invalid(p+".text", p+".text: Field required")
			}
			t.dropCitations(b, p)
			parts = append(parts, textPart(*b.Text, cc))
		case "thinking":
			if b.Thinking == nil {
				return invalid(p+".thinking", p+".thinking: Field required")
			}
			sig := ""
			if b.Signature != nil {
				sig = *b.Signature
			}
			m.ThinkingBlocks = append(m.ThinkingBlocks, thinkingBlock{Type: "thinking", Thinking: b.Thinking, Signature: &sig})
			if *b.Thinking != "" {
				reasoning = append(reasoning, *b.Thinking)
			}
		case "redacted_thinking":
			if b.Data == nil {
				return invalid(p+".data", p+".data: Field required")
			}
			m.ThinkingBlocks = append(m.ThinkingBlocks, thinkingBlock{Type: "redacted_thinking", Data: b.Data})
		case "tool_use":
			call, err := toolCall(b, p)
			if err != nil {
				return err
			}
			m.ToolCalls = append(m.ToolCalls, call)
			if cc != nil {
				m.CacheControl = cc
			}
		default:
			return unsupportedBlock(b.Type, p, "assistant")
		}
	}
	if len(reasoning) > 0 {
		s := strings.Join(reasoning, "\n\n")
		m.ReasoningContent = &s
	}
	if len(parts) > 0 || (len(m.ToolCalls) == 0 && len(m.ThinkingBlocks) == 0) {
		m.Content = partsContent(parts)
	}
	t.out.Messages = append(t.out.Messages, m)
	return nil
}

// toolCall turns a tool_use block into a tool call whose arguments are the
// compact JSON of its input.
func toolCall(b *inBlock, p string) (hubToolCall, error) {
	if b.ID == "" {
		return hubToolCall{}, invalid(p+".id", p+".id: Field required")
	}
	if b.Name == "" {
		return hubToolCall{}, invalid(p+".name", p+".name: Field required")
	}
	args := "{}"
	if !isNull(b.Input) {
		in := bytes.TrimSpace(b.Input)
		if in[0] != '{' {
			return hubToolCall{}, invalid(p+".input", p+".input: Input should be a valid dictionary")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, in); err != nil {
			return hubToolCall{}, invalid(p+".input", p+".input: Input should be a valid dictionary")
		}
		args = buf.String()
	}
	return hubToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}}, nil
}

// cacheControl returns a block's cache_control, compacted, or nil when it
// has none.
func cacheControl(raw json.RawMessage, p string) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	var buf bytes.Buffer
	if raw[0] != '{' || json.Compact(&buf, raw) != nil {
		return nil, invalid(p+".cache_control", p+".cache_control: Input should be a valid object")
	}
	return buf.Bytes(), nil
}

// autoCache applies top-level cache_control (Anthropic's automatic
// caching: a breakpoint on the last cacheable block) as the last
// message's cache_control, unless that message has one.
func (t *translator) autoCache() error {
	raw, ok := t.get("cache_control")
	if !ok {
		return nil
	}
	cc, err := cacheControl(raw, "")
	if err != nil {
		return invalid("cache_control", "cache_control: Input should be a valid object")
	}
	if n := len(t.out.Messages); n > 0 && t.out.Messages[n-1].CacheControl == nil {
		t.out.Messages[n-1].CacheControl = cc
	}
	return nil
}
