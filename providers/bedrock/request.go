package bedrock

import (
	"bytes"
	"encoding/json"
	"path"
	"strconv"
	"strings"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// emptySchema is the input schema of a tool declared without parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// emptyToolResult stands for a tool result with no content: Converse
// rejects empty text blocks.
const emptyToolResult = "(empty)"

// translateRequest turns a hub chat completion request into a Converse
// request for model (the same for ConverseStream). What Converse cannot
// express and would change the answer's meaning is rejected with a 400
// that names the parameter; hints it has no use for are dropped.
func (p *Bedrock) translateRequest(in *hubRequest, model string) (*converseRequest, error) {
	if err := p.checkUnsupported(in); err != nil {
		return nil, err
	}
	t := translation{p: p, cache: supportsPromptCache(model)}
	out := &converseRequest{GuardrailConfig: p.guardrail}
	if err := t.messages(in.Messages, out); err != nil {
		return nil, err
	}
	if err := t.tools(in, out); err != nil {
		return nil, err
	}
	ic := inferenceConfig{Temperature: in.Temperature, TopP: in.TopP, StopSequences: in.Stop}
	switch {
	case in.MaxCompletionTokens != nil:
		ic.MaxTokens = in.MaxCompletionTokens
	case in.MaxTokens != nil:
		ic.MaxTokens = in.MaxTokens
	}
	thinking, err := p.thinking(in, model, &ic)
	if err != nil {
		return nil, err
	}
	if thinking != nil {
		out.AdditionalModelRequestFields = map[string]json.RawMessage{"thinking": thinking}
	}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = &ic
	}
	if rf := in.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", openai.FormatText:
		case openai.FormatJSONSchema:
			if rf.JSONSchema == nil || isNull(rf.JSONSchema.Schema) {
				return nil, p.reject("response_format.json_schema.schema", "response_format json_schema needs a schema")
			}
			var schema bytes.Buffer
			if err := json.Compact(&schema, rf.JSONSchema.Schema); err != nil {
				return nil, p.reject("response_format.json_schema.schema", "the schema is not valid JSON")
			}
			out.OutputConfig = &outputConfig{TextFormat: &outputFormat{
				Type: "json_schema",
				Structure: outputStructure{JSONSchema: jsonSchemaDefinition{
					Schema: schema.String(), Name: rf.JSONSchema.Name, Description: rf.JSONSchema.Description,
				}},
			}}
		case openai.FormatJSONObject:
			return nil, p.reject("response_format", "Converse has no JSON mode without a schema: use response_format json_schema")
		default:
			return nil, p.reject("response_format", "response_format type "+strconv.Quote(rf.Type)+" is not supported")
		}
	}
	switch in.ServiceTier {
	case "priority", "flex", "default":
		out.ServiceTier = &serviceTier{Type: in.ServiceTier}
	}
	return out, nil
}

// thinkingAnswerTokens is the room left for the answer, above the thinking
// budget, when reasoning_effort turns thinking on for a request that sets
// no max_tokens: Anthropic wants max_tokens above budget_tokens.
const thinkingAnswerTokens = 4096

// thinking returns additionalModelRequestFields.thinking: the request's
// own thinking switch when it has one, else for Claude models
// {"type":"enabled","budget_tokens":N} with N the budget of
// reasoning_effort (providers.ThinkingBudget against the request's max
// tokens, which become the budget plus thinkingAnswerTokens when unset).
// reasoning_effort is ignored for models that cannot think (other
// families, Claude before 3.7), and "none" turns nothing on.
func (p *Bedrock) thinking(in *hubRequest, model string, ic *inferenceConfig) (json.RawMessage, error) {
	if !isNull(in.Thinking) {
		return in.Thinking, nil
	}
	if in.ReasoningEffort == "" || !claudeThinks(model) {
		return nil, nil
	}
	maxTokens := 0
	if ic.MaxTokens != nil {
		maxTokens = *ic.MaxTokens
	}
	budget, err := providers.ThinkingBudget(in.ReasoningEffort, maxTokens)
	if err != nil {
		return nil, p.reject("reasoning_effort", err.Error())
	}
	if budget == 0 {
		return nil, nil
	}
	if ic.MaxTokens == nil {
		n := budget + thinkingAnswerTokens
		ic.MaxTokens = &n
	}
	return json.RawMessage(`{"type":"enabled","budget_tokens":` + strconv.Itoa(budget) + `}`), nil
}

