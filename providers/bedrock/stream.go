package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// stream translates a ConverseStream event stream (the binary AWS event
// stream, application/vnd.amazon.eventstream) into chat.completion.chunk
// events, at most one chunk per upstream event and without buffering
// events: messageStart gives the role chunk, contentBlockStart of a toolUse
// the tool call's head, contentBlockDelta text, tool input fragments,
// reasoning text (reasoning_content) and reasoning signatures or redacted
// reasoning (thinking_blocks), messageStop the finish_reason and metadata
// the final usage chunk. contentBlockStop and unknown events carry nothing
// and are skipped; an exception event ends the stream with the provider's
// error.
type stream struct {
	frames
	body    io.ReadCloser
	w       openai.ChunkWriter
	id      string
	model   string
	created int64
	role    bool // the role was sent
	tools   []toolBlock
	finish  bool // a finish_reason was sent
	stopped bool // the usage chunk was sent: the stream is over
	done    bool
}

// toolBlock maps a toolUse content block to its tool_calls index.
type toolBlock struct {
	block int64
	index int
}

func newStream(ctx context.Context, body io.ReadCloser, client *providers.Client, id, model string) *stream {
	s := &stream{
		frames:  newFrames(ctx, body, client),
		body:    body,
		id:      id,
		model:   model,
		created: time.Now().Unix(),
	}
	s.w.Reset(id, s.created, model)
	return s
}

// Next implements providers.EventStream.
func (s *stream) Next() ([]byte, error) {
	if s.done || s.stopped {
		s.done = true
		return nil, io.EOF
	}
	for {
		msg, err := s.read()
		if err != nil {
			s.done = true
			if err == io.EOF {
				if s.finish {
					return nil, io.EOF // messageStop came, metadata did not
				}
				return nil, s.client.StreamError(s.ctx, io.ErrUnexpectedEOF)
			}
			return nil, err
		}
		chunk, err := s.translate(msg)
		s.release()
		if err != nil {
			s.done = true
			return nil, err
		}
		if chunk != nil {
			return chunk, nil
		}
	}
}

// Buffered implements providers.EventStream. It reports whether a
// complete message that yields a chunk (or an error) is buffered: messages
// that yield nothing (contentBlockStop, empty deltas, unknown events) do
// not count, so a caller that flushes only when nothing more is ready
// never holds a chunk back while Next waits for the network behind them.
func (s *stream) Buffered() bool {
	if s.done {
		return false
	}
	if s.stopped {
		return true // Next returns io.EOF without reading
	}
	n := s.br.Buffered()
	if n < minMessageSize {
		return false
	}
	b, _ := s.br.Peek(n)
	for len(b) >= preludeSize {
		total, hlen, ok := checkPrelude(b)
		if !ok || total > MaxEventSize {
			return true // Next fails at once
		}
		if total > len(b) {
			return false
		}
		if s.yieldsChunk(b[preludeSize:preludeSize+hlen], b[preludeSize+hlen:total-4]) {
			return true
		}
		b = b[total:]
	}
	return false
}

// yieldsChunk reports whether a raw message (its headers and payload)
// surely translates to a chunk or an error; when unsure it says no, which
// costs the caller a flush, never a delay.
func (s *stream) yieldsChunk(headers, payload []byte) bool {
	mt, _ := rawHeader(headers, ":message-type")
	if mt != "event" {
		return true // an exception or error: Next fails without waiting
	}
	et, _ := rawHeader(headers, ":event-type")
	switch et {
	case "messageStart", "metadata":
		return true
	case "messageStop":
		return !s.finish
	case "contentBlockStart":
		return bytes.Contains(payload, []byte(`"toolUse"`))
	case "contentBlockDelta":
		return !bytes.Contains(payload, []byte(`:""`))
	}
	return false
}

// Close implements providers.EventStream.
func (s *stream) Close() error {
	s.done = true
	return s.body.Close()
}

