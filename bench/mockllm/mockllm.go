// Package mockllm is a fast mock of the OpenAI and Anthropic HTTP APIs for
// benchmarks and tests. Every response body is built once, when the Server is
// created; a request costs reading its body and a few byte scans (for
// "stream" and "stream_options.include_usage"), never JSON decoding.
//
// Endpoints:
//
//	POST /v1/chat/completions  chat.completion, or SSE chat.completion.chunk
//	                           events when the body has "stream":true (plus a
//	                           final usage chunk, and "usage":null in every chunk,
//	                           when "include_usage":true, as OpenAI does)
//	POST /v1/embeddings        an embedding list with usage
//	GET  /v1/models            a model list
//	POST /v1/messages          Anthropic Messages: JSON, or SSE (message_start,
//	                           content_block_start, content_block_delta...,
//	                           content_block_stop, message_delta, message_stop)
//	POST /v1/responses         OpenAI Responses: a response object, or SSE
//	                           (response.created ... response.completed)
//	POST /model/{id}/converse  Amazon Bedrock Converse (the request must be
//	                           SigV4-signed), and /converse-stream in AWS's
//	                           binary event-stream framing
//	GET  /mock/stats           the request counters (Stats) as JSON
//
// A chat completion request with a top-level "mock_reply":"<text>" member is
// answered with <text> as the assistant's content (built per request; the
// text is used as written, JSON escapes included). The benchmark's probes use
// it to check that output guardrails run.
//
// Use it in-process with httptest.NewServer(mockllm.New(mockllm.Config{})) or
// standalone with `go run ./bench/mock -addr :9999`.
package mockllm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes the mock. The zero value is a zero-latency mock.
type Config struct {
	// Events is the number of content chunk events in a streamed chat
	// completion (the role chunk and the finish chunk come on top). Default 18,
	// so a stream has 20 chat.completion.chunk events before the usage chunk.
	Events int
	// Delay is slept between two streamed events. Default 0.
	Delay time.Duration
	// Hold, when true, makes every streamed response (OpenAI and Anthropic)
	// send its first event and then hold the stream open until the client goes
	// away or the Server is closed. Used to measure memory per open stream.
	Hold bool
	// EmbeddingDims is the length of the embedding vector. Default 1536.
	EmbeddingDims int
}

// Stats counts requests served, by kind.
type Stats struct {
	Chat, ChatStream, Embeddings, Models, Messages, MessagesStream, Open atomic.Int64
	Responses, ResponsesStream, Converse, ConverseStream                 atomic.Int64
}

// Server is an http.Handler serving the mock endpoints.
type Server struct {
	cfg   Config
	Stats Stats

	chatJSON       []byte
	chatStream     [][]byte // events without include_usage, [DONE] last
	chatStreamUse  [][]byte // events with include_usage, [DONE] last
	embeddingsJSON []byte
	modelsJSON     []byte
	msgJSON        []byte
	msgStream      [][]byte
	respJSON       []byte
	respStream     [][]byte
	converseJSON   []byte
	converseStream [][]byte

	closed    chan struct{}
	closeOnce sync.Once
}

var bufPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }}

var (
	hdrJSON    = []string{"application/json"}
	hdrSSE     = []string{"text/event-stream"}
	hdrNoCache = []string{"no-cache"}
)

// New builds a Server and all of its response bodies.
func New(cfg Config) *Server {
	if cfg.Events <= 0 {
		cfg.Events = 18
	}
	if cfg.EmbeddingDims <= 0 {
		cfg.EmbeddingDims = 1536
	}
	s := &Server{cfg: cfg, closed: make(chan struct{})}
	s.chatJSON = []byte(ChatCompletionJSON)
	s.chatStream = buildChatStream(cfg.Events, false)
	s.chatStreamUse = buildChatStream(cfg.Events, true)
	s.embeddingsJSON = buildEmbeddings(cfg.EmbeddingDims)
	s.modelsJSON = []byte(ModelsJSON)
	s.msgJSON = []byte(AnthropicMessageJSON)
	s.msgStream = buildAnthropicStream(cfg.Events)
	s.respJSON = []byte(ResponseJSON)
	s.respStream = buildResponsesStream(cfg.Events)
	s.converseJSON = []byte(ConverseJSON)
	s.converseStream = buildConverseStream(cfg.Events)
	return s
}

