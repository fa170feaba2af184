package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/providers"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is a fake Azure OpenAI resource that records the last request.
type recorder struct {
	mu     sync.Mutex
	url    string
	header http.Header
	body   []byte
}

func (rec *recorder) last() (string, http.Header, []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.url, rec.header, rec.body
}

func newServer(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.url, rec.header, rec.body = r.URL.String(), r.Header.Clone(), body
		rec.mu.Unlock()
		w.Header().Set("Apim-Request-Id", "apim-1")
		switch {
		case strings.Contains(r.URL.Path, "/deployments/missing/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write(readFile(t, "error_deployment.json"))
		case strings.Contains(r.URL.Path, "/deployments/filtered/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(readFile(t, "error_content_filter.json"))
		case strings.HasSuffix(r.URL.Path, "/chat/completions") && bytes.Contains(body, []byte(`"stream":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(readFile(t, "chat_stream.sse"))
		case strings.HasSuffix(r.URL.Path, "/chat/completions"):
			w.Header().Set("Content-Type", "application/json")
			w.Write(readFile(t, "chat_response.json"))
		case strings.HasSuffix(r.URL.Path, "/embeddings"):
			w.Header().Set("Content-Type", "application/json")
			w.Write(readFile(t, "embeddings_response.json"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func newProvider(t *testing.T, p *Azure) *Azure {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	p.SetName("azure-east")
	t.Cleanup(func() { p.Cleanup() })
	return p
}

func TestChatAndEmbeddings(t *testing.T) {
	srv, rec := newServer(t)
	p := newProvider(t, &Azure{Settings: providers.Settings{BaseURL: srv.URL + "/", APIKey: "azure-key"}})
	ctx := context.Background()

	body := []byte(`{"model":"gpt-4o-prod","messages":[{"role":"user","content":"Do you support customer managed keys?"}]}`)
	resp, err := p.ChatCompletions(ctx, &providers.Request{Body: body, Model: "gpt-4o-prod", Header: http.Header{"X-Client": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	u, h, b := rec.last()
	if u != "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21" || h.Get("Api-Key") != "azure-key" ||
		h.Get("Authorization") != "" || h.Get("X-Client") != "1" || !bytes.Equal(b, body) {
		t.Errorf("upstream request %s %v %s", u, h, b)
	}
	if !bytes.Equal(resp.Body, readFile(t, "chat_response.json")) || resp.Header.Get("X-Request-Id") != "apim-1" {
		t.Errorf("answer %s %v", resp.Body, resp.Header)
	}

	resp, err = p.ChatCompletions(ctx, &providers.Request{Body: []byte(`{"model":"gpt-4o-prod","stream":true,"messages":[]}`), Model: "gpt-4o-prod", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _, b = rec.last()
	if !bytes.Contains(b, []byte(`"stream_options":{"include_usage":true}`)) {
		t.Errorf("stream_options not added: %s", b)
	}
	var chunks [][]byte
	for {
		c, err := resp.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, append([]byte(nil), c...))
	}
	resp.Stream.Close()
	if len(chunks) != 5 || !bytes.Contains(chunks[0], []byte("prompt_filter_results")) || !bytes.Contains(chunks[4], []byte(`"total_tokens":11`)) {
		t.Errorf("stream: %s", bytes.Join(chunks, []byte("\n")))
	}

	resp, err = p.Embeddings(ctx, &providers.Request{Body: []byte(`{"model":"emb","input":"hi"}`), Model: "emb-small"})
	if err != nil {
		t.Fatal(err)
	}
	if u, _, _ := rec.last(); u != "/openai/deployments/emb-small/embeddings?api-version=2024-10-21" || !bytes.Contains(resp.Body, []byte(`"prompt_tokens":4`)) {
		t.Errorf("embeddings %s: %s", u, resp.Body)
	}

	_, err = p.ChatCompletions(ctx, &providers.Request{Body: body, Model: "missing"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Err.Status != 404 || pe.Err.Code != "DeploymentNotFound" || !strings.HasPrefix(pe.Err.Message, "The API deployment") {
		t.Errorf("missing deployment: %v", err)
	}
	_, err = p.ChatCompletions(ctx, &providers.Request{Body: body, Model: "filtered"})
	if !errors.As(err, &pe) || pe.Err.Status != 400 || pe.Err.Code != "content_filter" || pe.Err.Param != "prompt" || providers.Retryable(err) {
		t.Errorf("content filter: %v", err)
	}
}

func TestV1AndOptions(t *testing.T) {
	srv, rec := newServer(t)
	off := false
	p := newProvider(t, &Azure{Settings: providers.Settings{BaseURL: srv.URL, Headers: map[string]string{"Authorization": "Bearer entra-token"}}, APIVersion: "v1", StreamUsage: &off})
	resp, err := p.ChatCompletions(context.Background(), &providers.Request{Body: []byte(`{"model":"gpt-5-mini","stream":true,"messages":[]}`), Model: "gpt-5-mini", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	resp.Stream.Close()
	u, h, b := rec.last()
	if u != "/openai/v1/chat/completions" || h.Get("Api-Key") != "" || h.Get("Authorization") != "Bearer entra-token" || bytes.Contains(b, []byte("stream_options")) {
		t.Errorf("v1 request %s %v %s", u, h, b)
	}
}

func TestForward(t *testing.T) {
	srv, rec := newServer(t)
	p := newProvider(t, &Azure{Settings: providers.Settings{BaseURL: srv.URL, APIKey: "k"}, APIVersion: "2025-04-01-preview"})
	ctx := context.Background()

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "a.wav")
	fw.Write([]byte("RIFF...."))
	mw.WriteField("model", "whisper-prod")
	mw.Close()

	for _, tc := range []struct {
		path, query, ctype string
		body               []byte
		want               string
	}{
		{"images/generations", "", "application/json", []byte(`{"model":"dalle3","prompt":"a cat"}`), "/openai/deployments/dalle3/images/generations?api-version=2025-04-01-preview"},
		{"/audio/transcriptions", "", mw.FormDataContentType(), form.Bytes(), "/openai/deployments/whisper-prod/audio/transcriptions?api-version=2025-04-01-preview"},
		{"responses", "", "application/json", []byte(`{"model":"gpt-4o","input":"hi"}`), "/openai/responses?api-version=2025-04-01-preview"},
		{"files", "purpose=batch&api-version=old", "", nil, "/openai/files?api-version=2025-04-01-preview&purpose=batch"},
	} {
		h := http.Header{"User-Agent": {"sdk"}}
		if tc.ctype != "" {
			h.Set("Content-Type", tc.ctype)
		}
		resp, err := p.Forward(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: tc.path, RawQuery: tc.query, Header: h, Body: tc.body})
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		resp.Body.Close()
		u, gh, gb := rec.last()
		if u != tc.want || gh.Get("Api-Key") != "k" || gh.Get("User-Agent") != "sdk" || !bytes.Equal(gb, tc.body) {
			t.Errorf("%s: got %s %v", tc.path, u, gh)
		}
		if tc.ctype != "" && gh.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: content type %q", tc.path, gh.Get("Content-Type"))
		}
	}

	// Upstream errors come back as they are.
	resp, err := p.Forward(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: "chat/completions", Header: http.Header{},
		Body: []byte(`{"model":"missing"}`)})
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("got %v, %v", resp, err)
	}
	resp.Body.Close()

	pv1 := newProvider(t, &Azure{Settings: providers.Settings{BaseURL: srv.URL}, APIVersion: "v1"})
	resp, err = pv1.Forward(ctx, &providers.ForwardRequest{Method: http.MethodGet, Path: "models", RawQuery: "limit=2"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if u, _, _ := rec.last(); u != "/openai/v1/models?limit=2" {
		t.Errorf("v1 forward: %s", u)
	}
}

func TestProvision(t *testing.T) {
	t.Setenv("POLYGATE_TEST_AZURE_ENDPOINT", "https://contoso.openai.azure.com/")
	t.Setenv("POLYGATE_TEST_AZURE_KEY", "azure-secret")
	p := &Azure{Settings: providers.Settings{BaseURL: "{env.POLYGATE_TEST_AZURE_ENDPOINT}", APIKey: "{env.POLYGATE_TEST_AZURE_KEY}"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if p.base != "https://contoso.openai.azure.com" || p.header.Get("Api-Key") != "azure-secret" || p.APIKey != "{env.POLYGATE_TEST_AZURE_KEY}" || p.client.Name != "azure" || !p.streamUsage {
		t.Errorf("provisioned: %q %v", p.base, p.header)
	}
	if err := (&Azure{}).Provision(ctx); err == nil || !strings.Contains(err.Error(), "base_url is required") {
		t.Errorf("no base_url: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`azure {
		base_url https://contoso.openai.azure.com
		api_key {env.AZURE_OPENAI_API_KEY}
		api_version 2025-04-01-preview
		header x-ms-useragent polygate
		timeout 3m
		first_byte_timeout 15s
		max_idle_conns_per_host 128
		stream_usage off
	}`)
	var p Azure
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	off := false
	want := Azure{Settings: providers.Settings{BaseURL: "https://contoso.openai.azure.com", APIKey: "{env.AZURE_OPENAI_API_KEY}", Headers: map[string]string{"x-ms-useragent": "polygate"}, Timeout: caddy.Duration(3 * time.Minute), FirstByteTimeout: caddy.Duration(15 * time.Second), MaxIdleConnsPerHost: 128}, APIVersion: "2025-04-01-preview", StreamUsage: &off}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	for _, bad := range []string{"azure", "azure {\n api_key k\n}", "azure x {\n base_url https://a.b\n}", "azure {\n base_url https://a.b\n stream_usage maybe\n}", "azure {\n base_url https://a.b\n deployment x\n}"} {
		var p Azure
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
