package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// DefaultMaxEventSize bounds one server-sent event read by an EventReader
// unless its MaxEventSize says otherwise: 8 MiB.
const DefaultMaxEventSize = 8 << 20

// ErrEventTooLarge is returned when an event exceeds the reader's bound.
var ErrEventTooLarge = errors.New("server-sent event too large")

// Event is one server-sent event. Its slices stay valid until the next call
// to EventReader.Next.
type Event struct {
	// Name is the `event:` field; empty for the default "message" event.
	Name []byte
	// Data is the `data:` fields joined by "\n".
	Data []byte
}

// EventReader reads server-sent events (text/event-stream) as specified by
// the WHATWG HTML standard: lines end in LF, CRLF or CR; comments (lines that
// start with ':') and the id/retry fields are skipped; an event is dispatched
// at a blank line. It copies each event once into a reused buffer and never
// accumulates the stream.
type EventReader struct {
	r *bufio.Reader
	// MaxEventSize bounds one event's data; 0 means DefaultMaxEventSize.
	MaxEventSize int

	name, data []byte
	hasData    bool
	queue      [][]byte
}

// NewEventReader returns a reader of the events in r. A *bufio.Reader is used
// as is, so its size decides how much of the stream is buffered.
func NewEventReader(r io.Reader) *EventReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &EventReader{r: br}
}

// Next returns the next event that carries data (events with no data field
// are skipped, as the standard says). At the end of the stream it returns
// io.EOF; an event cut off by the end of the stream is still returned.
func (er *EventReader) Next() (Event, error) {
	max := er.MaxEventSize
	if max <= 0 {
		max = DefaultMaxEventSize
	}
	er.name = er.name[:0]
	er.data = er.data[:0]
	er.hasData = false
	sawField := false // a field of the current event was read
	for {
		line, err := er.readLine(max)
		if err != nil {
			if err == io.EOF && (sawField || len(line) > 0) {
				if len(line) > 0 {
					er.field(line)
				}
				if er.hasData {
					// A final event without its blank line is still an
					// event; a truncated one fails where its JSON is read.
					return Event{Name: er.name, Data: er.data}, nil
				}
				return Event{}, io.EOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if er.hasData {
				return Event{Name: er.name, Data: er.data}, nil
			}
			er.name = er.name[:0]
			sawField = false
			continue
		}
		sawField = true
		er.field(line)
		if len(er.data) > max {
			return Event{}, ErrEventTooLarge
		}
	}
}

func (er *EventReader) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if er.hasData {
			er.data = append(er.data, '\n')
		}
		er.data = append(er.data, value...)
		er.hasData = true
	case "event":
		er.name = append(er.name[:0], value...)
	}
}

// readLine returns the next line without its terminator. The slice is valid
// until the next read. Lines longer than the bufio buffer are assembled in a
// scratch buffer bounded by max. A lone CR inside a line also ends a line
// (the parts after it are queued); a stream that ends lines with CR alone is
// therefore read correctly, though only as LF or buffer-full events arrive.
func (er *EventReader) readLine(max int) ([]byte, error) {
	if len(er.queue) > 0 {
		line := er.queue[0]
		er.queue = er.queue[1:]
		return line, nil
	}
	var long []byte
	for {
		chunk, err := er.r.ReadSlice('\n')
		switch err {
		case nil:
			line := trimEOL(chunk)
			if long != nil {
				line = append(long, line...)
			}
			return er.splitCR(line), nil
		case bufio.ErrBufferFull:
			if len(long)+len(chunk) > max {
				return nil, ErrEventTooLarge
			}
			long = append(long, chunk...)
		default:
			if long != nil {
				chunk = append(long, chunk...)
			}
			return er.splitCR(chunk), err
		}
	}
}

// splitCR returns the part of line before its first CR and queues the rest as
// further lines.
func (er *EventReader) splitCR(line []byte) []byte {
	i := bytes.IndexByte(line, '\r')
	if i < 0 {
		return line
	}
	rest := line[i+1:]
	for {
		j := bytes.IndexByte(rest, '\r')
		if j < 0 {
			er.queue = append(er.queue, append([]byte(nil), rest...))
			break
		}
		er.queue = append(er.queue, append([]byte(nil), rest[:j]...))
		rest = rest[j+1:]
	}
	return line[:i]
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// Buffered reports whether Next can return a further event without waiting
// for the network: a complete event with a data field is already buffered
// (events without data, such as comments used as keep-alives, do not
// count, since Next skips them). Writers use it to coalesce flushes: flush
// only when nothing more is ready.
func (er *EventReader) Buffered() bool {
	n := er.r.Buffered()
	if n == 0 {
		return len(er.queue) > 0
	}
	b, _ := er.r.Peek(n)
	hasData := false
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false // an incomplete line
		}
		line := b[:i]
		b = b[i+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			if hasData {
				return true
			}
			continue
		}
		if bytes.HasPrefix(line, []byte("data")) && (len(line) == 4 || line[4] == ':') {
			hasData = true
		}
	}
	return false
}

// AppendEvent appends a `data:` event carrying data (one line of JSON) to b.
func AppendEvent(b, data []byte) []byte {
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, '\n', '\n')
}

// DoneEvent is the event that ends an OpenAI stream.
var DoneEvent = []byte("data: [DONE]\n\n")

// IsDone reports whether data is the [DONE] sentinel.
func IsDone(data []byte) bool { return string(data) == "[DONE]" }
