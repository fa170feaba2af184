package messages

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// Text is one text of a Messages request or response, for guardrails and
// token counting.
type Text struct {
	// Location names the value, e.g. "system", "system[0].text",
	// "messages[2].content", "messages[2].content[0].text",
	// "messages[1].content[1].input" or
	// "messages[3].content[0].content[1].text".
	Location string
	// Role is "system", "user", "assistant", or "tool" for the content of
	// a tool_result.
	Role string
	// Value is the text; for a tool_use input, its JSON.
	Value string
	// JSON reports that Value is a JSON object (a tool_use input), not a
	// string.
	JSON bool
	// Offset and Len locate the raw JSON value (the string literal, or the
	// object) in the body, for edits in place.
	Offset, Len int
}

// RequestTexts returns the texts of a Messages request body, in order:
// the system prompt, then for each message its string content or its
// blocks' texts: text blocks, tool_use inputs (as JSON), tool_result
// contents (role "tool"), text documents (source.data, or the texts of a
// content source) and search result texts. Thinking is left out: it is
// signed and must come back unchanged. An invalid body has none.
func RequestTexts(body []byte) []Text {
	if !gjson.ValidBytes(body) {
		return nil
	}
	var out []Text
	walkRequest(gjson.ParseBytes(body), func(t Text) { out = append(out, t) }, nil)
	return out
}

// ResponseTexts returns the output texts of a Messages response body:
// each text block's text ("content[i].text") and each tool_use input
// ("content[i].input", as JSON). Thinking is left out.
func ResponseTexts(body []byte) []Text {
	if !gjson.ValidBytes(body) {
		return nil
	}
	var out []Text
	i := 0
	gjson.GetBytes(body, "content").ForEach(func(_, b gjson.Result) bool {
		p := path("content", i)
		switch b.Get("type").Str {
		case "text":
			out = appendText(out, p+".text", "assistant", b.Get("text"))
		case "tool_use":
			out = appendText(out, p+".input", "assistant", b.Get("input"))
		}
		i++
		return true
	})
	return out
}

// CountTokensTexts returns the texts that POST /v1/messages/count_tokens
// counts for a request body: those of [RequestTexts], each tool_use's
// name, the thinking of the last assistant message (Anthropic drops the
// thinking of earlier turns from the context), and each tool's name,
// description and input_schema JSON. Images and PDFs are not texts and are
// left to the caller.
func CountTokensTexts(body []byte) []string {
	if !gjson.ValidBytes(body) {
		return nil
	}
	root := gjson.ParseBytes(body)
	var out []string
	last := -1
	i := 0
	root.Get("messages").ForEach(func(_, m gjson.Result) bool {
		if m.Get("role").Str == "assistant" {
			last = i
		}
		i++
		return true
	})
	walkRequest(root, func(t Text) { out = append(out, t.Value) }, func(i int, b gjson.Result) {
		switch b.Get("type").Str {
		case "tool_use":
			out = append(out, b.Get("name").Str)
		case "thinking":
			if i == last {
				out = append(out, b.Get("thinking").Str)
			}
		}
	})
	root.Get("tools").ForEach(func(_, tl gjson.Result) bool {
		for _, k := range [...]string{"name", "description"} {
			if v := tl.Get(k); v.Type == gjson.String && v.Str != "" {
				out = append(out, v.Str)
			}
		}
		if s := tl.Get("input_schema"); s.IsObject() {
			out = append(out, s.Raw)
		}
		return true
	})
	return out
}

// walkRequest calls text for every text of a request and, when not nil,
// block for every content block of message i.
func walkRequest(root gjson.Result, text func(Text), block func(i int, b gjson.Result)) {
	emit := func(p, role string, v gjson.Result) {
		if v.Type == gjson.String {
			text(textOf(p, role, v))
		}
	}
	sys := root.Get("system")
	switch {
	case sys.Type == gjson.String:
		emit("system", "system", sys)
	case sys.IsArray():
		j := 0
		sys.ForEach(func(_, b gjson.Result) bool {
			emit(path("system", j)+".text", "system", b.Get("text"))
			j++
			return true
		})
	}
	i := 0
	root.Get("messages").ForEach(func(_, m gjson.Result) bool {
		role := m.Get("role").Str
		c := m.Get("content")
		p := path("messages", i, "content")
		switch {
		case c.Type == gjson.String:
			emit(p, role, c)
		case c.IsArray():
			j := 0
			c.ForEach(func(_, b gjson.Result) bool {
				bp := path(p, j)
				if block != nil {
					block(i, b)
				}
				switch b.Get("type").Str {
				case "text":
					emit(bp+".text", role, b.Get("text"))
				case "tool_use":
					if in := b.Get("input"); in.IsObject() {
						text(textOf(bp+".input", role, in))
					}
				case "tool_result":
					walkContent(b.Get("content"), bp+".content", "tool", emit)
				case "document":
					src := b.Get("source")
					switch src.Get("type").Str {
					case "text":
						emit(bp+".source.data", role, src.Get("data"))
					case "content":
						walkContent(src.Get("content"), bp+".source.content", role, emit)
					}
				case "search_result":
					walkContent(b.Get("content"), bp+".content", role, emit)
				}
				j++
				return true
			})
		}
		i++
		return true
	})
}

// walkContent emits a nested content: a string, or the texts of its text
// blocks.
func walkContent(c gjson.Result, p, role string, emit func(p, role string, v gjson.Result)) {
	switch {
	case c.Type == gjson.String:
		emit(p, role, c)
	case c.IsArray():
		k := 0
		c.ForEach(func(_, b gjson.Result) bool {
			if b.Get("type").Str == "text" {
				emit(path(p, k)+".text", role, b.Get("text"))
			}
			k++
			return true
		})
	}
}

func textOf(p, role string, v gjson.Result) Text {
	t := Text{Location: p, Role: role, Offset: v.Index, Len: len(v.Raw)}
	if v.Type == gjson.String {
		t.Value = v.Str
	} else {
		t.Value, t.JSON = v.Raw, true
	}
	return t
}

func appendText(out []Text, p, role string, v gjson.Result) []Text {
	if v.Type != gjson.String && !v.IsObject() {
		return out
	}
	return append(out, textOf(p, role, v))
}

// CountTokensResponse returns the body of a count_tokens answer:
// {"input_tokens":n}.
func CountTokensResponse(n int) []byte {
	return append(strconv.AppendInt([]byte(`{"input_tokens":`), int64(max(n, 0)), 10), '}')
}