// isClaude reports whether model is an Anthropic Claude model: a model id
// (anthropic.claude-…), an inference profile (us.anthropic.claude-…) or an
// ARN of either. Application inference profiles and provisioned models,
// whose ARNs do not name the model, are not recognised.
func isClaude(model string) bool {
	return strings.Contains(strings.ToLower(model), "anthropic.claude")
}

// claudeThinks reports whether model is a Claude model that can think:
// every one but the Claude 1, 2, 3 and 3.5 families (Claude 3.7 Sonnet
// was the first with extended thinking).
func claudeThinks(model string) bool {
	m := strings.ToLower(model)
	if !strings.Contains(m, "anthropic.claude") {
		return false
	}
	for _, old := range []string{"claude-v1", "claude-v2", "claude-instant", "claude-3-haiku", "claude-3-sonnet", "claude-3-opus", "claude-3-5-"} {
		if strings.Contains(m, old) {
			return false
		}
	}
	return true
}

// checkUnsupported rejects parameters Converse cannot honour.
func (p *Bedrock) checkUnsupported(in *hubRequest) error {
	if param, why := providers.UnsupportedParam(&in.ChatCompletionRequest, "Converse"); param != "" {
		return p.reject(param, why)
	}
	return nil
}

// translation holds the state of one request's translation.
type translation struct {
	p        *Bedrock
	cache    bool // the model has a prompt cache: cache_control becomes cachePoint
	docs     map[string]bool
	hasTools bool // the conversation holds toolUse or toolResult blocks
}

// messages fills system and messages: system and developer messages become
// system blocks (in order), tool messages toolResult blocks of a user turn,
// and consecutive turns of one role are merged, as Converse wants turns to
// alternate.
func (t *translation) messages(msgs []openai.Message, out *converseRequest) error {
	out.Messages = make([]message, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		param := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var blocks []block
		var err error
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			sys, err := t.systemBlocks(m, param)
			if err != nil {
				return err
			}
			out.System = append(out.System, sys...)
			continue
		case openai.RoleUser:
			role = "user"
			blocks, err = t.contentBlocks(&m.Content, param+".content", false)
		case openai.RoleAssistant:
			role = "assistant"
			blocks, err = t.assistantBlocks(m, param)
		case openai.RoleTool:
			role = "user"
			if m.ToolCallID == "" {
				return t.p.reject(param+".tool_call_id", "a tool message needs the tool_call_id of the call it answers")
			}
			res := &toolResult{ToolUseID: m.ToolCallID}
			res.Content, err = t.contentBlocks(&m.Content, param+".content", true)
			if len(res.Content) == 0 {
				res.Content = []block{{Text: emptyToolResult}}
			}
			blocks = []block{{ToolResult: res}}
			t.hasTools = true
		case openai.RoleFunction:
			return t.p.reject(param+".role", "the deprecated function role is not translated: use tool messages")
		default:
			return t.p.reject(param+".role", "unknown role "+strconv.Quote(m.Role))
		}
		if err != nil {
			return err
		}
		blocks = t.cachePoint(blocks, parseCacheControl(m.CacheControl))
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, message{Role: role, Content: blocks})
	}
	return nil
}

// cachePoint appends a cachePoint block after blocks when cc asks for one
// and the model has a prompt cache (once: a part's and its message's
// cache_control give one cachePoint).
func (t *translation) cachePoint(blocks []block, cc *cacheControl) []block {
	cp := t.point(cc)
	if cp == nil || len(blocks) == 0 || blocks[len(blocks)-1].CachePoint != nil {
		return blocks
	}
	return append(blocks, block{CachePoint: cp})
}

// point is the cachePoint for cc, or nil.
func (t *translation) point(cc *cacheControl) *cachePoint {
	if cc == nil || cc.Type != "ephemeral" || !t.cache {
		return nil
	}
	cp := &cachePoint{Type: "default"}
	if cc.TTL == "5m" || cc.TTL == "1h" {
		cp.TTL = cc.TTL
	}
	return cp
}

