package guardrails

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
)

// StreamStage is one output guardrail running over one streamed text (a choice's content or a
// tool call's arguments). Stages run in the chain's order, each on what the previous released.
type StreamStage interface {
	// Feed appends in to the text seen by the stage and appends to out what the stage releases
	// to the client (all of in, a part of what it held, or nothing yet). final marks the end of
	// the text: the stage then releases or blocks everything it holds. blocked reports that
	// the guardrail blocks the answer.
	Feed(in string, final bool, out []byte) (_ []byte, blocked bool)
	// Held reports whether the stage holds back text it was given.
	Held() bool
}

// field is the pipeline of output stages for one streamed text: a choice's content or the
// arguments of one of its tool calls.
type field struct {
	stages []StreamStage
	bufs   [2][]byte
	done   bool
}

// feed runs in through the stages. The result is valid until the next call.
func (fl *field) feed(in string, final bool) (string, bool) {
	if fl.done {
		return "", false
	}
	cur := in
	for k, st := range fl.stages {
		b, blocked := st.Feed(cur, final, fl.bufs[k%2][:0])
		fl.bufs[k%2] = b
		if blocked {
			fl.done = true
			return "", true
		}
		cur = bytesString(b)
	}
	if final {
		fl.done = true
	}
	return cur, false
}

func (fl *field) held() bool {
	for _, st := range fl.stages {
		if st.Held() {
			return true
		}
	}
	return false
}

type choiceState struct {
	index    int
	content  *field
	tools    []*field // by tool call index
	finished bool
}

func (cs *choiceState) held() bool {
	if cs.finished {
		return false
	}
	if cs.content != nil && cs.content.held() {
		return true
	}
	for _, t := range cs.tools {
		if t != nil && t.held() {
			return true
		}
	}
	return false
}

type queued struct {
	chunk   []byte
	choices []int
}

// StreamFilter runs the output guardrails of a chain over one streamed chat completion.
// It is not safe for concurrent use.
//
// Text is released only once every output guardrail has seen it: each guardrail holds back the
// trailing part of a text that could still be the start of a match (or, for moderation with
// action block, the text since the last judged sentence boundary) and releases the rest at once.
// Texts are followed per choice index; tool call arguments are followed per tool call index.
//
// Released text replaces the content (or arguments) of the chunk that brought new text; when a
// chunk's text is all held back and the chunk carries nothing else, it is dropped. Text released
// when a choice finishes but not carried by its final chunk goes out in a chunk built from the
// stream's id, created and model, placed before it. Chunks without text for a choice that holds
// text back (other than usage-only chunks, which pass at once) wait until that choice has
// released everything it held, so they never overtake text that came before them; text that
// came after them may then go first. logprobs stay on the chunk that carried them.
type StreamFilter struct {
	ctx     context.Context
	chain   *Chain
	rec     Recorder
	choices []*choiceState
	queue   []queued
	done    bool

	// per-call scratch space
	edits   []edit
	refs    []int
	fed     []int
	out     [][]byte
	scratch []byte

	id, created, model, fingerprint string // raw JSON values for chunks built here

	// head skips the members every chunk of the stream repeats (id,
	// object, created, model...) once seen; usage is read from every chunk.
	head rawjson.Head
}

// notHead are the members that keep a chunk from being its stream's head:
// the filter reads them from every chunk.
var notHead = []string{`"usage"`}

// NewStream returns a filter for one streamed response, or nil if the chain has no output
// guardrails. ctx bounds the classifier calls of moderation guardrails.
func (c *Chain) NewStream(ctx context.Context) *StreamFilter {
	if !c.HasOutput() {
		return nil
	}
	return &StreamFilter{ctx: ctx, chain: c, head: rawjson.Head{Key: `"choices"`, PerChunk: notHead}}
}

func (f *StreamFilter) choice(idx int) *choiceState {
	for _, cs := range f.choices {
		if cs.index == idx {
			return cs
		}
	}
	cs := &choiceState{index: idx}
	f.choices = append(f.choices, cs)
	return cs
}

