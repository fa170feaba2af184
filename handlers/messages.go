package handlers

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/usage/tokens"
)

// messagesEndpoint is POST /messages, Anthropic's Messages API, streamed
// or not: passed through to providers that speak it (anthropic; Claude on
// bedrock and vertex), translated through the chat hub for every other
// one. Its errors have Anthropic's shape.
var messagesEndpoint = &endpoint{
	name:        guardrails.EndpointMessages,
	cacheable:   true,
	guarded:     true,
	newExchange: func() exchange { return new(messagesExchange) },
	writeError:  messages.WriteError,
}

// countTokensEndpoint is POST /messages/count_tokens: asked of a native
// provider, counted by the gateway's tokenizer for the others. Free.
var countTokensEndpoint = &endpoint{
	name:        "messages/count_tokens",
	newExchange: func() exchange { return &messagesExchange{count: true} },
	writeError:  messages.WriteError,
}

// ServeMessages serves POST /messages.
func (g *Gateway) ServeMessages(w http.ResponseWriter, r *http.Request) {
	anthropicAuth(r)
	g.serve(w, r, messagesEndpoint)
}

// ServeCountTokens serves POST /messages/count_tokens.
func (g *Gateway) ServeCountTokens(w http.ResponseWriter, r *http.Request) {
	anthropicAuth(r)
	g.serve(w, r, countTokensEndpoint)
}

// anthropicAuth lets Anthropic clients authenticate with x-api-key: the
// key is read as a bearer token.
func anthropicAuth(r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		if k := r.Header.Get("X-Api-Key"); k != "" {
			r.Header.Set("Authorization", "Bearer "+k)
		}
	}
}

// messagesExchange is one Messages (or count_tokens) request.
type messagesExchange struct {
	count bool // count_tokens

	hub     []byte         // the translation, for translated upstreams
	info    *messages.Info //
	hubFrom []byte         // the body hub was translated from
	native  bool           // the upstream that answered speaks Messages

	upstreamStream
}

func (x *messagesExchange) parse(c *Call) *openai.Error {
	root, oe := parseObject(c.body)
	if oe != nil {
		return oe
	}
	hasMax := false
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			c.modelAt = v
		case "stream":
			c.Stream = v.Type == gjson.True && !x.count
		case "max_tokens":
			c.maxTokens, hasMax = v.Int(), true
		}
		return true
	})
	if c.modelAt.Type != gjson.String || c.modelAt.Str == "" {
		return openai.InvalidRequest("model", "model: Field required")
	}
	if !hasMax && !x.count {
		return openai.InvalidRequest("max_tokens", "max_tokens: Field required")
	}
	c.modelAt.Index += trimmedOffset(c.body)
	c.Model = strings.Clone(c.modelAt.Str)
	if c.route = c.g.Resolve(c.Model); c.route == nil {
		return &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Param: "model",
			Code: "model_not_found", Message: "model: " + c.Model}
	}
	if !x.count && translatesMessages(c.route) {
		return x.translate(c)
	}
	return nil
}

// translatesMessages reports whether any upstream that may serve r
// (fallbacks included) needs the request translated.
func translatesMessages(r *routing.Route) bool {
	for _, up := range r.Upstreams {
		if !speaksMessages(up) {
			return true
		}
	}
	for _, f := range r.Fallbacks {
		if translatesMessages(f) {
			return true
		}
	}
	return false
}

func speaksMessages(up *routing.Upstream) bool {
	mf, ok := up.Provider.(providers.MessagesForwarder)
	return ok && mf.SpeaksMessages(up.Model)
}

// translate turns c.body into the hub request, again if guardrails
// rewrote the body since.
func (x *messagesExchange) translate(c *Call) *openai.Error {
	if x.hub != nil && len(x.hubFrom) == len(c.body) && (len(c.body) == 0 || &x.hubFrom[0] == &c.body[0]) {
		return nil
	}
	hub, info, err := messages.TranslateRequest(c.body)
	if err != nil {
		if oe, ok := err.(*openai.Error); ok {
			return oe
		}
		return openai.InvalidRequest("", err.Error())
	}
	x.hub, x.info, x.hubFrom = hub, info, c.body
	return nil
}

func (x *messagesExchange) locate(c *Call) ([]guardrails.Located, int) {
	texts := messages.RequestTexts(c.body)
	return locatedMessages(texts), len(gjson.GetBytes(c.body, "messages").Array())
}

func locatedMessages(texts []messages.Text) []guardrails.Located {
	out := make([]guardrails.Located, len(texts))
	for i, t := range texts {
		out[i] = guardrails.Located{Value: t.Value, Role: t.Role, Location: t.Location, Offset: t.Offset, Len: t.Len, JSON: t.JSON}
	}
	return out
}

func (x *messagesExchange) texts(c *Call) []string {
	if x.count {
		return nil
	}
	return messages.CountTokensTexts(c.body)
}

