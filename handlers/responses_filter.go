package handlers

import (
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
)

// responsesFilter runs the output guardrails over a native Responses
// stream before the client sees it: each output_text delta goes through the
// chain's stream filter as the content of a chat choice numbered by the
// item's output_index; what the filter releases goes out as deltas of that
// item, and the events that repeat the whole text (output_text.done,
// content_part.done, output_item.done, the terminal response) carry the
// text as released. A block ends the stream with response.incomplete
// (reason content_filter). Events are renumbered, since a held delta may
// go out later or not at all.
type responsesFilter struct {
	f       *guardrails.StreamFilter
	seq     int64
	items   map[int]*filteredText // by output_index
	created gjson.Result          // response.created's response
	blocked bool
	out     [][]byte
}

type filteredText struct {
	itemID  string
	content int // content_index of the output_text part
	text    []byte
}

func newResponsesFilter(f *guardrails.StreamFilter) *responsesFilter {
	return &responsesFilter{f: f, items: map[int]*filteredText{}}
}

// process returns the events (their data) to send for one upstream event.
func (rf *responsesFilter) process(typ string, data []byte) [][]byte {
	rf.out = rf.out[:0]
	if rf.blocked {
		return nil
	}
	ev := gjson.ParseBytes(data)
	switch typ {
	case "response.created":
		rf.created = ev.Get("response")
		rf.emit(data)
	case "response.output_text.delta":
		oi := int(ev.Get("output_index").Int())
		ft := rf.item(oi)
		ft.itemID, ft.content = ev.Get("item_id").Str, int(ev.Get("content_index").Int())
		chunk := []byte(`{"choices":[{"index":` + strconv.Itoa(oi) + `,"delta":{"content":`)
		chunk = openai.AppendString(chunk, ev.Get("delta").Str)
		rf.feed(append(chunk, "}}]}"...))
	case "response.output_text.done":
		oi := int(ev.Get("output_index").Int())
		rf.feed([]byte(`{"choices":[{"index":` + strconv.Itoa(oi) + `,"delta":{},"finish_reason":"stop"}]}`))
		if !rf.blocked {
			rf.emit(rf.set(data, "text", oi))
		}
	case "response.content_part.done":
		oi := int(ev.Get("output_index").Int())
		if ev.Get("part.type").Str == "output_text" {
			data = rf.set(data, "part.text", oi)
		}
		rf.emit(data)
	case "response.output_item.done":
		oi := int(ev.Get("output_index").Int())
		if ft := rf.items[oi]; ft != nil && ev.Get("item.type").Str == "message" {
			data = rf.set(data, "item.content."+strconv.Itoa(ft.content)+".text", oi)
		}
		rf.emit(data)
	case "response.completed", "response.incomplete":
		for oi, ft := range rf.items {
			data, _ = sjson.SetBytes(data, "response.output."+strconv.Itoa(oi)+".content."+strconv.Itoa(ft.content)+".text", string(ft.text))
		}
		rf.emit(data)
	default:
		rf.emit(data)
	}
	return rf.out
}

func (rf *responsesFilter) item(oi int) *filteredText {
	ft := rf.items[oi]
	if ft == nil {
		ft = &filteredText{}
		rf.items[oi] = ft
	}
	return ft
}

// set replaces the text at path with the text released for item oi.
func (rf *responsesFilter) set(data []byte, path string, oi int) []byte {
	ft := rf.items[oi]
	if ft == nil {
		return data
	}
	out, err := sjson.SetBytes(data, path, string(ft.text))
	if err != nil {
		return data
	}
	return out
}

// feed runs one synthetic chunk through the filter and emits the deltas
// it releases.
func (rf *responsesFilter) feed(chunk []byte) {
	released, blocked := rf.f.Process(chunk)
	for _, r := range released {
		gjson.GetBytes(r, "choices").ForEach(func(_, ch gjson.Result) bool {
			oi := int(ch.Get("index").Int())
			if t := ch.Get("delta.content"); t.Type == gjson.String && t.Str != "" {
				ft := rf.item(oi)
				ft.text = append(ft.text, t.Str...)
				d := []byte(`{"type":"response.output_text.delta","sequence_number":0,"item_id":`)
				d = openai.AppendString(d, ft.itemID)
				d = append(d, `,"output_index":`...)
				d = strconv.AppendInt(d, int64(oi), 10)
				d = append(d, `,"content_index":`...)
				d = strconv.AppendInt(d, int64(ft.content), 10)
				d = append(d, `,"delta":`...)
				d = openai.AppendString(d, t.Str)
				d = append(d, `,"logprobs":[]}`...)
				rf.emit(d)
			}
			return true
		})
	}
	if blocked {
		rf.blocked = true
		resp := []byte(rf.created.Raw)
		if len(resp) == 0 {
			resp = []byte(`{"object":"response"}`)
		}
		resp, _ = sjson.SetBytes(resp, "status", "incomplete")
		resp, _ = sjson.SetRawBytes(resp, "incomplete_details", []byte(`{"reason":"content_filter"}`))
		resp, _ = sjson.SetRawBytes(resp, "output", []byte(`[]`))
		d := []byte(`{"type":"response.incomplete","sequence_number":0,"response":`)
		rf.emit(append(append(d, resp...), '}'))
	}
}

// emit queues an event, renumbered.
func (rf *responsesFilter) emit(data []byte) {
	if out, err := sjson.SetBytes(data, "sequence_number", rf.seq); err == nil {
		data = out
	}
	rf.seq++
	rf.out = append(rf.out, data)
}

func (rf *responsesFilter) stopped() bool                  { return rf.blocked }
func (rf *responsesFilter) verdicts() []guardrails.Verdict { return rf.f.Verdicts() }
