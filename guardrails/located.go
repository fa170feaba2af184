package guardrails

import (
	"context"
	"slices"

	"github.com/tidwall/gjson"
)

// Endpoints whose texts the gateway's front doors locate themselves (see
// [Located]).
const (
	EndpointResponses = "responses"
	EndpointMessages  = "messages"
)

// Located is one text of a body in a dialect the chain does not parse
// itself (OpenAI's Responses API, Anthropic's Messages API): the front door
// lists the texts and says where each is.
type Located struct {
	// Value is the text; for a JSON value (JSON set), its JSON.
	Value string
	// Role is who the text is from: "system", "user", "assistant", "tool".
	Role string
	// Location names the text in the body's terms, e.g.
	// "input[2].content[0].text"; verdicts report it.
	Location string
	// Offset and Len locate the raw JSON value (the string literal with
	// its quotes, or the object) in the body.
	Offset, Len int
	// JSON reports that the value is a JSON object (a tool call's input),
	// not a string: a redaction keeps it JSON.
	JSON bool
}

// edit is the change a redacted text makes to its body. A located JSON
// value whose redaction is no longer JSON becomes {}.
func (t *Text) edit() edit {
	if !t.json {
		return edit{at: t.index, n: t.rawLen, text: t.Value, str: true}
	}
	if !gjson.Valid(t.Value) {
		return edit{at: t.index, n: t.rawLen, text: "{}"}
	}
	return edit{at: t.index, n: t.rawLen, text: t.Value}
}

func located(texts []Located, req *Request) {
	for _, l := range texts {
		req.Texts = append(req.Texts, Text{Value: l.Value, Role: l.Role, index: l.Offset, rawLen: l.Len,
			kind: textLocated, loc: l.Location, json: l.JSON})
	}
	slices.SortStableFunc(req.Texts, func(a, b Text) int { return a.index - b.index })
}

// CheckLocated is [Chain.CheckRequest] for a body whose texts the caller
// located: it runs the input guardrails over texts (found in body) and
// returns the body to forward (body itself when nothing was redacted), the
// verdicts, and a non-nil *Block if the request is blocked. messages is
// the number of messages of the request, for guardrails that count them.
func (c *Chain) CheckLocated(ctx context.Context, endpoint, model string, body []byte, messages int, texts []Located) ([]byte, []Verdict, *Block) {
	if !c.HasInput() || len(texts) == 0 {
		return body, nil, nil
	}
	req := requestPool.Get().(*Request)
	defer func() {
		clear(req.Texts)
		*req = Request{Texts: req.Texts[:0]}
		requestPool.Put(req)
	}()
	req.Endpoint, req.Model, req.Messages = endpoint, model, messages
	located(texts, req)
	return c.runInput(ctx, req, body)
}

// CheckOutputLocated runs the output guardrails over the located texts of
// a non-streamed answer (moderation judges the strings, not JSON values). A
// redaction rewrites the text in place; a block empties every text (a JSON
// value becomes {}) and reports blocked, so that the caller marks the
// answer as filtered in its dialect's way. The body is returned unchanged
// when nothing changed.
func (c *Chain) CheckOutputLocated(ctx context.Context, body []byte, texts []Located) (_ []byte, _ []Verdict, blocked bool) {
	if !c.HasOutput() || len(texts) == 0 {
		return body, nil, false
	}
	req := Request{}
	located(texts, &req)
	var rec Recorder
	obs := observerOf(ctx)
	for k := range c.output {
		st := &c.output[k]
		sctx, ob := startStep(ctx, obs, st, Output, &rec)
		for i := range req.Texts {
			t := &req.Texts[i]
			if st.tg != nil {
				out, block := st.tg.checkText(t.Value, func(det int) {
					rec.Add(Verdict{Guardrail: st.base.Name, Action: st.base.act.String(), Category: st.tg.cat[det], Stage: Output, Location: t.loc})
				})
				if block {
					blocked = true
					break
				}
				if out != t.Value {
					t.Value, t.changed = out, true
				}
			}
			if st.oc != nil && !t.json {
				if b := st.oc.CheckOutput(sctx, t.Value, t.loc, &rec); b != nil {
					blocked = true
					break
				}
			}
		}
		ob.done(&rec, blocked)
		if blocked {
			break
		}
	}
	var edits []edit
	for i := range req.Texts {
		t := &req.Texts[i]
		if blocked {
			t.Value, t.changed = "", true
			if t.json {
				t.Value = "{}"
			}
		}
		if t.changed {
			edits = append(edits, t.edit())
		}
	}
	if len(edits) > 0 {
		body = applyEdits(body, edits)
	}
	return body, rec.verdicts, blocked
}