func (t *translation) systemBlocks(m *openai.Message, param string) ([]block, error) {
	c := &m.Content
	var blocks []block
	if c.Parts == nil {
		if c.Text != "" {
			blocks = []block{{Text: c.Text}}
		}
	} else {
		for j, part := range c.Parts {
			if part.Type != openai.PartText {
				return nil, t.p.reject(param+".content["+strconv.Itoa(j)+"]", "Converse system prompts hold text only, not "+strconv.Quote(part.Type)+" parts")
			}
			if part.Text != "" {
				blocks = append(blocks, block{Text: part.Text})
				blocks = t.cachePoint(blocks, parseCacheControl(part.CacheControl))
			}
		}
	}
	return t.cachePoint(blocks, parseCacheControl(m.CacheControl)), nil
}

// contentBlocks translates user or tool content. Empty text is dropped
// (Converse rejects blank text blocks).
func (t *translation) contentBlocks(c *openai.Content, param string, tool bool) ([]block, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []block{{Text: c.Text}}, nil
	}
	blocks := make([]block, 0, len(c.Parts))
	for j, part := range c.Parts {
		pp := param + "[" + strconv.Itoa(j) + "]"
		switch part.Type {
		case openai.PartText:
			if part.Text == "" {
				continue
			}
			blocks = append(blocks, block{Text: part.Text})
		case openai.PartImageURL:
			if part.ImageURL == nil {
				return nil, t.p.reject(pp+".image_url", "an image_url part needs an image_url")
			}
			img, err := t.image(part.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, block{Image: img})
		case openai.PartFile:
			doc, err := t.document(part.File, pp+".file")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, block{Document: doc})
		case openai.PartInputAudio:
			if tool {
				return nil, t.p.reject(pp, "Converse tool results hold text, images and documents, not audio")
			}
			if part.InputAudio == nil || part.InputAudio.Data == "" {
				return nil, t.p.reject(pp+".input_audio", "an input_audio part needs data")
			}
			blocks = append(blocks, block{Audio: &mediaBlock{Format: part.InputAudio.Format, Source: mediaSource{Bytes: part.InputAudio.Data}}})
		default:
			return nil, t.p.reject(pp+".type", "content part type "+strconv.Quote(part.Type)+" is not supported by Converse")
		}
		blocks = t.cachePoint(blocks, parseCacheControl(part.CacheControl))
	}
	return blocks, nil
}

// imageFormats maps image media types and file extensions to Converse's
// image formats.
var imageFormats = map[string]string{
	"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp",
	".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp",
}

// image turns a data URL into image bytes (the base64 text passes as it
// is: Converse's JSON carries bytes as base64) and an s3:// URL into an S3
// location. Bedrock fetches no http(s) URL, and the gateway does not either.
func (t *translation) image(u, param string) (*mediaBlock, error) {
	if mt, data, ok := openai.ParseDataURL(u); ok {
		f, ok := imageFormats[strings.ToLower(mt)]
		if !ok {
			return nil, t.p.reject(param, "Converse takes PNG, JPEG, GIF and WebP images, not "+strconv.Quote(mt))
		}
		return &mediaBlock{Format: f, Source: mediaSource{Bytes: data}}, nil
	}
	if len(u) > 5 && strings.EqualFold(u[:5], "s3://") {
		f, ok := imageFormats[strings.ToLower(path.Ext(u))]
		if !ok {
			return nil, t.p.reject(param, "an s3:// image must end in .png, .jpg, .jpeg, .gif or .webp")
		}
		return &mediaBlock{Format: f, Source: mediaSource{S3Location: &s3Location{URI: u}}}, nil
	}
	return nil, t.p.reject(param, "Converse takes images as base64 data URLs or s3:// locations, not web URLs")
}

// documentFormats maps file media types to Converse's document formats.
var documentFormats = map[string]string{
	"application/pdf":    "pdf",
	"text/csv":           "csv",
	"application/msword": "doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"application/vnd.ms-excel": "xls",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
	"text/html":     "html",
	"text/plain":    "txt",
	"text/markdown": "md",
}

