package guardrails

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/tidwall/gjson"
)

// Endpoints understood by [Chain.CheckRequest].
const (
	EndpointChat        = "chat/completions"
	EndpointEmbeddings  = "embeddings"
	EndpointCompletions = "completions"
)

// scanGuardrail is implemented by the guardrails of this package that search text (pii,
// regex); the chain runs them on every text, input and output, streams included.
type scanGuardrail interface {
	scanGuard() *textGuard
}

// RequestChecker is implemented by guardrails that judge a whole request before it goes
// upstream (limits, moderation, and guardrails of other packages). The chain calls it for
// guardrails whose stages include Input.
type RequestChecker interface {
	// CheckRequest judges req. It records what it found in rec and returns a non-nil Block
	// to refuse the request (the provider is then not called).
	CheckRequest(ctx context.Context, req *Request, rec *Recorder) *Block
}

// OutputChecker is implemented by guardrails that judge answers (moderation, and guardrails of
// other packages). The chain calls it for guardrails whose stages include Output: CheckOutput on
// each non-streamed answer text, NewStreamStage once per streamed text.
type OutputChecker interface {
	// CheckOutput judges one complete answer text found at loc (e.g.
	// "choices[0].message.content"). A non-nil Block empties that choice and finishes it with
	// content_filter.
	CheckOutput(ctx context.Context, text, loc string, rec *Recorder) *Block
	// NewStreamStage returns the stage that judges one streamed answer text found at loc.
	NewStreamStage(ctx context.Context, loc string, rec *Recorder) StreamStage
}

type step struct {
	base *Base
	tg   *textGuard
	rc   RequestChecker
	oc   OutputChecker
}

// Chain runs guardrails in their configured order. It is safe for concurrent use.
type Chain struct {
	names  []string
	input  []step
	output []step
}

// NewChain returns a chain running gs (provisioned guardrails) in the given order. A guardrail
// runs if it is one of this package's text scanners or implements [RequestChecker] (on input)
// or [OutputChecker] (on output); [Runs] tells the host whether a module does any of these.
func NewChain(gs []Guardrail) *Chain {
	c := new(Chain)
	for _, g := range gs {
		if g == nil {
			continue
		}
		b := g.Settings()
		st := step{base: b}
		if sg, ok := g.(scanGuardrail); ok {
			st.tg = sg.scanGuard()
		}
		if rc, ok := g.(RequestChecker); ok {
			st.rc = rc
		}
		if oc, ok := g.(OutputChecker); ok {
			st.oc = oc
		}
		if st.tg == nil && st.rc == nil && st.oc == nil {
			continue
		}
		c.names = append(c.names, b.Name)
		stages := b.stages
		if stages == 0 {
			stages = Input
		}
		if stages&Input != 0 && (st.tg != nil || st.rc != nil) {
			c.input = append(c.input, st)
		}
		if stages&Output != 0 && (st.tg != nil || st.oc != nil) {
			c.output = append(c.output, st)
		}
	}
	return c
}

// Runs reports whether a chain can run g: g is one of this package's text scanners, or
// implements [RequestChecker] or [OutputChecker]. The host refuses a guardrail module that does
// not, rather than skipping it.
func Runs(g Guardrail) bool {
	_, sg := g.(scanGuardrail)
	_, rc := g.(RequestChecker)
	_, oc := g.(OutputChecker)
	return sg || rc || oc
}

// HasInput reports whether the chain checks requests.
func (c *Chain) HasInput() bool { return c != nil && len(c.input) > 0 }

// HasOutput reports whether the chain checks answers.
func (c *Chain) HasOutput() bool { return c != nil && len(c.output) > 0 }

// Names returns the names of the guardrails in the chain, in order (for a header such as
// X-Polygate-Guardrails).
func (c *Chain) Names() []string {
	if c == nil {
		return nil
	}
	return slices.Clone(c.names)
}

// text kinds in a request
const (
	textContent  = iota // messages[i].content as a string
	textPart            // messages[i].content[j].text
	textToolArgs        // messages[i].tool_calls[j].function.arguments
	textInput           // input, input[j], prompt, prompt[j]
	textLocated         // located by the caller (see Located)
)

// Text is one text of a request: a message's content or one of its
// parts, a tool call's arguments, an input.
type Text struct {
	// Value is the text, as the guardrails before this one left it.
	Value string
	// Role is the message's role ("user" for embeddings and prompts).
	Role string

	index   int // offset of the raw JSON value in the body
	rawLen  int
	kind    uint8
	changed bool
	msg     int // message index, or input index (-1 for a single string)
	sub     int // part or tool call index
	loc     string
	json    bool // a located JSON value, not a string
}

// Request is what a [RequestChecker] judges.
type Request struct {
	// Endpoint is "chat/completions", "embeddings" or "completions".
	Endpoint string
	// Field is the body field the texts come from: "messages", "input" or
	// "prompt".
	Field string
	// Model is the public model the client asked for.
	Model string
	// Messages is the number of messages (chat) or inputs.
	Messages int
	// TokenIDs is the number of token IDs given directly (embeddings,
	// completions).
	TokenIDs int
	// Texts are the request's texts, in order.
	Texts []Text
}

