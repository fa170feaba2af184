package bedrock

import (
	"context"
	"encoding/base64"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Anthropic's Messages API on Bedrock: Claude models take the Messages
// body itself through InvokeModel and InvokeModelWithResponseStream, with
// the version and the beta flags in the body, and CountTokens counts it.

// AnthropicVersion is the anthropic_version Bedrock requires in the body
// of Claude's InvokeModel requests.
const AnthropicVersion = "bedrock-2023-05-31"

// SpeaksMessages implements providers.MessagesForwarder: Claude models
// (see isClaude) take Messages requests natively; every other model is
// served through Converse.
func (p *Bedrock) SpeaksMessages(model string) bool { return isClaude(model) }

// ForwardMessages implements providers.MessagesForwarder. "messages" goes
// to InvokeModel, or InvokeModelWithResponseStream when the body asks for
// a stream (the binary event stream is turned into Anthropic's
// server-sent events); "messages/count_tokens" goes to CountTokens. The
// body is the Messages body without model and stream, with
// anthropic_version bedrock-2023-05-31 unless it has one and the client's
// anthropic-beta values as anthropic_beta; no other client header is
// sent. Bedrock's error answers become Anthropic's error body with the
// matching status; failures to reach Bedrock are returned as errors.
func (p *Bedrock) ForwardMessages(ctx context.Context, req *providers.ForwardRequest) (*http.Response, error) {
	if req.Method != "" && req.Method != http.MethodPost {
		return nil, p.notServed(req)
	}
	model := gjson.GetBytes(req.Body, "model")
	if model.Type != gjson.String || model.Str == "" {
		return nil, &providers.Error{Err: openai.InvalidRequest("model", "model: Field required")}
	}
	body, err := invokeBody(req.Body, req.Header)
	if err != nil {
		return nil, err
	}
	switch req.Path {
	case "messages":
		if gjson.GetBytes(req.Body, "stream").Type == gjson.True {
			return p.invokeStream(ctx, model.Str, body)
		}
		return p.invokeMessages(ctx, model.Str, body)
	case "messages/count_tokens":
		return p.countTokens(ctx, model.Str, body)
	}
	return nil, p.notServed(req)
}

func (p *Bedrock) notServed(req *providers.ForwardRequest) error {
	return &providers.Error{Err: &openai.Error{Status: http.StatusNotFound, Type: openai.TypeNotFound,
		Message: "provider " + strconv.Quote(p.client.Name) + " (Bedrock) does not serve " + req.Method + " " + req.Path}}
}

// invokeBody returns the InvokeModel body of a Messages body: model and
// stream dropped (Bedrock takes the model from the path and the stream
// from the operation), anthropic_version set to AnthropicVersion unless
// present, and the anthropic-beta header's flags added to the body's
// anthropic_beta array (kept as they are when it is not an array). The
// body is not modified; only a JSON object is accepted.
func invokeBody(body []byte, h http.Header) ([]byte, error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "the request body is not a JSON object")}
	}
	out := append([]byte(nil), body...)
	var err error
	for _, key := range []string{"model", "stream"} {
		if gjson.GetBytes(out, key).Exists() {
			if out, err = sjson.DeleteBytes(out, key); err != nil {
				return nil, bodyError(err)
			}
		}
	}
	if !gjson.GetBytes(out, "anthropic_version").Exists() {
		if out, err = sjson.SetBytes(out, "anthropic_version", AnthropicVersion); err != nil {
			return nil, bodyError(err)
		}
	}
	betas := betaFlags(h)
	if len(betas) == 0 {
		return out, nil
	}
	have := gjson.GetBytes(out, "anthropic_beta")
	if have.Exists() && !have.IsArray() {
		return out, nil
	}
	merged := make([]string, 0, len(betas))
	seen := make(map[string]bool, len(betas))
	for _, v := range have.Array() {
		merged = append(merged, v.String())
		seen[v.String()] = true
	}
	for _, b := range betas {
		if !seen[b] {
			merged, seen[b] = append(merged, b), true
		}
	}
	if out, err = sjson.SetBytes(out, "anthropic_beta", merged); err != nil {
		return nil, bodyError(err)
	}
	return out, nil
}

