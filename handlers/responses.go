package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/dialects/responses"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// responsesEndpoint is POST /responses, OpenAI's Responses API, streamed
// or not: passed through to providers that speak it (openai, azure),
// translated through the chat hub for every other one.
var responsesEndpoint = &endpoint{
	name:        guardrails.EndpointResponses,
	cacheable:   true,
	guarded:     true,
	newExchange: func() exchange { return new(responsesExchange) },
}

// ServeResponses serves POST /responses.
func (g *Gateway) ServeResponses(w http.ResponseWriter, r *http.Request) {
	g.serve(w, r, responsesEndpoint)
}

// maxAnswer bounds a non-streamed upstream answer read whole: 64 MiB.
const maxAnswer = 64 << 20

// responsesExchange is one Responses request.
type responsesExchange struct {
	store    bool   // keep the response for previous_response_id (the API's default)
	previous string // previous_response_id
	history  []byte // hub messages of the conversation continued, for translation

	req     *responses.Request // the translation, for translated upstreams
	reqBody []byte             // the body req was translated from
	native  bool               // the upstream that answered speaks Responses

	upstreamStream
}

func (x *responsesExchange) parse(c *Call) *openai.Error {
	root, oe := parseObject(c.body)
	if oe != nil {
		return oe
	}
	x.store = true
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			c.modelAt = v
		case "stream":
			c.Stream = v.Type == gjson.True
		case "max_output_tokens":
			c.maxTokens = v.Int()
		case "store":
			x.store = v.Type != gjson.False
		case "previous_response_id":
			x.previous = v.Str
		}
		return true
	})
	if c.modelAt.Type != gjson.String || c.modelAt.Str == "" {
		return openai.InvalidRequest("model", "Missing required parameter: 'model'.")
	}
	c.modelAt.Index += trimmedOffset(c.body)
	c.Model = strings.Clone(c.modelAt.Str)
	if c.route = c.g.Resolve(c.Model); c.route == nil {
		return modelNotFound(c.Model)
	}
	if x.previous != "" {
		if oe := x.continueFrom(c); oe != nil {
			return oe
		}
	}
	if translates(c.route) {
		// Refuse what cannot be translated before any upstream is tried.
		if oe := x.translate(c); oe != nil {
			return oe
		}
	}
	return nil
}

// continueFrom loads the response previous_response_id names: a native
// one pins the call to the upstream that made it, a translated one gives
// the conversation to continue.
func (x *responsesExchange) continueFrom(c *Call) *openai.Error {
	notFound := &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Param: "previous_response_id",
		Code: "previous_response_not_found", Message: "Previous response with id '" + x.previous + "' not found."}
	if c.g.Responses == nil {
		return notFound
	}
	prev, found, err := c.g.Responses.GetResponse(c.ctx, x.previous, c.CallerID)
	if err != nil {
		return &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer,
			Message: "the gateway could not load previous_response_id: its store is unavailable"}
	}
	if !found {
		return notFound
	}
	if !prev.Native {
		// The conversation is the gateway's: only translated upstreams can
		// continue it (a Responses provider would not know the id).
		x.history = prev.History
		var ups []*routing.Upstream
		for _, up := range c.route.Upstreams {
			if !speaksResponses(up.Provider) {
				ups = append(ups, up)
			}
		}
		if len(ups) == 0 {
			return openai.InvalidRequest("previous_response_id", "response '"+x.previous+"' was translated by the gateway; model "+
				c.Model+" is served only by Responses providers, which cannot continue it")
		}
		if len(ups) < len(c.route.Upstreams) {
			c.route = &routing.Route{Name: c.route.Name, Upstreams: ups, Policy: c.route.Policy, Retries: c.route.Retries, Price: c.route.Price}
		}
		return nil
	}
	for _, up := range c.route.Upstreams {
		if up.ProviderName == prev.Upstream {
			c.route = &routing.Route{Name: c.route.Name, Upstreams: []*routing.Upstream{up}, Retries: c.route.Retries, Price: c.route.Price}
			return nil
		}
	}
	return openai.InvalidRequest("previous_response_id", "response '"+x.previous+"' was made by provider "+prev.Upstream+
		", which does not serve model "+c.Model+": only that provider can continue it")
}

