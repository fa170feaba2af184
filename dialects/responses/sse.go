package responses

import (
	"strconv"

	"github.com/polygate/polygate/openai"
)

// sse writes Responses server-sent events: "event: <type>" and one "data:"
// line of JSON whose first members are type and sequence_number.
type sse struct {
	out []byte
	seq int64
}

// begin starts an event of type typ, up to the members after
// sequence_number.
func (w *sse) begin(typ string) {
	w.out = append(w.out, "event: "...)
	w.out = append(w.out, typ...)
	w.out = append(w.out, "\ndata: {\"type\":\""...)
	w.out = append(w.out, typ...)
	w.out = append(w.out, `","sequence_number":`...)
	w.out = appendInt(w.out, w.seq)
	w.seq++
}

// end finishes the event begun last.
func (w *sse) end() { w.out = append(w.out, "}\n\n"...) }

// ref appends an event's item_id and output_index.
func (w *sse) ref(id string, index int) {
	w.out = append(w.out, `,"item_id":`...)
	w.out = openai.AppendString(w.out, id)
	w.out = append(w.out, `,"output_index":`...)
	w.out = appendInt(w.out, int64(index))
}

// contentRefOf appends an event's content_index, item_id and output_index.
func (w *sse) contentRefOf(part int, id string, index int) {
	w.out = append(w.out, `,"content_index":`...)
	w.out = appendInt(w.out, int64(part))
	w.ref(id, index)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// Event helpers of a Stream.
// itemRef appends the item_id and output_index of the open item.
func (s *Stream) itemRef() { s.ref(s.curID, s.curIdx) }

// contentRef appends the content_index, item_id and output_index of the
// open content part.
func (s *Stream) contentRef() { s.contentRefOf(s.nParts, s.curID, s.curIdx) }

// itemEvent writes an output_item event carrying s.item.
func (s *Stream) itemEvent(typ string) {
	if s.quiet {
		return
	}
	s.begin(typ)
	s.out = append(s.out, `,"item":`...)
	s.out = append(s.out, s.item...)
	s.out = append(s.out, `,"output_index":`...)
	s.out = appendInt(s.out, int64(s.curIdx))
	s.end()
}

func (s *Stream) summaryPartEvent(typ string, text []byte) {
	if s.quiet {
		return
	}
	s.begin(typ)
	s.itemRef()
	s.out = append(s.out, `,"part":`...)
	s.out = appendSummaryPart(s.out, text)
	s.out = append(s.out, `,"summary_index":0`...)
	s.end()
}

// responseEvent writes an event carrying s.resp.
func (s *Stream) responseEvent(typ string) {
	if s.quiet {
		return
	}
	s.begin(typ)
	s.out = append(s.out, `,"response":`...)
	s.out = append(s.out, s.resp...)
	s.end()
}
