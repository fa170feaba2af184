package cache

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
	"github.com/polygate/polygate/openai"
)

// Bounds on what an Accumulator accepts from a stream, as the API has
// them: at most 128 choices, and tool call indices that grow by at most
// 128 at a time.
const (
	maxChoices      = 128
	maxToolCallSkip = 128
)

// Accumulator rebuilds the chat.completion a stream delivers, so that a
// streamed answer can be stored once it is complete. Feed it the data of
// every event as it passes (Add), then call Complete. It keeps the JSON
// text of strings as received (escapes included) and concatenates it per
// choice into reused buffers, so it decodes nothing and allocates only to
// grow them. The zero value is ready to use; Reset makes it reusable.
type Accumulator struct {
	// Limit bounds the bytes of text (content, reasoning, refusal, tool
	// arguments, logprobs) kept; a stream whose answer grows past it is
	// not complete. 0 means no bound. A host sets it to the cache's
	// MaxSize: a bigger answer could not be stored anyway.
	Limit int

	id, created, model, fingerprint, tier, usage []byte // raw JSON values
	choices                                      []choiceState
	size                                         int
	broken                                       bool

	head rawjson.Head // the members the stream's chunks repeat
	root string       // the chunk being added
}

// choiceState accumulates one choice.
type choiceState struct {
	seen                                 bool
	hasContent, hasReasoning, hasRefusal bool
	hasLogprobs                          bool
	content, reasoning, refusal          []byte // JSON string texts, without quotes
	logContent, logRefusal               []byte // logprob array elements, comma-separated
	finish                               []byte // raw JSON string
	tools                                []toolState
}

// toolState accumulates one tool call of a choice.
type toolState struct {
	seen           bool
	id, typ, extra []byte // raw JSON values
	name, args     []byte // JSON string texts, without quotes
}

// Reset empties the accumulator for another stream, keeping its buffers
// and its Limit.
func (a *Accumulator) Reset() {
	a.id, a.created, a.model = a.id[:0], a.created[:0], a.model[:0]
	a.fingerprint, a.tier, a.usage = a.fingerprint[:0], a.tier[:0], a.usage[:0]
	a.choices = a.choices[:0]
	a.size = 0
	a.broken = false
	a.head.Forget()
}

// Add takes the data of one event of the stream: a chat.completion.chunk
// as JSON ([DONE] is ignored). The bytes are not retained. A chunk that is
// not a JSON object (as far as the members Complete keeps tell: malformed
// bytes inside a member it skips go unnoticed, and do not reach the
// answer), that carries an error, or whose delta has something
// Complete could not represent (audio, a legacy function_call,
// annotations, a non-function tool call) makes the stream not complete.
func (a *Accumulator) Add(data []byte) {
	if a.broken || openai.IsDone(data) {
		return
	}
	root := bytesString(data)
	root = root[rawjson.SkipSpace(root, 0):]
	if !rawjson.IsObject(root) {
		a.broken = true
		return
	}
	// One pass: choices, their deltas and tool calls are walked where they
	// are instead of being skipped first and walked again, and the head the
	// stream's chunks repeat is skipped once seen. The chunk is not
	// validated first: a walk that loses its way (a truncated last event,
	// bytes that are not JSON) breaks the stream, and what Complete builds
	// from the values kept is validated once, at the end.
	a.root = root
	if a.head.Key == "" {
		a.head = rawjson.Head{Key: `"choices"`, PerChunk: notHead}
	}
	if end := a.head.Walk(root, a.member); end < 0 || rawjson.SkipSpace(root, end) != len(root) {
		a.broken = true
	}
	a.root = ""
	if a.Limit > 0 && a.size > a.Limit {
		a.broken = true
	}
}

