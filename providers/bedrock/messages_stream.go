package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// messagesStream is the body of a streamed Messages answer: it turns the
// event stream of InvokeModelWithResponseStream into Anthropic's
// server-sent events. Each chunk event carries {"bytes": base64 of one
// Anthropic event}; it becomes "event: <type>\ndata: <event JSON>\n\n".
// Messages are decoded as the reader asks for them, one at a time, and a
// Read returns bytes of one event only, so nothing is held back and
// nothing but the current event is buffered. An exception message, a
// malformed message or a stream cut before message_stop ends the body
// with an Anthropic error event. Close closes the upstream body, which
// also ends a Read waiting on the network.
type messagesStream struct {
	frames
	body    io.Closer
	out     []byte // the current event's bytes
	off     int    // how much of out was read
	raw     []byte // reused buffer of decoded chunks
	stopped bool   // message_stop came
	done    bool   // nothing follows out
}

func newMessagesStream(ctx context.Context, body io.ReadCloser, client *providers.Client) *messagesStream {
	return &messagesStream{frames: newFrames(ctx, body, client), body: body}
}

// start reads up to the first event. It returns the error a stream that
// fails before its first event reports, so that it can be answered as an
// error rather than as a stream of one error event.
func (s *messagesStream) start() *openai.Error {
	for len(s.out) == 0 && !s.done {
		if oe := s.next(); oe != nil {
			return oe
		}
	}
	return nil
}

// Read implements io.Reader.
func (s *messagesStream) Read(p []byte) (int, error) {
	for s.off == len(s.out) {
		if s.done {
			return 0, io.EOF
		}
		if oe := s.next(); oe != nil {
			s.out = messages.ErrorEvent(oe)
		}
	}
	n := copy(p, s.out[s.off:])
	s.off += n
	return n, nil
}

// Close implements io.Closer.
func (s *messagesStream) Close() error {
	s.done = true
	return s.body.Close()
}

// next decodes the next message into out (left empty by messages that
// carry no event). It returns the error that ends the stream, if any.
func (s *messagesStream) next() *openai.Error {
	if cap(s.out) > keptPayloadBuffer {
		s.out = nil
	}
	s.out, s.off = s.out[:0], 0
	msg, err := s.read()
	if err == io.EOF {
		s.done = true
		if s.stopped {
			return nil
		}
		err = s.client.StreamError(s.ctx, io.ErrUnexpectedEOF)
	}
	if err != nil {
		s.done = true
		return streamError(err)
	}
	defer s.release()
	switch header(msg, ":message-type") {
	case "event":
	case "exception":
		s.done = true
		return exceptionError(header(msg, ":exception-type"), msg.Payload)
	case "error":
		s.done = true
		return &openai.Error{Status: http.StatusBadGateway, Code: header(msg, ":error-code"),
			Message: "Bedrock reported " + header(msg, ":error-code") + ": " + header(msg, ":error-message")}
	default:
		s.done = true
		return s.invalid("an event-stream message has no known :message-type")
	}
	if header(msg, ":event-type") != "chunk" {
		return nil // other event types carry no Anthropic event
	}
	typ, event, raw, err := decodeChunk(msg.Payload, s.raw)
	s.raw = raw
	if cap(s.raw) > keptPayloadBuffer {
		s.raw = nil
	}
	if err != nil {
		s.done = true
		return s.invalid(err.Error())
	}
	s.out = appendEvent(s.out, typ, event)
	switch typ {
	case "message_stop":
		s.stopped, s.done = true, true
	case "error":
		s.done = true
	}
	return nil
}

func (s *messagesStream) invalid(what string) *openai.Error {
	return s.client.InvalidResponse(what).Err
}

// streamError is the openai error of a failed read.
func streamError(err error) *openai.Error {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Err
	}
	return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Message: err.Error()}
}

// Limits of the Anthropic events a chunk carries.
const maxEventType = 64

// decodeChunk decodes a chunk event's payload, {"bytes":"<base64>"}, into
// buf (reused when large enough) and returns the Anthropic event it
// holds: a JSON object whose "type" names it. Line breaks between JSON
// tokens are removed, so that the event fits one data line. It fails for
// anything else.
func decodeChunk(payload, buf []byte) (typ string, event, out []byte, err error) {
	b64 := gjson.GetBytes(payload, "bytes")
	if b64.Type != gjson.String {
		return "", nil, buf, errors.New("a chunk event has no bytes")
	}
	n := base64.StdEncoding.DecodedLen(len(b64.Str))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	n, derr := base64.StdEncoding.Decode(buf, []byte(b64.Str))
	if derr != nil {
		return "", nil, buf, errors.New("a chunk event's bytes are not base64")
	}
	event = buf[:n]
	if !json.Valid(event) {
		return "", nil, buf, errors.New("a chunk event's bytes are not JSON")
	}
	r := gjson.ParseBytes(event)
	t := r.Get("type")
	if !r.IsObject() || t.Type != gjson.String || !eventType(t.Str) {
		return "", nil, buf, errors.New("a chunk event's bytes are not an Anthropic event")
	}
	// Valid JSON has CR and LF only between tokens: dropping them keeps
	// its meaning.
	w := 0
	for _, c := range event {
		if c != '\n' && c != '\r' {
			event[w] = c
			w++
		}
	}
	return t.Str, event[:w], buf, nil
}

// eventType reports whether t can name a server-sent event: 1 to 64
// letters, digits and underscores (content_block_delta, message_stop…).
func eventType(t string) bool {
	if t == "" || len(t) > maxEventType {
		return false
	}
	for _, c := range []byte(t) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// appendEvent appends the server-sent event "event: typ" with data event.
func appendEvent(b []byte, typ string, event []byte) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, event...)
	return append(b, "\n\n"...)
}

// Interface guards
var _ io.ReadCloser = (*messagesStream)(nil)