// betaFlags returns the flags of the anthropic-beta header (each value a
// comma-separated list), in order, without blanks.
func betaFlags(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Anthropic-Beta") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func bodyError(err error) error {
	return &providers.Error{Err: openai.InvalidRequest("", "rewriting the request body: "+err.Error())}
}

// invokeMessages sends a Messages request to InvokeModel; the answer, Anthropic's
// message JSON, is relayed as it comes.
func (p *Bedrock) invokeMessages(ctx context.Context, model string, body []byte) (*http.Response, error) {
	resp, err := p.sendMessages(ctx, model, "invoke", "application/json", body, p.invokeHeader(""))
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	resp.Header = answerHeader(resp.Header, "application/json")
	return resp, nil
}

// invokeStream sends a streamed Messages request to
// InvokeModelWithResponseStream. Its first event is read before the
// answer is returned, so that an exception Bedrock sends before any chunk
// (throttling, above all) is an error answer the gateway can retry.
func (p *Bedrock) invokeStream(ctx context.Context, model string, body []byte) (*http.Response, error) {
	resp, err := p.sendMessages(ctx, model, "invoke-with-response-stream", eventStreamType, body, p.invokeHeader("application/json"))
	if err != nil || resp.StatusCode/100 != 2 {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != eventStreamType {
		resp.Body.Close()
		return nil, p.client.InvalidResponse("an InvokeModelWithResponseStream call was answered with Content-Type " +
			strconv.Quote(resp.Header.Get("Content-Type")) + ", not " + eventStreamType)
	}
	s := newMessagesStream(ctx, resp.Body, &p.client)
	if oe := s.start(); oe != nil {
		s.Close()
		return errorAnswer(oe, 0, resp.Header), nil
	}
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
		Header:        answerHeader(resp.Header, "text/event-stream"),
		Body:          s,
		ContentLength: -1,
	}, nil
}

// invokeHeader holds the headers of an InvokeModel call: the guardrail
// the provider applies, and X-Amzn-Bedrock-Accept (the media type of a
// stream's chunks) when accept is set.
func (p *Bedrock) invokeHeader(accept string) http.Header {
	h := http.Header{}
	if accept != "" {
		h.Set("X-Amzn-Bedrock-Accept", accept)
	}
	if g := p.guardrail; g != nil {
		h.Set("X-Amzn-Bedrock-Guardrailidentifier", g.GuardrailIdentifier)
		h.Set("X-Amzn-Bedrock-Guardrailversion", g.GuardrailVersion)
		if g.Trace != "" {
			h.Set("X-Amzn-Bedrock-Trace", strings.ToUpper(g.Trace))
		}
	}
	return h
}

// sendMessages posts body to the model's operation op. An error answer
// from Bedrock is returned as Anthropic's error body (see errorAnswer);
// other failures as errors.
func (p *Bedrock) sendMessages(ctx context.Context, model, op, accept string, body []byte, h http.Header) (*http.Response, error) {
	c := p.client
	answered := false
	c.ParseError = func(status int, b []byte) *openai.Error {
		answered = true
		return parseError(status, b)
	}
	resp, err := p.send(ctx, &c, model, op, accept, body, h)
	if err != nil {
		if pe, ok := err.(*providers.Error); ok && answered {
			return errorAnswer(pe.Err, pe.RetryAfter, nil), nil
		}
		return nil, err
	}
	return resp, nil
}

// answerHeader is the header of a relayed answer: its Content-Type and
// Bedrock's request id as X-Request-Id.
func answerHeader(upstream http.Header, contentType string) http.Header {
	h := http.Header{"Content-Type": {contentType}}
	if id := upstream.Get("X-Amzn-Requestid"); id != "" {
		h.Set("X-Request-Id", id)
	}
	return h
}

