package responses

import (
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// MaxOutputSize bounds the text a Stream keeps to repeat in its done events
// and in the final Response (reasoning, message text and arguments
// together): 32 MiB. A stream that outgrows it ends with response.failed.
const MaxOutputSize = 32 << 20

// maxOutputSize is MaxOutputSize; tests lower it.
var maxOutputSize = MaxOutputSize

// Kinds of output item.
const (
	kindNone = iota
	kindReasoning
	kindMessage
	kindCall
)

// Kinds of message content part.
const (
	partNone = iota
	partText
	partRefusal
)

// Stream translates a hub chat completion stream into the Responses API's
// server-sent events. Feed it each chat.completion.chunk with Chunk, then
// call Finish at the end of the hub stream, or Fail when the hub stream
// breaks; each returns the complete SSE events ("event: <type>\ndata:
// <json>\n\n") to send now, valid until the next call.
//
// The events come in the order the Responses API emits them:
// response.created and response.in_progress with the first chunk; then per
// output item response.output_item.added, its parts and deltas
// (reasoning_summary_part/text for reasoning, content_part and
// output_text or refusal for the message, function_call_arguments for each
// call) and response.output_item.done when the next item starts or the
// choice finishes; last response.completed (response.incomplete when the
// output was cut by max_output_tokens or a content filter) with the usage,
// as soon as both the finish reason and the usage chunk have come.
//
// Items come one after another, as the Responses API streams them: a tool
// call's fragments must come together, as every hub translator sends them
// (a fragment for a call already closed is dropped). Only choice 0 is read.
// A Stream is not safe for concurrent use.
type Stream struct {
	sse   // the events of the current call
	req   *Request
	quiet bool   // build the Response only (FromChat): no events
	resp  []byte // the latest Response object
	item  []byte // scratch for one item's JSON
	st    state

	started, finished, ended bool
	items                    int // output items so far
	size                     int // text kept so far

	cur    int // kind of the open item
	curID  string
	curIdx int

	// the open reasoning item
	summary    []byte
	hasSummary bool
	since      int // where the text of the current thinking block starts in summary
	blob       reasoningBlob

	// the open message item
	parts       []byte // its finished content parts, comma-separated
	nParts      int
	part        int // kind of the open part
	text        []byte
	logprobs    []byte
	annotations []byte

	// the open function call
	callIndex    int
	callID, name string
	args         []byte
	lateExtra    []byte // extra_content that came after the call's first fragment
	closed       []int  // hub indices of the calls already opened
	pend         *pendingCall

	finishReason string
	usage        Usage
	hasUsage     bool
}

// pendingCall is a tool call whose name has not come yet.
type pendingCall struct {
	index       int
	id, name    string
	args, extra []byte
}

// NewStream returns a Stream for the answer to req.
func NewStream(req *Request) *Stream {
	s := &Stream{req: req, callIndex: -1}
	s.st.id, s.st.createdAt, s.st.model = req.ResponseID, req.CreatedAt, req.Model
	return s
}

// Chunk translates one chat.completion.chunk (its JSON) and returns the
// events to send, none for a chunk that adds nothing. Chunks that are not
// JSON objects are skipped; so is everything after the terminal event.
func (s *Stream) Chunk(chunk []byte) []byte {
	s.out = s.out[:0]
	if s.ended {
		return nil
	}
	c := gjson.ParseBytes(chunk)
	if !c.IsObject() {
		return s.out
	}
	var choices, usage gjson.Result
	var model, tier string
	c.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "model":
			model = v.Str
		case "service_tier":
			tier = v.Str
		}
		return true
	})
	if !s.started {
		if model != "" {
			s.st.model = model
		}
		s.start()
	}
	if tier != "" {
		s.st.serviceTier = tier
	}
	var choice gjson.Result
	if !choices.IsArray() {
		choices = gjson.Result{}
	}
	choices.ForEach(func(_, ch gjson.Result) bool {
		if i := ch.Get("index"); i.Type != gjson.Number || i.Int() == 0 {
			choice = ch
			return false
		}
		return true
	})
	if choice.IsObject() && !s.finished {
		s.choice(choice)
	}
	usageHere := usage.IsObject()
	if usageHere {
		s.usage, s.hasUsage = readHubUsage(usage), true
	}
	if s.size > maxOutputSize {
		s.fail(tooLarge())
	} else if s.finished && usageHere {
		s.terminal()
	}
	return s.out
}

// Finish ends the stream when the hub stream ends: it closes what is open
// and returns the terminal event (with the usage, if a chunk carried it),
// preceded by response.created if no chunk came. It returns nothing after
// the terminal event.
func (s *Stream) Finish() []byte {
	s.out = s.out[:0]
	if s.ended {
		return nil
	}
	if !s.started {
		s.start()
	}
	s.terminal()
	return s.out
}

// Fail ends the stream with an error the hub stream broke with: an error
// event, then response.failed carrying e and the output so far (the open
// item as "incomplete"). It returns nothing after the terminal event.
func (s *Stream) Fail(e *openai.Error) []byte {
	s.out = s.out[:0]
	if s.ended {
		return nil
	}
	if e == nil {
		e = &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: "The model's provider ended the stream early."}
	}
	s.fail(e)
	return s.out
}

// Response returns the Response object of the terminal event, nil before
// it. The slice is valid until the next call.
func (s *Stream) Response() []byte {
	if !s.ended {
		return nil
	}
	return s.resp
}

func tooLarge() *openai.Error {
	return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: "The model's answer is too large to stream."}
}

