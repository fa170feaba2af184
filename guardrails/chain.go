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

// scanGuardrail is implemented by the guardrails that search text (pii, regex).
type scanGuardrail interface {
	scanGuard() *textGuard
}

// requestChecker is implemented by the guardrails that judge a whole request (limits, moderation).
type requestChecker interface {
	checkRequest(ctx context.Context, req *request, rec *recorder) *Block
}

// outputChecker is implemented by the guardrails that judge whole answers (moderation).
type outputChecker interface {
	// checkOutput judges one complete answer found at loc.
	checkOutput(ctx context.Context, text, loc string, rec *recorder) *Block
	// newStage returns the stage that judges one streamed answer found at loc.
	newStage(ctx context.Context, loc string, rec *recorder) stage
}

type step struct {
	base *Base
	tg   *textGuard
	rc   requestChecker
	oc   outputChecker
}

// Chain runs guardrails in their configured order. It is safe for concurrent use.
type Chain struct {
	names  []string
	input  []step
	output []step
}

// NewChain returns a chain running gs (provisioned guardrails) in the given order.
// Guardrails of types this package does not know are skipped.
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
		if rc, ok := g.(requestChecker); ok {
			st.rc = rc
		}
		if oc, ok := g.(outputChecker); ok {
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
)

// reqText is one text of a request.
type reqText struct {
	value   string
	index   int // offset of the raw JSON value in the body
	rawLen  int
	kind    uint8
	changed bool
	msg     int    // message index, or input index (-1 for a single string)
	sub     int    // part or tool call index
	role    string // message role
}

// request is what the request-level guardrails look at.
type request struct {
	endpoint string
	field    string // "messages", "input" or "prompt"
	model    string
	messages int // number of messages (chat) or inputs
	tokenIDs int // number of token IDs given directly (embeddings, completions)
	texts    []reqText
}

func (t *reqText) location(field string) string {
	switch t.kind {
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

var requestPool = sync.Pool{New: func() any { return new(request) }}

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
	req := requestPool.Get().(*request)
	defer func() {
		clear(req.texts)
		*req = request{texts: req.texts[:0]}
		requestPool.Put(req)
	}()
	req.endpoint, req.model = endpoint, model
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
	var rec recorder
	for _, st := range c.input {
		if st.tg != nil {
			for i := range req.texts {
				t := &req.texts[i]
				first := -1
				out, blocked := st.tg.checkText(t.value, func(det int) {
					if first < 0 {
						first = det
					}
					rec.add(Verdict{Guardrail: st.base.Name, Action: st.base.act.String(), Category: st.tg.cat[det], Stage: Input, Location: t.location(req.field)})
				})
				if blocked {
					v := Verdict{Guardrail: st.base.Name, Action: ActionBlock, Category: st.tg.cat[first], Stage: Input, Location: t.location(req.field)}
					return body, rec.verdicts, newBlock(v, st.tg.what[first])
				}
				if out != t.value {
					t.value, t.changed = out, true
				}
			}
		}
		if st.rc != nil {
			if b := st.rc.checkRequest(ctx, req, &rec); b != nil {
				return body, rec.verdicts, b
			}
		}
	}
	var edits []edit
	for i := range req.texts {
		if t := &req.texts[i]; t.changed {
			edits = append(edits, edit{at: t.index, n: t.rawLen, text: t.value, str: true})
		}
	}
	if len(edits) > 0 {
		body = applyEdits(body, edits)
	}
	return body, rec.verdicts, nil
}

func collectChat(s string, req *request) {
	req.field = "messages"
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
			req.texts = append(req.texts, reqText{value: c.Str, index: c.Index, rawLen: len(c.Raw), kind: textContent, msg: i, role: role})
		case c.IsArray():
			j := 0
			c.ForEach(func(_, p gjson.Result) bool {
				if t := p.Get("text"); t.Type == gjson.String {
					req.texts = append(req.texts, reqText{value: t.Str, index: t.Index, rawLen: len(t.Raw), kind: textPart, msg: i, sub: j, role: role})
				}
				j++
				return true
			})
		}
		j := 0
		calls.ForEach(func(_, tc gjson.Result) bool {
			if a := tc.Get("function.arguments"); a.Type == gjson.String {
				req.texts = append(req.texts, reqText{value: a.Str, index: a.Index, rawLen: len(a.Raw), kind: textToolArgs, msg: i, sub: j, role: role})
			}
			j++
			return true
		})
		i++
		return true
	})
	req.messages = i
}

func collectInputs(s, field string, req *request) {
	req.field = field
	in := gjson.Get(s, field)
	switch {
	case in.Type == gjson.String:
		req.texts = append(req.texts, reqText{value: in.Str, index: in.Index, rawLen: len(in.Raw), kind: textInput, msg: -1, role: "user"})
		req.messages = 1
	case in.IsArray():
		i := 0
		in.ForEach(func(_, v gjson.Result) bool {
			switch {
			case v.Type == gjson.String:
				req.texts = append(req.texts, reqText{value: v.Str, index: v.Index, rawLen: len(v.Raw), kind: textInput, msg: i, role: "user"})
			case v.Type == gjson.Number:
				req.tokenIDs++
			case v.IsArray():
				v.ForEach(func(_, _ gjson.Result) bool { req.tokenIDs++; return true })
			}
			i++
			return true
		})
		req.messages = i
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
		value   string
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
			texts = append(texts, respText{value: rc.content.Str, index: rc.content.Index, rawLen: len(rc.content.Raw), choice: k, tool: -1})
		}
		j := 0
		rc.toolCalls.ForEach(func(_, tc gjson.Result) bool {
			if a := tc.Get("function.arguments"); a.Type == gjson.String {
				texts = append(texts, respText{value: a.Str, index: a.Index, rawLen: len(a.Raw), choice: k, tool: j})
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
	var rec recorder
	for _, st := range c.output {
		for i := range texts {
			t := &texts[i]
			if choices[t.choice].blocked {
				continue
			}
			if st.tg != nil {
				out, blocked := st.tg.checkText(t.value, func(det int) {
					rec.add(Verdict{Guardrail: st.base.Name, Action: st.base.act.String(), Category: st.tg.cat[det], Stage: Output, Location: loc(t)})
				})
				if blocked {
					choices[t.choice].blocked = true
					continue
				}
				if out != t.value {
					t.value, t.changed = out, true
				}
			}
			if st.oc != nil && t.tool < 0 {
				if b := st.oc.checkOutput(ctx, t.value, loc(t), &rec); b != nil {
					choices[t.choice].blocked = true
				}
			}
		}
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
			edits = append(edits, edit{at: t.index, n: t.rawLen, text: t.value, str: true})
		}
	}
	if len(edits) > 0 {
		body = applyEdits(body, edits)
	}
	return body, rec.verdicts
}
