package gemini

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

const (
	// streamBufferSize is the read buffer around an upstream stream: small,
	// so that many open streams stay cheap (longer events are assembled).
	streamBufferSize = 2048
	// maxCandidates bounds candidate indexes (Gemini allows 8 candidates).
	maxCandidates = 16
)

// stream translates a streamGenerateContent (alt=sse) event stream into
// chat.completion.chunk events. Every event is a partial
// GenerateContentResponse and becomes at most one chunk: its candidates'
// text, thoughts and function calls become the deltas of its choices and a
// finishReason their finish_reason. Gemini ends a stream without a
// sentinel; the end of the body then yields the final usage chunk, from the
// last usageMetadata seen. A body that ends before any candidate finished
// is reported as cut off.
type stream struct {
	ctx      context.Context
	body     io.ReadCloser
	events   *openai.EventReader
	client   *providers.Client
	w        openai.ChunkWriter
	model    string
	started  bool
	cands    []candState
	usage    usageMetadata
	finished bool // a candidate finished, or the prompt was blocked
	stopped  bool // the usage chunk was sent: the stream is over
	done     bool

	// scratch space of one candidate
	text, thought []byte
	calls         []pendingCall
}

type candState struct {
	role     bool // the role was sent
	calls    int  // tool calls sent
	finished bool
}

type pendingCall struct {
	id, name, args string
	extra          []byte
}

func newStream(ctx context.Context, body io.ReadCloser, client *providers.Client, model string) *stream {
	return &stream{
		ctx:    ctx,
		body:   body,
		events: openai.NewEventReader(bufio.NewReaderSize(body, streamBufferSize)),
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
			if err == io.EOF && s.finished {
				s.stopped = true
				s.start("", "")
				return s.w.UsageChunk(s.usage.openAI()), nil
			}
			s.done = true
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, s.client.StreamError(s.ctx, err)
		}
		chunk, err := s.translate(ev.Data)
		if err != nil {
			s.done = true
			return nil, err
		}
		if chunk != nil {
			return chunk, nil
		}
	}
}

// Buffered implements providers.EventStream.
func (s *stream) Buffered() bool { return !s.done && s.events.Buffered() }

// Close implements providers.EventStream.
func (s *stream) Close() error {
	s.done = true
	return s.body.Close()
}

// translate returns the chunk for one event, or nil when it carries
// nothing.
func (s *stream) translate(data []byte) ([]byte, error) {
	if !gjson.ValidBytes(data) {
		return nil, s.client.InvalidResponse("a stream event is not JSON")
	}
	r := gjson.ParseBytes(data)
	if !r.IsObject() {
		return nil, s.client.InvalidResponse("a stream event is not a JSON object")
	}
	if e := r.Get("error"); e.Exists() {
		status := int(e.Get("code").Int())
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		msg := e.Get("message").String()
		if msg == "" {
			msg = "provider " + strconv.Quote(s.client.Name) + " reported an error mid-stream"
		}
		return nil, &providers.Error{Err: &openai.Error{Status: status, Type: openai.TypeForStatus(status), Code: e.Get("status").String(), Message: msg}}
	}
	s.start(r.Get("responseId").String(), r.Get("modelVersion").String())
	if u := r.Get("usageMetadata"); u.IsObject() {
		s.readUsage(u)
	}
	s.w.Begin()
	pos := 0
	bad := false
	r.Get("candidates").ForEach(func(_, c gjson.Result) bool {
		idx := pos
		if i := c.Get("index"); i.Exists() {
			idx = int(i.Int())
		}
		pos++
		if idx < 0 || idx >= maxCandidates {
			bad = true
			return false
		}
		s.candidate(idx, c)
		return true
	})
	if bad {
		return nil, s.client.InvalidResponse("a candidate index is out of range")
	}
	if s.w.Choices() == 0 && r.Get("promptFeedback.blockReason").String() != "" && !s.finished {
		s.finished = true
		s.w.BeginChoice(0)
		s.w.Role(openai.RoleAssistant)
		s.w.EndChoice(openai.FinishContentFilter)
	}
	if s.w.Choices() == 0 {
		return nil, nil
	}
	return s.w.End(nil), nil
}

// candidate writes the choice of one candidate of an event, if it carries
// anything: its text, thoughts, function calls and finish reason.
func (s *stream) candidate(idx int, c gjson.Result) {
	for len(s.cands) <= idx {
		s.cands = append(s.cands, candState{})
	}
	st := &s.cands[idx]
	s.text, s.thought, s.calls = s.text[:0], s.thought[:0], s.calls[:0]
	c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
		if fc := p.Get("functionCall"); fc.IsObject() {
			id := fc.Get("id").String()
			if id == "" {
				id = newCallID()
			}
			s.calls = append(s.calls, pendingCall{
				id: id, name: fc.Get("name").String(), args: s.compactArgs(fc.Get("args")),
				extra: signatureExtra(p.Get("thoughtSignature").String()),
			})
			return true
		}
		if t := p.Get("text"); t.Type == gjson.String {
			if p.Get("thought").Bool() {
				s.thought = append(s.thought, t.Str...)
			} else {
				s.text = append(s.text, t.Str...)
			}
		}
		return true
	})
	finish := ""
	if fr := c.Get("finishReason").String(); fr != "" && !st.finished {
		st.finished = true
		s.finished = true
		finish = finishReason(fr, st.calls+len(s.calls) > 0)
	}
	if len(s.text) == 0 && len(s.thought) == 0 && len(s.calls) == 0 && finish == "" {
		return
	}
	s.w.BeginChoice(idx)
	if !st.role {
		st.role = true
		s.w.Role(openai.RoleAssistant)
	}
	if len(s.text) > 0 {
		s.w.Content(string(s.text))
	}
	if len(s.thought) > 0 {
		s.w.Reasoning(string(s.thought))
	}
	for _, pc := range s.calls {
		s.w.ToolCall(st.calls, pc.id, pc.name, pc.args, pc.extra)
		st.calls++
	}
	s.w.EndChoice(finish)
}

func (s *stream) compactArgs(args gjson.Result) string {
	if !args.IsObject() {
		return "{}"
	}
	var buf bytes.Buffer
	buf.Grow(len(args.Raw))
	if json.Compact(&buf, []byte(args.Raw)) != nil {
		return "{}"
	}
	return buf.String()
}

// start sets the id, creation time and model every chunk carries.
func (s *stream) start(responseID, modelVersion string) {
	if s.started {
		return
	}
	s.started = true
	id := "chatcmpl-" + responseID
	if responseID == "" {
		id = "chatcmpl-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	model := s.model
	if modelVersion != "" {
		model = modelVersion
	}
	s.w.Reset(id, time.Now().Unix(), model)
}

// readUsage takes the counts present in u; Gemini repeats the running
// totals in every event.
func (s *stream) readUsage(u gjson.Result) {
	u.ForEach(func(k, v gjson.Result) bool {
		if v.Type != gjson.Number {
			return true
		}
		n := int(v.Int())
		switch k.Str {
		case "promptTokenCount":
			s.usage.PromptTokenCount = n
		case "candidatesTokenCount":
			s.usage.CandidatesTokenCount = n
		case "cachedContentTokenCount":
			s.usage.CachedContentTokenCount = n
		case "thoughtsTokenCount":
			s.usage.ThoughtsTokenCount = n
		case "toolUsePromptTokenCount":
			s.usage.ToolUsePromptTokenCount = n
		}
		return true
	})
}

var _ providers.EventStream = (*stream)(nil)
