package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// streamBufferSize is the read buffer around an upstream stream: small, so
// that many open streams stay cheap (longer events are assembled).
const streamBufferSize = 2048

// stream translates a Messages event stream into chat.completion.chunk
// events, at most one chunk per upstream event and without buffering
// events: message_start gives the role chunk, text and thinking deltas
// content and reasoning_content, tool_use blocks and their input_json_delta
// fragments tool_calls, message_delta the finish_reason and message_stop
// the final usage chunk. ping, content_block_stop and unknown event types
// carry nothing and are skipped; an error event ends the stream with the
// provider's error.
type stream struct {
	ctx     context.Context
	body    io.ReadCloser
	br      *bufio.Reader
	events  *openai.EventReader
	client  *providers.Client
	w       openai.ChunkWriter
	model   string
	started bool // the chunk head (id, created, model) is set
	role    bool // the role was sent
	tools   []toolBlock
	usage   usage
	finish  bool // a finish_reason was sent
	stopped bool // the usage chunk was sent: the stream is over
	done    bool
}

// toolBlock maps a tool_use content block to its tool_calls index.
type toolBlock struct {
	block int64
	index int
}

func newStream(ctx context.Context, body io.ReadCloser, client *providers.Client, model string) *stream {
	br := bufio.NewReaderSize(body, streamBufferSize)
	return &stream{
		ctx:    ctx,
		body:   body,
		br:     br,
		events: openai.NewEventReader(br),
		client: client,
		model:  model,
	}
}