// translates reports whether any upstream that may serve r (fallbacks
// included) needs the request translated.
func translates(r *routing.Route) bool {
	for _, up := range r.Upstreams {
		if !speaksResponses(up.Provider) {
			return true
		}
	}
	for _, f := range r.Fallbacks {
		if translates(f) {
			return true
		}
	}
	return false
}

// speaksResponses reports whether p takes Responses requests as they are.
func speaksResponses(p providers.Provider) bool {
	if _, ok := p.(providers.Forwarder); !ok {
		return false
	}
	if s, ok := p.(providers.ResponsesSpeaker); ok {
		return s.SpeaksResponses()
	}
	return true
}

// translate turns c.body into the hub request, again if guardrails
// rewrote the body since.
func (x *responsesExchange) translate(c *Call) *openai.Error {
	if x.req != nil && len(x.reqBody) == len(c.body) && (len(c.body) == 0 || &x.reqBody[0] == &c.body[0]) {
		return nil
	}
	req, oe := responses.ToChat(c.body, x.history)
	if oe != nil {
		return oe
	}
	x.req, x.reqBody = req, c.body
	return nil
}

func (x *responsesExchange) locate(c *Call) ([]guardrails.Located, int) {
	texts := responses.RequestTexts(c.body)
	out := make([]guardrails.Located, len(texts))
	for i, t := range texts {
		out[i] = guardrails.Located{Value: t.Value, Role: t.Role, Location: t.Path, Offset: t.Offset, Len: t.Len}
	}
	return out, len(out)
}

func (x *responsesExchange) texts(c *Call) []string {
	texts := responses.RequestTexts(c.body)
	out := make([]string, 0, len(texts)+1)
	for _, t := range texts {
		out = append(out, t.Value)
	}
	if len(x.history) > 0 {
		out = append(out, messageTexts(append(append([]byte(`{"messages":`), x.history...), '}'))...)
	}
	return out
}

func (x *responsesExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	x.native = speaksResponses(up.Provider)
	if x.native {
		return x.sendNative(ctx, c, up)
	}
	if oe := x.translate(c); oe != nil {
		return nil, oe
	}
	return x.callHub(ctx, up, withModel(x.req.Chat, up.Model), c.Stream)
}

// sendNative passes the request through, the model rewritten.
func (x *responsesExchange) sendNative(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	fw := up.Provider.(providers.Forwarder)
	resp, err := fw.Forward(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: "responses", RawQuery: c.r.URL.RawQuery,
		Header: forwardHeader(c.r.Header, false), Body: c.bodyFor(up)})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, upstreamError(resp, c)
	}
	return x.openNative(c, up, resp)
}

// withModel returns body with its top-level model set to model.
func withModel(body []byte, model string) []byte {
	m := gjson.GetBytes(body, "model")
	if !m.Exists() || m.Str == model {
		return body
	}
	return openai.SetModel(body, m, openai.AppendString(nil, model))
}

func (x *responsesExchange) reply(c *Call, resp *providers.Response) {
	switch {
	case x.native && c.Stream:
		x.relayNative(c)
	case x.native:
		c.setResponsesUsage(responses.ResponseUsage(resp.Body))
		c.g.store(c, resp.Body)
		x.remember(c, resp.Body)
		c.g.writeResponse(c, resp.Body)
	case c.Stream:
		x.streamTranslated(c, resp.Stream)
	default:
		hub := resp.Body
		c.readUsage(gjson.GetBytes(hub, "usage"))
		if c.g.guardsOutput(c) {
			var verdicts []guardrails.Verdict
			hub, verdicts = c.g.Guardrails.CheckResponse(c.guardrailContext(), hub)
			c.addVerdicts(verdicts)
		}
		out, err := responses.FromChat(hub, x.req)
		if err != nil {
			c.g.fail(c, &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
				Message: "provider " + c.Provider + " answered something that cannot be translated: " + err.Error()})
			return
		}
		c.g.store(c, out)
		x.remember(c, out)
		writeJSON(c.w, out)
	}
}

