package anthropic

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/polygate/polygate/providers"
)

// SpeaksMessages implements providers.MessagesForwarder: every model of an
// anthropic provider takes Messages requests as they are.
func (p *Anthropic) SpeaksMessages(string) bool { return true }

// ForwardMessages implements providers.MessagesForwarder: the request goes
// to <base_url>/v1/<path> with the provider's x-api-key and headers; the
// client's anthropic-version (else the provider's) and anthropic-beta are
// relayed. The answer is Anthropic's, status and body as they came.
func (p *Anthropic) ForwardMessages(ctx context.Context, fr *providers.ForwardRequest) (*http.Response, error) {
	path := strings.TrimLeft(fr.Path, "/")
	if path != "messages" && path != "messages/count_tokens" {
		return nil, p.reject("", "the anthropic provider forwards only messages and messages/count_tokens, not "+path)
	}
	target := strings.TrimSuffix(p.messagesURL, "/messages") + "/" + path
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(fr.Body))
	if err != nil {
		return nil, p.client.InvalidResponse(err.Error())
	}
	hr.Header = make(http.Header, len(p.header)+4)
	for k, v := range p.header {
		hr.Header[k] = v
	}
	hr.Header.Set("Content-Type", "application/json")
	if v := fr.Header.Get("Anthropic-Version"); v != "" {
		hr.Header.Set("Anthropic-Version", v)
	}
	if betas := fr.Header.Values("Anthropic-Beta"); len(betas) > 0 {
		hr.Header["Anthropic-Beta"] = betas
	}
	if a := fr.Header.Get("Accept"); a != "" {
		hr.Header.Set("Accept", a)
	}
	return p.client.DoRaw(ctx, hr)
}

var _ providers.MessagesForwarder = (*Anthropic)(nil)