// Next implements providers.EventStream.
func (s *stream) Next() ([]byte, error) {
	if s.done || s.stopped {
		s.done = true
		return nil, io.EOF
	}
	for {
		ev, err := s.events.Next()
		if err != nil {
			if err == io.EOF && s.finish {
				// message_stop is missing but the message was complete.
				s.stopped = true
				return s.usageChunk(), nil
			}
			s.done = true
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, s.client.StreamError(s.ctx, err)
		}
		chunk, err := s.translate(ev)
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
// complete event that yields a chunk is buffered: events that yield nothing
// (ping, content_block_stop, signature deltas, empty text) do not count, so
// a caller that flushes only when nothing more is ready never holds a chunk
// back while Next waits for the network behind such events.
func (s *stream) Buffered() bool {
	if s.done {
		return false
	}
	if s.stopped {
		return true // Next returns io.EOF without reading
	}
	n := s.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := s.br.Peek(n)
	for {
		end := eventEnd(b)
		if end < 0 {
			return false
		}
		if yieldsChunk(b[:end]) {
			return true
		}
		b = b[end:]
	}
}

// eventEnd returns the length of the first complete event in b (up to and
// including its blank line), or -1.
func eventEnd(b []byte) int {
	end := -1
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 && (end < 0 || i+4 < end) {
		end = i + 4
	}
	return end
}

// idleMarkers identify events that translate to no chunk; chunkMarkers
// those that usually do.
var (
	idleMarkers = [][]byte{
		[]byte(`"ping"`), []byte(`content_block_stop`),
		[]byte(`"text":""`), []byte(`"partial_json":""`), []byte(`"thinking":""`),
	}
	chunkMarkers = [][]byte{
		[]byte(`message_start`), []byte(`text_delta`), []byte(`thinking_delta`), []byte(`input_json_delta`),
		[]byte(`"tool_use"`), []byte(`message_delta`), []byte(`message_stop`), []byte(`error`),
		[]byte(`signature_delta`), []byte(`redacted_thinking`),
	}
)

// yieldsChunk reports whether a raw event surely translates to a chunk;
// when unsure it says no, which costs the caller a flush, never a delay.
func yieldsChunk(ev []byte) bool {
	if !bytes.Contains(ev, []byte("data:")) {
		return false // blank lines, comments
	}
	for _, m := range idleMarkers {
		if bytes.Contains(ev, m) {
			return false
		}
	}
	for _, m := range chunkMarkers {
		if bytes.Contains(ev, m) {
			return true
		}
	}
	return false
}

// Close implements providers.EventStream.
func (s *stream) Close() error {
	s.done = true
	return s.body.Close()
}

// translate returns the chunk for one event, or nil when it carries
// nothing.
func (s *stream) translate(ev openai.Event) ([]byte, error) {
	if !gjson.ValidBytes(ev.Data) {
		return nil, s.client.InvalidResponse("a stream event is not JSON")
	}
	r := gjson.ParseBytes(ev.Data)
	if !r.IsObject() {
		return nil, s.client.InvalidResponse("a stream event is not a JSON object")
	}
	typ := r.Get("type").String()
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case "message_start":
		m := r.Get("message")
		s.start(m.Get("id").String(), m.Get("model").String())
		s.readUsage(m.Get("usage"))
		if s.role {
			return nil, nil
		}
		s.begin()
		s.w.Content("")
		return s.end(""), nil
	case "content_block_start":
		cb := r.Get("content_block")
		switch cb.Get("type").String() {
		case "text":
			return s.text(cb.Get("text").String(), false), nil
		case "thinking":
			return s.text(cb.Get("thinking").String(), true), nil
		case "redacted_thinking":
			s.begin()
			s.w.Thinking(openai.ThinkingBlock{Type: openai.ThinkingRedacted, Data: cb.Get("data").String()})
			return s.end(""), nil
		case "tool_use":
			idx := len(s.tools)
			s.tools = append(s.tools, toolBlock{block: r.Get("index").Int(), index: idx})
			s.begin()
			s.w.ToolCall(idx, cb.Get("id").String(), cb.Get("name").String(), "", nil)
			return s.end(""), nil
		}
		return nil, nil
	case "content_block_delta":
		d := r.Get("delta")
		switch d.Get("type").String() {
		case "text_delta":
			return s.text(d.Get("text").String(), false), nil
		case "thinking_delta":
			return s.text(d.Get("thinking").String(), true), nil
		case "signature_delta":
			// The signature of the thinking text sent before it.
			s.begin()
			s.w.Thinking(openai.ThinkingBlock{Type: openai.ThinkingSigned, Signature: d.Get("signature").String()})
			return s.end(""), nil
		case "input_json_delta":
			frag := d.Get("partial_json").String()
			idx, ok := s.toolIndex(r.Get("index").Int())
			if frag == "" || !ok {
				return nil, nil
			}
			s.begin()
			s.w.ToolCall(idx, "", "", frag, nil)
			return s.end(""), nil
		}
		return nil, nil
	case "message_delta":
		s.readUsage(r.Get("usage"))
		stop := r.Get("delta.stop_reason")
		if stop.Type != gjson.String || s.finish {
			return nil, nil
		}
		s.finish = true
		s.begin()
		return s.end(finishReason(stop.Str)), nil
	case "message_stop":
		s.stopped = true
		return s.usageChunk(), nil
	case "error":
		e := r.Get("error")
		etype, msg := e.Get("type").String(), e.Get("message").String()
		if msg == "" {
			msg = "provider " + strconv.Quote(s.client.Name) + " reported an error mid-stream"
		}
		return nil, &providers.Error{Err: anthropicError(streamErrorStatus(etype), etype, msg)}
	}
	return nil, nil // ping, content_block_stop, event types added later
}

// start sets the id, creation time and model every chunk carries.
func (s *stream) start(id, model string) {
	if s.started {
		return
	}
	s.started = true
	if id == "" {
		id = "chatcmpl-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	if model == "" {
		model = s.model
	}
	s.w.Reset(id, time.Now().Unix(), model)
}

// begin starts a chunk with choice 0, its role in the first chunk.
func (s *stream) begin() {
	s.start("", "")
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

func (s *stream) usageChunk() []byte {
	s.start("", "")
	return s.w.UsageChunk(s.usage.openAI())
}

func (s *stream) toolIndex(block int64) (int, bool) {
	for i := len(s.tools) - 1; i >= 0; i-- {
		if s.tools[i].block == block {
			return s.tools[i].index, true
		}
	}
	return 0, false
}

// readUsage takes the counts present in u: message_start has the input
// counts, message_delta the cumulative output count (and, lately, the input
// counts again).
func (s *stream) readUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	u.ForEach(func(k, v gjson.Result) bool {
		if k.Str == "cache_creation" && v.IsObject() {
			s.usage.CacheCreation = &struct {
				Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
			}{Ephemeral1h: int(v.Get("ephemeral_1h_input_tokens").Int())}
			return true
		}
		if v.Type != gjson.Number {
			return true
		}
		n := int(v.Int())
		switch k.Str {
		case "input_tokens":
			s.usage.InputTokens = n
		case "output_tokens":
			s.usage.OutputTokens = n
		case "cache_creation_input_tokens":
			s.usage.CacheCreationInputTokens = n
		case "cache_read_input_tokens":
			s.usage.CacheReadInputTokens = n
		}
		return true
	})
}

var _ providers.EventStream = (*stream)(nil)