// Location returns where the i-th text is in the request, e.g.
// "messages[2].content[0]".
func (r *Request) Location(i int) string { return r.Texts[i].location(r.Field) }

func (t *Text) location(field string) string {
	switch t.kind {
	case textLocated:
		return t.loc
	case textContent:
		return field + "[" + strconv.Itoa(t.msg) + "]"
	case textPart:
		return field + "[" + strconv.Itoa(t.msg) + "].content[" + strconv.Itoa(t.sub) + "]"
	case textToolArgs:
		return field + "[" + strconv.Itoa(t.msg) + "].tool_calls[" + strconv.Itoa(t.sub) + "].function.arguments"
	}
	if t.msg < 0 {
		return field
	}
	return field + "[" + strconv.Itoa(t.msg) + "]"
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// CheckRequest runs the input guardrails over every text in an OpenAI request body for endpoint
// "chat/completions" (message contents as strings or text parts, tool results, assistant tool call
// arguments), "embeddings" (input as a string or an array of strings) or "completions" (prompt).
// Other endpoints are not checked. model is the public model name the client asked for.
//
// It returns the body to forward (body itself when nothing was redacted; otherwise a copy in
// which only the redacted strings differ), the verdicts, and a non-nil *Block if the request
// is blocked, in which case the provider must not be called.
func (c *Chain) CheckRequest(ctx context.Context, endpoint, model string, body []byte) ([]byte, []Verdict, *Block) {
	if !c.HasInput() {
		return body, nil, nil
	}
	req := requestPool.Get().(*Request)
	defer func() {
		clear(req.Texts)
		*req = Request{Texts: req.Texts[:0]}
		requestPool.Put(req)
	}()
	req.Endpoint, req.Model = endpoint, model
	s := bytesString(body)
	switch endpoint {
	case EndpointChat:
		collectChat(s, req)
	case EndpointEmbeddings:
		collectInputs(s, "input", req)
	case EndpointCompletions:
		collectInputs(s, "prompt", req)
	default:
		return body, nil, nil
	}
	return c.runInput(ctx, req, body)
}

// runInput runs the input guardrails over req's texts, collected from
// body, and applies their redactions to a copy of body.
func (c *Chain) runInput(ctx context.Context, req *Request, body []byte) ([]byte, []Verdict, *Block) {
	var rec Recorder
	obs := observerOf(ctx)
	for k := range c.input {
		st := &c.input[k]
		sctx, ob := startStep(ctx, obs, st, Input, &rec)
		if st.tg != nil {
			for i := range req.Texts {
				t := &req.Texts[i]
				first := -1
				out, blocked := st.tg.checkText(t.Value, func(det int) {
					if first < 0 {
						first = det
					}
					rec.Add(Verdict{Guardrail: st.base.Name, Action: st.base.act.String(), Category: st.tg.cat[det], Stage: Input, Location: t.location(req.Field)})
				})
				if blocked {
					ob.done(&rec, true)
					v := Verdict{Guardrail: st.base.Name, Action: ActionBlock, Category: st.tg.cat[first], Stage: Input, Location: t.location(req.Field)}
					return body, rec.verdicts, newBlock(v, st.tg.what[first])
				}
				if out != t.Value {
					t.Value, t.changed = out, true
				}
			}
		}
		if st.rc != nil {
			if b := st.rc.CheckRequest(sctx, req, &rec); b != nil {
				ob.done(&rec, true)
				return body, rec.verdicts, b
			}
		}
		ob.done(&rec, false)
	}
	var edits []edit
	for i := range req.Texts {
		if t := &req.Texts[i]; t.changed {
			edits = append(edits, t.edit())
		}
	}
	if len(edits) > 0 {
		body = applyEdits(body, edits)
	}
	return body, rec.verdicts, nil
}

func collectChat(s string, req *Request) {
	req.Field = "messages"
	msgs := gjson.Get(s, "messages")
	i := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		var role string
		var c, calls gjson.Result
		m.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "role":
				role = v.Str
			case "content":
				c = v
			case "tool_calls":
				calls = v
			}
			return true
		})
		switch {
		case c.Type == gjson.String:
			req.Texts = append(req.Texts, Text{Value: c.Str, index: c.Index, rawLen: len(c.Raw), kind: textContent, msg: i, Role: role})
		case c.IsArray():
			j := 0
			c.ForEach(func(_, p gjson.Result) bool {
				if t := p.Get("text"); t.Type == gjson.String {
					req.Texts = append(req.Texts, Text{Value: t.Str, index: t.Index, rawLen: len(t.Raw), kind: textPart, msg: i, sub: j, Role: role})
				}
				j++
				return true
			})
		}
		j := 0
		calls.ForEach(func(_, tc gjson.Result) bool {
			if a := tc.Get("function.arguments"); a.Type == gjson.String {
				req.Texts = append(req.Texts, Text{Value: a.Str, index: a.Index, rawLen: len(a.Raw), kind: textToolArgs, msg: i, sub: j, Role: role})
			}
			j++
			return true
		})
		i++
		return true
	})
	req.Messages = i
}

