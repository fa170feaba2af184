package messages

import (
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// maxStreamTools bounds the tool calls of one streamed answer.
const maxStreamTools = 4096

type blockKind uint8

const (
	kindNone blockKind = iota
	kindText
	kindThinking
	kindTool
)

type streamTool struct {
	hub   int64 // the call's index in the hub stream
	block int   // its content block index
}

// Stream translates a hub stream (chat.completion.chunk events of choice
// 0, usage chunk included) into the events of a Messages stream, in the
// order the API sends them:
//
//	message_start
//	content_block_start, content_block_delta…, content_block_stop   (per block)
//	message_delta
//	message_stop
//
// The first chunk gives message_start (with the usage so far: usually
// none, since the hub reports usage at the end). A new block starts
// whenever the kind of content changes: reasoning_content is a thinking
// block (thinking_delta), a signature in thinking_blocks ends it
// (signature_delta, then content_block_stop), redacted_thinking is a
// block of its own, content is a text block (text_delta) and each tool
// call, by its hub index, a tool_use block (input_json_delta). The
// finish_reason closes the open block; message_delta (stop reason and the
// full usage, input and cache counts included, which clients merge with
// message_start's) and message_stop follow as soon as the usage chunk
// arrives, or at Finish. Nothing else is held back: each event is returned
// by the call that fed the chunk it comes from.
//
// Reasoning is dropped unless the request enabled thinking; see
// [TranslateResponse] for unsigned reasoning and display "omitted". A
// provider that interleaves the argument fragments of parallel tool calls
// gets each late fragment as an input_json_delta of its own (already
// stopped) block, which the SDKs accumulate by index.
//
// A Stream is not safe for concurrent use; the bytes a method returns
// stay valid until its next call.
type Stream struct {
	info     *Info
	buf      []byte
	started  bool
	done     bool
	id       string
	tier     string
	open     int // index of the open block, -1 when none
	kind     blockKind
	thought  bool // the open thinking block received text
	next     int  // index of the next block
	tools    []streamTool
	finished bool
	finish   string
	matched  string
	refusal  bool
	usage    Usage
	hasUsage bool // usage arrived with or after the finish_reason
}

// NewStream returns the translator of a stream for the request described
// by info.
func NewStream(info *Info) *Stream {
	return &Stream{info: info, open: -1}
}

// Done reports whether the stream is over: message_stop or an error event
// was returned. Later calls return nothing.
func (s *Stream) Done() bool { return s.done }

// Chunk translates one hub chunk (the data of one event, without the
// [DONE] sentinel) and returns the events to send, possibly none. A chunk
// that is not valid JSON, or carries an error object instead of choices,
// ends the stream: the returned bytes are then an error event and the
// error tells why.
func (s *Stream) Chunk(data []byte) ([]byte, error) {
	s.buf = s.buf[:0]
	if s.done {
		return nil, nil
	}
	if !gjson.ValidBytes(data) {
		return s.failed(badAnswer("a stream chunk from the provider is not JSON"))
	}
	c := gjson.ParseBytes(data)
	if !c.IsObject() {
		return s.failed(badAnswer("a stream chunk from the provider is not a JSON object"))
	}
	if c.Get("error").IsObject() && !c.Get("choices").Exists() {
		return s.failed(openai.ParseError(http.StatusBadGateway, data))
	}
	if !s.started {
		s.start(c.Get("id").Str, c.Get("service_tier").Str, c.Get("usage"))
	}
	var err *openai.Error
	c.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		if ch.Get("index").Int() != 0 {
			return true
		}
		err = s.choice(ch)
		return err == nil
	})
	if err != nil {
		return s.failed(err)
	}
	if u := c.Get("usage"); u.IsObject() {
		s.usage = usageFromHub(u)
		s.hasUsage = s.finished
	}
	if s.finished && s.hasUsage {
		s.end()
	}
	return s.buf, nil
}

// Finish ends the stream when the hub stream ended: it closes the open
// block and sends message_delta and message_stop if they were not sent
// (with stop reason end_turn, or tool_use after tool calls, when no
// finish_reason came). It returns nothing after message_stop or an error.
func (s *Stream) Finish() []byte {
	s.buf = s.buf[:0]
	if s.done {
		return nil
	}
	if !s.started {
		s.start("", "", gjson.Result{})
	}
	s.end()
	return s.buf
}

// Error ends the stream with an error event in Anthropic's shape, for a
// failure after the response started; nothing is returned once the
// stream is over.
func (s *Stream) Error(e *openai.Error) []byte {
	s.buf = s.buf[:0]
	if s.done {
		return nil
	}
	s.done = true
	s.buf = appendErrorEvent(s.buf, e)
	return s.buf
}

func (s *Stream) failed(e *openai.Error) ([]byte, error) {
	s.buf = s.buf[:0]
	s.done = true
	s.buf = appendErrorEvent(s.buf, e)
	return s.buf, e
}