// member adds the member k of the chunk a.root whose value starts at at;
// it returns the index past the value, or -2 when the stream cannot be
// completed.
func (a *Accumulator) member(k string, at int) int {
	root := a.root
	if k == `"choices"` {
		end := rawjson.Elements(root, at, func(el int) int {
			end := a.addChoice(root, el)
			if end < 0 {
				a.broken = true
				return -2
			}
			return end
		})
		if end < 0 && !a.broken {
			a.broken = true // not an array
		}
		if a.broken {
			return -2
		}
		return end
	}
	end := rawjson.ValueEnd(root, at)
	v := root[at:end]
	switch k {
	case `"id"`:
		if len(a.id) == 0 && rawjson.IsString(v) {
			a.id = append(a.id, v...)
		}
	case `"created"`:
		keepRaw(&a.created, v, rawjson.IsNumber(v))
	case `"model"`:
		keepRaw(&a.model, v, rawjson.IsString(v))
	case `"system_fingerprint"`:
		keepRaw(&a.fingerprint, v, rawjson.IsString(v))
	case `"service_tier"`:
		keepRaw(&a.tier, v, rawjson.IsString(v))
	case `"usage"`:
		keepRaw(&a.usage, v, rawjson.IsObject(v))
	case `"error"`:
		a.broken = !rawjson.IsNull(v)
	}
	if a.broken {
		return -2
	}
	return end
}

// keepRaw replaces *dst with the raw value v when ok (the last one sent
// wins).
func keepRaw(dst *[]byte, v string, ok bool) {
	if ok {
		*dst = append((*dst)[:0], v...)
	}
}

// notHead are the members that keep a chunk from being the stream's head:
// a chunk is judged broken or not on its own.
var notHead = []string{`"usage"`, `"error"`}

// choice returns the state of choice i, adding empty ones up to it.
func (a *Accumulator) choice(i int) *choiceState {
	for len(a.choices) <= i {
		if n := len(a.choices); n < cap(a.choices) {
			a.choices = a.choices[:n+1]
			a.choices[n].reset()
		} else {
			a.choices = append(a.choices, choiceState{})
		}
	}
	return &a.choices[i]
}

func (cs *choiceState) reset() {
	*cs = choiceState{
		content: cs.content[:0], reasoning: cs.reasoning[:0], refusal: cs.refusal[:0],
		logContent: cs.logContent[:0], logRefusal: cs.logRefusal[:0],
		finish: cs.finish[:0], tools: cs.tools[:0],
	}
}

// tool returns the state of tool call j, adding empty ones up to it.
func (cs *choiceState) tool(j int) *toolState {
	for len(cs.tools) <= j {
		if n := len(cs.tools); n < cap(cs.tools) {
			cs.tools = cs.tools[:n+1]
			t := &cs.tools[n]
			*t = toolState{id: t.id[:0], typ: t.typ[:0], extra: t.extra[:0], name: t.name[:0], args: t.args[:0]}
		} else {
			cs.tools = append(cs.tools, toolState{})
		}
	}
	return &cs.tools[j]
}

// addChoice adds the choice that starts at root[at] and returns the index
// just past it, or -1 when the stream cannot be completed from it.
func (a *Accumulator) addChoice(root string, at int) int {
	end := rawjson.ValueEnd(root, at)
	ch := root[at:end]
	if !rawjson.IsObject(ch) {
		return -1
	}
	i, ok := rawjson.IntValue(rawjson.MemberValue(ch, `"index"`))
	if !ok || i < 0 || i >= maxChoices {
		return -1
	}
	cs := a.choice(i)
	cs.seen = true
	walked := rawjson.EachMember(ch, func(k, v string) bool {
		switch k {
		case `"delta"`:
			ok = a.addDelta(cs, v)
		case `"finish_reason"`:
			keepRaw(&cs.finish, v, rawjson.IsString(v))
		case `"logprobs"`:
			if rawjson.IsObject(v) {
				cs.hasLogprobs = true
				a.appendElements(&cs.logContent, rawjson.MemberValue(v, `"content"`))
				a.appendElements(&cs.logRefusal, rawjson.MemberValue(v, `"refusal"`))
			}
		}
		return ok
	})
	if !ok || !walked {
		return -1
	}
	return end
}

