package responses

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// convertInput translates input (a string or a list of items) into hub
// messages. Messages keep their roles; function_call items join the
// assistant message before them (consecutive ones become one message with
// several tool_calls); function_call_output items become tool messages;
// reasoning items give the next assistant message its reasoning_content
// (from their content, else their summary) and, from an encrypted_content
// this package wrote, its thinking_blocks and its tool calls'
// extra_content. Everything an assistant turn is made of (reasoning,
// assistant messages, function calls) joins one assistant message until a
// message of another role or a function_call_output comes. A reasoning item
// with no assistant output after it carries nothing the hub can send and is
// dropped.
func convertInput(r gjson.Result, ttl string) ([]any, *openai.Error) {
	switch {
	case !r.Exists():
		return nil, nil
	case r.Type == gjson.String:
		return []any{hubMessage{Role: openai.RoleUser, Content: jsonString(r.Str)}}, nil
	case !r.IsArray():
		return nil, typeError("input", "a string or an array", r)
	}
	c := converter{ttl: ttl}
	i := 0
	var err *openai.Error
	r.ForEach(func(_, item gjson.Result) bool {
		err = c.item(item, "input["+itoa(i)+"]")
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	c.flush()
	return c.out, nil
}

// converter builds hub messages from input items.
type converter struct {
	ttl  string
	out  []any
	asst *turn // the assistant message being built, nil when none
}

// turn is an assistant message under construction.
type turn struct {
	parts     []hubPart
	refusal   []string
	reasoning []string
	blocks    []any
	calls     []hubToolCall
	extras    map[string]json.RawMessage
}

func (c *converter) turn() *turn {
	if c.asst == nil {
		c.asst = &turn{}
	}
	return c.asst
}

// flush ends the assistant message being built.
func (c *converter) flush() {
	t := c.asst
	c.asst = nil
	if t == nil || (len(t.parts) == 0 && len(t.refusal) == 0 && len(t.calls) == 0) {
		return
	}
	m := hubMessage{Role: openai.RoleAssistant, Content: json.RawMessage("null")}
	switch {
	case len(t.parts) == 1 && t.parts[0].CacheControl == nil:
		m.Content = jsonString(*t.parts[0].Text)
	case len(t.parts) > 0:
		m.Content, _ = marshal(t.parts)
	}
	if len(t.refusal) > 0 {
		s := strings.Join(t.refusal, "")
		m.Refusal = &s
	}
	if len(t.reasoning) > 0 {
		s := strings.Join(t.reasoning, "\n\n")
		m.ReasoningContent = &s
	}
	m.ThinkingBlocks = t.blocks
	for i := range t.calls {
		if x, ok := t.extras[t.calls[i].ID]; ok {
			t.calls[i].ExtraContent = x
		}
	}
	m.ToolCalls = t.calls
	c.out = append(c.out, m)
}

func (c *converter) item(item gjson.Result, p string) *openai.Error {
	if !item.IsObject() {
		return typeError(p, "an object", item)
	}
	typ, role := item.Get("type"), item.Get("role")
	if typ.Exists() && typ.Type != gjson.String {
		return typeError(p+".type", "a string", typ)
	}
	kind := typ.Str
	if kind == "" && role.Exists() {
		kind = "message"
	}
	switch kind {
	case "message":
		return c.message(item, role, p)
	case "function_call":
		return c.functionCall(item, p)
	case "function_call_output":
		return c.functionOutput(item, p)
	case "reasoning":
		return c.reasoningItem(item, p)
	case "":
		return openai.InvalidRequest(p+".type", "Missing required parameter: '"+p+".type'.")
	case "item_reference":
		return unsupported(p+".type", "Item references are not supported for this model: send the items themselves.")
	default:
		return unsupported(p+".type", "Input items of type "+quote(kind)+" are not supported for this model: its provider runs function tools only.")
	}
}

func (c *converter) message(item, role gjson.Result, p string) *openai.Error {
	if role.Type != gjson.String {
		return openai.InvalidRequest(p+".role", "Missing required parameter: '"+p+".role'.")
	}
	content := item.Get("content")
	switch role.Str {
	case openai.RoleAssistant:
		return c.assistantContent(content, p+".content")
	case openai.RoleUser, openai.RoleSystem, openai.RoleDeveloper:
	default:
		return openai.InvalidRequest(p+".role", "Invalid value for '"+p+".role': "+quote(role.Str)+". Supported values are: 'user', 'assistant', 'system' and 'developer'.")
	}
	c.flush()
	m := hubMessage{Role: role.Str}
	switch {
	case content.Type == gjson.String:
		m.Content = jsonString(content.Str)
	case content.IsArray():
		parts, err := c.parts(content, p+".content", role.Str == openai.RoleUser)
		if err != nil {
			return err
		}
		if m.Content, err = marshal(parts); err != nil {
			return err
		}
	case !content.Exists():
		return openai.InvalidRequest(p+".content", "Missing required parameter: '"+p+".content'.")
	default:
		return typeError(p+".content", "a string or an array", content)
	}
	c.out = append(c.out, m)
	return nil
}

// assistantContent adds an assistant message's text and refusals to the
// turn.
func (c *converter) assistantContent(content gjson.Result, p string) *openai.Error {
	t := c.turn()
	switch {
	case content.Type == gjson.String:
		s := content.Str
		t.parts = append(t.parts, hubPart{Type: openai.PartText, Text: &s})
		return nil
	case !content.IsArray():
		return typeError(p, "a string or an array", content)
	}
	var err *openai.Error
	j := 0
	content.ForEach(func(_, part gjson.Result) bool {
		pp := p + "[" + itoa(j) + "]"
		j++
		switch typ := part.Get("type").Str; typ {
		case "output_text", "input_text":
			text := part.Get("text")
			if text.Type != gjson.String {
				err = openai.InvalidRequest(pp+".text", "Missing required parameter: '"+pp+".text'.")
				return false
			}
			s := text.Str
			t.parts = append(t.parts, hubPart{Type: openai.PartText, Text: &s, CacheControl: c.cacheControl(part)})
		case "refusal":
			r := part.Get("refusal")
			if r.Type != gjson.String {
				err = openai.InvalidRequest(pp+".refusal", "Missing required parameter: '"+pp+".refusal'.")
				return false
			}
			t.refusal = append(t.refusal, r.Str)
		default:
			err = openai.InvalidRequest(pp+".type", "Invalid value for '"+pp+".type': "+quote(typ)+". Assistant messages take 'output_text' and 'refusal' parts.")
			return false
		}
		return true
	})
	return err
}

// parts translates content parts: input_text into text parts,
// input_image into image_url parts and input_file into file parts (media
// only when media is set: in user messages and function outputs).
func (c *converter) parts(content gjson.Result, p string, media bool) ([]hubPart, *openai.Error) {
	parts := []hubPart{}
	var err *openai.Error
	j := 0
	content.ForEach(func(_, part gjson.Result) bool {
		pp := p + "[" + itoa(j) + "]"
		j++
		if !part.IsObject() {
			err = typeError(pp, "an object", part)
			return false
		}
		var hp hubPart
		typ := part.Get("type").Str
		switch {
		case typ == "input_text":
			text := part.Get("text")
			if text.Type != gjson.String {
				err = openai.InvalidRequest(pp+".text", "Missing required parameter: '"+pp+".text'.")
				return false
			}
			s := text.Str
			hp = hubPart{Type: openai.PartText, Text: &s}
		case typ == "input_image" && media:
			hp, err = image(part, pp)
		case typ == "input_file" && media:
			hp, err = file(part, pp)
		case typ == "input_image" || typ == "input_file":
			err = openai.InvalidRequest(pp+".type", "Parts of type "+quote(typ)+" are only supported in user messages and function call outputs.")
		default:
			err = openai.InvalidRequest(pp+".type", "Invalid value for '"+pp+".type': "+quote(typ)+". Supported values are: 'input_text', 'input_image' and 'input_file'.")
		}
		if err != nil {
			return false
		}
		hp.CacheControl = c.cacheControl(part)
		parts = append(parts, hp)
		return true
	})
	return parts, err
}

func image(part gjson.Result, p string) (hubPart, *openai.Error) {
	url := part.Get("image_url")
	if url.Type != gjson.String || url.Str == "" {
		if part.Get("file_id").Type == gjson.String {
			return hubPart{}, unsupported(p+".file_id", "Images given by file_id are not supported for this model: send an image_url (an https URL or a data URL).")
		}
		return hubPart{}, openai.InvalidRequest(p+".image_url", "Missing required parameter: '"+p+".image_url'.")
	}
	img := &openai.ImageURL{URL: url.Str}
	switch d := part.Get("detail").Str; d {
	case "low", "high", "auto":
		img.Detail = d
	}
	return hubPart{Type: openai.PartImageURL, ImageURL: img}, nil
}

func file(part gjson.Result, p string) (hubPart, *openai.Error) {
	f := &openai.FilePart{Filename: part.Get("filename").Str}
	switch data, id := part.Get("file_data"), part.Get("file_id"); {
	case data.Type == gjson.String && data.Str != "":
		f.FileData = data.Str
	case id.Type == gjson.String && id.Str != "":
		f.FileID = id.Str
	case part.Get("file_url").Exists():
		return hubPart{}, unsupported(p+".file_url", "Files given by file_url are not supported for this model: send the file's content in file_data.")
	default:
		return hubPart{}, openai.InvalidRequest(p+".file_data", "Missing required parameter: '"+p+".file_data'.")
	}
	return hubPart{Type: openai.PartFile, File: f}, nil
}

// cacheControl turns a part's prompt_cache_breakpoint into the hub's
// cache_control: a breakpoint whose lifetime (its own ttl, else the
// request's prompt_cache_options.ttl) is "12h" asks for the longest cache
// the hub knows ({"type":"ephemeral","ttl":"1h"}), any other the default
// one.
func (c *converter) cacheControl(part gjson.Result) json.RawMessage {
	bp := part.Get("prompt_cache_breakpoint")
	if !bp.IsObject() {
		return nil
	}
	ttl := bp.Get("ttl").Str
	if ttl == "" {
		ttl = c.ttl
	}
	if ttl == "12h" {
		return json.RawMessage(`{"type":"ephemeral","ttl":"1h"}`)
	}
	return json.RawMessage(`{"type":"ephemeral"}`)
}

func (c *converter) functionCall(item gjson.Result, p string) *openai.Error {
	id, name, args := item.Get("call_id"), item.Get("name"), item.Get("arguments")
	if id.Type != gjson.String || id.Str == "" {
		return openai.InvalidRequest(p+".call_id", "Missing required parameter: '"+p+".call_id'.")
	}
	if name.Type != gjson.String || name.Str == "" {
		return openai.InvalidRequest(p+".name", "Missing required parameter: '"+p+".name'.")
	}
	if args.Exists() && args.Type != gjson.String {
		return typeError(p+".arguments", "a string", args)
	}
	if ns := item.Get("namespace"); ns.Type == gjson.String && ns.Str != "" {
		return unsupported(p+".namespace", "Namespaced function calls are not supported for this model.")
	}
	t := c.turn()
	t.calls = append(t.calls, hubToolCall{ID: id.Str, Type: "function", Function: openai.FunctionCall{Name: name.Str, Arguments: args.Str}})
	return nil
}

func (c *converter) functionOutput(item gjson.Result, p string) *openai.Error {
	id := item.Get("call_id")
	if id.Type != gjson.String || id.Str == "" {
		return openai.InvalidRequest(p+".call_id", "Missing required parameter: '"+p+".call_id'.")
	}
	c.flush()
	m := hubMessage{Role: openai.RoleTool, ToolCallID: id.Str}
	switch out := item.Get("output"); {
	case out.Type == gjson.String:
		m.Content = jsonString(out.Str)
	case out.IsArray():
		parts, err := c.parts(out, p+".output", true)
		if err != nil {
			return err
		}
		if m.Content, err = marshal(parts); err != nil {
			return err
		}
	case !out.Exists():
		return openai.InvalidRequest(p+".output", "Missing required parameter: '"+p+".output'.")
	default:
		return typeError(p+".output", "a string or an array", out)
	}
	c.out = append(c.out, m)
	return nil
}

func (c *converter) reasoningItem(item gjson.Result, p string) *openai.Error {
	t := c.turn()
	var texts []string
	each(item.Get("content"), func(part gjson.Result) {
		if s := part.Get("text"); s.Type == gjson.String && s.Str != "" {
			texts = append(texts, s.Str)
		}
	})
	if len(texts) == 0 {
		each(item.Get("summary"), func(part gjson.Result) {
			if s := part.Get("text"); s.Type == gjson.String && s.Str != "" {
				texts = append(texts, s.Str)
			}
		})
	}
	t.reasoning = append(t.reasoning, texts...)
	enc := item.Get("encrypted_content")
	if enc.Exists() && enc.Type != gjson.String && enc.Type != gjson.Null {
		return typeError(p+".encrypted_content", "a string", enc)
	}
	blob, ok := decodeBlob(enc.Str)
	if !ok {
		return nil // OpenAI's own encrypted reasoning: nothing to restore
	}
	for _, b := range blob.ThinkingBlocks {
		t.blocks = append(t.blocks, b)
	}
	for _, x := range blob.Extras {
		if t.extras == nil {
			t.extras = make(map[string]json.RawMessage)
		}
		t.extras[x.CallID] = x.Extra
	}
	return nil
}

// each calls fn for every element of an array; nothing for other values.
func each(list gjson.Result, fn func(gjson.Result)) {
	if !list.IsArray() {
		return
	}
	list.ForEach(func(_, v gjson.Result) bool {
		fn(v)
		return true
	})
}