func (s *Stream) start(id, tier string, u gjson.Result) {
	s.started = true
	s.id = messageID(id)
	s.tier = serviceTier(tier)
	var first Usage
	if u.IsObject() {
		first = usageFromHub(u)
	}
	s.buf = appendMessageStart(s.buf, s.id, s.info.Model, first, s.tier)
}

func (s *Stream) choice(ch gjson.Result) *openai.Error {
	if s.finished {
		return nil
	}
	d := ch.Get("delta")
	s.reasoning(d.Get("reasoning_content").Str)
	d.Get("thinking_blocks").ForEach(func(_, tb gjson.Result) bool {
		s.thinkingBlock(tb)
		return true
	})
	s.text(d.Get("content").Str)
	if r := d.Get("refusal").Str; r != "" {
		s.refusal = true
		s.text(r)
	}
	var err *openai.Error
	d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		err = s.toolCall(tc)
		return err == nil
	})
	if err != nil {
		return err
	}
	if f := ch.Get("finish_reason"); f.Type == gjson.String {
		s.finished = true
		s.finish = f.Str
		if sr := ch.Get("stop_reason"); sr.Type == gjson.String {
			s.matched = matchedStop([]byte(sr.Raw), s.info.StopSequences)
		}
		s.closeBlock()
	}
	return nil
}

func (s *Stream) openBlock(kind blockKind, block func([]byte) []byte) {
	s.closeBlock()
	s.open, s.kind = s.next, kind
	s.next++
	s.buf = appendBlockStart(s.buf, s.open, block)
}

func (s *Stream) closeBlock() {
	if s.open < 0 {
		return
	}
	s.buf = appendBlockStop(s.buf, s.open)
	s.open, s.kind, s.thought = -1, kindNone, false
}

func (s *Stream) reasoning(text string) {
	if text == "" || !s.info.Thinking || s.info.OmitThinking {
		return
	}
	if s.kind != kindThinking {
		s.openBlock(kindThinking, emptyThinking)
	}
	s.thought = true
	s.buf = appendDelta(s.buf, s.open, "thinking_delta", "thinking", text)
}

// thinkingBlock handles one element of delta.thinking_blocks: a signature
// ends the open thinking block (opening one for a block with no text), a
// redacted block is sent whole. A block's text, when it comes here and
// not as reasoning_content, is sent first.
func (s *Stream) thinkingBlock(tb gjson.Result) {
	if !s.info.Thinking {
		return
	}
	switch tb.Get("type").Str {
	case "thinking":
		if !(s.kind == kindThinking && s.thought) {
			s.reasoning(tb.Get("thinking").Str)
		}
		if sig := tb.Get("signature").Str; sig != "" {
			if s.kind != kindThinking {
				s.openBlock(kindThinking, emptyThinking)
			}
			s.buf = appendDelta(s.buf, s.open, "signature_delta", "signature", sig)
			s.closeBlock()
		}
	case "redacted_thinking":
		data := tb.Get("data").Str
		s.openBlock(kindNone, func(b []byte) []byte {
			b = append(b, `{"type":"redacted_thinking","data":`...)
			b = openai.AppendString(b, data)
			return append(b, '}')
		})
		s.closeBlock()
	}
}

func (s *Stream) text(t string) {
	if t == "" {
		return
	}
	if s.kind != kindText {
		s.openBlock(kindText, emptyText)
	}
	s.buf = appendDelta(s.buf, s.open, "text_delta", "text", t)
}

func (s *Stream) toolCall(tc gjson.Result) *openai.Error {
	idx := int64(len(s.tools))
	if i := tc.Get("index"); i.Type == gjson.Number {
		idx = i.Int()
	} else if tc.Get("id").Str == "" && len(s.tools) > 0 {
		idx = s.tools[len(s.tools)-1].hub // a fragment without index continues the last call
	}
	block := -1
	for i := len(s.tools) - 1; i >= 0; i-- {
		if s.tools[i].hub == idx {
			block = s.tools[i].block
			break
		}
	}
	fn := tc.Get("function")
	if block < 0 {
		if len(s.tools) >= maxStreamTools {
			return badAnswer("the provider's answer calls too many tools")
		}
		id := tc.Get("id").Str
		if id == "" {
			id = newToolID()
		}
		name := fn.Get("name").Str
		s.openBlock(kindTool, func(b []byte) []byte {
			b = appendToolUse(b, id, name, []byte("{}"))
			return b
		})
		block = s.open
		s.tools = append(s.tools, streamTool{hub: idx, block: block})
	}
	if args := fn.Get("arguments").Str; args != "" {
		s.buf = appendDelta(s.buf, block, "input_json_delta", "partial_json", args)
	}
	return nil
}

// end closes the open block and sends message_delta and message_stop.
func (s *Stream) end() {
	s.closeBlock()
	reason, seq := stopReason(s.finish, len(s.tools) > 0, s.refusal, s.matched)
	s.buf = appendMessageDelta(s.buf, reason, seq, s.usage, s.hasUsage || s.usage != Usage{})
	s.buf = appendMessageStop(s.buf)
	s.done = true
}