// document turns a file part with inline data into a document block, named
// after the file (Converse requires a name of letters, digits, single
// spaces, hyphens, parentheses and brackets, unique in the request).
func (t *translation) document(f *openai.FilePart, param string) (*mediaBlock, error) {
	if f == nil {
		return nil, t.p.reject(param, "a file part needs a file")
	}
	if f.FileData == "" {
		return nil, t.p.reject(param+".file_id", "file ids refer to OpenAI's file storage, which Bedrock cannot read: send file_data")
	}
	mt, data, ok := openai.ParseDataURL(f.FileData)
	if !ok {
		return nil, t.p.reject(param+".file_data", "file_data must be a base64 data URL")
	}
	if f, ok := imageFormats[strings.ToLower(mt)]; ok {
		return nil, t.p.reject(param+".file_data", "send images as image_url parts, not files ("+f+")")
	}
	format, ok := documentFormats[strings.ToLower(mt)]
	if !ok {
		return nil, t.p.reject(param+".file_data", "Converse reads pdf, csv, doc, docx, xls, xlsx, html, txt and md documents, not "+strconv.Quote(mt))
	}
	name := documentName(f.Filename)
	if name == "" {
		name = "document"
	}
	if t.docs == nil {
		t.docs = make(map[string]bool)
	}
	for base, n := name, 2; t.docs[name]; n++ {
		name = base + " (" + strconv.Itoa(n) + ")"
	}
	t.docs[name] = true
	return &mediaBlock{Format: format, Name: name, Source: mediaSource{Bytes: data}}, nil
}

// documentName makes a file name fit Converse's document name rules: the
// extension is dropped, other characters become hyphens, runs of spaces
// one space; at most 200 characters.
func documentName(filename string) string {
	filename = strings.TrimSuffix(filename, path.Ext(filename))
	var b strings.Builder
	space := false
	for _, r := range filename {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '(', r == ')', r == '[', r == ']':
			b.WriteRune(r)
			space = false
		case r == ' ' || r == '\t' || r == '_' || r == '.':
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
		default:
			b.WriteByte('-')
			space = false
		}
		if b.Len() >= 200 {
			break
		}
	}
	return strings.TrimSpace(b.String())
}

// assistantBlocks translates an assistant message: its signed thinking
// blocks first (as reasoningContent), then its text and its tool calls as
// toolUse blocks with parsed input. reasoning_content without a signature
// cannot be replayed and is dropped.
func (t *translation) assistantBlocks(m *openai.Message, param string) ([]block, error) {
	blocks := make([]block, 0, len(m.ThinkingBlocks)+1+len(m.ToolCalls))
	for j, tb := range m.ThinkingBlocks {
		pp := param + ".thinking_blocks[" + strconv.Itoa(j) + "]"
		switch tb.Type {
		case openai.ThinkingSigned:
			if tb.Signature == "" {
				continue // unsigned reasoning is not sent back
			}
			text := tb.Thinking
			if text == "" && len(m.ThinkingBlocks) == 1 && m.ReasoningContent != nil {
				// A streamed answer carries the text as reasoning_content
				// and the signature alone in thinking_blocks.
				text = *m.ReasoningContent
			}
			blocks = append(blocks, block{ReasoningContent: &reasoningContent{ReasoningText: &reasoningText{Text: text, Signature: tb.Signature}}})
		case openai.ThinkingRedacted:
			if tb.Data == "" {
				return nil, t.p.reject(pp+".data", "a redacted_thinking block needs its data")
			}
			blocks = append(blocks, block{ReasoningContent: &reasoningContent{RedactedContent: tb.Data}})
		default:
			return nil, t.p.reject(pp+".type", "thinking block type must be thinking or redacted_thinking, not "+strconv.Quote(tb.Type))
		}
	}
	c := &m.Content
	if c.Parts == nil {
		if c.Text != "" {
			blocks = append(blocks, block{Text: c.Text})
		}
	} else {
		for j, part := range c.Parts {
			switch part.Type {
			case openai.PartText:
				if part.Text != "" {
					blocks = append(blocks, block{Text: part.Text})
					blocks = t.cachePoint(blocks, parseCacheControl(part.CacheControl))
				}
			case openai.PartRefusal:
			default:
				return nil, t.p.reject(param+".content["+strconv.Itoa(j)+"].type", "assistant content parts must be text or refusal")
			}
		}
	}
	for j, tc := range m.ToolCalls {
		pp := param + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, t.p.reject(pp+".type", "only function tool calls are translated, not "+strconv.Quote(tc.Type))
		}
		if tc.ID == "" {
			return nil, t.p.reject(pp+".id", "a tool call needs an id")
		}
		input := json.RawMessage(`{}`)
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			if args[0] != '{' || !json.Valid([]byte(args)) {
				return nil, t.p.reject(pp+".function.arguments", "tool call arguments must be a JSON object")
			}
			input = json.RawMessage(args)
		}
		blocks = append(blocks, block{ToolUse: &toolUse{ToolUseID: tc.ID, Name: tc.Function.Name, Input: input}})
		t.hasTools = true
	}
	return blocks, nil
}

