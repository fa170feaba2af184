package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ErrNotReplayable is returned by [Replay] for a body that is not a
// Messages response.
var ErrNotReplayable = errors.New("stored answer is not a Messages response")

// replayPiece is the size in bytes (of text, before JSON escaping) at
// which replayed text, thinking and tool input are cut into deltas.
const replayPiece = 128

// Replay returns the events of a stream that delivers the stored Messages
// response body (one translated here or Anthropic's own), as a live
// stream sends them: message_start (the message with empty content and
// no stop reason; every other member, usage included, as stored), then
// per block content_block_start, its deltas and content_block_stop, then
// message_delta (stop_reason, stop_sequence, stop_details when stored,
// and the usage counts) and message_stop. Text and thinking come as
// text_delta and thinking_delta pieces of about 128 bytes, a signature
// as one signature_delta, citations as citations_delta, a tool_use (and
// server_tool_use, mcp_tool_use) input as input_json_delta pieces;
// blocks of other types (redacted thinking, server tool results) come
// whole in their content_block_start. Accumulating the events (as the
// SDKs do) gives the stored message back.
func Replay(body []byte) ([]byte, error) {
	return AppendReplay(make([]byte, 0, 2*len(body)+512), body)
}

// AppendReplay appends the events of [Replay] to dst; on error dst is
// returned unchanged.
func AppendReplay(dst, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	if json.Compact(&buf, body) != nil {
		return dst, ErrNotReplayable
	}
	// Compact, raw members fit on the data line of an event.
	m := gjson.ParseBytes(buf.Bytes())
	if !m.IsObject() || m.Get("type").Str != "message" {
		return dst, ErrNotReplayable
	}
	b := beginEvent(dst, "message_start")
	b = append(b, `{"type":"message_start","message":{`...)
	n := 0
	m.ForEach(func(k, v gjson.Result) bool {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, k.Raw...)
		b = append(b, ':')
		switch k.Str {
		case "content":
			b = append(b, "[]"...)
		case "stop_reason", "stop_sequence", "stop_details":
			b = append(b, "null"...)
		default:
			b = append(b, v.Raw...)
		}
		return true
	})
	b = endEvent(append(b, "}}"...))
	i := 0
	m.Get("content").ForEach(func(_, blk gjson.Result) bool {
		b = replayBlock(b, i, blk)
		i++
		return true
	})
	b = beginEvent(b, "message_delta")
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":`...)
	b = appendRawOr(b, m.Get("stop_reason"), "null")
	b = append(b, `,"stop_sequence":`...)
	b = appendRawOr(b, m.Get("stop_sequence"), "null")
	if sd := m.Get("stop_details"); sd.Exists() {
		b = append(b, `,"stop_details":`...)
		b = append(b, sd.Raw...)
	}
	b = append(b, `},"usage":{`...)
	u := m.Get("usage")
	n = 0
	for _, k := range [...]string{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens", "server_tool_use"} {
		v := u.Get(k)
		if !v.Exists() {
			if k != "output_tokens" {
				continue
			}
			v = gjson.Result{Type: gjson.Number, Raw: "0"}
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
		b = append(b, v.Raw...)
	}
	b = endEvent(append(b, "}}"...))
	return appendMessageStop(b), nil
}

func appendRawOr(b []byte, v gjson.Result, def string) []byte {
	if !v.Exists() {
		return append(b, def...)
	}
	return append(b, v.Raw...)
}

// replayBlock appends the events of content block i.
func replayBlock(b []byte, i int, blk gjson.Result) []byte {
	switch typ := blk.Get("type").Str; typ {
	case "text":
		cites := blk.Get("citations")
		b = appendBlockStart(b, i, func(b []byte) []byte {
			b = append(b, `{"type":"text","text":""`...)
			if cites.IsArray() {
				b = append(b, `,"citations":[]`...)
			}
			return append(b, '}')
		})
		cites.ForEach(func(_, c gjson.Result) bool {
			b = beginEvent(b, "content_block_delta")
			b = append(b, `{"type":"content_block_delta","index":`...)
			b = appendInt(b, i)
			b = append(b, `,"delta":{"type":"citations_delta","citation":`...)
			b = append(b, c.Raw...)
			b = endEvent(append(b, "}}"...))
			return true
		})
		b = appendPieces(b, i, "text_delta", "text", blk.Get("text").Str)
	case "thinking":
		b = appendBlockStart(b, i, emptyThinking)
		b = appendPieces(b, i, "thinking_delta", "thinking", blk.Get("thinking").Str)
		if sig := blk.Get("signature").Str; sig != "" {
			b = appendDelta(b, i, "signature_delta", "signature", sig)
		}
	case "tool_use", "server_tool_use", "mcp_tool_use":
		in := blk.Get("input")
		b = appendBlockStart(b, i, func(b []byte) []byte {
			return appendWithEmptyInput(b, blk)
		})
		if in.IsObject() && in.Raw != "{}" {
			b = appendPieces(b, i, "input_json_delta", "partial_json", in.Raw)
		}
	default:
		b = appendBlockStart(b, i, func(b []byte) []byte { return append(b, blk.Raw...) })
	}
	return appendBlockStop(b, i)
}

// appendWithEmptyInput appends a tool block's JSON with input {}.
func appendWithEmptyInput(b []byte, blk gjson.Result) []byte {
	b = append(b, '{')
	n := 0
	blk.ForEach(func(k, v gjson.Result) bool {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, k.Raw...)
		b = append(b, ':')
		if k.Str == "input" {
			b = append(b, "{}"...)
		} else {
			b = append(b, v.Raw...)
		}
		return true
	})
	return append(b, '}')
}

// appendPieces appends s as deltas of about replayPiece bytes, cut
// between characters.
func appendPieces(b []byte, i int, typ, field, s string) []byte {
	for len(s) > 0 {
		n := min(len(s), replayPiece)
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if n == 0 {
			n = min(len(s), replayPiece)
		}
		b = appendDelta(b, i, typ, field, s[:n])
		s = s[n:]
	}
	return b
}

func appendInt(b []byte, i int) []byte { return strconv.AppendInt(b, int64(i), 10) }
