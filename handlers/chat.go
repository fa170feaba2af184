package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// chatEndpoint is POST /chat/completions, streamed or not.
var chatEndpoint = &endpoint{
	name:        guardrails.EndpointChat,
	cacheable:   true,
	guarded:     true,
	newExchange: func() exchange { return new(chatExchange) },
}

// ServeChat serves POST /chat/completions, streamed or not.
func (g *Gateway) ServeChat(w http.ResponseWriter, r *http.Request) { g.serve(w, r, chatEndpoint) }

// chatExchange is what the gateway reads of a chat completion request;
// the rest of the body passes through untouched.
type chatExchange struct {
	wantUsage bool // the client asked for the usage chunk
	upstreamStream
}

func (x *chatExchange) parse(c *Call) *openai.Error {
	root, oe := parseObject(c.body)
	if oe != nil {
		return oe
	}
	var messages gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			c.modelAt = v
		case "messages":
			messages = v
		case "stream":
			c.Stream = v.Type == gjson.True
		case "stream_options":
			x.wantUsage = v.Get("include_usage").Type == gjson.True
		case "max_completion_tokens":
			c.maxTokens = v.Int()
		case "max_tokens":
			if c.maxTokens == 0 {
				c.maxTokens = v.Int()
			}
		}
		return true
	})
	if c.modelAt.Type != gjson.String || c.modelAt.Str == "" {
		return openai.InvalidRequest("model", "you must provide a model parameter (a string)")
	}
	if !messages.IsArray() {
		return openai.InvalidRequest("messages", "you must provide a messages parameter (an array of messages)")
	}
	c.modelAt.Index += trimmedOffset(c.body)
	c.Model = strings.Clone(c.modelAt.Str) // records outlive the body
	return nil
}

func (x *chatExchange) texts(c *Call) []string { return messageTexts(c.body) }

func (x *chatExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	return x.callHub(ctx, up, c.bodyFor(up), c.Stream)
}

func (x *chatExchange) reply(c *Call, resp *providers.Response) {
	if c.Stream {
		c.g.serveStream(c, x, resp.Stream)
		return
	}
	c.g.store(c, resp.Body)
	out := resp.Body
	if c.g.guardsOutput(c) {
		var verdicts []guardrails.Verdict
		out, verdicts = c.g.Guardrails.CheckResponse(c.guardrailContext(), out)
		c.addVerdicts(verdicts)
	}
	if c.trace.RecordsContent() {
		c.trace.Content(lastUserText(c.body), gjson.GetBytes(out, "choices.0.message.content").Str)
	}
	writeJSON(c.w, out)
	c.readUsage(getNoCopy(resp.Body, "usage"))
}

func (x *chatExchange) replay(c *Call, entry cache.Entry) bool {
	return c.g.serveHit(c, entry.Body, x.wantUsage)
}

// lastUserText is the last user message's text of a chat request, what a
// trace with content shows as the prompt.
func lastUserText(body []byte) string {
	msgs := gjson.GetBytes(body, `messages.#(role=="user")#.content`).Array()
	if len(msgs) == 0 {
		return ""
	}
	last := msgs[len(msgs)-1]
	if last.Type == gjson.String {
		return last.Str
	}
	return last.Get(`#(type=="text").text`).Str
}

func writeJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

var (
	// usageMarker finds the events that may carry usage; it starts after
	// the quote, which JSON is full of, so the search runs several times
	// faster. gjson then reads the actual field.
	usageMarker     = []byte(`usage":{`)
	emptyChoicesKey = []byte(`"choices":[]`)
)