// writeResponse writes a Response object, through the output guardrails.
func (g *Gateway) writeResponse(c *Call, body []byte) {
	writeJSON(c.w, g.guardResponse(c, body))
}

// guardResponse runs the output guardrails over a Response object's texts;
// a blocked answer is emptied and marked incomplete by a content filter.
func (g *Gateway) guardResponse(c *Call, body []byte) []byte {
	if !g.guardsOutput(c) {
		return body
	}
	texts := responses.ResponseTexts(body)
	located := make([]guardrails.Located, len(texts))
	for i, t := range texts {
		located[i] = guardrails.Located{Value: t.Value, Role: t.Role, Location: t.Path, Offset: t.Offset, Len: t.Len}
	}
	out, verdicts, blocked := g.Guardrails.CheckOutputLocated(c.guardrailContext(), body, located)
	c.addVerdicts(verdicts)
	if blocked {
		out, _ = sjson.SetBytes(out, "status", "incomplete")
		out, _ = sjson.SetRawBytes(out, "incomplete_details", []byte(`{"reason":"content_filter"}`))
	}
	return out
}

// remember keeps what previous_response_id needs of an answer: for a
// native upstream which one made the id, for a translated one the
// conversation so far.
func (x *responsesExchange) remember(c *Call, response []byte) {
	if !x.store || c.g.Responses == nil || c.Status != http.StatusOK {
		return
	}
	id := gjson.GetBytes(response, "id").Str
	if id == "" {
		return
	}
	r := StoredResponse{ID: id, CallerID: c.CallerID, Model: c.Model, Upstream: c.Provider, UpstreamModel: c.UpstreamModel, Native: x.native}
	if !x.native {
		out, oe := responses.OutputMessages(response)
		if oe != nil {
			return
		}
		r.History = joinArrays(x.history, x.req.Messages, out)
		r.Request = bytes.Clone(x.reqBody)
		r.Response = bytes.Clone(response)
	}
	c.g.Responses.PutResponse(r)
}

// joinArrays concatenates JSON arrays.
func joinArrays(arrays ...[]byte) []byte {
	out := []byte{'['}
	for _, a := range arrays {
		a = bytes.TrimSpace(a)
		if len(a) < 2 {
			continue
		}
		inner := bytes.TrimSpace(a[1 : len(a)-1])
		if len(inner) == 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, inner...)
	}
	return append(out, ']')
}

func (x *responsesExchange) replay(c *Call, entry cache.Entry) bool {
	return c.replayStored(c.g.guardResponse(c, entry.Body), responses.Replay,
		func() { c.setResponsesUsage(responses.ResponseUsage(entry.Body)) })
}

// setResponsesUsage takes token counts from a Responses usage.
func (c *Call) setResponsesUsage(u responses.Usage, ok bool) {
	if !ok {
		return
	}
	c.InputTokens, c.OutputTokens, c.CachedTokens = u.InputTokens, u.OutputTokens, u.CachedTokens
	c.CacheWriteTokens, c.CacheWrite1hTokens, c.ReasoningTokens = u.CacheWriteTokens, u.CacheWrite1hTokens, u.ReasoningTokens
	c.setCost()
}

// startEvents sends the headers of an event stream.
func startEvents(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
}

// eventWriter writes a stream's events to the client in bursts: what is
// ready goes out in one write, flushed as soon as nothing more is.
type eventWriter struct {
	c     *Call
	rc    *http.ResponseController
	batch eventBatch
}

func newEventWriter(c *Call) *eventWriter {
	startEvents(c.w)
	return &eventWriter{c: c, rc: http.NewResponseController(c.w), batch: eventBatch{w: c.w}}
}

