package console_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// upstreamKey is the API key the fake upstream wants, as OpenAI checks
// its keys.
const upstreamKey = "sk-upstream-secret"

// fakeOpenAI is an OpenAI chat completions upstream. It checks the key and
// the required fields as OpenAI does, answers model "broken" with a 500,
// and reports usage that depends on the prompt, streamed (with the usage
// chunk when stream_options.include_usage asks for it) or not.
type fakeOpenAI struct {
	*httptest.Server
	calls atomic.Int64
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	f := &fakeOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func openAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"param":null,"code":%q}}`, msg, typ, code)
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
		openAIError(w, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		openAIError(w, 404, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		openAIError(w, 400, "invalid_request_error", "", "We could not parse the JSON body of your request.")
		return
	}
	if req.Model == "" || len(req.Messages) == 0 {
		openAIError(w, 400, "invalid_request_error", "missing_required_parameter", "Missing required parameter: 'model' or 'messages'.")
		return
	}
	if req.Model == "broken" {
		openAIError(w, 500, "server_error", "", "The server had an error while processing your request.")
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += 4 + len(strings.Fields(m.Content))
	}
	words := []string{"Hello", " from", " the", " fake", " upstream."}
	completion := len(words)
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`,
		prompt, completion, prompt+completion)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-fake1","object":"chat.completion","created":1727000000,"model":"%s-2024-07-18","system_fingerprint":"fp_fake","choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":%s}`,
			req.Model, strings.Join(words, ""), usage)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	chunk := func(delta, finish string) {
		fin := "null"
		if finish != "" {
			fin = `"` + finish + `"`
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake2\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"%s-2024-07-18\",\"system_fingerprint\":\"fp_fake\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\n\n", req.Model, delta, fin)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk(`{"role":"assistant","content":"","refusal":null}`, "")
	for _, word := range words {
		chunk(fmt.Sprintf(`{"content":%q}`, word), "")
	}
	chunk(`{}`, "stop")
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-fake2\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"%s-2024-07-18\",\"system_fingerprint\":\"fp_fake\",\"choices\":[],\"usage\":%s}\n\n", req.Model, usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}
