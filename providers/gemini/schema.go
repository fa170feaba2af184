package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// schemaKeys are the JSON Schema keywords Gemini's Schema object (a subset
// of OpenAPI 3.0) accepts and that are copied as they are.
var schemaKeys = map[string]bool{
	"title": true, "description": true, "nullable": true, "default": true, "example": true,
	"maxItems": true, "minItems": true, "minProperties": true, "maxProperties": true,
	"minLength": true, "maxLength": true, "pattern": true, "minimum": true, "maximum": true,
	"propertyOrdering": true,
}

// schemaFormats are the formats Gemini accepts; others are dropped.
var schemaFormats = map[string]bool{
	"enum": true, "date-time": true, "int32": true, "int64": true, "float": true, "double": true,
}

// maxSchemaDepth bounds $ref expansion and nesting; deeper (recursive)
// schemas are cut to a plain object.
const maxSchemaDepth = 24

// convertSchema turns a JSON Schema (as OpenAI tools and response_format
// carry it) into the OpenAPI subset Gemini accepts:
//
//   - local $ref pointers (#/$defs/X, #/definitions/X) are inlined, recursive
//     ones up to a depth of 24;
//   - "type": [T, "null"] becomes T with nullable, several types an anyOf;
//   - oneOf becomes anyOf, a one-element allOf is merged, const becomes a
//     one-value enum, enum values become strings;
//   - keywords Gemini rejects are dropped: $schema, $id, $defs, definitions,
//     additionalProperties, patternProperties, unevaluatedProperties,
//     exclusiveMinimum/Maximum, multipleOf, not, if/then/else, formats
//     other than enum, date-time, int32, int64, float and double, and any
//     keyword not in Gemini's Schema object.
//
// It also reports whether the result is an object without properties, which
// Gemini rejects as function parameters.
func convertSchema(raw json.RawMessage) (out json.RawMessage, empty bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, errors.New("the schema is not valid JSON")
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, false, errors.New("the schema is not a JSON object")
	}
	c := schemaConverter{defs: map[string]any{}}
	for _, k := range []string{"definitions", "$defs"} {
		if d, ok := root[k].(map[string]any); ok {
			for name, s := range d {
				c.defs["#/"+k+"/"+name] = s
			}
		}
	}
	conv := c.convert(root, 0)
	props, _ := conv["properties"].(map[string]any)
	empty = len(props) == 0 && conv["type"] == "object" && conv["anyOf"] == nil
	out, err = json.Marshal(conv)
	return out, empty, err
}

type schemaConverter struct {
	defs map[string]any
}

func (c *schemaConverter) convert(s map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(s))
	if depth > maxSchemaDepth {
		out["type"] = "object"
		return out
	}
	if ref, ok := s["$ref"].(string); ok {
		if target, ok := c.defs[ref].(map[string]any); ok {
			merged := make(map[string]any, len(target)+len(s))
			for k, v := range target {
				merged[k] = v
			}
			for k, v := range s {
				if k != "$ref" {
					merged[k] = v
				}
			}
			return c.convert(merged, depth+1)
		}
	}
	for k, v := range s {
		switch k {
		case "type":
			c.convertType(v, out)
		case "properties":
			if m, ok := v.(map[string]any); ok {
				props := make(map[string]any, len(m))
				for name, sub := range m {
					if sm, ok := sub.(map[string]any); ok {
						props[name] = c.convert(sm, depth+1)
					} else {
						props[name] = map[string]any{}
					}
				}
				out["properties"] = props
			}
		case "items":
			if m, ok := v.(map[string]any); ok {
				out["items"] = c.convert(m, depth+1)
			}
		case "anyOf", "oneOf":
			c.convertAnyOf(v, out, depth)
		case "allOf":
			if list, ok := v.([]any); ok && len(list) == 1 {
				if m, ok := list[0].(map[string]any); ok {
					for mk, mv := range c.convert(m, depth+1) {
						if _, set := out[mk]; !set {
							out[mk] = mv
						}
					}
				}
			}
		case "const":
			out["enum"] = []any{enumString(v)}
			if _, ok := s["type"]; !ok {
				out["type"] = "string"
			}
		case "enum":
			if list, ok := v.([]any); ok {
				vals := make([]any, 0, len(list))
				for _, e := range list {
					if e == nil {
						out["nullable"] = true
						continue
					}
					vals = append(vals, enumString(e))
				}
				out["enum"] = vals
			}
		case "format":
			if f, ok := v.(string); ok && schemaFormats[f] {
				out["format"] = f
			}
		case "required":
			if list, ok := v.([]any); ok {
				req := make([]any, 0, len(list))
				for _, e := range list {
					if name, ok := e.(string); ok {
						req = append(req, name)
					}
				}
				out["required"] = req
			}
		default:
			if schemaKeys[k] {
				out[k] = v
			}
		}
	}
	return out
}

func (c *schemaConverter) convertType(v any, out map[string]any) {
	switch t := v.(type) {
	case string:
		if t == "null" {
			out["nullable"] = true
		} else {
			out["type"] = t
		}
	case []any:
		var types []string
		for _, e := range t {
			if name, ok := e.(string); ok {
				if name == "null" {
					out["nullable"] = true
				} else {
					types = append(types, name)
				}
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			alts := make([]any, len(types))
			for i, name := range types {
				alts[i] = map[string]any{"type": name}
			}
			out["anyOf"] = alts
		}
	}
}

// convertAnyOf converts anyOf/oneOf: null alternatives become nullable and
// a single remaining alternative is merged into the schema.
func (c *schemaConverter) convertAnyOf(v any, out map[string]any, depth int) {
	list, ok := v.([]any)
	if !ok {
		return
	}
	alts := make([]any, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if t, _ := m["type"].(string); t == "null" && len(m) == 1 {
			out["nullable"] = true
			continue
		}
		alts = append(alts, c.convert(m, depth+1))
	}
	if len(alts) == 1 {
		for k, v := range alts[0].(map[string]any) {
			if _, set := out[k]; !set {
				out[k] = v
			}
		}
		return
	}
	if len(alts) > 0 {
		out["anyOf"] = alts
	}
}

func enumString(v any) string {
	switch e := v.(type) {
	case string:
		return e
	case json.Number:
		return e.String()
	case bool:
		if e {
			return "true"
		}
		return "false"
	default:
		b, _ := json.Marshal(e)
		return strings.Trim(string(b), `"`)
	}
}