func (f *StreamFilter) newField(loc string, content bool) *field {
	fl := &field{}
	for _, st := range f.chain.output {
		switch {
		case st.tg != nil:
			fl.stages = append(fl.stages, &scanStream{g: st.tg, rec: &f.rec, loc: loc})
		case st.oc != nil && content:
			fl.stages = append(fl.stages, st.oc.NewStreamStage(f.ctx, loc, &f.rec))
		}
	}
	return fl
}

func (f *StreamFilter) contentField(cs *choiceState) *field {
	if cs.content == nil {
		cs.content = f.newField("choices["+strconv.Itoa(cs.index)+"].delta.content", true)
	}
	return cs.content
}

func (f *StreamFilter) toolField(cs *choiceState, ti int) *field {
	if ti < 0 || ti > 1024 {
		ti = 1024 // absurd indexes share one pipeline rather than escape the guardrails
	}
	for len(cs.tools) <= ti {
		cs.tools = append(cs.tools, nil)
	}
	if cs.tools[ti] == nil {
		cs.tools[ti] = f.newField("choices["+strconv.Itoa(cs.index)+"].delta.tool_calls["+strconv.Itoa(ti)+"].function.arguments", false)
	}
	return cs.tools[ti]
}

// toolText is text released for the arguments of tool call index.
type toolText struct {
	index int
	text  string
}

