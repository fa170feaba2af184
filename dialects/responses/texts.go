package responses

import (
	"github.com/tidwall/gjson"
)

// Text is one text of a Responses request or Response, located in its
// body: for guardrails (which report Path and may rewrite the string at
// Offset) and tokenizers.
type Text struct {
	// Path locates the text in the body's terms, e.g. "instructions",
	// "input", "input[2].content[0].text", "input[3].arguments",
	// "output[1].content[0].text".
	Path string
	// Role is who the text is from: "system" for instructions, the role of
	// a message, "assistant" for function call arguments and reasoning,
	// "tool" for function call outputs.
	Role string
	// Value is the text.
	Value string
	// Offset and Len locate the JSON string literal (quotes included) in
	// the body: body[Offset:Offset+Len].
	Offset, Len int
}

// RequestTexts returns the texts of a Responses request body in order:
// instructions; input as a string; each input message's content string or
// its input_text, output_text and refusal parts; function_call arguments;
// function_call_output outputs (a string or input_text parts); reasoning
// items' summary and content texts. It returns nil for a body that is not
// a JSON object. body must be valid UTF-8 (the gateway checks it first): a
// Value keeps invalid bytes as they are.
func RequestTexts(body []byte) []Text {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil
	}
	var out []Text
	add := func(path, role string, v gjson.Result) {
		if v.Type == gjson.String {
			out = append(out, Text{Path: path, Role: role, Value: v.Str, Offset: v.Index, Len: len(v.Raw)})
		}
	}
	add("instructions", "system", root.Get("instructions"))
	in := root.Get("input")
	if in.Type == gjson.String {
		add("input", "user", in)
		return out
	}
	if !in.IsArray() {
		return out
	}
	i := 0
	in.ForEach(func(_, item gjson.Result) bool {
		p := "input[" + itoa(i) + "]"
		i++
		typ, role := item.Get("type").Str, item.Get("role").Str
		if typ == "" && role != "" {
			typ = "message"
		}
		switch typ {
		case "message":
			c := item.Get("content")
			if c.Type == gjson.String {
				add(p+".content", role, c)
				return true
			}
			out = parts(out, c, p+".content", role)
		case "function_call":
			add(p+".arguments", "assistant", item.Get("arguments"))
		case "function_call_output":
			o := item.Get("output")
			if o.Type == gjson.String {
				add(p+".output", "tool", o)
				return true
			}
			out = parts(out, o, p+".output", "tool")
		case "reasoning":
			out = parts(out, item.Get("summary"), p+".summary", "assistant")
			out = parts(out, item.Get("content"), p+".content", "assistant")
		}
		return true
	})
	return out
}

// ResponseTexts returns the texts of a Response object (this package's or
// OpenAI's) in order: each output message's output_text and refusal parts,
// each function call's arguments, each reasoning item's summary and content
// texts. Every text's Role is "assistant". It returns nil for a body that
// is not a JSON object.
func ResponseTexts(body []byte) []Text {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil
	}
	var out []Text
	output := root.Get("output")
	if !output.IsArray() {
		return nil
	}
	i := 0
	output.ForEach(func(_, item gjson.Result) bool {
		p := "output[" + itoa(i) + "]"
		i++
		switch item.Get("type").Str {
		case "message":
			out = parts(out, item.Get("content"), p+".content", "assistant")
		case "function_call":
			if a := item.Get("arguments"); a.Type == gjson.String {
				out = append(out, Text{Path: p + ".arguments", Role: "assistant", Value: a.Str, Offset: a.Index, Len: len(a.Raw)})
			}
		case "reasoning":
			out = parts(out, item.Get("summary"), p+".summary", "assistant")
			out = parts(out, item.Get("content"), p+".content", "assistant")
		}
		return true
	})
	return out
}

// parts appends the texts of a list of content parts: the text of text
// parts (input_text, output_text, summary_text, reasoning_text) and the
// refusal of refusal parts.
func parts(out []Text, list gjson.Result, path, role string) []Text {
	if !list.IsArray() {
		return out
	}
	j := 0
	list.ForEach(func(_, part gjson.Result) bool {
		p := path + "[" + itoa(j) + "]"
		j++
		field := "text"
		switch part.Get("type").Str {
		case "input_text", "output_text", "summary_text", "reasoning_text", "text":
		case "refusal":
			field = "refusal"
		default:
			return true
		}
		if v := part.Get(field); v.Type == gjson.String {
			out = append(out, Text{Path: p + "." + field, Role: role, Value: v.Str, Offset: v.Index, Len: len(v.Raw)})
		}
		return true
	})
	return out
}
