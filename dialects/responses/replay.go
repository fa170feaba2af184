package responses

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/openai"
)

// Replay returns the server-sent events a live stream of the stored
// Response object would have sent, for answering a streamed request from
// the response cache: response.created and response.in_progress (the
// Response in progress, with no output or usage), then for each output item
// output_item.added, its parts and deltas (each text, summary or argument
// string in one delta) and output_item.done with the stored item, and last
// response.completed, response.incomplete or response.failed (by the
// stored status) with the stored Response. Items of types this package
// does not produce (OpenAI's built-in tool calls, for a Response stored
// from OpenAI itself) get output_item.added and output_item.done only.
func Replay(stored []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, stored); err != nil {
		return nil, errors.New("replaying a response: not JSON")
	}
	resp := buf.Bytes()
	root := gjson.ParseBytes(resp)
	if !root.IsObject() {
		return nil, errors.New("replaying a response: not a JSON object")
	}
	start := resp
	for _, set := range []struct {
		path, raw string
	}{
		{"status", `"in_progress"`},
		{"output", `[]`},
		{"usage", `null`},
		{"completed_at", `null`},
		{"incomplete_details", `null`},
		{"error", `null`},
	} {
		if root.Get(set.path).Exists() || set.path == "status" || set.path == "output" {
			var err error
			if start, err = sjson.SetRawBytes(start, set.path, []byte(set.raw)); err != nil {
				return nil, errors.New("replaying a response: " + err.Error())
			}
		}
	}
	w := &sse{out: make([]byte, 0, 3*len(resp)+1024)}
	w.response("response.created", start)
	w.response("response.in_progress", start)
	output := root.Get("output")
	if !output.IsArray() {
		output = gjson.Result{}
	}
	i := 0
	output.ForEach(func(_, item gjson.Result) bool {
		if item.IsObject() {
			w.item(i, item)
		}
		i++
		return true
	})
	typ := "response.completed"
	switch root.Get("status").Str {
	case "incomplete":
		typ = "response.incomplete"
	case "failed":
		typ = "response.failed"
	}
	w.response(typ, resp)
	return w.out, nil
}

func (w *sse) response(typ string, resp []byte) {
	w.begin(typ)
	w.out = append(w.out, `,"response":`...)
	w.out = append(w.out, resp...)
	w.end()
}

func (w *sse) itemEventOf(typ string, index int, item []byte) {
	w.begin(typ)
	w.out = append(w.out, `,"item":`...)
	w.out = append(w.out, item...)
	w.out = append(w.out, `,"output_index":`...)
	w.out = appendInt(w.out, int64(index))
	w.end()
}

// item replays output item index.
func (w *sse) item(index int, item gjson.Result) {
	raw := []byte(item.Raw)
	id := item.Get("id").Str
	added := raw
	set := func(path, value string) {
		if out, err := sjson.SetRawBytes(added, path, []byte(value)); err == nil {
			added = out
		}
	}
	switch item.Get("type").Str {
	case "message":
		set("status", `"in_progress"`)
		set("content", `[]`)
		w.itemEventOf("response.output_item.added", index, added)
		j := 0
		item.Get("content").ForEach(func(_, part gjson.Result) bool {
			w.part(index, j, id, part)
			j++
			return true
		})
	case "reasoning":
		set("summary", `[]`)
		if item.Get("content").Exists() {
			set("content", `[]`)
		}
		if out, err := sjson.DeleteBytes(added, "encrypted_content"); err == nil {
			added = out // complete only in output_item.done
		}
		w.itemEventOf("response.output_item.added", index, added)
		j := 0
		item.Get("summary").ForEach(func(_, part gjson.Result) bool {
			w.summaryPart(index, j, id, part)
			j++
			return true
		})
		j = 0
		item.Get("content").ForEach(func(_, part gjson.Result) bool {
			text := part.Get("text").Str
			w.begin("response.reasoning_text.delta")
			w.contentRefOf(j, id, index)
			w.out = append(w.out, `,"delta":`...)
			w.out = openai.AppendString(w.out, text)
			w.end()
			w.begin("response.reasoning_text.done")
			w.contentRefOf(j, id, index)
			w.out = append(w.out, `,"text":`...)
			w.out = openai.AppendString(w.out, text)
			w.end()
			j++
			return true
		})
	case "function_call":
		set("status", `"in_progress"`)
		set("arguments", `""`)
		w.itemEventOf("response.output_item.added", index, added)
		args := item.Get("arguments").Str
		if args != "" {
			w.begin("response.function_call_arguments.delta")
			w.out = append(w.out, `,"delta":`...)
			w.out = openai.AppendString(w.out, args)
			w.ref(id, index)
			w.end()
		}
		w.begin("response.function_call_arguments.done")
		w.out = append(w.out, `,"arguments":`...)
		w.out = openai.AppendString(w.out, args)
		w.ref(id, index)
		w.end()
	default:
		if item.Get("status").Exists() {
			set("status", `"in_progress"`)
		}
		w.itemEventOf("response.output_item.added", index, added)
	}
	w.itemEventOf("response.output_item.done", index, raw)
}

