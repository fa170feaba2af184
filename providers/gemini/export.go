package gemini

import (
	"context"
	"encoding/json"
	"io"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Translator is the Gemini dialect of this provider type without its
// transport, for provider types that serve Gemini models through another
// endpoint (Vertex AI): it turns OpenAI chat completion requests into
// generateContent request bodies exactly as the gemini type does. The zero
// value is ready to use; SetName names the provider in its errors.
type Translator struct {
	p Gemini
}

// SetName names the provider in the errors of rejected parameters.
func (t *Translator) SetName(name string) { t.p.client.Name = name }

// RequestBody translates an OpenAI chat completion request into the JSON
// body of a generateContent (or streamGenerateContent) request for model.
// What Gemini cannot express is a 400 *providers.Error naming the
// parameter.
func (t *Translator) RequestBody(in *openai.ChatCompletionRequest, model string) ([]byte, error) {
	gr, err := t.p.translateRequest(in, model)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "encoding the Gemini request: "+err.Error())}
	}
	return body, nil
}

// EmbeddingInputs reads an embeddings request's input: a string or a
// non-empty array of strings (token arrays are a 400).
func (t *Translator) EmbeddingInputs(raw json.RawMessage) ([]string, error) {
	return t.p.embeddingInputs(raw)
}

// TranslateResponse turns a generateContent answer into a chat.completion
// for model, created at the given Unix time.
func TranslateResponse(body []byte, model string, created int64) ([]byte, error) {
	return translateResponse(body, model, created)
}

// NewStream translates a streamGenerateContent (alt=sse) event stream into
// chat.completion.chunk events; client names the provider in errors and
// classifies read failures.
func NewStream(ctx context.Context, body io.ReadCloser, client *providers.Client, model string) providers.EventStream {
	return newStream(ctx, body, client, model)
}