// Close releases every held stream.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions", "/chat/completions":
		s.chat(w, r)
	case "/v1/messages", "/messages":
		s.messages(w, r)
	case "/v1/responses", "/responses":
		s.responses(w, r)
	case "/v1/embeddings", "/embeddings":
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w)
			return
		}
		drain(r)
		s.Stats.Embeddings.Add(1)
		writeJSON(w, s.embeddingsJSON)
	case "/v1/models", "/models":
		s.Stats.Models.Add(1)
		writeJSON(w, s.modelsJSON)
	case "/mock/stats":
		st := &s.Stats
		writeJSON(w, fmt.Appendf(nil, `{"chat":%d,"chat_stream":%d,"embeddings":%d,"models":%d,"messages":%d,"messages_stream":%d,"responses":%d,"responses_stream":%d,"converse":%d,"converse_stream":%d,"open":%d}`,
			st.Chat.Load(), st.ChatStream.Load(), st.Embeddings.Load(), st.Models.Load(), st.Messages.Load(), st.MessagesStream.Load(),
			st.Responses.Load(), st.ResponsesStream.Load(), st.Converse.Load(), st.ConverseStream.Load(), st.Open.Load()))
	default:
		if strings.HasPrefix(r.URL.Path, "/model/") {
			s.bedrock(w, r)
			return
		}
		w.Header()["Content-Type"] = hdrJSON
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"mock: unknown path","type":"invalid_request_error","param":null,"code":"unknown_url"}}`)
	}
}

func (s *Server) methodNotAllowed(w http.ResponseWriter) {
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusMethodNotAllowed)
	io.WriteString(w, `{"error":{"message":"mock: method not allowed","type":"invalid_request_error","param":null,"code":null}}`)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w)
		return
	}
	buf := readBody(r)
	body := buf.Bytes()
	stream := boolField(body, "stream")
	usage := stream && boolField(body, "include_usage")
	reply, custom := stringField(body, "mock_reply")
	bufPool.Put(buf)
	if !stream {
		s.Stats.Chat.Add(1)
		if custom {
			writeJSON(w, []byte(chatHead+`"`+reply+`"`+chatTail))
			return
		}
		writeJSON(w, s.chatJSON)
		return
	}
	s.Stats.ChatStream.Add(1)
	events := s.chatStream
	if usage {
		events = s.chatStreamUse
	}
	if custom {
		events = buildChatStreamText([]string{`"` + reply + `"`}, usage)
	}
	s.stream(w, r, events)
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, &s.Stats.Messages, s.msgJSON, &s.Stats.MessagesStream, s.msgStream)
}

// answer serves a POST whose body's "stream" picks the JSON answer or the
// streamed events, counting each in its counter.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, plain *atomic.Int64, body []byte, streamed *atomic.Int64, events [][]byte) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w)
		return
	}
	buf := readBody(r)
	stream := boolField(buf.Bytes(), "stream")
	bufPool.Put(buf)
	if !stream {
		plain.Add(1)
		writeJSON(w, body)
		return
	}
	streamed.Add(1)
	s.stream(w, r, events)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, events [][]byte) {
	h := w.Header()
	if _, set := h["Content-Type"]; !set {
		h["Content-Type"] = hdrSSE
	}
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i, ev := range events {
		if i > 0 && s.cfg.Delay > 0 {
			if !sleepCtx(r.Context(), s.closed, s.cfg.Delay) {
				return
			}
		}
		hold := i == 0 && s.cfg.Hold
		if hold {
			// Counted before the client can see the event.
			s.Stats.Open.Add(1)
		}
		if _, err := w.Write(ev); err != nil {
			if hold {
				s.Stats.Open.Add(-1)
			}
			return
		}
		if err := rc.Flush(); err != nil {
			if hold {
				s.Stats.Open.Add(-1)
			}
			return
		}
		if hold {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			s.Stats.Open.Add(-1)
			return
		}
	}
}

func sleepCtx(ctx context.Context, closed chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-closed:
		return false
	}
}

func writeJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func readBody(r *http.Request) *bytes.Buffer {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	if r.Body != nil {
		buf.ReadFrom(r.Body)
	}
	return buf
}

func drain(r *http.Request) {
	buf := readBody(r)
	bufPool.Put(buf)
}

// boolField reports whether body contains "key" followed by optional spaces,
// a colon, optional spaces and true. It is a byte scan, not a JSON parse: a
// string value containing `"stream":true` would fool it, which is fine for a
// benchmark mock.
func boolField(body []byte, key string) bool {
	pat := `"` + key + `"`
	for {
		i := bytes.Index(body, []byte(pat))
		if i < 0 {
			return false
		}
		rest := skipSpace(body[i+len(pat):])
		if len(rest) > 0 && rest[0] == ':' {
			rest = skipSpace(rest[1:])
			if bytes.HasPrefix(rest, []byte("true")) {
				return true
			}
		}
		body = body[i+len(pat):]
	}
}

// stringField returns the raw (still JSON-escaped) value of the first
// "key":"value" member of body, by a byte scan like boolField. The value is
// copied: body is a pooled buffer.
func stringField(body []byte, key string) (string, bool) {
	i := bytes.Index(body, []byte(`"`+key+`"`))
	if i < 0 {
		return "", false
	}
	rest := skipSpace(body[i+len(key)+2:])
	if len(rest) == 0 || rest[0] != ':' {
		return "", false
	}
	rest = skipSpace(rest[1:])
	if len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	for j := 1; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			return string(rest[1:j]), true
		}
	}
	return "", false
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// ChatCompletionJSON is the non-streamed chat.completion answer (~650 bytes).
const ChatCompletionJSON = chatHead + `"Requests flow like streams,\nbalanced across quiet nodes,\nno server stands alone. Load balancers spread the work evenly."` + chatTail

const (
	chatHead = `{"id":"chatcmpl-BenchMock0000000000000000001","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":`
	chatTail = `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":27,"completion_tokens":26,"total_tokens":53,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_b376dfbbd5"}`
)

// ModelsJSON is the GET /v1/models answer.
const ModelsJSON = `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}`

// AnthropicMessageJSON is the non-streamed Anthropic Messages answer.
const AnthropicMessageJSON = `{"id":"msg_01BenchMock000000000000001","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Requests flow like streams,\nbalanced across quiet nodes,\nno server stands alone. Load balancers spread the work evenly."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":27,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":26,"service_tier":"standard"}}`

// tokens are the streamed content pieces, cycled.
var tokens = []string{"Requests", " flow", " like", " streams", ",\n", "balanced", " across", " quiet", " nodes", ",\n", "no", " server", " stands", " alone", ".", " Load", " balancers", " spread", " the", " work", " evenly", "."}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

const chunkPrefix = `{"id":"chatcmpl-BenchMock0000000000000000002","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_b376dfbbd5","choices":[`

func buildChatStream(n int, usage bool) [][]byte {
	pieces := make([]string, n)
	for i := range pieces {
		pieces[i] = jsonString(tokens[i%len(tokens)])
	}
	return buildChatStreamText(pieces, usage)
}

// buildChatStreamText builds a stream with one content event per piece (a
// JSON string literal).
func buildChatStreamText(pieces []string, usage bool) [][]byte {
	n := len(pieces)
	var evs [][]byte
	tail := `]}`
	if usage {
		tail = `],"usage":null}`
	}
	add := func(choice string) {
		evs = append(evs, []byte("data: "+chunkPrefix+choice+tail+"\n\n"))
	}
	add(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`)
	for _, p := range pieces {
		add(`{"index":0,"delta":{"content":` + p + `},"logprobs":null,"finish_reason":null}`)
	}
	add(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`)
	if usage {
		evs = append(evs, []byte("data: "+chunkPrefix+`],"usage":{"prompt_tokens":27,"completion_tokens":`+strconv.Itoa(n)+`,"total_tokens":`+strconv.Itoa(27+n)+`,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`+"\n\n"))
	}
	evs = append(evs, []byte("data: [DONE]\n\n"))
	return evs
}

func buildAnthropicStream(n int) [][]byte {
	var evs [][]byte
	add := func(typ, data string) {
		evs = append(evs, []byte("event: "+typ+"\ndata: "+data+"\n\n"))
	}
	add("message_start", `{"type":"message_start","message":{"id":"msg_01BenchMock000000000000002","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":27,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}`)
	add("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	add("ping", `{"type": "ping"}`)
	for i := 0; i < n; i++ {
		add("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+jsonString(tokens[i%len(tokens)])+`}}`)
	}
	add("content_block_stop", `{"type":"content_block_stop","index":0}`)
	add("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(n)+`}}`)
	add("message_stop", `{"type":"message_stop"}`)
	return evs
}

func buildEmbeddings(dims int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[`)
	x := uint32(2463534242)
	for i := 0; i < dims; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v := (float64(x%2000000) - 1000000) / 1e8 // in (-0.01, 0.01)
		fmt.Fprintf(&b, "%.8f", v)
	}
	b.WriteString(`]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`)
	return b.Bytes()
}
