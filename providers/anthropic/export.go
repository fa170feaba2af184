package anthropic

import (
	"context"
	"encoding/json"
	"io"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Translator is the Messages dialect of this provider type without its
// transport, for provider types that serve Claude through another endpoint
// (Vertex AI): it turns OpenAI chat completion requests into Messages
// request bodies exactly as the anthropic type does.
type Translator struct {
	p Anthropic
}

// NewTranslator returns a Translator whose requests that set neither
// max_tokens nor max_completion_tokens get maxTokens (DefaultMaxTokens when
// not positive).
func NewTranslator(maxTokens int) *Translator {
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	return &Translator{p: Anthropic{maxTokens: maxTokens}}
}

// SetName names the provider in the errors of rejected parameters.
func (t *Translator) SetName(name string) { t.p.client.Name = name }

// RequestBody translates an OpenAI chat completion request into the JSON
// body of a Messages request for model; stream asks for a streamed answer.
// With version set (Vertex AI's "vertex-2023-10-16") the body carries it as
// anthropic_version and leaves the model out, for endpoints that take the
// model from the URL. What Anthropic cannot express is a 400
// *providers.Error naming the parameter.
func (t *Translator) RequestBody(in *openai.ChatCompletionRequest, model string, stream bool, version string) ([]byte, error) {
	msg, err := t.p.translateRequest(in, model, stream)
	if err != nil {
		return nil, err
	}
	if version != "" {
		msg.Version, msg.Model = version, ""
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "encoding the Anthropic request: "+err.Error())}
	}
	return body, nil
}

// TranslateResponse turns a Messages answer into a chat.completion for
// model, created at the given Unix time.
func TranslateResponse(body []byte, model string, created int64) ([]byte, error) {
	return translateResponse(body, model, created)
}

// NewStream translates a Messages event stream into chat.completion.chunk
// events; client names the provider in errors and classifies read failures.
func NewStream(ctx context.Context, body io.ReadCloser, client *providers.Client, model string) providers.EventStream {
	return newStream(ctx, body, client, model)
}

// ParseError reads an Anthropic error body into OpenAI's shape, keeping
// Anthropic's message; a body of another shape is read as OpenAI's.
func ParseError(status int, body []byte) *openai.Error { return parseError(status, body) }
