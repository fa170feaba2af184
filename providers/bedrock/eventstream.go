package bedrock

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/polygate/polygate/providers"
)

// The AWS event stream (application/vnd.amazon.eventstream) is the binary
// framing of ConverseStream and InvokeModelWithResponseStream answers:
// each message is a prelude (total and headers lengths, CRC), headers
// (:message-type, :event-type or :exception-type…), a payload and a CRC.
// frames is the one decoder of it here, shared by both streams.

// Limits of the event-stream decoding.
const (
	// streamBufferSize is the read buffer around an upstream stream: small,
	// so that many open streams stay cheap; it holds a few typical events
	// (longer ones are read through it).
	streamBufferSize = 4096
	// MaxEventSize bounds one event-stream message (prelude, headers,
	// payload and checksums): 1 MiB. A larger one fails the stream with
	// 502 instead of being buffered.
	MaxEventSize = 1 << 20
	// keptPayloadBuffer is the largest payload buffer a stream keeps
	// between events; a larger one, needed by a rare long event, is freed.
	keptPayloadBuffer = 64 << 10
	// preludeSize is the total and headers length and the prelude CRC.
	preludeSize = 12
	// minMessageSize is a message with no headers and no payload.
	minMessageSize = preludeSize + 4
)

// frames reads the messages of an event stream one at a time with the
// AWS SDK's decoder, refusing any message larger than MaxEventSize before
// buffering it. Every error is a *providers.Error (io.EOF at a clean end).
type frames struct {
	ctx     context.Context
	br      *bufio.Reader
	dec     *eventstream.Decoder
	payload []byte // reused payload buffer
	client  *providers.Client
}

func newFrames(ctx context.Context, body io.Reader, client *providers.Client) frames {
	return frames{
		ctx:    ctx,
		br:     bufio.NewReaderSize(body, streamBufferSize),
		dec:    eventstream.NewDecoder(),
		client: client,
	}
}

// release frees the payload buffer when a rare long message grew it past
// keptPayloadBuffer; call it once the last message is no longer used.
func (f *frames) release() {
	if cap(f.payload) > keptPayloadBuffer {
		f.payload = nil
	}
}

// read decodes the next message, after checking its prelude: a message
// longer than MaxEventSize, or whose headers overrun it, is refused before
// anything is buffered, and the decoder never reads past the message.
func (f *frames) read() (eventstream.Message, error) {
	prelude, err := f.br.Peek(preludeSize)
	if err != nil {
		if err == io.EOF && len(prelude) == 0 {
			return eventstream.Message{}, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return eventstream.Message{}, f.client.StreamError(f.ctx, err)
	}
	total, _, ok := checkPrelude(prelude)
	if !ok {
		return eventstream.Message{}, f.client.InvalidResponse("an event-stream message has an invalid prelude")
	}
	if total > MaxEventSize {
		return eventstream.Message{}, f.client.InvalidResponse("an event-stream message of " + strconv.Itoa(total) +
			" bytes exceeds the limit of " + strconv.Itoa(MaxEventSize))
	}
	msg, err := f.dec.Decode(io.LimitReader(f.br, int64(total)), f.payload[:0])
	if err != nil {
		var ce eventstream.ChecksumError
		if errors.As(err, &ce) {
			return eventstream.Message{}, f.client.InvalidResponse("an event-stream message failed its checksum")
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return eventstream.Message{}, f.client.StreamError(f.ctx, io.ErrUnexpectedEOF)
		}
		var le eventstream.LengthError
		if errors.As(err, &le) {
			return eventstream.Message{}, f.client.InvalidResponse("an event-stream message is malformed")
		}
		return eventstream.Message{}, f.client.StreamError(f.ctx, err)
	}
	f.payload = msg.Payload
	return msg, nil
}

// checkPrelude reads a message's total and headers lengths and checks that
// they fit each other.
func checkPrelude(p []byte) (total, headers int, ok bool) {
	t := binary.BigEndian.Uint32(p[0:4])
	h := binary.BigEndian.Uint32(p[4:8])
	if t < minMessageSize || uint64(h) > uint64(t)-minMessageSize {
		return 0, 0, false
	}
	if uint64(t) > 1<<31 {
		return int(^uint32(0) >> 1), int(h), true // too large in any case
	}
	return int(t), int(h), true
}

// rawHeader finds a string header in an event-stream message's encoded
// headers: a name length byte, the name, a type byte and the value (for
// strings, a 2-byte length and the bytes).
func rawHeader(h []byte, name string) (string, bool) {
	for len(h) > 0 {
		nl := int(h[0])
		if len(h) < 1+nl+1 {
			return "", false
		}
		n := string(h[1 : 1+nl])
		typ := h[1+nl]
		h = h[2+nl:]
		var size int
		switch typ {
		case 0, 1: // bool true, false
		case 2: // byte
			size = 1
		case 3: // int16
			size = 2
		case 4: // int32
			size = 4
		case 5, 8: // int64, timestamp
			size = 8
		case 9: // uuid
			size = 16
		case 6, 7: // bytes, string
			if len(h) < 2 {
				return "", false
			}
			l := int(binary.BigEndian.Uint16(h))
			if len(h) < 2+l {
				return "", false
			}
			if typ == 7 && n == name {
				return string(h[2 : 2+l]), true
			}
			h = h[2+l:]
			continue
		default:
			return "", false
		}
		if len(h) < size {
			return "", false
		}
		h = h[size:]
	}
	return "", false
}

// header returns a string header's value.
func header(m eventstream.Message, name string) string {
	v := m.Headers.Get(name)
	if v == nil {
		return ""
	}
	if sv, ok := v.(eventstream.StringValue); ok {
		return string(sv)
	}
	return v.String()
}
