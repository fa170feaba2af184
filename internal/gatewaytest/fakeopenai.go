package gatewaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// SeenRequest is what a fake upstream received.
type SeenRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// FakeOpenAI is an OpenAI-compatible upstream for tests (an httptest server). The model name
// chooses its behaviour:
//
//	tools*          answers with a tool call
//	error-400       an OpenAI error with status 400
//	error-500       a 500 with a plain-text body
//	garbage         200 with a body that is not JSON
//	garbage-stream  a stream whose event is not JSON
//	garbage-stream-late  one good event, then one that is not JSON
//	slow            waits 3s before answering
//	hang-stream     sends one event, then waits for the client to leave
//	anything else   "Hello world" with usage
//
// POST /v1/completions answers " world" (6 prompt, 4 completion tokens;
// streamed with a usage chunk), POST /v1/images/generations n images
// without usage. POST /v1/moderations flags an input that contains "attack" (category
// violence).
type FakeOpenAI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []SeenRequest
	// ClientGone is closed when a hang-stream request's context ends.
	ClientGone chan struct{}
}

// NewFakeOpenAI starts a FakeOpenAI, closed when the test ends.
func NewFakeOpenAI(t testing.TB) *FakeOpenAI {
	f := &FakeOpenAI{ClientGone: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Last is the last request received.
func (f *FakeOpenAI) Last() SeenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return SeenRequest{}
	}
	return f.requests[len(f.requests)-1]
}

// Count is how many requests were received.
func (f *FakeOpenAI) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *FakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, SeenRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	f.mu.Unlock()
	w.Header().Set("X-Request-Id", "req_fake")
	switch r.URL.Path {
	case "/v1/chat/completions":
		f.chat(w, r, body)
	case "/v1/embeddings":
		var req struct{ Model string }
		_ = json.Unmarshal(body, &req)
		writeJSONString(w, fmt.Sprintf(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,0.3]}],"model":%q,"usage":{"prompt_tokens":4,"total_tokens":4}}`, req.Model))
	case "/v1/responses":
		var req struct{ Model string }
		_ = json.Unmarshal(body, &req)
		writeJSONString(w, fmt.Sprintf(`{"id":"resp_1","object":"response","model":%q,"status":"completed","output":[]}`, req.Model))
	case "/v1/audio/transcriptions":
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
		fields := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			v, _ := io.ReadAll(p)
			fields[p.FormName()] = string(v)
		}
		writeJSONString(w, fmt.Sprintf(`{"text":%q}`, "model="+fields["model"]+" file="+fields["file"]))
	case "/v1/moderations":
		var req struct {
			Model string
			Input any
		}
		_ = json.Unmarshal(body, &req)
		in, _ := json.Marshal(req.Input)
		flagged := strings.Contains(string(in), "attack")
		writeJSONString(w, fmt.Sprintf(`{"id":"modr-1","model":%q,"results":[{"flagged":%t,"categories":{"violence":%t},"category_scores":{"violence":0.5}}]}`, req.Model, flagged, flagged))
	case "/v1/completions":
		var req struct {
			Model  string
			Stream bool
		}
		_ = json.Unmarshal(body, &req)
		if !req.Stream {
			writeJSONString(w, fmt.Sprintf(`{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":%q,"choices":[{"text":" world","index":0,"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":6,"completion_tokens":4,"total_tokens":10}}`, req.Model))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":%q,\"choices\":[{\"text\":\" world\",\"index\":0,\"finish_reason\":\"stop\"}]}\n\n", req.Model)
		fmt.Fprintf(w, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":6,\"completion_tokens\":4,\"total_tokens\":10}}\n\ndata: [DONE]\n\n", req.Model)
	case "/v1/images/generations":
		var req struct{ N int }
		_ = json.Unmarshal(body, &req)
		data := make([]string, max(req.N, 1))
		for i := range data {
			data[i] = `{"b64_json":"iVBORw0KGgo="}`
		}
		writeJSONString(w, `{"created":1700000000,"data":[`+strings.Join(data, ",")+`]}`)
	case "/v1/files":
		writeJSONString(w, `{"object":"list","data":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSONString(w, `{"error":{"message":"no such path","type":"invalid_request_error"}}`)
	}
}

func writeJSONString(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, s)
}

func (f *FakeOpenAI) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Content any `json:"content"`
		} `json:"messages"`
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeJSONString(w, `{"error":{"message":"upstream could not parse JSON","type":"invalid_request_error"}}`)
		return
	}
	switch req.Model {
	case "error-400":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"temperature must be at most 2","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`)
		return
	case "error-500":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html>internal trouble</html>")
		return
	case "garbage":
		writeJSONString(w, `this is not json`)
		return
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	tools := strings.HasPrefix(req.Model, "tools")
	if req.Model == "echo" {
		// Answers with the last message's text, streamed 3 bytes a chunk.
		text := ""
		if n := len(req.Messages); n > 0 {
			text, _ = req.Messages[n-1].Content.(string)
		}
		f.echo(w, req.Model, text, req.Stream, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	if !req.Stream {
		message := `{"role":"assistant","content":"Hello world"}`
		finish := "stop"
		if tools {
			message = `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`
			finish = "tool_calls"
		}
		writeJSONString(w, fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":%s,"logprobs":null,"finish_reason":%q}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2}},"system_fingerprint":"fp_x","x_vendor_extra":{"kept":true}}`, req.Model, message, finish))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	chunk := func(delta, finish string) string {
		fin := "null"
		if finish != "" {
			fin = `"` + finish + `"`
		}
		return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":%q,"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`, req.Model, delta, fin)
	}
	send := func(data string) {
		_, _ = io.WriteString(w, "data: "+data+"\n\n")
		flusher.Flush()
	}
	switch req.Model {
	case "garbage-stream":
		send(`{not json`)
		return
	case "garbage-stream-late":
		send(chunk(`{"role":"assistant","content":"partial"}`, ""))
		send(`{not json`)
		return
	case "hang-stream":
		send(chunk(`{"role":"assistant","content":"wait"}`, ""))
		<-r.Context().Done()
		close(f.ClientGone)
		return
	}
	if tools {
		send(chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}`, ""))
		send(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, ""))
		send(chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, ""))
		send(chunk(`{}`, "tool_calls"))
	} else {
		send(chunk(`{"role":"assistant","content":""}`, ""))
		// Two events in one write: the gateway must pass both on.
		_, _ = io.WriteString(w, "data: "+chunk(`{"content":"Hello"}`, "")+"\n\n: keep-alive comment\n\ndata: "+chunk(`{"content":" world"}`, "")+"\n\n")
		flusher.Flush()
		send(chunk(`{}`, "stop"))
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":%q,"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`, req.Model))
	}
	send("[DONE]")
}

func (f *FakeOpenAI) echo(w http.ResponseWriter, model, text string, stream, usage bool) {
	quoted, _ := json.Marshal(text)
	if !stream {
		writeJSONString(w, fmt.Sprintf(`{"id":"chatcmpl-e","object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, model, quoted))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(delta, finish string) {
		fin := "null"
		if finish != "" {
			fin = `"` + finish + `"`
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-e\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", model, delta, fin)
		w.(http.Flusher).Flush()
	}
	send(`{"role":"assistant","content":""}`, "")
	for i := 0; i < len(text); i += 3 {
		part, _ := json.Marshal(text[i:min(i+3, len(text))])
		send(`{"content":`+string(part)+`}`, "")
	}
	send(`{}`, "stop")
	if usage {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-e\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}\n\n", model)
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}