// translate returns the chunk for one message, or nil when it carries
// nothing.
func (s *stream) translate(m eventstream.Message) ([]byte, error) {
	switch header(m, ":message-type") {
	case "event":
	case "exception":
		return nil, s.exception(header(m, ":exception-type"), m.Payload)
	case "error":
		code, msg := header(m, ":error-code"), header(m, ":error-message")
		return nil, s.failure(code, msg)
	default:
		return nil, s.client.InvalidResponse("an event-stream message has no known :message-type")
	}
	if !gjson.ValidBytes(m.Payload) {
		return nil, s.client.InvalidResponse("a stream event is not JSON")
	}
	r := gjson.ParseBytes(m.Payload)
	if !r.IsObject() {
		return nil, s.client.InvalidResponse("a stream event is not a JSON object")
	}
	switch header(m, ":event-type") {
	case "messageStart":
		if s.role {
			return nil, nil
		}
		s.begin()
		s.w.Content("")
		return s.end(""), nil
	case "contentBlockStart":
		tu := r.Get("start.toolUse")
		if !tu.IsObject() {
			return nil, nil
		}
		idx := len(s.tools)
		s.tools = append(s.tools, toolBlock{block: r.Get("contentBlockIndex").Int(), index: idx})
		s.begin()
		s.w.ToolCall(idx, tu.Get("toolUseId").String(), tu.Get("name").String(), "", nil)
		return s.end(""), nil
	case "contentBlockDelta":
		d := r.Get("delta")
		if t := d.Get("text"); t.Exists() {
			return s.text(t.String(), false), nil
		}
		if in := d.Get("toolUse.input"); in.Exists() {
			idx, ok := s.toolIndex(r.Get("contentBlockIndex").Int())
			if in.String() == "" || !ok {
				return nil, nil
			}
			s.begin()
			s.w.ToolCall(idx, "", "", in.String(), nil)
			return s.end(""), nil
		}
		if rc := d.Get("reasoningContent"); rc.IsObject() {
			if t := rc.Get("text"); t.Exists() {
				return s.text(t.String(), true), nil
			}
			if sig := rc.Get("signature").String(); sig != "" {
				return s.thinkingChunk(openai.ThinkingBlock{Type: openai.ThinkingSigned, Signature: sig}), nil
			}
			if data := rc.Get("redactedContent").String(); data != "" {
				return s.thinkingChunk(openai.ThinkingBlock{Type: openai.ThinkingRedacted, Data: data}), nil
			}
		}
		return nil, nil
	case "messageStop":
		if s.finish {
			return nil, nil
		}
		s.finish = true
		s.begin()
		return s.end(finishReason(r.Get("stopReason").String())), nil
	case "metadata":
		var u tokenUsage
		if raw := r.Get("usage"); raw.IsObject() {
			_ = json.Unmarshal([]byte(raw.Raw), &u)
		}
		s.stopped = true
		return s.w.UsageChunk(u.openAI()), nil
	}
	return nil, nil // contentBlockStop, event types added later
}

// exception is the error an exception event reports.
func (s *stream) exception(typ string, payload []byte) error {
	msg := gjson.GetBytes(payload, "message").String()
	if msg == "" {
		msg = gjson.GetBytes(payload, "Message").String()
	}
	return s.failure(typ, msg)
}

func (s *stream) failure(typ, msg string) error {
	code := typ
	if code != "" {
		code = strings.ToUpper(code[:1]) + code[1:] // throttlingException → ThrottlingException
	}
	status := exceptionStatus(code)
	if msg == "" {
		msg = "provider " + strconv.Quote(s.client.Name) + " reported " + code + " mid-stream"
	}
	return &providers.Error{Err: bedrockError(status, code, msg)}
}

// begin starts a chunk with choice 0, its role in the first chunk.
func (s *stream) begin() {
	s.w.Begin()
	s.w.BeginChoice(0)
	if !s.role {
		s.role = true
		s.w.Role(openai.RoleAssistant)
	}
}

func (s *stream) end(finish string) []byte {
	s.w.EndChoice(finish)
	return s.w.End(nil)
}

func (s *stream) text(t string, reasoning bool) []byte {
	if t == "" {
		return nil
	}
	s.begin()
	if reasoning {
		s.w.Reasoning(t)
	} else {
		s.w.Content(t)
	}
	return s.end("")
}

// thinkingChunk is a chunk whose delta carries one thinking block: the
// signature that closes a reasoning block (its text came as
// reasoning_content) or a redacted block.
func (s *stream) thinkingChunk(tb openai.ThinkingBlock) []byte {
	s.begin()
	s.w.Thinking(tb)
	return s.end("")
}

func (s *stream) toolIndex(block int64) (int, bool) {
	for i := len(s.tools) - 1; i >= 0; i-- {
		if s.tools[i].block == block {
			return s.tools[i].index, true
		}
	}
	return 0, false
}

var _ providers.EventStream = (*stream)(nil)
