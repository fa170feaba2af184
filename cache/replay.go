package cache

import (
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
	"github.com/polygate/polygate/openai"
)

// ErrNotReplayable is returned by [Replay] for a stored answer it cannot
// turn into a stream faithfully: one that is not a chat.completion, or
// whose message carries audio, a legacy function_call, annotations, content
// parts or a non-function tool call. The host then serves the request from
// the upstream.
var ErrNotReplayable = errors.New("cached answer cannot be replayed as a stream")

// replayPiece is the size, in bytes of JSON string text, at which replayed
// content and tool arguments are cut into chunks.
const replayPiece = 128

// Replay writes the chat.completion completion to w as the server-sent
// events a streamed request gets, in one Write: see [AppendReplay].
func Replay(w io.Writer, completion []byte, includeUsage bool) error {
	buf, err := AppendReplay(make([]byte, 0, 2*len(completion)+512), completion, includeUsage)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// AppendReplay appends to dst the server-sent events of a stream that
// delivers the chat.completion completion, and returns the extended
// buffer. Every chunk is a chat.completion.chunk with the completion's id,
// created, model, system_fingerprint and service_tier. For each choice, in
// order and numbered by position: a chunk with the role "assistant" (and content "" or null, as the
// completion has it), then reasoning_content, content and refusal cut into
// pieces of about 128 bytes, then each tool call (a chunk with its index,
// id, type and function name, then its arguments in pieces), then a chunk
// with the finish_reason (and the choice's logprobs, whole). When
// includeUsage is set and the completion has usage, a chunk with empty
// choices and the usage follows. The stream ends with data: [DONE].
//
// On error (see [ErrNotReplayable]) dst is returned unchanged.
func AppendReplay(dst, completion []byte, includeUsage bool) ([]byte, error) {
	root := bytesString(completion)
	if !gjson.Valid(root) {
		return dst, ErrNotReplayable
	}
	root = root[rawjson.SkipSpace(root, 0):]
	var id, created, model, fingerprint, tier, choices, usage string
	ok := rawjson.IsObject(root)
	rawjson.EachMember(root, func(k, v string) bool {
		switch k {
		case `"id"`:
			id = v
		case `"object"`:
			ok = v == `"chat.completion"`
		case `"created"`:
			created = v
		case `"model"`:
			model = v
		case `"system_fingerprint"`:
			fingerprint = v
		case `"service_tier"`:
			tier = v
		case `"choices"`:
			choices = v
		case `"usage"`:
			usage = v
		}
		return ok
	})
	if !ok || !rawjson.IsArray(choices) {
		return dst, ErrNotReplayable
	}

	r := replayer{buf: dst}
	r.head = append(r.head, `{"id":`...)
	r.head = appendIf(r.head, id, rawjson.IsString, `""`)
	r.head = append(r.head, `,"object":"chat.completion.chunk","created":`...)
	r.head = appendIf(r.head, created, rawjson.IsNumber, "0")
	r.head = append(r.head, `,"model":`...)
	r.head = appendIf(r.head, model, rawjson.IsString, `""`)
	if rawjson.IsString(fingerprint) {
		r.head = append(r.head, `,"system_fingerprint":`...)
		r.head = append(r.head, fingerprint...)
	}
	if rawjson.IsString(tier) {
		r.head = append(r.head, `,"service_tier":`...)
		r.head = append(r.head, tier...)
	}
	r.head = append(r.head, `,"choices":[`...)

	position := 0
	rawjson.EachElement(choices, func(ch string) bool {
		ok = r.choice(ch, position)
		position++
		return ok
	})
	if !ok {
		return dst, ErrNotReplayable
	}
	if includeUsage && rawjson.IsObject(usage) {
		r.buf = append(r.buf, "data: "...)
		r.buf = append(r.buf, r.head...)
		r.buf = append(r.buf, `],"usage":`...)
		r.buf = appendCompact(r.buf, usage)
		r.buf = append(r.buf, "}\n\n"...)
	}
	return append(r.buf, openai.DoneEvent...), nil
}

// replayer writes the events of one replay into buf; head is the start of
// every chunk, up to and including `"choices":[`.
type replayer struct {
	buf, head []byte
	index     []byte // `{"index":N,` of the current choice
}

// begin starts a chunk with one choice and its delta.
func (r *replayer) begin() {
	r.buf = append(r.buf, "data: "...)
	r.buf = append(r.buf, r.head...)
	r.buf = append(r.buf, r.index...)
	r.buf = append(r.buf, `"delta":{`...)
}

// end closes the delta and the chunk with a null finish_reason.
func (r *replayer) end() {
	r.buf = append(r.buf, `},"finish_reason":null}]}`+"\n\n"...)
}

// text writes the JSON string raw (quotes included) as deltas of field in
// pieces.
func (r *replayer) text(field string, raw string) {
	body := rawjson.StringText(raw)
	for start := 0; start < len(body); {
		end := pieceEnd(body, start)
		r.begin()
		r.buf = append(r.buf, '"')
		r.buf = append(r.buf, field...)
		r.buf = append(r.buf, `":"`...)
		r.buf = append(r.buf, body[start:end]...)
		r.buf = append(r.buf, '"')
		r.end()
		start = end
	}
}

func (r *replayer) choice(ch string, position int) bool {
	if !rawjson.IsObject(ch) {
		return false
	}
	var msg, finish, logprobs string
	rawjson.EachMember(ch, func(k, v string) bool {
		switch k {
		case `"message"`:
			msg = v
		case `"finish_reason"`:
			finish = v
		case `"logprobs"`:
			logprobs = v
		}
		return true
	})
	if !rawjson.IsObject(msg) {
		return false
	}
	var content, reasoning, refusal, tools string
	ok := true
	rawjson.EachMember(msg, func(k, v string) bool {
		switch k {
		case `"content"`:
			content = v
			ok = rawjson.IsString(v) || rawjson.IsNull(v)
		case `"reasoning_content"`:
			reasoning = v
			ok = rawjson.IsString(v) || rawjson.IsNull(v)
		case `"refusal"`:
			refusal = v
			ok = rawjson.IsString(v) || rawjson.IsNull(v)
		case `"tool_calls"`:
			tools = v
			ok = rawjson.IsArray(v) || rawjson.IsNull(v)
		case `"audio"`, `"function_call"`:
			ok = rawjson.IsNull(v)
		case `"annotations"`:
			ok = rawjson.IsNull(v) || rawjson.IsEmptyArray(v)
		}
		return ok
	})
	if !ok {
		return false
	}

	// Choices are numbered by position, as OpenAI does, whatever index
	// the stored answer gave them: the stream must have no gaps.
	r.index = append(r.index[:0], `{"index":`...)
	r.index = strconv.AppendInt(r.index, int64(position), 10)
	r.index = append(r.index, ',')

	r.begin()
	r.buf = append(r.buf, `"role":"assistant","content":`...)
	if rawjson.IsString(content) {
		r.buf = append(r.buf, `""`...)
	} else {
		r.buf = append(r.buf, "null"...)
	}
	r.end()
	if rawjson.IsString(reasoning) {
		r.text("reasoning_content", reasoning)
	}
	if rawjson.IsString(content) {
		r.text("content", content)
	}
	if rawjson.IsString(refusal) {
		r.text("refusal", refusal)
	}
	n := 0
	rawjson.EachElement(tools, func(tc string) bool {
		ok = r.toolCall(tc, n)
		n++
		return ok
	})
	if !ok {
		return false
	}

	r.buf = append(r.buf, "data: "...)
	r.buf = append(r.buf, r.head...)
	r.buf = append(r.buf, r.index...)
	r.buf = append(r.buf, `"delta":{}`...)
	if rawjson.IsObject(logprobs) {
		r.buf = append(r.buf, `,"logprobs":`...)
		r.buf = appendCompact(r.buf, logprobs)
	}
	r.buf = append(r.buf, `,"finish_reason":`...)
	r.buf = appendIf(r.buf, finish, rawjson.IsString, `"stop"`)
	r.buf = append(r.buf, "}]}\n\n"...)
	return true
}

func (r *replayer) toolCall(tc string, n int) bool {
	if !rawjson.IsObject(tc) {
		return false
	}
	var id, typ, fn, extra string
	rawjson.EachMember(tc, func(k, v string) bool {
		switch k {
		case `"id"`:
			id = v
		case `"type"`:
			typ = v
		case `"function"`:
			fn = v
		case `"extra_content"`:
			extra = v
		}
		return true
	})
	if !rawjson.IsObject(fn) || (typ != "" && typ != `"function"`) {
		return false
	}
	var name, args string
	rawjson.EachMember(fn, func(k, v string) bool {
		switch k {
		case `"name"`:
			name = v
		case `"arguments"`:
			args = v
		}
		return true
	})
	if !rawjson.IsString(name) || !(rawjson.IsString(args) || args == "") {
		return false
	}
	r.begin()
	r.buf = append(r.buf, `"tool_calls":[{"index":`...)
	r.buf = strconv.AppendInt(r.buf, int64(n), 10)
	r.buf = append(r.buf, `,"id":`...)
	r.buf = appendIf(r.buf, id, rawjson.IsString, `""`)
	r.buf = append(r.buf, `,"type":"function","function":{"name":`...)
	r.buf = append(r.buf, name...)
	r.buf = append(r.buf, `,"arguments":""}`...)
	if rawjson.IsObject(extra) {
		r.buf = append(r.buf, `,"extra_content":`...)
		r.buf = appendCompact(r.buf, extra)
	}
	r.buf = append(r.buf, "}]"...)
	r.end()
	if args == "" {
		return true
	}
	body := rawjson.StringText(args)
	for start := 0; start < len(body); {
		end := pieceEnd(body, start)
		r.begin()
		r.buf = append(r.buf, `"tool_calls":[{"index":`...)
		r.buf = strconv.AppendInt(r.buf, int64(n), 10)
		r.buf = append(r.buf, `,"function":{"arguments":"`...)
		r.buf = append(r.buf, body[start:end]...)
		r.buf = append(r.buf, `"}}]`...)
		r.end()
		start = end
	}
	return true
}

// pieceEnd returns where the piece of the JSON string text body that
// starts at start ends: about replayPiece bytes on, never inside an escape
// sequence, a surrogate pair of escapes or a UTF-8 sequence, so that every
// piece is a valid JSON string text on its own.
func pieceEnd(body string, start int) int {
	i := start
	for i < len(body) && i-start < replayPiece {
		switch c := body[i]; {
		case c == '\\' && i+1 < len(body) && body[i+1] == 'u':
			n := 6
			if i+12 <= len(body) && isHighSurrogateEscape(body[i:]) && body[i+6] == '\\' && body[i+7] == 'u' {
				n = 12
			}
			i += n
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			_, n := utf8.DecodeRuneInString(body[i:])
			i += n
		}
	}
	return min(i, len(body))
}

// isHighSurrogateEscape reports whether s starts with \uD800 to \uDBFF.
func isHighSurrogateEscape(s string) bool {
	if len(s) < 6 || (s[2] != 'd' && s[2] != 'D') {
		return false
	}
	switch s[3] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return true
	}
	return false
}

// appendIf appends the raw value v when is(v), otherwise def.
func appendIf(b []byte, v string, is func(string) bool, def string) []byte {
	if is(v) {
		return append(b, v...)
	}
	return append(b, def...)
}

// appendCompact appends the valid JSON text raw without insignificant
// whitespace, so that it fits on one data: line.
func appendCompact(b []byte, raw string) []byte {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString:
			if c == '\\' && i+1 < len(raw) {
				b = append(b, c)
				i++
				c = raw[i]
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		b = append(b, c)
	}
	return b
}

// bytesString returns b as a string without copying. The string must not
// outlive b nor be retained: callers copy what they keep of it into their
// own buffers.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