func (a *Accumulator) addDelta(cs *choiceState, d string) bool {
	if !rawjson.IsObject(d) {
		return rawjson.IsNull(d)
	}
	ok := true
	walked := rawjson.EachMember(d, func(k, v string) bool {
		switch k {
		case `"content"`:
			ok = a.appendText(&cs.content, &cs.hasContent, v)
		case `"reasoning_content"`:
			ok = a.appendText(&cs.reasoning, &cs.hasReasoning, v)
		case `"refusal"`:
			ok = a.appendText(&cs.refusal, &cs.hasRefusal, v)
		case `"tool_calls"`:
			if rawjson.IsArray(v) {
				ok = rawjson.EachElement(v, func(tc string) bool {
					ok = a.addToolCall(cs, tc)
					return ok
				}) && ok
			} else {
				ok = rawjson.IsNull(v)
			}
		case `"audio"`, `"function_call"`:
			ok = rawjson.IsNull(v)
		case `"annotations"`:
			ok = rawjson.IsNull(v) || rawjson.IsEmptyArray(v)
		}
		return ok
	})
	return ok && walked
}

func (a *Accumulator) addToolCall(cs *choiceState, tc string) bool {
	if !rawjson.IsObject(tc) {
		return false
	}
	var j int
	if idx := rawjson.MemberValue(tc, `"index"`); idx != "" {
		var ok bool
		if j, ok = rawjson.IntValue(idx); !ok {
			return false
		}
		if j == -1 { // some providers mark their only call so
			j = 0
		}
	} else if rawjson.IsString(rawjson.MemberValue(tc, `"id"`)) && len(cs.tools) > 0 {
		j = len(cs.tools) // no index: a call with an id starts a new one
	} else {
		j = max(len(cs.tools)-1, 0)
	}
	if j < 0 || j > len(cs.tools)+maxToolCallSkip {
		return false
	}
	t := cs.tool(j)
	t.seen = true
	ok := true
	walked := rawjson.EachMember(tc, func(k, v string) bool {
		switch k {
		case `"id"`:
			if len(t.id) == 0 && rawjson.IsString(v) && v != `""` {
				t.id = append(t.id, v...)
			}
		case `"type"`:
			if rawjson.IsString(v) {
				t.typ = append(t.typ[:0], v...)
				ok = v == `"function"`
			}
		case `"function"`:
			if !rawjson.IsObject(v) {
				ok = rawjson.IsNull(v)
				break
			}
			var has bool
			ok = a.appendText(&t.name, &has, rawjson.MemberValue(v, `"name"`)) &&
				a.appendText(&t.args, &has, rawjson.MemberValue(v, `"arguments"`))
		case `"extra_content"`:
			if rawjson.IsObject(v) {
				t.extra = append(t.extra[:0], v...)
			}
		case `"custom"`:
			ok = rawjson.IsNull(v)
		}
		return ok
	})
	return ok && walked
}

// appendText appends the text of the raw JSON string v to dst and sets
// *has; null and absent ("") values are skipped; any other value fails.
func (a *Accumulator) appendText(dst *[]byte, has *bool, v string) bool {
	switch {
	case rawjson.IsString(v):
		*has = true
		text := rawjson.StringText(v)
		*dst = append(*dst, text...)
		a.size += len(text)
		return true
	case v == "" || rawjson.IsNull(v):
		return true
	}
	return false
}

// appendElements appends the elements of the JSON array v, if it is one,
// to the comma-separated list dst.
func (a *Accumulator) appendElements(dst *[]byte, v string) {
	if !rawjson.IsArray(v) {
		return
	}
	inner := strings.TrimSpace(v[1 : len(v)-1])
	if len(inner) == 0 {
		return
	}
	if len(*dst) > 0 {
		*dst = append(*dst, ',')
	}
	*dst = append(*dst, inner...)
	a.size += len(inner)
}