// tools fills toolConfig: function tools become toolSpecs (cache_control
// a cachePoint after the tool), tool_choice auto, required and a named
// function auto, any and tool.
func (t *translation) tools(in *hubRequest, out *converseRequest) error {
	var tools []tool
	for i, ht := range in.Tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if ht.Type != "function" || ht.Function == nil {
			return t.p.reject(param+".type", "only function tools are translated for Converse, not "+strconv.Quote(ht.Type))
		}
		if ht.Function.Name == "" {
			return t.p.reject(param+".function.name", "a function tool needs a name")
		}
		schema := ht.Function.Parameters
		if isNull(schema) {
			schema = emptySchema
		}
		tools = append(tools, tool{ToolSpec: &toolSpec{Name: ht.Function.Name, Description: ht.Function.Description, InputSchema: inputSchema{JSON: schema}}})
		if cp := t.point(parseCacheControl(ht.CacheControl)); cp != nil {
			tools = append(tools, tool{CachePoint: cp})
		}
	}
	tc := in.ToolChoice
	if tc != nil && tc.Mode == openai.ToolChoiceNone {
		if t.hasTools {
			return t.p.reject("tool_choice", `Converse has no tool_choice "none" and needs the tools declared while the conversation holds tool calls`)
		}
		return nil // no tools: the model cannot call one
	}
	if len(tools) == 0 {
		if tc != nil && (tc.Mode == openai.ToolChoiceRequired || tc.Type == "function") {
			return t.p.reject("tool_choice", "tool_choice requires a tool call but there are no tools")
		}
		return nil
	}
	out.ToolConfig = &toolConfig{Tools: tools}
	switch {
	case tc == nil:
	case tc.Mode == openai.ToolChoiceAuto:
		out.ToolConfig.ToolChoice = &toolChoice{Auto: &struct{}{}}
	case tc.Mode == openai.ToolChoiceRequired:
		out.ToolConfig.ToolChoice = &toolChoice{Any: &struct{}{}}
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		out.ToolConfig.ToolChoice = &toolChoice{Tool: &specificTool{Name: tc.Function}}
	default:
		what := tc.Mode
		if what == "" {
			what = tc.Type
		}
		return t.p.reject("tool_choice", "tool_choice "+strconv.Quote(what)+" is not translated for Converse")
	}
	return nil
}

// supportsPromptCache reports whether model may take cachePoint blocks:
// Anthropic Claude and Amazon Nova models, and ARNs that name no model
// family (application inference profiles, provisioned models), which
// could be either. Other families have no prompt cache and reject the
// blocks, so cache_control is dropped for them.
func supportsPromptCache(model string) bool {
	m := strings.ToLower(model)
	if strings.Contains(m, "anthropic.") || strings.Contains(m, "amazon.nova") {
		return true
	}
	if strings.HasPrefix(m, "arn:") {
		last := m[strings.LastIndexByte(m, '/')+1:]
		return !strings.Contains(last, ".")
	}
	return false
}

// reject returns the 400 for a parameter Converse cannot take.
func (p *Bedrock) reject(param, why string) error {
	return &providers.Error{Err: openai.InvalidRequest(param,
		"provider "+strconv.Quote(p.client.Name)+" (Bedrock) cannot take "+param+": "+why)}
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}
