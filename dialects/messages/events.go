package messages

import (
	"strconv"

	"github.com/polygate/polygate/openai"
)

// Appenders of Messages stream events, each a complete server-sent event
// ("event: <type>\ndata: <json>\n\n") with the compact JSON the API sends.

func beginEvent(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	return b
}

func endEvent(b []byte) []byte { return append(b, "\n\n"...) }

// appendMessageStart appends message_start: the message with empty
// content, no stop reason yet and the usage known so far.
func appendMessageStart(b []byte, id, model string, u Usage, tier string) []byte {
	b = beginEvent(b, "message_start")
	b = append(b, `{"type":"message_start","message":`...)
	b = appendMessageHead(b, id, model)
	b = append(b, `],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, u, tier)
	return endEvent(append(b, "}}"...))
}

// appendBlockStart appends content_block_start; block is the JSON of the
// block as it starts (empty text, empty thinking, input {}…).
func appendBlockStart(b []byte, index int, block func([]byte) []byte) []byte {
	b = beginEvent(b, "content_block_start")
	b = append(b, `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"content_block":`...)
	b = block(b)
	return endEvent(append(b, '}'))
}

func emptyText(b []byte) []byte { return append(b, `{"type":"text","text":""}`...) }

func emptyThinking(b []byte) []byte {
	return append(b, `{"type":"thinking","thinking":"","signature":""}`...)
}

// appendDelta appends content_block_delta with a delta of type typ whose
// member field holds text.
func appendDelta(b []byte, index int, typ, field, text string) []byte {
	b = beginEvent(b, "content_block_delta")
	b = append(b, `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = openai.AppendString(b, text)
	return endEvent(append(b, "}}"...))
}

func appendBlockStop(b []byte, index int) []byte {
	b = beginEvent(b, "content_block_stop")
	b = append(b, `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	return endEvent(append(b, '}'))
}

// appendMessageDelta appends message_delta with the stop reason and the
// final usage; when the usage is not known only output_tokens (0) is
// written.
func appendMessageDelta(b []byte, reason, seq string, u Usage, known bool) []byte {
	b = beginEvent(b, "message_delta")
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = openai.AppendString(b, reason)
	b = append(b, `,"stop_sequence":`...)
	b = appendNullable(b, seq)
	b = append(b, `},"usage":`...)
	if known {
		b = appendUsage(b, u, "")
	} else {
		b = append(b, `{"output_tokens":0}`...)
	}
	return endEvent(append(b, '}'))
}

func appendMessageStop(b []byte) []byte {
	b = beginEvent(b, "message_stop")
	return endEvent(append(b, `{"type":"message_stop"}`...))
}

// PingEvent is a ping event, which a gateway may send to keep a quiet
// stream alive; clients ignore it.
const PingEvent = "event: ping\ndata: {\"type\":\"ping\"}\n\n"