// Process takes the data payload of one chat.completion.chunk SSE event (JSON, without "data: ")
// and returns the chunk payloads to send now: possibly none (text held back), possibly rewritten
// chunks. The returned slices may share memory with chunk and with the filter's buffers: they are
// valid until the next call. done reports that the stream was blocked: the returned chunks then
// end with a chunk carrying finish_reason "content_filter", and the caller must write [DONE] and
// stop reading upstream.
func (f *StreamFilter) Process(chunk []byte) (out [][]byte, done bool) {
	if f == nil {
		return [][]byte{chunk}, false
	}
	if f.done {
		return nil, true
	}
	f.out = f.out[:0]
	f.scratch = f.scratch[:0]
	f.edits = f.edits[:0]
	f.refs = f.refs[:0]
	s := bytesString(chunk)
	textless, blocked, finishingQueued := true, false, false
	dropOK := true
	nchoices := 0
	choice := func(el int) int {
		nchoices++
		ch := readChoice(s, el)
		idx, content, finishing := ch.index, ch.content, ch.finishing
		if ch.keeps {
			dropOK = false
		}
		f.refs = append(f.refs, idx)
		if content.Type == gjson.String || ch.tools >= 0 || finishing {
			textless = false
		}
		if finishing {
			dropOK = false
		}
		// Text arriving after a choice finished meets finished pipelines and is dropped.
		cs := f.choice(idx)
		// With chunks of this choice waiting, everything released at its end goes out in a
		// chunk built here, ahead of them, and this chunk keeps empty texts.
		hasQueue := finishing && f.queuedFor(idx)
		finishingQueued = finishingQueued || hasQueue
		var tailContent *string
		var tailTools []toolText
		fedContent := false
		if content.Type == gjson.String {
			fedContent = true
			r, b := f.contentField(cs).feed(content.Str, finishing)
			if b {
				blocked = true
				return -2
			}
			switch {
			case hasQueue:
				rc := strings.Clone(r)
				tailContent = &rc
				f.edits = append(f.edits, edit{at: content.Index, n: len(content.Raw), str: true})
			case r != content.Str:
				f.edits = append(f.edits, edit{at: content.Index, n: len(content.Raw), text: r, str: true})
			}
			if r != "" {
				dropOK = false
			}
		}
		fed := f.fed[:0]
		rawjson.Elements(s, ch.tools, func(el int) int {
			tc := readToolCall(s, el)
			ti, args := tc.index, tc.args
			if tc.keeps {
				dropOK = false
			}
			if args.Type != gjson.String {
				dropOK = false
				return tc.end
			}
			fed = append(fed, ti)
			r, b := f.toolField(cs, ti).feed(args.Str, finishing)
			if b {
				blocked = true
				return -2
			}
			switch {
			case hasQueue:
				tailTools = append(tailTools, toolText{ti, strings.Clone(r)})
				f.edits = append(f.edits, edit{at: args.Index, n: len(args.Raw), str: true})
			case r != args.Str:
				f.edits = append(f.edits, edit{at: args.Index, n: len(args.Raw), text: r, str: true})
			}
			if r != "" {
				dropOK = false
			}
			return tc.end
		})
		f.fed = fed
		if blocked {
			return -2
		}
		if !finishing {
			return ch.end
		}
		// The choice ends: release what its texts still hold.
		if !fedContent && cs.content != nil {
			r, b := cs.content.feed("", true)
			if b {
				blocked = true
				return -2
			}
			if r != "" {
				rc := strings.Clone(r)
				if tailContent != nil {
					rc = *tailContent + rc
				}
				tailContent = &rc
			}
		}
		for ti, t := range cs.tools {
			if t == nil || slices.Contains(fed, ti) {
				continue
			}
			r, b := t.feed("", true)
			if b {
				blocked = true
				return -2
			}
			if r != "" {
				tailTools = append(tailTools, toolText{ti, strings.Clone(r)})
			}
		}
		cs.finished = true
		if (tailContent != nil && (*tailContent != "" || hasQueue)) || len(tailTools) > 0 {
			f.out = append(f.out, f.build(idx, tailContent, tailTools, ""))
		}
		return ch.end
	}
	// One pass over the chunk's members finds choices and usage (the first
	// of each, as gjson.Get would) and reads the choices where they are,
	// decoding none of the other members; positions are the chunk's.
	sawChoices, hasChoices, sawUsage := false, false, false
	walk := func(name string, at int) int {
		switch name {
		case `"choices"`:
			if !sawChoices {
				sawChoices = true
				if at >= len(s) || s[at] != '[' {
					return -1
				}
				if i := rawjson.SkipSpace(s, at+1); i >= len(s) || s[i] == ']' {
					return -1 // no choices
				}
				hasChoices = true
				if f.id == "" {
					f.noteTemplate(s)
				}
				end := rawjson.Elements(s, at, choice)
				if end < 0 {
					return -2 // blocked (or not JSON): the rest does not matter
				}
				return end
			}
		case `"usage"`:
			if !sawUsage {
				end := rawjson.ValueEnd(s, at)
				v := s[at:end]
				sawUsage = true
				if rawjson.IsObject(v) || rawjson.IsArray(v) {
					dropOK = false
				}
				return end
			}
		}
		return -1
	}
	f.head.Walk(s, walk)
	if !hasChoices {
		return append(f.out, chunk), false
	}
	if blocked {
		return f.blockOut(f.out), true
	}
	if textless {
		for _, idx := range f.refs {
			if f.choice(idx).held() {
				f.queue = append(f.queue, queued{chunk: slices.Clone(chunk), choices: slices.Clone(f.refs)})
				return nil, false
			}
		}
		if len(f.queue) > 0 { // keep the order of waiting chunks
			f.queue = append(f.queue, queued{chunk: slices.Clone(chunk), choices: slices.Clone(f.refs)})
			return f.release(f.out), false
		}
		return append(f.out, chunk), false
	}
	if nchoices != 1 {
		dropOK = false
	}
	out = f.out
	if finishingQueued {
		out = f.release(out)
	}
	switch {
	case len(f.edits) == 0:
		out = append(out, chunk)
	case !dropOK:
		start := len(f.scratch)
		f.scratch = appendEdits(f.scratch, chunk, f.edits)
		out = append(out, f.scratch[start:len(f.scratch):len(f.scratch)])
	}
	f.out = f.release(out)
	return f.out, false
}

// chunkChoice is what Process reads of one element of a chunk's choices.
type chunkChoice struct {
	end       int  // index past the element; -1 when it is not an object
	index     int  // its index (the last one given, 0 when none)
	finishing bool // it has a finish_reason that is not null
	// content is delta.content, of Type String when it is a string; its
	// Index is the chunk's.
	content gjson.Result
	tools   int // where delta.tool_calls starts when it is an array, else -1
	// keeps: the choice carries something besides its texts (logprobs, a
	// role, a delta that is no object...), so the chunk cannot be dropped
	// when its texts are held back.
	keeps bool
}