func (s *Stream) start() {
	s.started = true
	s.st.status = "in_progress"
	s.resp = appendResponse(s.resp[:0], &s.req.echo, &s.st)
	s.responseEvent("response.created")
	s.responseEvent("response.in_progress")
}

// choice translates one chunk choice: reasoning, thinking blocks, content,
// refusal and tool calls, then its finish reason.
func (s *Stream) choice(ch gjson.Result) {
	var delta, finish, logprobs gjson.Result
	ch.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "delta":
			delta = v
		case "finish_reason":
			finish = v
		case "logprobs":
			if lp := v.Get("content"); lp.IsArray() {
				logprobs = lp
			}
		}
		return true
	})
	var reasoning, blocks, content, refusal, calls gjson.Result
	delta.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "reasoning_content":
			reasoning = v
		case "thinking_blocks":
			blocks = v
		case "content":
			content = v
		case "refusal":
			refusal = v
		case "tool_calls":
			calls = v
		}
		return true
	})
	if reasoning.Type == gjson.String {
		s.reasoningDelta(reasoning.Str)
	}
	blocks.ForEach(func(_, b gjson.Result) bool {
		if b.IsObject() {
			s.thinkingBlock(b)
		}
		return true
	})
	if content.Type == gjson.String {
		s.contentDelta(content.Str, logprobs)
	}
	if refusal.Type == gjson.String {
		s.refusalDelta(refusal.Str)
	}
	if !calls.IsArray() {
		calls = gjson.Result{}
	}
	pos := 0
	calls.ForEach(func(_, tc gjson.Result) bool {
		if !tc.IsObject() {
			return true
		}
		index := pos
		if i := tc.Get("index"); i.Type == gjson.Number {
			index = int(i.Int())
		}
		pos++
		fn := tc.Get("function")
		var extra []byte
		if x := tc.Get("extra_content"); x.IsObject() {
			extra = []byte(x.Raw)
		}
		s.toolCall(index, tc.Get("id").Str, fn.Get("name").Str, fn.Get("arguments").Str, extra)
		return true
	})
	if finish.Type == gjson.String && finish.Str != "" {
		s.finish(finish.Str)
	}
}

func (s *Stream) finish(reason string) {
	if s.finished {
		return
	}
	s.finished, s.finishReason = true, reason
	s.pend = nil // a call that never got its name
	s.closeCurrent(s.status())
}

func (s *Stream) terminal() {
	s.finish("")
	s.ended = true
	typ := "response.completed"
	s.st.status = "completed"
	switch s.finishReason {
	case openai.FinishLength:
		typ, s.st.status, s.st.incomplete = "response.incomplete", "incomplete", "max_output_tokens"
	case openai.FinishContentFilter:
		typ, s.st.status, s.st.incomplete = "response.incomplete", "incomplete", "content_filter"
	default:
		s.st.completedAt = now().Unix()
	}
	if s.hasUsage {
		s.st.usage = &s.usage
	}
	s.resp = appendResponse(s.resp[:0], &s.req.echo, &s.st)
	s.responseEvent(typ)
}

// fail ends the stream with e: an error event and response.failed whose
// output has the open item as it stands, "incomplete".
func (s *Stream) fail(e *openai.Error) {
	if !s.started {
		s.start()
	}
	s.ended = true
	switch s.cur {
	case kindReasoning:
		s.item = appendReasoningItem(s.item[:0], s.curID, s.summary, s.hasSummary, s.blob.encode())
		s.addItem()
	case kindMessage:
		if s.part != partNone {
			if s.nParts > 0 {
				s.parts = append(s.parts, ',')
			}
			s.parts = s.appendPart(s.parts)
		}
		s.item = appendMessageEnd(append(appendMessageStart(s.item[:0], s.curID, "incomplete"), s.parts...))
		s.addItem()
	case kindCall:
		s.item = appendCallItem(s.item[:0], s.curID, "incomplete", s.args, s.callID, s.name)
		s.addItem()
	}
	s.cur = kindNone
	if !s.quiet {
		s.begin("error")
		s.out = append(s.out, `,"code":`...)
		s.out = openai.AppendString(s.out, errorCode(e))
		s.out = append(s.out, `,"message":`...)
		s.out = openai.AppendString(s.out, e.Message)
		s.out = append(s.out, `,"param":`...)
		if e.Param != "" {
			s.out = openai.AppendString(s.out, e.Param)
		} else {
			s.out = append(s.out, "null"...)
		}
		s.end()
	}
	s.st.status, s.st.err = "failed", e
	if s.hasUsage {
		s.st.usage = &s.usage
	}
	s.resp = appendResponse(s.resp[:0], &s.req.echo, &s.st)
	s.responseEvent("response.failed")
}

// readHubUsage reads a hub usage object.
func readHubUsage(r gjson.Result) Usage {
	var u hubUsage
	u.PromptTokens = r.Get("prompt_tokens").Int()
	u.CompletionTokens = r.Get("completion_tokens").Int()
	u.TotalTokens = r.Get("total_tokens").Int()
	out := u.usage()
	if d := r.Get("prompt_tokens_details"); d.IsObject() {
		out.CachedTokens = d.Get("cached_tokens").Int()
		out.CacheWriteTokens = d.Get("cache_write_tokens").Int()
		out.CacheWrite1hTokens = d.Get("cache_write_1h_tokens").Int()
	}
	out.ReasoningTokens = r.Get("completion_tokens_details.reasoning_tokens").Int()
	return out
}
