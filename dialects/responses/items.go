package responses

import (
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// Output item and content part JSON, members in the order the Responses API
// writes them.

func appendReasoningItem(b []byte, id string, summary []byte, hasSummary bool, blob string) []byte {
	b = append(b, `{"id":`...)
	b = openai.AppendString(b, id)
	b = append(b, `,"type":"reasoning","summary":[`...)
	if hasSummary {
		b = appendSummaryPart(b, summary)
	}
	b = append(b, ']')
	if blob != "" {
		b = append(b, `,"encrypted_content":`...)
		b = openai.AppendString(b, blob)
	}
	return append(b, '}')
}

func appendSummaryPart(b, text []byte) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = openai.AppendString(b, string(text))
	return append(b, '}')
}

// appendMessageStart appends a message item up to its content's opening
// bracket.
func appendMessageStart(b []byte, id, status string) []byte {
	b = append(b, `{"id":`...)
	b = openai.AppendString(b, id)
	b = append(b, `,"type":"message","status":`...)
	b = openai.AppendString(b, status)
	return append(b, `,"content":[`...)
}

func appendMessageEnd(b []byte) []byte {
	return append(b, `],"role":"assistant"}`...)
}

// appendTextPart appends an output_text part; annotations and logprobs are
// comma-separated JSON values.
func appendTextPart(b, text, annotations, logprobs []byte) []byte {
	b = append(b, `{"type":"output_text","annotations":[`...)
	b = append(b, annotations...)
	b = append(b, `],"logprobs":[`...)
	b = append(b, logprobs...)
	b = append(b, `],"text":`...)
	b = openai.AppendString(b, string(text))
	return append(b, '}')
}

func appendRefusalPart(b, refusal []byte) []byte {
	b = append(b, `{"type":"refusal","refusal":`...)
	b = openai.AppendString(b, string(refusal))
	return append(b, '}')
}

func appendCallItem(b []byte, id, status string, args []byte, callID, name string) []byte {
	b = append(b, `{"id":`...)
	b = openai.AppendString(b, id)
	b = append(b, `,"type":"function_call","status":`...)
	b = openai.AppendString(b, status)
	b = append(b, `,"arguments":`...)
	b = openai.AppendString(b, string(args))
	b = append(b, `,"call_id":`...)
	b = openai.AppendString(b, callID)
	b = append(b, `,"name":`...)
	b = openai.AppendString(b, name)
	return append(b, '}')
}

// appendAnnotations appends the Responses form of chat annotations
// ({"type":"url_citation","url_citation":{…}} becomes {"type":"url_citation",…}),
// comma-separated; annotations of other types are dropped.
func appendAnnotations(b []byte, chat gjson.Result) []byte {
	n := 0
	chat.ForEach(func(_, a gjson.Result) bool {
		c := a.Get("url_citation")
		if a.Get("type").Str != "url_citation" || !c.IsObject() {
			return true
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"type":"url_citation","end_index":`...)
		b = append(b, intOr(c.Get("end_index"))...)
		b = append(b, `,"start_index":`...)
		b = append(b, intOr(c.Get("start_index"))...)
		b = append(b, `,"title":`...)
		b = openai.AppendString(b, c.Get("title").Str)
		b = append(b, `,"url":`...)
		b = openai.AppendString(b, c.Get("url").Str)
		b = append(b, '}')
		return true
	})
	return b
}

func intOr(r gjson.Result) string {
	if r.Type == gjson.Number {
		return r.Raw
	}
	return "0"
}