// readChoice reads the choice that starts at s[at] without decoding
// anything but its index and content. When a member repeats, the last one
// counts, as for gjson's ForEach.
func readChoice(s string, at int) chunkChoice {
	ch := chunkChoice{tools: -1}
	ch.end = rawjson.Members(s, at, func(name string, v int) int {
		switch name {
		case `"index"`:
			end := rawjson.ValueEnd(s, v)
			ch.index = intValue(s[v:end])
			return end
		case `"delta"`:
			return ch.readDelta(s, v)
		case `"finish_reason"`:
			end := rawjson.ValueEnd(s, v)
			ch.finishing = !rawjson.IsNull(s[v:end])
			return end
		case `"logprobs"`:
			end := rawjson.ValueEnd(s, v)
			if !rawjson.IsNull(s[v:end]) {
				ch.keeps = true
			}
			return end
		}
		return -1
	})
	return ch
}

// readDelta reads the delta that starts at s[at] and returns the index past it.
func (ch *chunkChoice) readDelta(s string, at int) int {
	ch.content, ch.tools = gjson.Result{}, -1
	end := rawjson.Members(s, at, func(name string, v int) int {
		end := rawjson.ValueEnd(s, v)
		raw := s[v:end]
		switch name {
		case `"content"`:
			if ch.content = stringAt(raw, v); !ch.content.Exists() && !rawjson.IsNull(raw) {
				ch.keeps = true
			}
		case `"tool_calls"`:
			ch.tools = -1
			if rawjson.IsArray(raw) {
				ch.tools = v
			} else if !rawjson.IsNull(raw) {
				ch.keeps = true
			}
		default:
			if !rawjson.IsNull(raw) {
				ch.keeps = true
			}
		}
		return end
	})
	if end < 0 {
		end = rawjson.ValueEnd(s, at)
		if !rawjson.IsNull(s[at:end]) {
			ch.keeps = true // a delta that is no object
		}
	}
	return end
}

// chunkToolCall is what Process reads of one element of a delta's tool_calls.
type chunkToolCall struct {
	end   int          // index past the element; -1 when it is not an object
	index int          // its index; -1 when none is given
	args  gjson.Result // function.arguments, Index the chunk's
	keeps bool         // it carries something besides its arguments (id, name, type)
}

func readToolCall(s string, at int) chunkToolCall {
	tc := chunkToolCall{index: -1}
	tc.end = rawjson.Members(s, at, func(name string, v int) int {
		end := rawjson.ValueEnd(s, v)
		raw := s[v:end]
		switch name {
		case `"index"`:
			tc.index = intValue(raw)
		case `"function"`:
			fe := rawjson.Members(s, v, func(name string, v int) int {
				end := rawjson.ValueEnd(s, v)
				raw := s[v:end]
				if name == `"arguments"` {
					tc.args = stringAt(raw, v)
				} else if !rawjson.IsNull(raw) {
					tc.keeps = true
				}
				return end
			})
			if fe < 0 && !rawjson.IsNull(raw) {
				tc.keeps = true // a function that is no object
			}
		default:
			if !rawjson.IsNull(raw) {
				tc.keeps = true
			}
		}
		return end
	})
	if tc.end < 0 {
		tc.keeps = true
	}
	return tc
}

// stringAt decodes raw, a value that starts at index at of a chunk, when it
// is a string; else it returns the zero Result.
func stringAt(raw string, at int) (r gjson.Result) {
	if rawjson.IsString(raw) {
		r = gjson.Parse(raw)
		r.Index = at
	}
	return r
}

// intValue reads an integer member as gjson's Int does for the usual
// forms (an integer; else a float, a numeric string, true...).
func intValue(raw string) int {
	if n, ok := rawjson.IntValue(raw); ok {
		return n
	}
	return int(gjson.Parse(raw).Int())
}

// Finish is called at the end of the upstream stream (before [DONE]). It releases whatever is
// still held: text of choices that never finished, then waiting chunks. done reports a block, as
// for Process.
func (f *StreamFilter) Finish() (out [][]byte, done bool) {
	if f == nil {
		return nil, false
	}
	if f.done {
		return nil, true
	}
	f.scratch = f.scratch[:0]
	for _, cs := range f.choices {
		if cs.finished {
			continue
		}
		var tailContent *string
		var tailTools []toolText
		if cs.content != nil {
			r, b := cs.content.feed("", true)
			if b {
				return f.blockOut(out), true
			}
			if r != "" {
				rc := strings.Clone(r)
				tailContent = &rc
			}
		}
		for ti, t := range cs.tools {
			if t == nil {
				continue
			}
			r, b := t.feed("", true)
			if b {
				return f.blockOut(out), true
			}
			if r != "" {
				tailTools = append(tailTools, toolText{ti, strings.Clone(r)})
			}
		}
		cs.finished = true
		if tailContent != nil || len(tailTools) > 0 {
			out = append(out, f.build(cs.index, tailContent, tailTools, ""))
		}
	}
	for _, q := range f.queue {
		out = append(out, q.chunk)
	}
	f.queue = nil
	return out, false
}