// part replays content part j of message item index.
func (w *sse) part(index, j int, id string, part gjson.Result) {
	empty := []byte(part.Raw)
	switch part.Get("type").Str {
	case "output_text":
		empty = []byte(`{"type":"output_text","annotations":[],"logprobs":[],"text":""}`)
	case "refusal":
		empty = []byte(`{"type":"refusal","refusal":""}`)
	}
	w.begin("response.content_part.added")
	w.contentRefOf(j, id, index)
	w.out = append(w.out, `,"part":`...)
	w.out = append(w.out, empty...)
	w.end()
	switch part.Get("type").Str {
	case "output_text":
		text := part.Get("text").Str
		logprobs := part.Get("logprobs").Raw
		if !part.Get("logprobs").IsArray() {
			logprobs = "[]"
		}
		w.begin("response.output_text.delta")
		w.contentRefOf(j, id, index)
		w.out = append(w.out, `,"delta":`...)
		w.out = openai.AppendString(w.out, text)
		w.out = append(w.out, `,"logprobs":`...)
		w.out = append(w.out, logprobs...)
		w.end()
		k := 0
		part.Get("annotations").ForEach(func(_, a gjson.Result) bool {
			w.begin("response.output_text.annotation.added")
			w.out = append(w.out, `,"annotation":`...)
			w.out = append(w.out, a.Raw...)
			w.out = append(w.out, `,"annotation_index":`...)
			w.out = appendInt(w.out, int64(k))
			w.contentRefOf(j, id, index)
			w.end()
			k++
			return true
		})
		w.begin("response.output_text.done")
		w.contentRefOf(j, id, index)
		w.out = append(w.out, `,"logprobs":`...)
		w.out = append(w.out, logprobs...)
		w.out = append(w.out, `,"text":`...)
		w.out = openai.AppendString(w.out, text)
		w.end()
	case "refusal":
		refusal := part.Get("refusal").Str
		w.begin("response.refusal.delta")
		w.contentRefOf(j, id, index)
		w.out = append(w.out, `,"delta":`...)
		w.out = openai.AppendString(w.out, refusal)
		w.end()
		w.begin("response.refusal.done")
		w.contentRefOf(j, id, index)
		w.out = append(w.out, `,"refusal":`...)
		w.out = openai.AppendString(w.out, refusal)
		w.end()
	}
	w.begin("response.content_part.done")
	w.contentRefOf(j, id, index)
	w.out = append(w.out, `,"part":`...)
	w.out = append(w.out, part.Raw...)
	w.end()
}

// summaryPart replays summary part j of reasoning item index.
func (w *sse) summaryPart(index, j int, id string, part gjson.Result) {
	text := part.Get("text").Str
	w.begin("response.reasoning_summary_part.added")
	w.ref(id, index)
	w.out = append(w.out, `,"part":{"type":"summary_text","text":""},"summary_index":`...)
	w.out = appendInt(w.out, int64(j))
	w.end()
	w.begin("response.reasoning_summary_text.delta")
	w.out = append(w.out, `,"delta":`...)
	w.out = openai.AppendString(w.out, text)
	w.ref(id, index)
	w.out = append(w.out, `,"summary_index":`...)
	w.out = appendInt(w.out, int64(j))
	w.end()
	w.begin("response.reasoning_summary_text.done")
	w.ref(id, index)
	w.out = append(w.out, `,"summary_index":`...)
	w.out = appendInt(w.out, int64(j))
	w.out = append(w.out, `,"text":`...)
	w.out = openai.AppendString(w.out, text)
	w.end()
	w.begin("response.reasoning_summary_part.done")
	w.ref(id, index)
	w.out = append(w.out, `,"part":`...)
	w.out = appendSummaryPart(w.out, []byte(text))
	w.out = append(w.out, `,"summary_index":`...)
	w.out = appendInt(w.out, int64(j))
	w.end()
}
