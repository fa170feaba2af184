package polygate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/polygate/polygate/internal/gatewaytest"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// flakyUpstream fails the first request for a model in the way its name
// says, and answers like fakeOpenAI afterwards:
//
//	429-once     429 with Retry-After: 1
//	500-always   500 every time
//	reset-once   drops the connection without an answer
//	slow-once    waits 2s before the response headers
//	400-always   a 400 (not retryable)
type flakyUpstream struct {
	*httptest.Server
	ok     *gatewaytest.FakeOpenAI
	mu     sync.Mutex
	counts map[string]int
}

func newFlakyUpstream(t *testing.T) *flakyUpstream {
	f := &flakyUpstream{ok: gatewaytest.NewFakeOpenAI(t), counts: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *flakyUpstream) count(model string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[model]
}

func (f *flakyUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct{ Model string }
	_ = json.Unmarshal(body, &req)
	f.mu.Lock()
	f.counts[req.Model]++
	n := f.counts[req.Model]
	f.mu.Unlock()
	first := n == 1
	switch {
	case req.Model == "429-once" && first:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`)
		return
	case req.Model == "500-always":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"boom","type":"server_error"}}`)
		return
	case req.Model == "400-always":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`)
		return
	case req.Model == "reset-once" && first:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case req.Model == "slow-once" && first:
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	f.ok.Config.Handler.ServeHTTP(w, r)
}

// routingSite names its providers after the test, so upstream health
// (which outlives configs, by design) does not leak between tests.
func routingSite(t *testing.T, up string) string {
	p := strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	return fmt.Sprintf(`	ai_gateway {
		provider %[1]s_a openai {
			base_url %[2]s/v1
			first_byte_timeout 500ms
		}
		provider %[1]s_b openai {
			base_url %[2]s/v1
		}
		model rate-limited {
			upstream %[1]s_a 429-once
			retries 1
		}
		model reset {
			upstream %[1]s_a reset-once
			retries 1
		}
		model slow {
			upstream %[1]s_a slow-once
			retries 1
		}
		model broken {
			upstream %[1]s_a 500-always
			retries 1
			fallback healthy
		}
		model rejected {
			upstream %[1]s_a 400-always
			retries 3
			fallback healthy
		}
		model healthy {
			upstream %[1]s_b good-model
		}
		model mixed {
			upstream %[1]s_a 500-always
			upstream %[1]s_b good-model
			retries 1
		}
	}`, p, up)
}

func chatOK(t *testing.T, g *gatewaytest.Gateway, model string, stream bool) *http.Response {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	resp, text := g.Do("POST", "/v1/chat/completions", "application/json", body)
	if resp.StatusCode != 200 {
		t.Fatalf("model %s: status %d: %s", model, resp.StatusCode, text)
	}
	if stream && (!strings.Contains(text, "Hello") || !strings.HasSuffix(text, "data: [DONE]\n\n")) {
		t.Fatalf("model %s: stream = %q", model, text)
	}
	if !stream && !strings.Contains(text, "Hello world") {
		t.Fatalf("model %s: body = %s", model, text)
	}
	return resp
}

func TestRetryAndFallback(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			up := newFlakyUpstream(t)
			g := gatewaytest.Start(t, routingSite(t, up.URL))
			cases := []struct {
				model    string
				attempts string
				provider string
			}{
				{"rate-limited", "2", "_a"},
				{"reset", "2", "_a"},
				{"slow", "2", "_a"},
				{"broken", "3", "_b"}, // two tries, then the fallback
			}
			for _, tc := range cases {
				start := time.Now()
				resp := chatOK(t, g, tc.model, stream)
				if got := resp.Header.Get("X-Polygate-Attempts"); got != tc.attempts {
					t.Errorf("%s: attempts = %s, want %s", tc.model, got, tc.attempts)
				}
				if got := resp.Header.Get("X-Polygate-Provider"); !strings.HasSuffix(got, tc.provider) {
					t.Errorf("%s: provider = %s, want *%s", tc.model, got, tc.provider)
				}
				if tc.model == "rate-limited" && time.Since(start) < time.Second {
					t.Errorf("Retry-After: 1 was not honoured (retried after %s)", time.Since(start))
				}
			}
		})
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	up := newFlakyUpstream(t)
	g := gatewaytest.Start(t, routingSite(t, up.URL))
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"rejected","messages":[]}`)
	gatewaytest.ExpectOpenAIError(t, resp, body, 400, "invalid_request_error", "")
	if got := resp.Header.Get("X-Polygate-Attempts"); got != "1" {
		t.Errorf("attempts = %s, want 1", got)
	}
	if n := up.count("400-always"); n != 1 {
		t.Errorf("upstream called %d times, want 1", n)
	}
	if n := up.count("good-model"); n != 0 {
		t.Errorf("fell back on a client error (%d calls)", n)
	}
}

func TestCooldownSurvivesReload(t *testing.T) {
	up := newFlakyUpstream(t)
	site := routingSite(t, up.URL)
	g := gatewaytest.Start(t, site)
	for i := 0; i < 20; i++ {
		chatOK(t, g, "mixed", false)
	}
	bad := up.count("500-always")
	if bad == 0 || bad > 3 {
		t.Fatalf("the failing upstream was called %d times; want 1..3 before its cooldown", bad)
	}
	// A reload keeps the cooldown: the failing upstream stays skipped.
	g = gatewaytest.Start(t, site)
	for i := 0; i < 10; i++ {
		chatOK(t, g, "mixed", i%2 == 0)
	}
	if n := up.count("500-always"); n != bad {
		t.Errorf("after the reload the cooled-down upstream was called %d more times", n-bad)
	}
}

func TestStreamFailureAfterFirstByte(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up garbage-stream-late
		}
	}`, up.URL))
	_ = up
	client := g.OpenAI(option.WithMaxRetries(0))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openaigo.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openaigo.ChatCompletionMessageParamUnion{openaigo.UserMessage("hi")},
	})
	n := 0
	for stream.Next() {
		n++
	}
	if n != 1 {
		t.Errorf("got %d chunks before the error, want 1", n)
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("stream error = %v, want the gateway's error event", err)
	}
}