// Verdicts returns what the output guardrails found so far, one entry per guardrail, category
// and location.
func (f *StreamFilter) Verdicts() []Verdict {
	if f == nil {
		return nil
	}
	return f.rec.verdicts
}

func (f *StreamFilter) queuedFor(idx int) bool {
	for _, q := range f.queue {
		if slices.Contains(q.choices, idx) {
			return true
		}
	}
	return false
}

// release appends the waiting chunks whose choices hold nothing back any more, in order.
func (f *StreamFilter) release(out [][]byte) [][]byte {
	n := 0
	for _, q := range f.queue {
		ready := true
		for _, idx := range q.choices {
			if f.choice(idx).held() {
				ready = false
				break
			}
		}
		if !ready {
			break
		}
		out = append(out, q.chunk)
		n++
	}
	if n > 0 {
		f.queue = slices.Delete(f.queue, 0, n)
	}
	return out
}

// blockOut ends the stream: every choice that has not finished gets a chunk with finish_reason
// "content_filter". Held text and waiting chunks are dropped.
func (f *StreamFilter) blockOut(out [][]byte) [][]byte {
	f.done = true
	f.queue = nil
	if len(f.choices) == 0 {
		f.choices = append(f.choices, &choiceState{})
	}
	for _, cs := range f.choices {
		if cs.finished {
			continue
		}
		cs.finished = true
		out = append(out, f.build(cs.index, nil, nil, "content_filter"))
	}
	return out
}

// noteTemplate remembers the fields copied into the chunks built by the filter.
func (f *StreamFilter) noteTemplate(s string) {
	raw := func(path, def string) string {
		if r := gjson.Get(s, path); r.Exists() {
			return string([]byte(r.Raw))
		}
		return def
	}
	f.id = raw("id", `""`)
	f.created = raw("created", "0")
	f.model = raw("model", `""`)
	f.fingerprint = raw("system_fingerprint", "")
}

// build returns a chat.completion.chunk for choice idx carrying content (if non-nil), tool
// call arguments and finish_reason (null if empty), written in the filter's scratch space.
func (f *StreamFilter) build(idx int, content *string, tools []toolText, finish string) []byte {
	start := len(f.scratch)
	f.scratch = f.appendChunk(f.scratch, idx, content, tools, finish)
	return f.scratch[start:len(f.scratch):len(f.scratch)]
}

func (f *StreamFilter) appendChunk(dst []byte, idx int, content *string, tools []toolText, finish string) []byte {
	id, created, model := f.id, f.created, f.model
	if id == "" {
		id, created, model = `""`, "0", `""`
	}
	dst = append(dst, `{"id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = append(dst, created...)
	dst = append(dst, `,"model":`...)
	dst = append(dst, model...)
	if f.fingerprint != "" {
		dst = append(dst, `,"system_fingerprint":`...)
		dst = append(dst, f.fingerprint...)
	}
	dst = append(dst, `,"choices":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	dst = append(dst, `,"delta":{`...)
	if content != nil {
		dst = append(dst, `"content":`...)
		dst = appendJSONString(dst, *content)
	}
	if len(tools) > 0 {
		if content != nil {
			dst = append(dst, ',')
		}
		dst = append(dst, `"tool_calls":[`...)
		for i, t := range tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"index":`...)
			dst = strconv.AppendInt(dst, int64(t.index), 10)
			dst = append(dst, `,"function":{"arguments":`...)
			dst = appendJSONString(dst, t.text)
			dst = append(dst, `}}`...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"finish_reason":`...)
	if finish == "" {
		dst = append(dst, `null`...)
	} else {
		dst = appendJSONString(dst, finish)
	}
	return append(dst, `}]}`...)
}