func collectInputs(s, field string, req *Request) {
	req.Field = field
	in := gjson.Get(s, field)
	switch {
	case in.Type == gjson.String:
		req.Texts = append(req.Texts, Text{Value: in.Str, index: in.Index, rawLen: len(in.Raw), kind: textInput, msg: -1, Role: "user"})
		req.Messages = 1
	case in.IsArray():
		i := 0
		in.ForEach(func(_, v gjson.Result) bool {
			switch {
			case v.Type == gjson.String:
				req.Texts = append(req.Texts, Text{Value: v.Str, index: v.Index, rawLen: len(v.Raw), kind: textInput, msg: i, Role: "user"})
			case v.Type == gjson.Number:
				req.TokenIDs++
			case v.IsArray():
				v.ForEach(func(_, _ gjson.Result) bool { req.TokenIDs++; return true })
			}
			i++
			return true
		})
		req.Messages = i
	}
}

// CheckResponse runs the output guardrails on a non-streamed chat.completion body: each choice's
// message.content and message.tool_calls[].function.arguments (moderation judges the content
// only). A redaction rewrites the string in place. A block empties that choice: its content
// becomes "" (if it had one), its tool_calls become null and its finish_reason becomes
// "content_filter"; other choices are kept. The body is returned unchanged when nothing changed.
func (c *Chain) CheckResponse(ctx context.Context, body []byte) ([]byte, []Verdict) {
	if !c.HasOutput() {
		return body, nil
	}
	s := bytesString(body)
	type respText struct {
		Value   string
		index   int
		rawLen  int
		choice  int
		tool    int // -1 for the content
		changed bool
	}
	type respChoice struct {
		content, toolCalls, finish gjson.Result
		blocked                    bool
	}
	var texts []respText
	var choices []respChoice
	k := 0
	gjson.Get(s, "choices").ForEach(func(_, ch gjson.Result) bool {
		msg := ch.Get("message")
		rc := respChoice{content: msg.Get("content"), toolCalls: msg.Get("tool_calls"), finish: ch.Get("finish_reason")}
		if rc.content.Type == gjson.String {
			texts = append(texts, respText{Value: rc.content.Str, index: rc.content.Index, rawLen: len(rc.content.Raw), choice: k, tool: -1})
		}
		j := 0
		rc.toolCalls.ForEach(func(_, tc gjson.Result) bool {
			if a := tc.Get("function.arguments"); a.Type == gjson.String {
				texts = append(texts, respText{Value: a.Str, index: a.Index, rawLen: len(a.Raw), choice: k, tool: j})
			}
			j++
			return true
		})
		choices = append(choices, rc)
		k++
		return true
	})
	loc := func(t *respText) string {
		l := "choices[" + strconv.Itoa(t.choice) + "].message."
		if t.tool < 0 {
			return l + "content"
		}
		return l + "tool_calls[" + strconv.Itoa(t.tool) + "].function.arguments"
	}
	var rec Recorder
	obs := observerOf(ctx)
	for k := range c.output {
		st := &c.output[k]
		sctx, ob := startStep(ctx, obs, st, Output, &rec)
		stepBlocked := false
		for i := range texts {
			t := &texts[i]
			if choices[t.choice].blocked {
				continue
			}
			if st.tg != nil {
				out, blocked := st.tg.checkText(t.Value, func(det int) {
					rec.Add(Verdict{Guardrail: st.base.Name, Action: st.base.act.String(), Category: st.tg.cat[det], Stage: Output, Location: loc(t)})
				})
				if blocked {
					choices[t.choice].blocked, stepBlocked = true, true
					continue
				}
				if out != t.Value {
					t.Value, t.changed = out, true
				}
			}
			if st.oc != nil && t.tool < 0 {
				if b := st.oc.CheckOutput(sctx, t.Value, loc(t), &rec); b != nil {
					choices[t.choice].blocked, stepBlocked = true, true
				}
			}
		}
		ob.done(&rec, stepBlocked)
	}
	var edits []edit
	for i := range choices {
		ch := &choices[i]
		if !ch.blocked {
			continue
		}
		if ch.content.Type == gjson.String {
			edits = append(edits, edit{at: ch.content.Index, n: len(ch.content.Raw), text: `""`})
		}
		if ch.toolCalls.Exists() && ch.toolCalls.Index > 0 {
			edits = append(edits, edit{at: ch.toolCalls.Index, n: len(ch.toolCalls.Raw), text: "null"})
		}
		if ch.finish.Exists() && ch.finish.Index > 0 {
			edits = append(edits, edit{at: ch.finish.Index, n: len(ch.finish.Raw), text: `"content_filter"`})
		}
	}
	for i := range texts {
		if t := &texts[i]; t.changed && !choices[t.choice].blocked {
			edits = append(edits, edit{at: t.index, n: t.rawLen, text: t.Value, str: true})
		}
	}
	if len(edits) > 0 {
		body = applyEdits(body, edits)
	}
	return body, rec.verdicts
}
