package mockllm

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp
}

// sseData returns the data payloads of an SSE body.
func sseData(t *testing.T, r io.Reader) (events, data []string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, v)
		}
	}
	return
}

func TestChat(t *testing.T) {
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()

	resp := post(t, ts.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	var c struct {
		Object string
		Usage  struct {
			TotalTokens int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Object != "chat.completion" || c.Usage.TotalTokens == 0 {
		t.Fatalf("bad completion %v: %s", err, b)
	}
	if len(b) < 500 || len(b) > 800 {
		t.Errorf("completion is %d bytes, want ~600", len(b))
	}

	for _, usage := range []bool{false, true} {
		body := `{"model":"gpt-4o-mini","stream": true,"messages":[]}`
		if usage {
			body = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage": true},"messages":[]}`
		}
		resp = post(t, ts.URL+"/v1/chat/completions", body)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content-type %q", ct)
		}
		_, data := sseData(t, resp.Body)
		if data[len(data)-1] != "[DONE]" {
			t.Fatalf("last event %q", data[len(data)-1])
		}
		chunks := data[:len(data)-1]
		want := 20
		if usage {
			want = 21
		}
		if len(chunks) != want {
			t.Fatalf("usage=%v: %d chunks, want %d", usage, len(chunks), want)
		}
		for _, d := range chunks {
			var ch map[string]any
			if err := json.Unmarshal([]byte(d), &ch); err != nil || ch["object"] != "chat.completion.chunk" {
				t.Fatalf("bad chunk %v: %s", err, d)
			}
		}
		last := chunks[len(chunks)-1]
		if usage != strings.Contains(last, `"total_tokens"`) {
			t.Fatalf("usage=%v, last chunk %s", usage, last)
		}
	}
}

func TestAnthropic(t *testing.T) {
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()
	resp := post(t, ts.URL+"/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`)
	b, _ := io.ReadAll(resp.Body)
	if !json.Valid(b) || !strings.Contains(string(b), `"type":"message"`) {
		t.Fatalf("bad message %s", b)
	}
	resp = post(t, ts.URL+"/v1/messages", `{"model":"claude-sonnet-4-5","stream":true,"max_tokens":64,"messages":[]}`)
	events, data := sseData(t, resp.Body)
	if events[0] != "message_start" || events[1] != "content_block_start" || events[len(events)-1] != "message_stop" {
		t.Fatalf("events %v", events)
	}
	for _, d := range data {
		if !json.Valid([]byte(d)) {
			t.Fatalf("bad data %s", d)
		}
	}
}

func TestEmbeddingsModels(t *testing.T) {
	ts := httptest.NewServer(New(Config{EmbeddingDims: 8}))
	defer ts.Close()
	resp := post(t, ts.URL+"/v1/embeddings", `{"model":"text-embedding-3-small","input":"hi"}`)
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Data []struct{ Embedding []float64 }
	}
	if err := json.Unmarshal(b, &e); err != nil || len(e.Data) != 1 || len(e.Data[0].Embedding) != 8 {
		t.Fatalf("bad embeddings %v: %s", err, b)
	}
	r, err := http.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r.Body)
	if !json.Valid(b) {
		t.Fatalf("bad models %s", b)
	}
}

func TestHold(t *testing.T) {
	s := New(Config{Hold: true})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	resp := post(t, ts.URL+"/v1/chat/completions", `{"stream":true}`)
	buf := make([]byte, 4096)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "data: ") {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	if s.Stats.Open.Load() != 1 {
		t.Fatalf("open = %d", s.Stats.Open.Load())
	}
	s.Close()
	rest, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(rest), "[DONE]") {
		t.Fatal("held stream completed")
	}
}

func TestMockReplyAndStats(t *testing.T) {
	ts := httptest.NewServer(New(Config{}))
	defer ts.Close()

	b, _ := io.ReadAll(post(t, ts.URL+"/v1/chat/completions", `{"model":"m","mock_reply":"Mail me at a@example.com \"now\"","messages":[]}`).Body)
	var c struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 || c.Choices[0].Message.Content != `Mail me at a@example.com "now"` {
		t.Fatalf("mock_reply: %v: %s", err, b)
	}
	_, data := sseData(t, post(t, ts.URL+"/v1/chat/completions", `{"model":"m","stream":true,"mock_reply":"hi there","messages":[]}`).Body)
	if len(data) != 4 || !strings.Contains(data[1], `"content":"hi there"`) || data[3] != "[DONE]" {
		t.Fatalf("streamed mock_reply: %q", data)
	}

	resp, err := http.Get(ts.URL + "/mock/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Chat       int64 `json:"chat"`
		ChatStream int64 `json:"chat_stream"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Chat != 1 || st.ChatStream != 1 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}