// countTokens asks CountTokens how many input tokens the Messages body
// holds: {"input":{"invokeModel":{"body":<the InvokeModel body, base64>}}},
// the body given a max_tokens when it has none (InvokeModel bodies need
// one; it does not change the count). Bedrock's {"inputTokens":N} becomes
// {"input_tokens":N}. CountTokens refuses cross-region inference profile
// ids that InvokeModel takes, so the model's base id (us.anthropic.claude-…
// → anthropic.claude-…) is asked first, then the id as configured.
func (p *Bedrock) countTokens(ctx context.Context, model string, body []byte) (*http.Response, error) {
	body, err := countTokensBody(body)
	if err != nil {
		return nil, err
	}
	ids := countModelIDs(model)
	var resp *http.Response
	for i, id := range ids {
		resp, err = p.sendMessages(ctx, id, "count-tokens", "application/json", body, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 || i == len(ids)-1 || !refusedModel(resp.StatusCode) {
			break
		}
		resp.Body.Close()
	}
	if resp.StatusCode/100 != 2 {
		return resp, nil
	}
	b, err := p.client.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	n := gjson.GetBytes(b, "inputTokens")
	if n.Type != gjson.Number {
		return nil, p.client.InvalidResponse("a CountTokens answer has no inputTokens")
	}
	out := strconv.AppendInt([]byte(`{"input_tokens":`), n.Int(), 10)
	out = append(out, '}')
	return messages.Answer(http.StatusOK, answerHeader(resp.Header, "application/json"), out), nil
}

// refusedModel reports whether a CountTokens error answer may be about
// the model id (400 ValidationException, 404 ResourceNotFoundException),
// so that the next id is worth trying.
func refusedModel(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusNotFound
}

// countTokensBody wraps an InvokeModel body for CountTokens, adding
// max_tokens when it has none: the thinking budget plus one when thinking
// has one (max_tokens must exceed it), else 1.
func countTokensBody(body []byte) ([]byte, error) {
	if !gjson.GetBytes(body, "max_tokens").Exists() {
		n := int64(1)
		if b := gjson.GetBytes(body, "thinking.budget_tokens"); b.Type == gjson.Number && b.Int() > 0 {
			n = b.Int() + 1
		}
		var err error
		if body, err = sjson.SetBytes(body, "max_tokens", n); err != nil {
			return nil, bodyError(err)
		}
	}
	out := make([]byte, 0, len(`{"input":{"invokeModel":{"body":""}}}`)+base64.StdEncoding.EncodedLen(len(body)))
	out = append(out, `{"input":{"invokeModel":{"body":"`...)
	out = base64.StdEncoding.AppendEncode(out, body)
	return append(out, `"}}}`...), nil
}

// countModelIDs returns the model ids to ask CountTokens, in order: the
// base model id of a cross-region inference profile (us.anthropic.claude-…,
// or an inference-profile ARN of one) and then the id as configured, or
// only the latter when it names no profile.
func countModelIDs(model string) []string {
	id := model
	if strings.HasPrefix(id, "arn:") {
		if !strings.Contains(id, ":inference-profile/") && !strings.Contains(id, ":foundation-model/") {
			return []string{model}
		}
		id = id[strings.LastIndexByte(id, '/')+1:]
	}
	i := strings.Index(id, "anthropic.")
	if i < 0 {
		return []string{model}
	}
	if i > 0 && !geoPrefix(id[:i]) {
		return []string{model}
	}
	if base := id[i:]; base != model {
		return []string{base, model}
	}
	return []string{model}
}

// geoPrefix reports whether p is an inference profile's geography prefix
// with its dot: "us.", "eu.", "apac.", "global.", "us-gov."….
func geoPrefix(p string) bool {
	if len(p) < 3 || p[len(p)-1] != '.' {
		return false
	}
	for _, r := range p[:len(p)-1] {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}