// serveStream relays a stream event by event. Events that are ready are
// gathered into one write, and the write is flushed as soon as no further
// complete event is already buffered from the upstream: no event ever waits
// for the network, and a burst goes out in one write.
func (g *Gateway) serveStream(c *Call, x *chatExchange, stream providers.EventStream) {
	defer stream.Close()
	w, lk := c.w, c.lookup
	data, eof := x.first, x.eof
	x.first = nil
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	batch := eventBatch{w: w}
	defer batch.release()
	var output []byte // the text sent, counted if the usage chunk never comes
	var sent deltaText
	counting := g.Accounting != nil
	defer func() {
		if counting {
			c.estimateCutStream(output)
		}
	}()
	var acc *cache.Accumulator // rebuilds the answer for the cache
	if lk.store {
		acc = &cache.Accumulator{Limit: 8 << 20}
	}
	var filter *guardrails.StreamFilter
	if g.guardsOutput(c) {
		filter = g.Guardrails.NewStream(c.context())
		defer func() { c.addStreamVerdicts(filter.Verdicts()) }()
	}
	// write queues one event; false when the client is gone.
	write := func(data []byte) bool {
		if c.TTFT == 0 {
			c.TTFT = time.Since(c.Start)
			c.trace.FirstToken()
		}
		if counting {
			output = sent.appendTo(output, data)
		}
		batch.add(data)
		if batch.full() && batch.send() != nil {
			c.Status = 499
			return false
		}
		return true
	}
	// flush sends what is queued; false when the client is gone.
	flush := func() bool {
		if batch.send() != nil || rc.Flush() != nil {
			c.Status = 499
			return false
		}
		return true
	}
	for !eof {
		if acc != nil {
			acc.Add(data)
		}
		send := true
		if bytes.Contains(data, usageMarker) {
			if u := gjson.GetBytes(data, "usage"); u.IsObject() {
				c.readUsage(u)
				if !x.wantUsage && (bytes.Contains(data, emptyChoicesKey) || len(gjson.GetBytes(data, "choices").Array()) == 0) {
					send = false // we asked for it; the client did not
				}
			}
		}
		if send && filter != nil {
			out, blocked := filter.Process(data)
			for _, chunk := range out {
				if !write(chunk) {
					return
				}
			}
			if blocked {
				break
			}
		} else if send && !write(data) {
			return
		}
		if !stream.Buffered() && !flush() {
			return
		}
		var err error
		data, err = stream.Next()
		if err == io.EOF {
			if filter != nil {
				out, _ := filter.Finish()
				for _, chunk := range out {
					if !write(chunk) {
						return
					}
				}
			}
			break
		}
		if err != nil {
			if c.ctx.Err() != nil || errors.Is(err, context.Canceled) {
				c.Status = 499
				return
			}
			c.Status = http.StatusBadGateway
			var pe *providers.Error
			oe := &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: err.Error()}
			if errors.As(err, &pe) {
				oe = pe.Err
				c.Status = oe.Status
			}
			// The status stays the upstream's even if the client is gone too.
			batch.add(oe.AppendJSON(nil))
			if batch.send() == nil {
				_ = rc.Flush()
			}
			return
		}
	}
	batch.addRaw(openai.DoneEvent)
	if !flush() {
		return
	}
	if acc != nil && c.Status == http.StatusOK {
		if answer, ok := acc.Complete(); ok {
			g.store(c, answer)
		}
	}
}

// eventBuffers hold the events of one burst while they are written:
// between bursts an open stream holds no buffer of its own.
var eventBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxBatch is how many bytes of events are gathered before they are
// handed to the client's writer even though more are ready: 32 KiB.
const maxBatch = 32 << 10

// eventBatch gathers the SSE events that are ready into one write to w, so
// Caddy's writer (and its deadline bookkeeping) is called once per burst,
// not once per event.
type eventBatch struct {
	w   io.Writer
	buf *[]byte
}

// add queues data as one event.
func (b *eventBatch) add(data []byte) {
	b.take()
	*b.buf = openai.AppendEvent(*b.buf, data)
}

// addRaw queues bytes that are already a whole event.
func (b *eventBatch) addRaw(event []byte) {
	b.take()
	*b.buf = append(*b.buf, event...)
}

func (b *eventBatch) take() {
	if b.buf == nil {
		b.buf = eventBuffers.Get().(*[]byte)
		*b.buf = (*b.buf)[:0]
	}
}

// full reports whether the queue should be written without waiting for
// the end of the burst.
func (b *eventBatch) full() bool { return b.buf != nil && len(*b.buf) >= maxBatch }

// send writes what is queued and returns the buffer to the pool.
func (b *eventBatch) send() error {
	if b.buf == nil {
		return nil
	}
	_, err := b.w.Write(*b.buf)
	b.release()
	return err
}

// release returns the buffer to the pool without writing it.
func (b *eventBatch) release() {
	if b.buf == nil {
		return
	}
	if cap(*b.buf) <= 2*maxBatch {
		eventBuffers.Put(b.buf)
	}
	b.buf = nil
}