// raw queues whole events; false when the client is gone.
func (ew *eventWriter) raw(events []byte) bool {
	if len(events) == 0 {
		return true
	}
	if ew.c.TTFT == 0 {
		ew.c.TTFT = time.Since(ew.c.Start)
		ew.c.trace.FirstToken()
	}
	ew.batch.addRaw(events)
	if ew.batch.full() && ew.batch.send() != nil {
		ew.c.Status = 499
		return false
	}
	return true
}

// flush sends what is queued; false when the client is gone.
func (ew *eventWriter) flush() bool {
	if ew.batch.send() != nil || ew.rc.Flush() != nil {
		ew.c.Status = 499
		return false
	}
	return true
}

func (ew *eventWriter) close() { ew.batch.release() }

// streamError is the error a broken upstream stream ends with.
func streamError(c *Call, err error) *openai.Error {
	if c.ctx.Err() != nil || errors.Is(err, context.Canceled) {
		c.Status = 499
		return nil
	}
	var pe *providers.Error
	oe := &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: err.Error()}
	if errors.As(err, &pe) {
		oe = pe.Err
	}
	c.Status = oe.Status
	return oe
}

// streamTranslated turns the hub stream into Responses events, through
// the output guardrails.
func (x *responsesExchange) streamTranslated(c *Call, stream providers.EventStream) {
	s := responses.NewStream(x.req)
	first := x.first
	x.first = nil
	if !c.g.streamHub(c, stream, first, x.eof, responsesTranslator{s}) {
		return
	}
	if out := s.Response(); out != nil && c.Status == http.StatusOK {
		c.g.store(c, out)
		x.remember(c, out)
	}
}

// terminalEvents end a Responses stream.
var terminalEvents = []string{"response.completed", "response.incomplete", "response.failed"}

// relayNative relays a native Responses stream event by event, reading
// its usage and id from the terminal event.
func (x *responsesExchange) relayNative(c *Call) {
	defer x.body.Close()
	ew := newEventWriter(c)
	defer ew.close()
	g := c.g
	var filter *responsesFilter
	if g.guardsOutput(c) {
		filter = newResponsesFilter(g.Guardrails.NewStream(c.context()))
		defer func() { c.addStreamVerdicts(filter.f.Verdicts()) }()
	}
	var output []byte
	counting := g.Accounting != nil
	defer func() {
		if counting {
			c.estimateCutStream(output)
		}
	}()
	data := x.first
	var event []byte
	for {
		typ := gjson.GetBytes(data, "type").Str
		terminal := false
		for _, t := range terminalEvents {
			if typ == t {
				terminal = true
			}
		}
		if typ == "response.output_text.delta" && counting {
			output = append(output, getNoCopy(data, "delta").Str...)
		}
		if terminal {
			resp := gjson.GetBytes(data, "response")
			c.setResponsesUsage(responses.ResponseUsage([]byte(resp.Raw)))
			if typ == "response.completed" {
				x.remember(c, []byte(resp.Raw))
			}
		}
		if filter != nil {
			for _, d := range filter.process(typ, data) {
				event = appendNamedEvent(event[:0], gjson.GetBytes(d, "type").Str, d)
				if !ew.raw(event) {
					return
				}
			}
			if filter.blocked {
				ew.flush()
				return
			}
		} else {
			event = appendNamedEvent(event[:0], typ, data)
			if !ew.raw(event) {
				return
			}
		}
		if terminal {
			ew.flush()
			return
		}
		if !x.ev.Buffered() && !ew.flush() {
			return
		}
		ev, err := x.ev.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if oe := streamError(c, err); oe != nil {
				c.Status = http.StatusBadGateway
				ew.raw(appendNamedEvent(event[:0], "error", errorEvent(oe)))
				ew.flush()
			}
			return
		}
		data = ev.Data
	}
}

// errorEvent is a Responses stream's error event.
func errorEvent(oe *openai.Error) []byte {
	b := []byte(`{"type":"error","code":`)
	b = openai.AppendString(b, oe.Code)
	b = append(b, `,"message":`...)
	b = openai.AppendString(b, oe.Message)
	b = append(b, `,"param":null}`...)
	return b
}
