package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Messages API request types: only what the translation writes.

type request struct {
	// Version is set, and Model left empty, for endpoints that take the
	// version in the body and the model from the URL (Vertex AI).
	Version       string        `json:"anthropic_version,omitempty"`
	Model         string        `json:"model,omitempty"`
	MaxTokens     int           `json:"max_tokens"`
	System        []block       `json:"system,omitempty"`
	Messages      []message     `json:"messages"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Tools         []tool        `json:"tools,omitempty"`
	ToolChoice    *toolChoice   `json:"tool_choice,omitempty"`
	Metadata      *metadata     `json:"metadata,omitempty"`
	OutputConfig  *outputConfig `json:"output_config,omitempty"`
	Thinking      *thinking     `json:"thinking,omitempty"`
}

// thinking is extended thinking with a token budget.
type thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a content block of a request: text, image, document, tool_use,
// tool_result, thinking or redacted_thinking.
type block struct {
	Type      string          `json:"type"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	Text      string          `json:"text,omitempty"`
	Source    *source         `json:"source,omitempty"`
	Title     string          `json:"title,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []block         `json:"content,omitempty"`
	// CacheControl is the hub's cache_control, as given.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id"`
}

type outputConfig struct {
	Format *outputFormat `json:"format,omitempty"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// translateRequest turns an OpenAI chat completion request into a Messages
// request for model. What Anthropic cannot express is rejected with a 400
// that names the parameter.
func (p *Anthropic) translateRequest(in *openai.ChatCompletionRequest, model string, stream bool) (*request, error) {
	if err := p.checkUnsupported(in); err != nil {
		return nil, err
	}
	out := &request{
		Model:         model,
		MaxTokens:     p.maxTokens,
		StopSequences: in.Stop,
		Temperature:   in.Temperature,
		TopP:          in.TopP,
		Stream:        stream,
	}
	clientMax := 0
	switch {
	case in.MaxCompletionTokens != nil:
		clientMax = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		clientMax = *in.MaxTokens
	}
	if clientMax > 0 {
		out.MaxTokens = clientMax
	}
	if err := p.translateReasoning(in, clientMax, out); err != nil {
		return nil, err
	}
	if u := in.User; u != "" {
		out.Metadata = &metadata{UserID: u}
	} else if u := in.SafetyIdentifier; u != "" {
		out.Metadata = &metadata{UserID: u}
	}
	if err := p.translateMessages(in.Messages, out); err != nil {
		return nil, err
	}
	if err := p.translateTools(in, out); err != nil {
		return nil, err
	}
	if rf := in.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", openai.FormatText:
		case openai.FormatJSONSchema:
			if rf.JSONSchema == nil || isNull(rf.JSONSchema.Schema) {
				return nil, p.reject("response_format.json_schema.schema", "response_format json_schema needs a schema")
			}
			out.OutputConfig = &outputConfig{Format: &outputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}}
		case openai.FormatJSONObject:
			return nil, p.reject("response_format", "Anthropic has no JSON mode without a schema: use response_format json_schema")
		default:
			return nil, p.reject("response_format", "response_format type "+strconv.Quote(rf.Type)+" is not supported")
		}
	}
	return out, nil
}

// checkUnsupported rejects parameters Anthropic cannot honour.
func (p *Anthropic) checkUnsupported(in *openai.ChatCompletionRequest) error {
	if param, why := providers.UnsupportedParam(in, "Anthropic"); param != "" {
		return p.reject(param, why)
	}
	return nil
}

// translateMessages fills system and messages: system and developer
// messages become system blocks (in order), tool messages become
// tool_result blocks of a user turn, and consecutive turns of one role are
// merged into one.
func (p *Anthropic) translateMessages(msgs []openai.Message, out *request) error {
	out.Messages = make([]message, 0, len(msgs))
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var blocks []block
		var err error
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			sys, err := p.systemBlocks(m.Content, param)
			if err != nil {
				return err
			}
			if len(m.CacheControl) > 0 && len(sys) > 0 {
				sys[len(sys)-1].CacheControl = m.CacheControl
			}
			out.System = append(out.System, sys...)
			continue
		case openai.RoleUser:
			role = "user"
			blocks, err = p.contentBlocks(m.Content, param+".content", false)
		case openai.RoleAssistant:
			role = "assistant"
			blocks, err = p.assistantBlocks(&m, param)
		case openai.RoleTool:
			role = "user"
			if m.ToolCallID == "" {
				return p.reject(param+".tool_call_id", "a tool message needs the tool_call_id of the call it answers")
			}
			res := block{Type: "tool_result", ToolUseID: m.ToolCallID}
			res.Content, err = p.contentBlocks(m.Content, param+".content", true)
			blocks = []block{res}
		case openai.RoleFunction:
			return p.reject(param+".role", "the deprecated function role is not translated: use tool messages")
		default:
			return p.reject(param+".role", "unknown role "+strconv.Quote(m.Role))
		}
		if err != nil {
			return err
		}
		if len(blocks) == 0 {
			continue
		}
		if len(m.CacheControl) > 0 {
			// A message's breakpoint is its last block's.
			blocks[len(blocks)-1].CacheControl = m.CacheControl
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, message{Role: role, Content: blocks})
	}
	return nil
}

func (p *Anthropic) systemBlocks(c openai.Content, param string) ([]block, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []block{{Type: "text", Text: c.Text}}, nil
	}
	blocks := make([]block, 0, len(c.Parts))
	for j, part := range c.Parts {
		if part.Type != openai.PartText {
			return nil, p.reject(param+".content["+strconv.Itoa(j)+"]", "Anthropic system prompts hold text only, not "+strconv.Quote(part.Type)+" parts")
		}
		if part.Text != "" {
			blocks = append(blocks, block{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
		}
	}
	return blocks, nil
}

// contentBlocks translates user or tool content. Empty text is dropped
// (Anthropic rejects empty text blocks).
func (p *Anthropic) contentBlocks(c openai.Content, param string, tool bool) ([]block, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []block{{Type: "text", Text: c.Text}}, nil
	}
	blocks := make([]block, 0, len(c.Parts))
	for j, part := range c.Parts {
		pp := param + "[" + strconv.Itoa(j) + "]"
		switch part.Type {
		case openai.PartText:
			if part.Text != "" {
				blocks = append(blocks, block{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
			}
		case openai.PartImageURL:
			if part.ImageURL == nil {
				return nil, p.reject(pp+".image_url", "an image_url part needs an image_url")
			}
			src, err := p.imageSource(part.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, block{Type: "image", Source: src, CacheControl: part.CacheControl})
		case openai.PartFile:
			if tool {
				return nil, p.reject(pp, "Anthropic tool results hold text and images only")
			}
			b, err := p.document(part.File, pp+".file")
			if err != nil {
				return nil, err
			}
			b.CacheControl = part.CacheControl
			blocks = append(blocks, b)
		case openai.PartInputAudio:
			return nil, p.reject(pp, "Anthropic does not accept audio input")
		default:
			return nil, p.reject(pp+".type", "content part type "+strconv.Quote(part.Type)+" is not supported by Anthropic")
		}
	}
	return blocks, nil
}

// imageSource turns an image URL into a base64 (data URL) or url source.
func (p *Anthropic) imageSource(u, param string) (*source, error) {
	if mt, data, ok := openai.ParseDataURL(u); ok {
		return &source{Type: "base64", MediaType: mt, Data: data}, nil
	}
	if hasHTTPScheme(u) {
		return &source{Type: "url", URL: u}, nil
	}
	return nil, p.reject(param, "images must be http(s) URLs or base64 data URLs")
}

// document turns a file part into a document block: base64 PDFs and
// plain text are supported.
func (p *Anthropic) document(f *openai.FilePart, param string) (block, error) {
	if f == nil {
		return block{}, p.reject(param, "a file part needs a file")
	}
	if f.FileData == "" {
		return block{}, p.reject(param+".file_id", "file ids refer to OpenAI's file storage, which Anthropic cannot read: send file_data")
	}
	mt, data, ok := openai.ParseDataURL(f.FileData)
	if !ok {
		return block{}, p.reject(param+".file_data", "file_data must be a base64 data URL")
	}
	b := block{Type: "document", Title: f.Filename}
	switch mt {
	case "application/pdf":
		b.Source = &source{Type: "base64", MediaType: mt, Data: data}
	case "text/plain":
		text, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return block{}, p.reject(param+".file_data", "file_data is not valid base64")
		}
		b.Source = &source{Type: "text", MediaType: mt, Data: string(text)}
	default:
		return block{}, p.reject(param+".file_data", "Anthropic reads PDF and plain-text files, not "+strconv.Quote(mt))
	}
	return b, nil
}

// assistantBlocks translates an assistant message: its text and its tool
// calls as tool_use blocks with parsed arguments.
func (p *Anthropic) assistantBlocks(m *openai.Message, param string) ([]block, error) {
	blocks := make([]block, 0, 1+len(m.ToolCalls)+len(m.ThinkingBlocks))
	tb, err := p.thinkingBlocks(m.ThinkingBlocks, param+".thinking_blocks")
	if err != nil {
		return nil, err
	}
	blocks = append(blocks, tb...)
	if m.Content.Parts == nil {
		if m.Content.Text != "" {
			blocks = append(blocks, block{Type: "text", Text: m.Content.Text})
		}
	} else {
		for j, part := range m.Content.Parts {
			switch part.Type {
			case openai.PartText:
				if part.Text != "" {
					blocks = append(blocks, block{Type: "text", Text: part.Text, CacheControl: part.CacheControl})
				}
			case openai.PartRefusal:
			default:
				return nil, p.reject(param+".content["+strconv.Itoa(j)+"].type", "assistant content parts must be text or refusal")
			}
		}
	}
	for j, tc := range m.ToolCalls {
		pp := param + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, p.reject(pp+".type", "only function tool calls are translated, not "+strconv.Quote(tc.Type))
		}
		input := json.RawMessage(`{}`)
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			if !json.Valid([]byte(args)) || args[0] != '{' {
				return nil, p.reject(pp+".function.arguments", "tool call arguments must be a JSON object")
			}
			input = json.RawMessage(args)
		}
		blocks = append(blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// translateTools fills tools and tool_choice.
func (p *Anthropic) translateTools(in *openai.ChatCompletionRequest, out *request) error {
	for i, t := range in.Tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" || t.Function == nil {
			return p.reject(param+".type", "only function tools are translated for Anthropic, not "+strconv.Quote(t.Type))
		}
		schema := t.Function.Parameters
		if isNull(schema) {
			schema = emptySchema
		}
		out.Tools = append(out.Tools, tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema, CacheControl: t.CacheControl})
	}
	if len(out.Tools) == 0 {
		return nil
	}
	noParallel := in.ParallelToolCalls != nil && !*in.ParallelToolCalls
	tc := in.ToolChoice
	switch {
	case tc == nil:
		if noParallel {
			out.ToolChoice = &toolChoice{Type: "auto"}
		}
	case tc.Mode == openai.ToolChoiceAuto:
		out.ToolChoice = &toolChoice{Type: "auto"}
	case tc.Mode == openai.ToolChoiceRequired:
		out.ToolChoice = &toolChoice{Type: "any"}
	case tc.Mode == openai.ToolChoiceNone:
		out.ToolChoice = &toolChoice{Type: "none"}
		return nil
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		out.ToolChoice = &toolChoice{Type: "tool", Name: tc.Function}
	default:
		what := tc.Mode
		if what == "" {
			what = tc.Type
		}
		return p.reject("tool_choice", "tool_choice "+strconv.Quote(what)+" is not translated for Anthropic")
	}
	if noParallel && out.ToolChoice != nil {
		out.ToolChoice.DisableParallelToolUse = true
	}
	return nil
}

// reject returns the 400 for a parameter Anthropic cannot take.
func (p *Anthropic) reject(param, why string) error {
	return &providers.Error{Err: openai.InvalidRequest(param,
		"provider "+quote(p.client.Name)+" (Anthropic) cannot take "+param+": "+why)}
}

func quote(s string) string { return strconv.Quote(s) }

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func hasHTTPScheme(u string) bool {
	return len(u) > 8 && (strings.EqualFold(u[:7], "http://") || strings.EqualFold(u[:8], "https://"))
}
