package handlers

import (
	"bytes"
	"io"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/dialects/responses"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// streamTranslator turns hub chunks into a front door's events.
type streamTranslator interface {
	// chunk returns the events for one hub chunk; ok false means the
	// translation failed and the events (an error event) end the stream.
	chunk(data []byte) (events []byte, ok bool)
	// finish returns the events that end a stream that ended.
	finish() []byte
	// fail returns the events that end a stream broken by oe.
	fail(oe *openai.Error) []byte
}

type responsesTranslator struct{ s *responses.Stream }

func (t responsesTranslator) chunk(d []byte) ([]byte, bool) { return t.s.Chunk(d), true }
func (t responsesTranslator) finish() []byte                { return t.s.Finish() }
func (t responsesTranslator) fail(oe *openai.Error) []byte  { return t.s.Fail(oe) }

type messagesTranslator struct{ s *messages.Stream }

func (t messagesTranslator) chunk(d []byte) ([]byte, bool) {
	ev, err := t.s.Chunk(d)
	return ev, err == nil
}
func (t messagesTranslator) finish() []byte               { return t.s.Finish() }
func (t messagesTranslator) fail(oe *openai.Error) []byte { return t.s.Error(oe) }

// streamHub relays a hub stream (whose first event is first, or which
// ended at once when eof) translated by t: usage read from the hub
// chunks, output guardrails run on the hub chunks before translation,
// events written as they come and flushed when no further event is
// buffered. It reports whether the stream ended whole (the terminal events
// were sent).
func (g *Gateway) streamHub(c *Call, stream providers.EventStream, first []byte, eof bool, t streamTranslator) bool {
	defer stream.Close()
	ew := newEventWriter(c)
	defer ew.close()
	var output []byte // the text sent, counted if the stream is cut
	var sent deltaText
	counting := g.Accounting != nil
	defer func() {
		if counting {
			c.estimateCutStream(output)
		}
	}()
	var filter *guardrails.StreamFilter
	if g.guardsOutput(c) {
		filter = g.Guardrails.NewStream(c.context())
		defer func() { c.addStreamVerdicts(filter.Verdicts()) }()
	}
	failed := false
	emit := func(chunk []byte) bool {
		if counting {
			output = sent.appendTo(output, chunk)
		}
		events, ok := t.chunk(chunk)
		if !ok {
			failed = true
			c.Status = http.StatusBadGateway
		}
		return ew.raw(events) && !failed
	}
	data := first
	for !eof {
		if bytes.Contains(data, usageMarker) {
			if u := gjson.GetBytes(data, "usage"); u.IsObject() {
				c.readUsage(u)
			}
		}
		if filter != nil {
			out, blocked := filter.Process(data)
			for _, chunk := range out {
				if !emit(chunk) {
					ew.flush()
					return false
				}
			}
			if blocked {
				break
			}
		} else if !emit(data) {
			ew.flush()
			return false
		}
		if !stream.Buffered() && !ew.flush() {
			return false
		}
		var err error
		data, err = stream.Next()
		if err == io.EOF {
			if filter != nil {
				out, _ := filter.Finish()
				for _, chunk := range out {
					if !emit(chunk) {
						ew.flush()
						return false
					}
				}
			}
			break
		}
		if err != nil {
			if oe := streamError(c, err); oe != nil && ew.raw(t.fail(oe)) {
				ew.flush()
			}
			return false
		}
	}
	return ew.raw(t.finish()) && ew.flush()
}
