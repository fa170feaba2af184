package handlers

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// upstreamStream is an exchange's hold on a streamed upstream answer: its
// first event, read before send returns (nothing is sent to the client
// before it came, so a failure up to there can still be retried or fall
// back), and for a stream passed through as it is, its event reader.
type upstreamStream struct {
	first []byte // the first event's data
	eof   bool   // the stream ended before any event
	ev    *openai.EventReader
	body  io.Closer
}

// callHub sends a hub (chat completions) request to up and, for a stream,
// reads its first event.
func (s *upstreamStream) callHub(ctx context.Context, up *routing.Upstream, body []byte, stream bool) (*providers.Response, error) {
	resp, err := up.Provider.ChatCompletions(ctx, &providers.Request{Body: body, Model: up.Model, Stream: stream})
	if err != nil || !stream {
		return resp, err
	}
	s.first, err = resp.Stream.Next()
	if s.eof = err == io.EOF; s.eof {
		err = nil
	}
	if err != nil {
		resp.Stream.Close()
		return nil, err
	}
	return resp, nil
}

// openNative takes a passed-through answer: a JSON body read whole
// (bounded), or, when the client asked for a stream and got one, the
// event stream with its first event read. c.Stream is cleared when the
// upstream answered a stream request with JSON.
func (s *upstreamStream) openNative(c *Call, up *routing.Upstream, resp *http.Response) (*providers.Response, error) {
	if !c.Stream || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		c.Stream = false
		return readAnswer(resp, up)
	}
	s.ev, s.body = openai.NewEventReader(resp.Body), resp.Body
	ev, err := s.ev.Next()
	if err != nil {
		resp.Body.Close()
		return nil, &providers.Error{Err: &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
			Message: "provider " + up.ProviderName + " ended the stream before its first event"}}
	}
	s.first = append(s.first[:0], ev.Data...)
	return &providers.Response{Header: relayHeaders(resp.Header)}, nil
}

// readAnswer reads a whole JSON answer, bounded by maxAnswer.
func readAnswer(resp *http.Response, up *routing.Upstream) (*providers.Response, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, &providers.Error{Err: &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
			Message: "reading the answer of provider " + up.ProviderName + ": " + err.Error()}}
	}
	if len(b) > maxAnswer || !gjson.ValidBytes(b) {
		return nil, &providers.Error{Err: &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer,
			Message: "provider " + up.ProviderName + " answered something that is not a JSON body"}}
	}
	return &providers.Response{Header: relayHeaders(resp.Header), Body: b}, nil
}

// upstreamError reads a failed pass-through answer as the provider's error.
func upstreamError(resp *http.Response, c *Call) error {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &providers.Error{Err: openai.ParseError(resp.StatusCode, b),
		RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), c.Start)}
}

// relayHeaders picks the upstream headers a client may want to see.
func relayHeaders(h http.Header) http.Header {
	if id := h.Get("X-Request-Id"); id != "" {
		return http.Header{"X-Request-Id": {id}}
	}
	return nil
}

// replayStored answers a cache hit of a front door whose answers are
// stored in its own dialect: out is the stored answer as the output
// guardrails left it, replay turns it into the stream a live answer would
// have been, and usage records the stored usage. It reports false when
// out cannot be replayed as a stream; the call then goes upstream.
func (c *Call) replayStored(out []byte, replay func([]byte) ([]byte, error), usage func()) bool {
	var events []byte
	if c.Stream {
		var err error
		if events, err = replay(out); err != nil {
			c.Cache = "BYPASS"
			c.w.Header().Set(HeaderCache, c.Cache)
			return false
		}
	}
	c.Provider = "cache"
	usage()
	c.Cost, c.Unpriced = 0, false
	if c.Stream {
		startEvents(c.w)
		_, _ = c.w.Write(events)
	} else {
		writeJSON(c.w, out)
	}
	return true
}

// eventFilter runs the output guardrails over a stream passed through in
// its own dialect (responsesFilter, messagesFilter).
type eventFilter interface {
	// process returns the events (their data) to send for one upstream
	// event.
	process(typ string, data []byte) [][]byte
	// stopped reports that a guardrail blocked the answer: the events
	// process returned last end the stream.
	stopped() bool
	verdicts() []guardrails.Verdict
}

// nativeDialect is what relayNative needs to know of a front door's
// event stream.
type nativeDialect struct {
	// observe reads an upstream event's usage (and whatever else the front
	// door keeps of it) and reports whether it ends the stream.
	observe func(typ string, data []byte) (last bool)
	// text is the output text an event adds, counted with the tokenizer
	// when the stream is cut before its usage came.
	text func(typ string, data []byte) string
	// errorEvent is the whole SSE event that ends a broken stream.
	errorEvent func(oe *openai.Error) []byte
}

// relayNative relays a stream passed through in its own dialect event by
// event (each with its event: line), through filter when not nil, and
// flushed as soon as no further event is buffered.
func (s *upstreamStream) relayNative(c *Call, filter eventFilter, d nativeDialect) {
	defer s.body.Close()
	ew := newEventWriter(c)
	defer ew.close()
	if filter != nil {
		defer func() { c.addStreamVerdicts(filter.verdicts()) }()
	}
	var output []byte
	counting := c.g.Accounting != nil
	defer func() {
		if counting {
			c.estimateCutStream(output)
		}
	}()
	data := s.first
	var event []byte
	for {
		typ := gjson.GetBytes(data, "type").Str
		last := d.observe(typ, data)
		if counting {
			output = append(output, d.text(typ, data)...)
		}
		if filter != nil {
			for _, e := range filter.process(typ, data) {
				event = appendNamedEvent(event[:0], gjson.GetBytes(e, "type").Str, e)
				if !ew.raw(event) {
					return
				}
			}
			if filter.stopped() {
				ew.flush()
				return
			}
		} else {
			event = appendNamedEvent(event[:0], typ, data)
			if !ew.raw(event) {
				return
			}
		}
		if last {
			ew.flush()
			return
		}
		if !s.ev.Buffered() && !ew.flush() {
			return
		}
		ev, err := s.ev.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if oe := streamError(c, err); oe != nil {
				c.Status = http.StatusBadGateway
				ew.raw(d.errorEvent(oe))
				ew.flush()
			}
			return
		}
		data = ev.Data
	}
}

// appendNamedEvent appends an SSE event with an event: line.
func appendNamedEvent(b []byte, name string, data []byte) []byte {
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	return openai.AppendEvent(b, data)
}
