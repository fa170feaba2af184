package responses

import (
	"net/http"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
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
	head  rawjson.Head // the members the stream's chunks repeat

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
	// One allocation for what a short answer's buffers grow to: the events
	// of a call (the first and the last carry the Response, ~1 KiB each),
	// the Response and the output text.
	buf := make([]byte, 0, 5120)
	s := &Stream{req: req, callIndex: -1}
	s.out, s.resp, s.text = buf[:0:3072], buf[3072:3072:4608], buf[4608:4608]
	s.st.id, s.st.createdAt, s.st.model = req.ResponseID, req.CreatedAt, req.Model
	return s
}

// Chunk translates one chat.completion.chunk (its JSON) and returns the
// events to send, none for a chunk that adds nothing. Chunks that are not
// JSON objects are skipped; so is everything after the terminal event.
//
// This runs for every event of every translated stream, so the chunk is
// read in one pass that decodes only what the events need, and the members
// before "choices" that every chunk of a stream repeats (id, object,
// created, model) are skipped once seen.
func (s *Stream) Chunk(chunk []byte) []byte {
	s.out = s.out[:0]
	if s.ended {
		return nil
	}
	c := unsafe.String(unsafe.SliceData(chunk), len(chunk))
	if i := rawjson.SkipSpace(c, 0); i >= len(c) || c[i] != '{' {
		return s.out
	}
	r := chunkReader{c: c}
	if s.head.Key == "" {
		s.head = rawjson.Head{Key: `"choices"`, PerChunk: notHead}
	}
	s.head.Walk(c, r.walk)
	if !s.started {
		if m := stringValue(r.model); m != "" {
			s.st.model = strings.Clone(m)
		}
		s.start()
	}
	if t := stringValue(r.tier); t != "" && t != s.st.serviceTier {
		s.st.serviceTier = strings.Clone(t)
	}
	if r.choice.found && !s.finished {
		s.choice(&r.choice)
	}
	usageHere := rawjson.IsObject(r.usage)
	if usageHere {
		s.usage, s.hasUsage = readHubUsage(gjson.Parse(r.usage)), true
	}
	if s.size > maxOutputSize {
		s.fail(tooLarge())
	} else if s.finished && usageHere {
		s.terminal()
	}
	return s.out
}

// notHead are the members that keep a chunk from being the stream's head:
// the usage is read from the chunk that carries it.
var notHead = []string{`"usage"`}

// chunkReader reads one chunk's raw members.
type chunkReader struct {
	c                  string
	usage, model, tier string
	choice             chunkChoice // the first choice with index 0 (or none)
}

func (r *chunkReader) value(v int) (string, int) {
	end := rawjson.ValueEnd(r.c, v)
	return r.c[v:end], end
}

func (r *chunkReader) walk(name string, v int) (end int) {
	switch name {
	case `"choices"`:
		r.choice = chunkChoice{} // the last "choices" counts, as in a decoder
		if end = rawjson.Elements(r.c, v, r.element); end < 0 {
			end = rawjson.ValueEnd(r.c, v)
		}
	case `"usage"`:
		r.usage, end = r.value(v)
	case `"model"`:
		r.model, end = r.value(v)
	case `"service_tier"`:
		r.tier, end = r.value(v)
	default:
		return -1
	}
	return end
}

// element reads one element of choices until the choice with index 0.
func (r *chunkReader) element(e int) int {
	if r.choice.found {
		return -1
	}
	var ch chunkChoice
	end := rawjson.Members(r.c, e, func(name string, v int) (end int) {
		switch name {
		case `"index"`:
			ch.index, end = r.value(v)
		case `"delta"`:
			ch.delta, end = r.value(v)
			rawjson.EachMember(ch.delta, ch.deltaMember)
		case `"finish_reason"`:
			ch.finish, end = r.value(v)
		case `"logprobs"`:
			ch.logprobs, end = r.value(v)
		default:
			return -1
		}
		return end
	})
	if end < 0 {
		return -1
	}
	if n, ok := rawjson.IntValue(ch.index); !rawjson.IsNumber(ch.index) || ok && n == 0 || !ok && gjson.Parse(ch.index).Int() == 0 {
		ch.found = true
		r.choice = ch
	}
	return end
}

// stringValue returns the text of the raw JSON value v when it is a
// string, else "". Without escapes the text shares v's memory.
func stringValue(v string) string {
	if !rawjson.IsString(v) {
		return ""
	}
	if t := rawjson.StringText(v); strings.IndexByte(t, '\\') < 0 {
		return t
	}
	return gjson.Parse(v).Str
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

// chunkChoice holds the raw members of a chunk choice that Stream reads.
type chunkChoice struct {
	found                                      bool
	index, delta, finish, logprobs             string
	reasoning, blocks, content, refusal, calls string
}

func (ch *chunkChoice) deltaMember(k, v string) bool {
	switch k {
	case `"reasoning_content"`:
		ch.reasoning = v
	case `"thinking_blocks"`:
		ch.blocks = v
	case `"content"`:
		ch.content = v
	case `"refusal"`:
		ch.refusal = v
	case `"tool_calls"`:
		ch.calls = v
	}
	return true
}

// choice translates one chunk choice: reasoning, thinking blocks, content,
// refusal and tool calls, then its finish reason.
func (s *Stream) choice(ch *chunkChoice) {
	finish, logprobs := ch.finish, ch.logprobs
	reasoning, blocks, content, refusal, calls := ch.reasoning, ch.blocks, ch.content, ch.refusal, ch.calls
	if rawjson.IsString(reasoning) {
		s.reasoningDelta(stringValue(reasoning))
	}
	if blocks != "" {
		gjson.Parse(blocks).ForEach(func(_, b gjson.Result) bool {
			if b.IsObject() {
				s.thinkingBlock(b)
			}
			return true
		})
	}
	if rawjson.IsString(content) {
		var lp gjson.Result
		if rawjson.IsObject(logprobs) {
			if l := gjson.Get(logprobs, "content"); l.IsArray() {
				lp = l
			}
		}
		s.contentDelta(stringValue(content), lp)
	}
	if rawjson.IsString(refusal) {
		s.refusalDelta(stringValue(refusal))
	}
	pos := 0
	rawjson.EachElement(calls, func(raw string) bool {
		if !rawjson.IsObject(raw) {
			return true
		}
		tc := gjson.Parse(raw)
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
		// The id and name are kept: copied out of the chunk.
		id, name := strings.Clone(tc.Get("id").Str), strings.Clone(fn.Get("name").Str)
		s.toolCall(index, id, name, fn.Get("arguments").Str, extra)
		return true
	})
	if f := stringValue(finish); f != "" {
		s.finish(strings.Clone(f))
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
