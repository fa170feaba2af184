package vertex

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Anthropic's Messages API on Vertex AI: Claude models take the Messages
// body itself through rawPredict and streamRawPredict, whose answers are
// Anthropic's (JSON, and server-sent events when streamed), and the
// count-tokens model counts it.

// SpeaksMessages implements providers.MessagesForwarder: Claude models
// (ids starting with "claude") take Messages requests natively; Gemini
// models and endpoints/… models are served through the chat translation.
func (p *Vertex) SpeaksMessages(model string) bool { return isClaude(model) }

// ForwardMessages implements providers.MessagesForwarder. "messages" goes
// to …/publishers/anthropic/models/{model}:rawPredict, or
// :streamRawPredict when the body asks for a stream, with the body
// without model (Vertex AI takes it from the URL);
// "messages/count_tokens" goes to …/models/count-tokens:rawPredict with
// the model kept in the body. Both bodies get anthropic_version
// vertex-2023-10-16 unless they have one; of the client's headers only
// anthropic-beta is sent. Answers are relayed as they come (the stream is
// already Anthropic's). Error answers in Anthropic's shape (from Claude
// itself) are relayed too; Google's become Anthropic's, with the HTTP
// status of Google's status (RESOURCE_EXHAUSTED 429 rate_limit_error,
// UNAVAILABLE 529 overloaded_error…) and RetryInfo as Retry-After.
// Failures to reach Vertex AI or to get a token are returned as errors.
func (p *Vertex) ForwardMessages(ctx context.Context, req *providers.ForwardRequest) (*http.Response, error) {
	if req.Method != "" && req.Method != http.MethodPost {
		return nil, p.notServed(req)
	}
	model := gjson.GetBytes(req.Body, "model")
	if model.Type != gjson.String || model.Str == "" {
		return nil, &providers.Error{Err: openai.InvalidRequest("model", "model: Field required")}
	}
	if !isClaude(model.Str) {
		return nil, &providers.Error{Err: openai.InvalidRequest("model", "provider "+strconv.Quote(p.client.Name)+
			" (Vertex AI) takes Messages requests for Claude models only, not "+strconv.Quote(model.Str))}
	}
	var target string
	drop := ""
	stream := false
	switch req.Path {
	case "messages":
		stream = gjson.GetBytes(req.Body, "stream").Type == gjson.True
		method := "rawPredict"
		if stream {
			method = "streamRawPredict"
		}
		target, drop = p.modelURL("anthropic", model.Str, method), "model"
	case "messages/count_tokens":
		target = p.root + "/publishers/anthropic/models/count-tokens:rawPredict"
	default:
		return nil, p.notServed(req)
	}
	body, err := claudeBody(req.Body, drop)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, v := range req.Header.Values("Anthropic-Beta") {
		h.Add("Anthropic-Beta", v)
	}
	var answered rawError
	resp, err := p.send(ctx, target, body, h, &answered)
	if err != nil {
		if pe, ok := err.(*providers.Error); ok && answered.status != 0 {
			return errorAnswer(answered, pe.RetryAfter), nil
		}
		return nil, err
	}
	if stream {
		if err := p.client.CheckEventStream(resp); err != nil {
			return nil, err
		}
	}
	ct := resp.Header.Get("Content-Type")
	resp.Header = http.Header{}
	if ct != "" {
		resp.Header.Set("Content-Type", ct)
	}
	return resp, nil
}

func (p *Vertex) notServed(req *providers.ForwardRequest) error {
	return &providers.Error{Err: &openai.Error{Status: http.StatusNotFound, Type: openai.TypeNotFound,
		Message: "provider " + strconv.Quote(p.client.Name) + " (Vertex AI) does not serve " + req.Method + " " + req.Path}}
}

// claudeBody returns the body Vertex AI takes for Claude: the Messages
// body without the member drop (if not ""), with anthropic_version set to
// AnthropicVersion unless present. The body is not modified; only a JSON
// object is accepted.
func claudeBody(body []byte, drop string) ([]byte, error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "the request body is not a JSON object")}
	}
	out := append([]byte(nil), body...)
	var err error
	if drop != "" && gjson.GetBytes(out, drop).Exists() {
		if out, err = sjson.DeleteBytes(out, drop); err != nil {
			return nil, &providers.Error{Err: openai.InvalidRequest("", "rewriting the request body: "+err.Error())}
		}
	}
	if !gjson.GetBytes(out, "anthropic_version").Exists() {
		if out, err = sjson.SetBytes(out, "anthropic_version", AnthropicVersion); err != nil {
			return nil, &providers.Error{Err: openai.InvalidRequest("", "rewriting the request body: "+err.Error())}
		}
	}
	return out, nil
}

// errorAnswer is the Anthropic error answer for an error Vertex AI sent:
// an Anthropic error body (Claude's own) as it came, with its status;
// anything else as Anthropic's body (messages.ErrorResponse) with the
// status Google's error status maps to (see parseError) and Google's
// message. A known delay (Retry-After, or Google's RetryInfo) is sent as
// Retry-After in whole seconds.
func errorAnswer(e rawError, retryAfter time.Duration) *http.Response {
	status, body := e.status, e.body
	if r := gjson.ParseBytes(body); !gjson.ValidBytes(body) || r.Get("type").Str != "error" || r.Get("error.type").Type != gjson.String {
		oe, _ := parseError(e.status, e.body)
		status, body = messages.ErrorResponse(&openai.Error{Status: oe.Status, Message: oe.Message})
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(retryAfter.Seconds())), 10))
	}
	return messages.Answer(status, h, body)
}

// Interface guards
var _ providers.MessagesForwarder = (*Vertex)(nil)
