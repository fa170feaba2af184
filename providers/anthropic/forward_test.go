package anthropic

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/polygate/polygate/providers"
)

func TestForwardMessages(t *testing.T) {
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"sig"},{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],"new_field":1}`)
	var seen *http.Request
	var seenBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenBody = r, nil
		seenBody, _ = io.ReadAll(r.Body)
		if r.Header.Get("X-Api-Key") != "test-key" {
			w.WriteHeader(401)
			io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":12}`)
	}))
	defer srv.Close()
	p := newProvider(t, srv.URL)
	h := http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"a-2025-01-01", "b-2025-02-02"}}
	resp, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Path: "messages/count_tokens", Header: h, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != `{"input_tokens":12}` {
		t.Errorf("answer %d %s", resp.StatusCode, got)
	}
	if seen.URL.Path != "/v1/messages/count_tokens" || string(seenBody) != string(body) {
		t.Errorf("upstream got %s %s", seen.URL.Path, seenBody)
	}
	if betas := seen.Header.Values("Anthropic-Beta"); len(betas) != 2 || betas[1] != "b-2025-02-02" || seen.Header.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("headers %v", seen.Header)
	}
	if _, err := p.ForwardMessages(context.Background(), &providers.ForwardRequest{Path: "models", Body: body}); err == nil {
		t.Error("a path other than messages was forwarded")
	}
}
