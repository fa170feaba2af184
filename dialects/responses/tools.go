package responses

import (
	"encoding/json"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// tools translates function tools ({"type":"function","name",…} become
// {"type":"function","function":{"name",…}}). Every other tool type is one
// of OpenAI's built-in, MCP, custom or namespace tools, which only OpenAI
// runs: a 400 naming tools[i].type. A function's defer_loading, async,
// allowed_callers and output_schema are hints the hub has no use for.
func tools(r gjson.Result) ([]hubTool, *openai.Error) {
	if !r.Exists() {
		return nil, nil
	}
	if !r.IsArray() {
		return nil, typeError("tools", "an array", r)
	}
	var out []hubTool
	var err *openai.Error
	i := 0
	r.ForEach(func(_, t gjson.Result) bool {
		p := "tools[" + itoa(i) + "]"
		i++
		if !t.IsObject() {
			err = typeError(p, "an object", t)
			return false
		}
		typ := t.Get("type")
		if typ.Type != gjson.String {
			err = openai.InvalidRequest(p+".type", "Missing required parameter: '"+p+".type'.")
			return false
		}
		if typ.Str != "function" {
			err = unsupported(p+".type", "Tool type "+quote(typ.Str)+" is not supported for this model: its provider runs function tools only.")
			return false
		}
		var fn hubFunction
		t.ForEach(func(k, v gjson.Result) bool {
			if v.Type == gjson.Null {
				return true
			}
			switch k.Str {
			case "name":
				fn.Name, err = str(v, p+".name")
			case "description":
				fn.Description, err = str(v, p+".description")
			case "parameters":
				if !v.IsObject() {
					err = typeError(p+".parameters", "an object", v)
				} else {
					fn.Parameters = json.RawMessage(v.Raw)
				}
			case "strict":
				var b bool
				b, err = boolean(v, p+".strict", false)
				fn.Strict = &b
			}
			return err == nil
		})
		if err != nil {
			return false
		}
		if fn.Name == "" {
			err = openai.InvalidRequest(p+".name", "Missing required parameter: '"+p+".name'.")
			return false
		}
		out = append(out, hubTool{Type: "function", Function: fn})
		return true
	})
	return out, err
}

// toolChoice translates tool_choice: the modes as they are, a function
// choice {"type":"function","name"} into the chat form, allowed_tools into
// chat's allowed_tools. Choosing a built-in, MCP or custom tool is a 400.
func toolChoice(r gjson.Result) (json.RawMessage, *openai.Error) {
	switch {
	case !r.Exists():
		return nil, nil
	case r.Type == gjson.String:
		switch r.Str {
		case openai.ToolChoiceNone, openai.ToolChoiceAuto, openai.ToolChoiceRequired:
			return jsonString(r.Str), nil
		}
		return nil, openai.InvalidRequest("tool_choice", "Invalid value for 'tool_choice': "+quote(r.Str)+". Supported values are: 'none', 'auto' and 'required'.")
	case !r.IsObject():
		return nil, typeError("tool_choice", "a string or an object", r)
	}
	switch typ := r.Get("type").Str; typ {
	case "function":
		name := r.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return nil, openai.InvalidRequest("tool_choice.name", "Missing required parameter: 'tool_choice.name'.")
		}
		return marshal(map[string]any{"type": "function", "function": map[string]string{"name": name.Str}})
	case "allowed_tools":
		mode := r.Get("mode").Str
		if mode != openai.ToolChoiceAuto && mode != openai.ToolChoiceRequired {
			return nil, openai.InvalidRequest("tool_choice.mode", "Invalid value for 'tool_choice.mode': "+quote(mode)+". Supported values are: 'auto' and 'required'.")
		}
		type ref struct {
			Type     string            `json:"type"`
			Function map[string]string `json:"function"`
		}
		refs := []ref{}
		var err *openai.Error
		i := 0
		r.Get("tools").ForEach(func(_, t gjson.Result) bool {
			p := "tool_choice.tools[" + itoa(i) + "]"
			i++
			if t.Get("type").Str != "function" {
				err = unsupported(p+".type", "Only function tools can be allowed for this model.")
				return false
			}
			name := t.Get("name")
			if name.Type != gjson.String || name.Str == "" {
				err = openai.InvalidRequest(p+".name", "Missing required parameter: '"+p+".name'.")
				return false
			}
			refs = append(refs, ref{Type: "function", Function: map[string]string{"name": name.Str}})
			return true
		})
		if err != nil {
			return nil, err
		}
		return marshal(map[string]any{"type": "allowed_tools", "allowed_tools": map[string]any{"mode": mode, "tools": refs}})
	case "":
		return nil, openai.InvalidRequest("tool_choice.type", "Missing required parameter: 'tool_choice.type'.")
	default:
		return nil, unsupported("tool_choice.type", "Tool choice "+quote(typ)+" is not supported for this model: its provider runs function tools only.")
	}
}

// textFormat translates text.format into response_format (text is the
// default and left out) and returns text.verbosity.
func textFormat(r gjson.Result) (format json.RawMessage, verbosity string, err *openai.Error) {
	if !r.Exists() {
		return nil, "", nil
	}
	if !r.IsObject() {
		return nil, "", typeError("text", "an object", r)
	}
	if verbosity, err = str(r.Get("verbosity"), "text.verbosity"); err != nil {
		return nil, "", err
	}
	f := r.Get("format")
	if !f.Exists() || f.Type == gjson.Null {
		return nil, verbosity, nil
	}
	if !f.IsObject() {
		return nil, "", typeError("text.format", "an object", f)
	}
	switch typ := f.Get("type").Str; typ {
	case "text":
		return nil, verbosity, nil
	case "json_object":
		return json.RawMessage(`{"type":"json_object"}`), verbosity, nil
	case "json_schema":
		var s openai.JSONSchema
		name := f.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return nil, "", openai.InvalidRequest("text.format.name", "Missing required parameter: 'text.format.name'.")
		}
		s.Name = name.Str
		schema := f.Get("schema")
		if !schema.IsObject() {
			return nil, "", openai.InvalidRequest("text.format.schema", "Missing required parameter: 'text.format.schema'.")
		}
		s.Schema = json.RawMessage(schema.Raw)
		if s.Description, err = str(f.Get("description"), "text.format.description"); err != nil {
			return nil, "", err
		}
		if st := f.Get("strict"); st.Exists() && st.Type != gjson.Null {
			b, err := boolean(st, "text.format.strict", false)
			if err != nil {
				return nil, "", err
			}
			s.Strict = &b
		}
		out, err := marshal(openai.ResponseFormat{Type: openai.FormatJSONSchema, JSONSchema: &s})
		return out, verbosity, err
	case "":
		return nil, "", openai.InvalidRequest("text.format.type", "Missing required parameter: 'text.format.type'.")
	default:
		return nil, "", openai.InvalidRequest("text.format.type", "Invalid value for 'text.format.type': "+quote(typ)+". Supported values are: 'text', 'json_object' and 'json_schema'.")
	}
}
