package messages

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/polygate/polygate/openai"
)

type inTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	Strict       *bool           `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type inToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// tools translates custom tools to function tools (input_schema becomes
// the parameters, cache_control is kept on the tool) and tool_choice.
// Anthropic-defined tools (server tools such as web_search_20250305 and
// code_execution, and the schema-less client tools bash, text_editor,
// computer and memory) are a 400 naming tools[i].type: only Anthropic's
// models know them.
func (t *translator) tools() error {
	raw, ok := t.get("tools")
	if !ok {
		return t.toolChoice()
	}
	var tools []inTool
	if err := json.Unmarshal(raw, &tools); err != nil {
		return invalid("tools", "tools: Input should be a valid list of tools")
	}
	for i, tl := range tools {
		p := path("tools", i)
		if tl.Type != "" && tl.Type != "custom" {
			return invalid(p+".type", p+".type: "+strconv.Quote(tl.Type)+" is an Anthropic-defined tool, which only Anthropic's models can use; this model's provider takes custom tools (name, description, input_schema) only")
		}
		if tl.Name == "" {
			return invalid(p+".name", p+".name: Field required")
		}
		schema := bytes.TrimSpace(tl.InputSchema)
		if len(schema) == 0 || schema[0] != '{' {
			return invalid(p+".input_schema", p+".input_schema: Field required (a JSON Schema object)")
		}
		cc, err := cacheControl(tl.CacheControl, p)
		if err != nil {
			return err
		}
		t.out.Tools = append(t.out.Tools, hubTool{
			Type:         "function",
			Function:     &openai.FunctionDef{Name: tl.Name, Description: tl.Description, Parameters: schema, Strict: tl.Strict},
			CacheControl: cc,
		})
	}
	return t.toolChoice()
}

// toolChoice maps auto → "auto", any → "required", tool → the named
// function, none → "none"; disable_parallel_tool_use sets
// parallel_tool_calls false. Without tools it is dropped (and listed in
// Info.Dropped).
func (t *translator) toolChoice() error {
	raw, ok := t.get("tool_choice")
	if !ok {
		return nil
	}
	if len(t.out.Tools) == 0 {
		t.info.Dropped = append(t.info.Dropped, "tool_choice")
		return nil
	}
	var tc inToolChoice
	if err := json.Unmarshal(raw, &tc); err != nil {
		return invalid("tool_choice", "tool_choice: Input should be a valid object")
	}
	switch tc.Type {
	case "auto":
		t.out.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		t.out.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		t.out.ToolChoice = json.RawMessage(`"none"`)
		return nil
	case "tool":
		if tc.Name == "" {
			return invalid("tool_choice.name", "tool_choice.name: Field required")
		}
		b := append([]byte(`{"type":"function","function":{"name":`), openai.AppendString(nil, tc.Name)...)
		t.out.ToolChoice = append(b, "}}"...)
	default:
		return invalid("tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if tc.DisableParallelToolUse {
		f := false
		t.out.ParallelToolCalls = &f
	}
	return nil
}

// outputFormat maps output_config.format (and the earlier beta's
// top-level output_format) {"type":"json_schema","schema":…} to
// response_format json_schema, strict, named "output".
func (t *translator) outputFormat() error {
	var format json.RawMessage
	name := "output_config.format"
	if raw, ok := t.get("output_config"); ok {
		var oc outputConfig
		if json.Unmarshal(raw, &oc) == nil && oc.Format != nil && !isNull(*oc.Format) {
			format = *oc.Format
		}
	}
	if format == nil {
		if raw, ok := t.get("output_format"); ok {
			format, name = raw, "output_format"
		}
	}
	if format == nil {
		return nil
	}
	var f struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(format, &f); err != nil {
		return invalid(name, name+": Input should be a valid object")
	}
	if f.Type != "json_schema" {
		return invalid(name+".type", name+".type: Input should be 'json_schema'")
	}
	schema := bytes.TrimSpace(f.Schema)
	if len(schema) == 0 || schema[0] != '{' {
		return invalid(name+".schema", name+".schema: Field required")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, schema); err != nil {
		return invalid(name+".schema", name+".schema: Input should be a valid object")
	}
	b := append([]byte(`{"type":"json_schema","json_schema":{"name":"output","schema":`), buf.Bytes()...)
	t.out.ResponseFormat = append(b, `,"strict":true}}`...)
	return nil
}
