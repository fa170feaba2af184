package vertex

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	avertex "github.com/anthropics/anthropic-sdk-go/v2/vertex"
	"golang.org/x/oauth2/google"

	"github.com/polygate/polygate/providers"
)

// Anthropic's own Vertex AI client checks both ends of the Messages
// pass-through: the fake Vertex AI accepts it (its OAuth2 token, URLs and
// bodies), and the request this package makes from a first-party
// Messages request is the one Anthropic's Vertex client makes.

// anthropicVertex is Anthropic's Vertex AI client, authenticated with the
// fake's service account and pointed at it.
func anthropicVertex(t *testing.T, f *FakeGoogle) anthropic.Client {
	b, err := os.ReadFile(f.CredentialsFile(t))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSON(context.Background(), b, Scope)
	if err != nil {
		t.Fatal(err)
	}
	return anthropic.NewClient(avertex.WithCredentials(context.Background(), f.Location, f.Project, creds),
		aoption.WithBaseURL(f.URL()+"/"), aoption.WithMaxRetries(0),
		// Anthropic's client moves its anthropic-version header into the
		// body; Vertex AI wants vertex-2023-10-16 there.
		aoption.WithHeader("anthropic-version", AnthropicVersion))
}

// capture stands in for Anthropic's API and keeps what Anthropic's
// first-party client sends.
type capture struct {
	*httptest.Server
	mu     sync.Mutex
	path   string
	body   []byte
	header http.Header
}

func newCapture(t *testing.T) *capture {
	c := &capture{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.path, c.body, c.header = r.URL.Path, b, r.Header.Clone()
		c.mu.Unlock()
		http.Error(w, "captured", http.StatusTeapot)
	}))
	t.Cleanup(c.Close)
	return c
}

func TestMatchesAnthropicVertexClient(t *testing.T) {
	const model = "claude-sonnet-4-5@20250929"
	theirFake, ourFake := NewFakeGoogle(t), NewFakeGoogle(t)
	theirs := anthropicVertex(t, theirFake)
	p := newProvider(t, ourFake, nil)
	cp := newCapture(t)
	first := anthropic.NewClient(aoption.WithBaseURL(cp.URL), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	beta := aoption.WithHeader("anthropic-beta", "context-1m-2025-08-07")
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model:     model,
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Be brief.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is Vertex AI?"))},
	}
	count := anthropic.MessageCountTokensParams{Model: model, Messages: params.Messages}

	for _, call := range []string{"message", "stream", "count"} {
		// Anthropic's Vertex client, straight to its fake.
		var err error
		switch call {
		case "message":
			var m *anthropic.Message
			m, err = theirs.Messages.New(ctx, params, beta)
			if err == nil && m.Content[0].Text == "" {
				t.Errorf("Anthropic's Vertex client read %s", m.RawJSON())
			}
		case "stream":
			s := theirs.Messages.NewStreaming(ctx, params, beta)
			var m anthropic.Message
			for s.Next() {
				_ = m.Accumulate(s.Current())
			}
			err = s.Err()
			if err == nil && (len(m.Content) != 1 || m.Content[0].Text != "Vertex AI is Google Cloud's ML platform.") {
				t.Errorf("Anthropic's Vertex client accumulated %s", m.RawJSON())
			}
		case "count":
			var n *anthropic.MessageTokensCount
			n, err = theirs.Messages.CountTokens(ctx, count, beta)
			if err == nil && n.InputTokens != 4 {
				t.Errorf("Anthropic's Vertex client counted %d", n.InputTokens)
			}
		}
		if err != nil {
			t.Fatalf("%s: Anthropic's Vertex client: %v", call, err)
		}
		want := lastRequest(t, theirFake)

		// The first-party request, forwarded by this package.
		path := "messages"
		switch call {
		case "message":
			_, _ = first.Messages.New(ctx, params, beta)
		case "stream":
			s := first.Messages.NewStreaming(ctx, params, beta)
			for s.Next() {
			}
		case "count":
			_, _ = first.Messages.CountTokens(ctx, count, beta)
			path = "messages/count_tokens"
		}
		if cp.path != "/v1/"+path {
			t.Fatalf("%s: the first-party client called %s", call, cp.path)
		}
		resp, err := p.ForwardMessages(ctx, &providers.ForwardRequest{Method: http.MethodPost, Path: path, Header: cp.header, Body: cp.body})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := lastRequest(t, ourFake)

		if got.Model != want.Model || got.Method != want.Method || got.Publisher != want.Publisher {
			t.Errorf("%s: we called %s/%s:%s, Anthropic's client %s/%s:%s", call, got.Publisher, got.Model, got.Method, want.Publisher, want.Model, want.Method)
		}
		if string(got.Raw) != string(want.Raw) {
			t.Errorf("%s: bodies differ:\n ours   %s\n theirs %s", call, got.Raw, want.Raw)
		}
		if g, w := got.Header.Get("Anthropic-Beta"), want.Header.Get("Anthropic-Beta"); g != w {
			t.Errorf("%s: anthropic-beta %q, Anthropic's client %q", call, g, w)
		}
	}
}