// Complete returns the chat.completion the stream delivered, as JSON in a
// new slice, and true; or false when the stream is not complete: no chunk
// had a choice, a choice or a tool call was never seen or a choice never
// got its finish_reason (the stream was cut off), or Add met something it
// could not represent, an error event, or more than Limit bytes.
//
// The completion has the stream's id, created, model, system_fingerprint,
// service_tier and last usage; per choice, the role "assistant", the
// concatenated content (null if the stream sent none), reasoning_content
// (if any), refusal (or null), the tool calls merged by index, the
// logprobs (or null) and the finish_reason.
func (a *Accumulator) Complete() ([]byte, bool) {
	if a.broken || len(a.choices) == 0 {
		return nil, false
	}
	n := 128 + len(a.id) + len(a.model) + len(a.usage) + len(a.fingerprint) + len(a.tier)
	for i := range a.choices {
		cs := &a.choices[i]
		if !cs.seen || len(cs.finish) == 0 {
			return nil, false
		}
		n += 160 + len(cs.content) + len(cs.reasoning) + len(cs.refusal) + len(cs.logContent) + len(cs.logRefusal)
		for j := range cs.tools {
			t := &cs.tools[j]
			if !t.seen {
				return nil, false
			}
			n += 96 + len(t.id) + len(t.name) + len(t.args) + len(t.extra)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"id":`...)
	b = appendOr(b, a.id, `""`)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = appendOr(b, a.created, "0")
	b = append(b, `,"model":`...)
	b = appendOr(b, a.model, `""`)
	b = append(b, `,"choices":[`...)
	for i := range a.choices {
		cs := &a.choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"message":{"role":"assistant","content":`...)
		b = appendText(b, cs.content, cs.hasContent)
		if cs.hasReasoning {
			b = append(b, `,"reasoning_content":`...)
			b = appendText(b, cs.reasoning, true)
		}
		b = append(b, `,"refusal":`...)
		b = appendText(b, cs.refusal, cs.hasRefusal)
		if len(cs.tools) > 0 {
			b = append(b, `,"tool_calls":[`...)
			for j := range cs.tools {
				t := &cs.tools[j]
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":`...)
				b = appendOr(b, t.id, `""`)
				b = append(b, `,"type":"function","function":{"name":`...)
				b = appendText(b, t.name, true)
				b = append(b, `,"arguments":`...)
				b = appendText(b, t.args, true)
				b = append(b, '}')
				if len(t.extra) > 0 {
					b = append(b, `,"extra_content":`...)
					b = append(b, t.extra...)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, `},"logprobs":`...)
		if cs.hasLogprobs {
			b = append(b, `{"content":`...)
			b = appendList(b, cs.logContent)
			b = append(b, `,"refusal":`...)
			b = appendList(b, cs.logRefusal)
			b = append(b, '}')
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"finish_reason":`...)
		b = append(b, cs.finish...)
		b = append(b, '}')
	}
	b = append(b, ']')
	if len(a.usage) > 0 {
		b = append(b, `,"usage":`...)
		b = append(b, a.usage...)
	}
	if len(a.fingerprint) > 0 {
		b = append(b, `,"system_fingerprint":`...)
		b = append(b, a.fingerprint...)
	}
	if len(a.tier) > 0 {
		b = append(b, `,"service_tier":`...)
		b = append(b, a.tier...)
	}
	b = append(b, '}')
	// The raw values kept from the chunks were not validated as they came.
	if !gjson.ValidBytes(b) {
		return nil, false
	}
	return b, true
}

func appendOr(b, raw []byte, def string) []byte {
	if len(raw) == 0 {
		return append(b, def...)
	}
	return append(b, raw...)
}

// appendText appends the JSON string of text, or null when !has.
func appendText(b, text []byte, has bool) []byte {
	if !has {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, text...)
	return append(b, '"')
}

// appendList appends the array of the comma-separated elements, or null
// when there are none.
func appendList(b, elems []byte) []byte {
	if len(elems) == 0 {
		return append(b, "null"...)
	}
	b = append(b, '[')
	b = append(b, elems...)
	return append(b, ']')
}