func (x *messagesExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	x.native = speaksMessages(up)
	if x.count {
		return x.sendCount(ctx, c, up)
	}
	if x.native {
		return x.sendNative(ctx, c, up)
	}
	if oe := x.translate(c); oe != nil {
		return nil, oe
	}
	return x.callHub(ctx, up, withModel(x.hub, up.Model), c.Stream)
}

func (x *messagesExchange) forward(ctx context.Context, c *Call, up *routing.Upstream, path string) (*http.Response, error) {
	mf := up.Provider.(providers.MessagesForwarder)
	resp, err := mf.ForwardMessages(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: path,
		Header: forwardHeader(c.r.Header, false), Body: c.bodyFor(up)})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, upstreamError(resp, c)
	}
	return resp, nil
}

// sendCount asks a native provider, or counts with the tokenizer.
func (x *messagesExchange) sendCount(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	if !x.native {
		n := tokens.Messages(up.Model, messages.CountTokensTexts(c.body)...)
		return &providers.Response{Body: messages.CountTokensResponse(n)}, nil
	}
	resp, err := x.forward(ctx, c, up, "messages/count_tokens")
	if err != nil {
		return nil, err
	}
	return readAnswer(resp, up)
}

func (x *messagesExchange) sendNative(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	resp, err := x.forward(ctx, c, up, "messages")
	if err != nil {
		return nil, err
	}
	return x.openNative(c, up, resp)
}

func (x *messagesExchange) reply(c *Call, resp *providers.Response) {
	switch {
	case x.count:
		writeJSON(c.w, resp.Body)
	case x.native && c.Stream:
		x.relayNative(c)
	case x.native:
		c.setMessagesUsage(messages.ResponseUsage(resp.Body))
		c.g.store(c, resp.Body)
		writeJSON(c.w, c.g.guardMessage(c, resp.Body))
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
		out, err := messages.TranslateResponse(hub, x.info)
		if err != nil {
			c.g.fail(c, &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
				Message: "provider " + c.Provider + " answered something that cannot be translated: " + err.Error()})
			return
		}
		c.g.store(c, out)
		writeJSON(c.w, out)
	}
}

// guardMessage runs the output guardrails over a Messages response's
// texts; a blocked answer is emptied and stops with "refusal".
func (g *Gateway) guardMessage(c *Call, body []byte) []byte {
	if !g.guardsOutput(c) {
		return body
	}
	out, verdicts, blocked := g.Guardrails.CheckOutputLocated(c.guardrailContext(), body, locatedMessages(messages.ResponseTexts(body)))
	c.addVerdicts(verdicts)
	if blocked {
		out, _ = sjson.SetBytes(out, "stop_reason", "refusal")
	}
	return out
}

// setMessagesUsage takes token counts from an Anthropic usage.
func (c *Call) setMessagesUsage(u messages.Usage, ok bool) {
	if !ok {
		return
	}
	c.InputTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	c.OutputTokens, c.CachedTokens = u.OutputTokens, u.CacheReadInputTokens
	c.CacheWriteTokens, c.CacheWrite1hTokens = u.CacheCreationInputTokens, u.CacheCreation1hInputTokens
	c.setCost()
}

func (x *messagesExchange) replay(c *Call, entry cache.Entry) bool {
	return c.replayStored(c.g.guardMessage(c, entry.Body), messages.Replay,
		func() { c.setMessagesUsage(messages.ResponseUsage(entry.Body)) })
}

// streamTranslated turns the hub stream into Messages events, through the
// output guardrails.
func (x *messagesExchange) streamTranslated(c *Call, stream providers.EventStream) {
	first := x.first
	x.first = nil
	c.g.streamHub(c, stream, first, x.eof, messagesTranslator{messages.NewStream(x.info)})
}

// relayNative relays a native Messages stream event by event, reading its
// usage from message_start and message_delta.
func (x *messagesExchange) relayNative(c *Call) {
	defer x.body.Close()
	ew := newEventWriter(c)
	defer ew.close()
	g := c.g
	var filter *messagesFilter
	if g.guardsOutput(c) {
		filter = newMessagesFilter(g.Guardrails.NewStream(c.context()))
		defer func() { c.addStreamVerdicts(filter.f.Verdicts()) }()
	}
	var ur messages.UsageReader
	defer func() { c.setMessagesUsage(ur.Usage()) }()
	var output []byte
	counting := g.Accounting != nil
	defer func() {
		if counting && c.InputTokens == 0 && c.OutputTokens == 0 {
			c.estimateCutStream(output)
		}
	}()
	data := x.first
	var event []byte
	for {
		typ := gjson.GetBytes(data, "type").Str
		ur.Event(data)
		if counting && typ == "content_block_delta" {
			output = append(output, getNoCopy(data, "delta.text").Str...)
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
		if typ == "message_stop" || typ == "error" {
			if typ == "error" {
				c.Status = http.StatusBadGateway
			}
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
				ew.raw(messages.ErrorEvent(oe))
				ew.flush()
			}
			return
		}
		data = ev.Data
	}
}
