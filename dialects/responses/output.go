package responses

import (
	"slices"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// The output items of a Stream: each kind opens with output_item.added,
// grows by deltas and closes with output_item.done when the next item
// opens or the choice finishes. In quiet mode (FromChat) only the items'
// JSON is built.

// status is the status of the items closed at the finish.
func (s *Stream) status() string {
	switch s.finishReason {
	case openai.FinishLength, openai.FinishContentFilter:
		return "incomplete"
	}
	return "completed"
}

func (s *Stream) closeCurrent(status string) {
	switch s.cur {
	case kindReasoning:
		s.closeReasoning()
	case kindMessage:
		s.closeMessage(status)
	case kindCall:
		s.closeCall(status)
	}
	s.cur = kindNone
}

// open starts an output item of kind k with an id of prefix.
func (s *Stream) open(k int, prefix string) {
	s.closeCurrent("completed")
	s.cur, s.curIdx = k, s.items
	s.curID = itemID(prefix, s.st.id, s.items)
	s.items++
}

// addItem appends s.item, a finished item, to the output.
func (s *Stream) addItem() {
	if len(s.st.output) > 0 {
		s.st.output = append(s.st.output, ',')
	}
	s.st.output = append(s.st.output, s.item...)
}

// Reasoning items.

func (s *Stream) openReasoning() {
	s.open(kindReasoning, "rs_")
	s.summary, s.hasSummary, s.since = s.summary[:0], false, 0
	s.blob = reasoningBlob{}
	s.item = appendReasoningItem(s.item[:0], s.curID, nil, false, "")
	s.itemEvent("response.output_item.added")
}

func (s *Stream) reasoningDelta(t string) {
	if t == "" {
		return
	}
	if s.cur != kindReasoning {
		s.openReasoning()
	}
	if !s.hasSummary {
		s.hasSummary = true
		s.summaryPartEvent("response.reasoning_summary_part.added", nil)
	}
	s.summary = append(s.summary, t...)
	s.size += len(t)
	if !s.quiet {
		s.begin("response.reasoning_summary_text.delta")
		s.out = append(s.out, `,"delta":`...)
		s.out = openai.AppendString(s.out, t)
		s.itemRef()
		s.out = append(s.out, `,"summary_index":0`...)
		s.end()
	}
}

// thinkingBlock keeps a hub thinking block for encrypted_content. A
// streamed thinking block brings only its signature: its text is the
// reasoning text since the previous block.
func (s *Stream) thinkingBlock(b gjson.Result) {
	if s.cur != kindReasoning {
		s.openReasoning()
	}
	var block []byte
	switch b.Get("type").Str {
	case "thinking":
		text, sig := b.Get("thinking").Str, b.Get("signature").Str
		if text == "" {
			text = string(s.summary[s.since:])
		}
		if text == "" && sig == "" {
			return
		}
		s.since = len(s.summary)
		block = append(block, `{"type":"thinking","thinking":`...)
		block = openai.AppendString(block, text)
		block = append(block, `,"signature":`...)
		block = openai.AppendString(block, sig)
		block = append(block, '}')
	default:
		block = compact(b)
	}
	s.size += len(block)
	s.blob.ThinkingBlocks = append(s.blob.ThinkingBlocks, block)
}

func (s *Stream) closeReasoning() {
	if s.hasSummary {
		if !s.quiet {
			s.begin("response.reasoning_summary_text.done")
			s.itemRef()
			s.out = append(s.out, `,"summary_index":0,"text":`...)
			s.out = openai.AppendString(s.out, string(s.summary))
			s.end()
		}
		s.summaryPartEvent("response.reasoning_summary_part.done", s.summary)
	}
	s.item = appendReasoningItem(s.item[:0], s.curID, s.summary, s.hasSummary, s.blob.encode())
	s.itemEvent("response.output_item.done")
	s.addItem()
}

// extraItem adds a reasoning item that only carries a tool call's
// extra_content to the output.
func (s *Stream) extraItem(callID string, extra []byte) {
	s.open(kindReasoning, "rs_")
	s.cur = kindNone
	s.item = appendReasoningItem(s.item[:0], s.curID, nil, false, "")
	s.itemEvent("response.output_item.added")
	blob := reasoningBlob{Extras: []callExtra{{CallID: callID, Extra: extra}}}
	s.item = appendReasoningItem(s.item[:0], s.curID, nil, false, blob.encode())
	s.itemEvent("response.output_item.done")
	s.addItem()
}

// The message item.

func (s *Stream) openMessage() {
	s.open(kindMessage, "msg_")
	s.parts, s.nParts, s.part = s.parts[:0], 0, partNone
	s.item = appendMessageEnd(appendMessageStart(s.item[:0], s.curID, "in_progress"))
	s.itemEvent("response.output_item.added")
}

func (s *Stream) openPart(kind int) {
	s.closePart()
	s.part = kind
	s.text, s.logprobs = s.text[:0], s.logprobs[:0]
	if !s.quiet {
		s.begin("response.content_part.added")
		s.contentRef()
		s.out = append(s.out, `,"part":`...)
		s.out = s.appendPart(s.out)
		s.end()
	}
}

func (s *Stream) appendPart(b []byte) []byte {
	if s.part == partRefusal {
		return appendRefusalPart(b, s.text)
	}
	return appendTextPart(b, s.text, s.annotations, s.logprobs)
}

func (s *Stream) contentDelta(t string, logprobs gjson.Result) {
	if t == "" {
		return
	}
	if s.cur != kindMessage {
		s.openMessage()
	}
	if s.part != partText {
		s.openPart(partText)
	}
	s.text = append(s.text, t...)
	s.size += len(t)
	mark := len(s.logprobs)
	logprobs.ForEach(func(_, lp gjson.Result) bool {
		if !lp.IsObject() {
			return true
		}
		if len(s.logprobs) > 0 {
			s.logprobs = append(s.logprobs, ',')
		}
		s.logprobs = append(s.logprobs, compact(lp)...)
		return true
	})
	s.size += len(s.logprobs) - mark
	if !s.quiet {
		s.begin("response.output_text.delta")
		s.contentRef()
		s.out = append(s.out, `,"delta":`...)
		s.out = openai.AppendString(s.out, t)
		s.out = append(s.out, `,"logprobs":[`...)
		if mark > 0 && len(s.logprobs) > mark {
			mark++ // the comma
		}
		s.out = append(s.out, s.logprobs[mark:]...)
		s.out = append(s.out, ']')
		s.end()
	}
}

func (s *Stream) refusalDelta(t string) {
	if t == "" {
		return
	}
	if s.cur != kindMessage {
		s.openMessage()
	}
	if s.part != partRefusal {
		s.openPart(partRefusal)
	}
	s.text = append(s.text, t...)
	s.size += len(t)
	if !s.quiet {
		s.begin("response.refusal.delta")
		s.contentRef()
		s.out = append(s.out, `,"delta":`...)
		s.out = openai.AppendString(s.out, t)
		s.end()
	}
}

func (s *Stream) closePart() {
	if s.part == partNone {
		return
	}
	if !s.quiet {
		if s.part == partText {
			s.begin("response.output_text.done")
			s.contentRef()
			s.out = append(s.out, `,"logprobs":[`...)
			s.out = append(s.out, s.logprobs...)
			s.out = append(s.out, `],"text":`...)
		} else {
			s.begin("response.refusal.done")
			s.contentRef()
			s.out = append(s.out, `,"refusal":`...)
		}
		s.out = openai.AppendString(s.out, string(s.text))
		s.end()
		s.begin("response.content_part.done")
		s.contentRef()
		s.out = append(s.out, `,"part":`...)
		s.out = s.appendPart(s.out)
		s.end()
	}
	if s.nParts > 0 {
		s.parts = append(s.parts, ',')
	}
	s.parts = s.appendPart(s.parts)
	s.nParts++
	s.part, s.annotations = partNone, nil
}

func (s *Stream) closeMessage(status string) {
	s.closePart()
	s.item = appendMessageStart(s.item[:0], s.curID, status)
	s.item = appendMessageEnd(append(s.item, s.parts...))
	s.itemEvent("response.output_item.done")
	s.addItem()
}

// Function call items.

func (s *Stream) toolCall(index int, id, name, args string, extra []byte) {
	if s.cur == kindCall && index == s.callIndex {
		s.argsDelta(args)
		if len(extra) > 0 && s.lateExtra == nil {
			s.lateExtra = extra
		}
		return
	}
	if slices.Contains(s.closed, index) {
		return // a fragment of a call already closed: see the type's doc
	}
	p := s.pend
	if p == nil || p.index != index {
		p = &pendingCall{index: index}
		s.pend = p
	}
	if p.id == "" {
		p.id = id
	}
	if p.name == "" {
		p.name = name
	}
	if p.extra == nil {
		p.extra = extra
	}
	p.args = append(p.args, args...)
	s.size += len(args)
	if p.name == "" {
		return // nothing to announce before the call's name
	}
	s.pend = nil
	s.openCall(p)
}

func (s *Stream) openCall(p *pendingCall) {
	if p.id == "" {
		p.id = callID(s.st.id, s.items)
	}
	if len(p.extra) > 0 {
		if s.cur == kindReasoning {
			s.blob.Extras = append(s.blob.Extras, callExtra{CallID: p.id, Extra: p.extra})
		} else {
			s.extraItem(p.id, p.extra)
		}
	}
	s.open(kindCall, "fc_")
	s.callIndex, s.callID, s.name = p.index, p.id, p.name
	s.args, s.lateExtra = s.args[:0], nil
	s.closed = append(s.closed, p.index)
	s.item = appendCallItem(s.item[:0], s.curID, "in_progress", nil, s.callID, s.name)
	s.itemEvent("response.output_item.added")
	s.argsDelta(string(p.args))
}

func (s *Stream) argsDelta(a string) {
	if a == "" {
		return
	}
	s.args = append(s.args, a...)
	s.size += len(a)
	if !s.quiet {
		s.begin("response.function_call_arguments.delta")
		s.out = append(s.out, `,"delta":`...)
		s.out = openai.AppendString(s.out, a)
		s.itemRef()
		s.end()
	}
}

func (s *Stream) closeCall(status string) {
	if !s.quiet {
		s.begin("response.function_call_arguments.done")
		s.out = append(s.out, `,"arguments":`...)
		s.out = openai.AppendString(s.out, string(s.args))
		s.itemRef()
		s.end()
	}
	s.item = appendCallItem(s.item[:0], s.curID, status, s.args, s.callID, s.name)
	s.itemEvent("response.output_item.done")
	s.addItem()
	s.callIndex = -1
	if extra := s.lateExtra; extra != nil {
		s.lateExtra = nil
		s.cur = kindNone
		s.extraItem(s.callID, extra)
	}
}
