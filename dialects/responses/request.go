package responses

import (
	"bytes"
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// Request is a Responses request translated to the hub, with what the
// answer must echo.
type Request struct {
	// Chat is the hub chat completion request: instructions as a system
	// message, then the history given to ToChat, then the input.
	Chat []byte
	// Messages is the JSON array of the hub messages the input adds to the
	// conversation (neither history nor instructions). With the answer's
	// message it is what a stored conversation grows by.
	Messages []byte
	// Model is the request's model.
	Model string
	// Stream is set when the client asked for a stream; Chat then asks for
	// one with stream_options.include_usage.
	Stream bool
	// Store is the request's store (default true): whether the client
	// expects the conversation to be kept for previous_response_id.
	Store bool
	// ResponseID is the id of the Response to build, a new one from
	// NewResponseID; the gateway may set another before translating the
	// answer.
	ResponseID string
	// CreatedAt is the Response's created_at (Unix seconds): when ToChat
	// ran.
	CreatedAt int64

	echo echo
}

// fields are the top-level members of a Responses request.
type fields struct {
	model, input, instructions, tools, toolChoice, parallel    gjson.Result
	text, reasoning, maxOutput, maxToolCalls, temperature      gjson.Result
	topP, topLogprobs, user, safety, cacheKey, cacheRetention  gjson.Result
	cacheOptions, metadata, store, include, stream, background gjson.Result
	previous, conversation, prompt, truncation, serviceTier    gjson.Result
	moderation                                                 gjson.Result
}

// ToChat translates a Responses request body into a hub chat completion
// request. history, when not empty, is a JSON array of hub messages (the
// conversation that previous_response_id or conversation names, kept by the
// gateway); it is placed after the instructions and before the input.
//
// What the hub cannot express and would change what the answer means is a
// 400 *openai.Error naming the parameter: background mode, stored prompts,
// moderation, built-in, MCP, custom and namespace tools and their calls,
// item references, images given by file_id, files given by URL, cache
// prewarming. Hints the hub has no use for are dropped (see the README).
func ToChat(body, history []byte) (*Request, *openai.Error) {
	if !gjson.ValidBytes(body) || !utf8.Valid(body) {
		return nil, openai.InvalidRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, openai.InvalidRequest("", "The request body must be a JSON object.")
	}
	var f fields
	root.ForEach(func(k, v gjson.Result) bool {
		if v.Type == gjson.Null {
			return true // null is the same as absent for every member
		}
		switch k.Str {
		case "model":
			f.model = v
		case "input":
			f.input = v
		case "instructions":
			f.instructions = v
		case "tools":
			f.tools = v
		case "tool_choice":
			f.toolChoice = v
		case "parallel_tool_calls":
			f.parallel = v
		case "text":
			f.text = v
		case "reasoning":
			f.reasoning = v
		case "max_output_tokens":
			f.maxOutput = v
		case "max_tool_calls":
			f.maxToolCalls = v
		case "temperature":
			f.temperature = v
		case "top_p":
			f.topP = v
		case "top_logprobs":
			f.topLogprobs = v
		case "user":
			f.user = v
		case "safety_identifier":
			f.safety = v
		case "prompt_cache_key":
			f.cacheKey = v
		case "prompt_cache_retention":
			f.cacheRetention = v
		case "prompt_cache_options":
			f.cacheOptions = v
		case "metadata":
			f.metadata = v
		case "store":
			f.store = v
		case "include":
			f.include = v
		case "stream":
			f.stream = v
		case "background":
			f.background = v
		case "previous_response_id":
			f.previous = v
		case "conversation":
			f.conversation = v
		case "prompt":
			f.prompt = v
		case "truncation":
			f.truncation = v
		case "service_tier":
			f.serviceTier = v
		case "moderation":
			f.moderation = v
		}
		return true
	})
	return translate(&f, history)
}

func translate(f *fields, history []byte) (*Request, *openai.Error) {
	req := &Request{Store: true, ResponseID: NewResponseID(), CreatedAt: now().Unix()}
	var hub hubRequest
	var err *openai.Error

	if f.model.Type != gjson.String || f.model.Str == "" {
		return nil, openai.InvalidRequest("model", "Missing required parameter: 'model'.")
	}
	req.Model, hub.Model = f.model.Str, f.model.Str
	if e := refuse(f); e != nil {
		return nil, e
	}
	if req.Stream, err = boolean(f.stream, "stream", false); err != nil {
		return nil, err
	}
	if req.Stream {
		hub.Stream = true
		hub.StreamOptions = &hubStreamOpts{IncludeUsage: true}
	}
	if req.Store, err = boolean(f.store, "store", true); err != nil {
		return nil, err
	}
	if _, err = boolean(f.background, "background", false); err != nil {
		return nil, err
	}
	if hub.MaxCompletionTokens, err = number(f.maxOutput, "max_output_tokens"); err != nil {
		return nil, err
	}
	if hub.Temperature, err = number(f.temperature, "temperature"); err != nil {
		return nil, err
	}
	if hub.TopP, err = number(f.topP, "top_p"); err != nil {
		return nil, err
	}
	if _, err = number(f.maxToolCalls, "max_tool_calls"); err != nil {
		return nil, err
	}
	topLogprobs, err := number(f.topLogprobs, "top_logprobs")
	if err != nil {
		return nil, err
	}
	if f.parallel.Exists() {
		p, err := boolean(f.parallel, "parallel_tool_calls", true)
		if err != nil {
			return nil, err
		}
		hub.ParallelToolCalls = &p
	}
	if hub.User, err = str(f.user, "user"); err != nil {
		return nil, err
	}
	if hub.SafetyIdentifier, err = str(f.safety, "safety_identifier"); err != nil {
		return nil, err
	}
	if hub.PromptCacheKey, err = str(f.cacheKey, "prompt_cache_key"); err != nil {
		return nil, err
	}
	if hub.ServiceTier, err = str(f.serviceTier, "service_tier"); err != nil {
		return nil, err
	}
	if _, err = str(f.truncation, "truncation"); err != nil {
		return nil, err
	}
	if f.metadata.Exists() && !f.metadata.IsObject() {
		return nil, typeError("metadata", "an object", f.metadata)
	}
	logprobs, err := includes(f.include)
	if err != nil {
		return nil, err
	}
	if logprobs {
		hub.Logprobs, hub.TopLogprobs = true, topLogprobs
	}
	if hub.ReasoningEffort, err = effort(f.reasoning); err != nil {
		return nil, err
	}
	if hub.Tools, err = tools(f.tools); err != nil {
		return nil, err
	}
	if hub.ToolChoice, err = toolChoice(f.toolChoice); err != nil {
		return nil, err
	}
	if hub.ResponseFormat, hub.Verbosity, err = textFormat(f.text); err != nil {
		return nil, err
	}
	ttl, err := cacheTTL(f.cacheOptions)
	if err != nil {
		return nil, err
	}

	var sys *hubMessage
	switch f.instructions.Type {
	case gjson.String:
		sys = &hubMessage{Role: openai.RoleSystem, Content: jsonString(f.instructions.Str)}
	default:
		if f.instructions.Exists() {
			return nil, typeError("instructions", "a string", f.instructions)
		}
	}
	msgs, err := convertInput(f.input, ttl)
	if err != nil {
		return nil, err
	}
	hist, err := historyItems(history)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 && len(hist) == 0 {
		return nil, openai.InvalidRequest("input", "Missing required parameter: 'input'.")
	}
	if msgs == nil {
		msgs = []any{}
	}
	if req.Messages, err = marshal(msgs); err != nil {
		return nil, err
	}
	// The hub's messages: the instructions, the stored conversation and the
	// input, spliced from their JSON.
	all := make([]byte, 0, len(req.Messages)+len(history)+64)
	all = append(all, '[')
	if sys != nil {
		all = append(append(append(all, `{"role":"system","content":`...), sys.Content...), '}')
	}
	for _, h := range hist {
		if len(all) > 1 {
			all = append(all, ',')
		}
		all = append(all, h...)
	}
	if inner := bytes.TrimSpace(req.Messages[1 : len(req.Messages)-1]); len(inner) > 0 {
		if len(all) > 1 {
			all = append(all, ',')
		}
		all = append(all, inner...)
	}
	hub.Messages = append(all, ']')
	if req.Chat, err = hub.appendJSON(make([]byte, 0, len(hub.Messages)+256)); err != nil {
		return nil, err
	}
	req.echo = newEcho(f)
	return req, nil
}

// refuse rejects the members whose meaning the hub cannot carry.
func refuse(f *fields) *openai.Error {
	switch {
	case f.background.Type == gjson.True:
		return openai.InvalidRequest("background", "Background mode is not supported for this model: its provider answers during the request. Set 'background' to false.")
	case f.prompt.Exists():
		return openai.InvalidRequest("prompt", "Stored prompt templates are not supported for this model. Send the prompt in 'instructions' and 'input'.")
	case f.moderation.Exists():
		return openai.InvalidRequest("moderation", "Moderated responses are not supported for this model.")
	case f.cacheOptions.IsObject() && f.cacheOptions.Get("prewarm").Type == gjson.True:
		return openai.InvalidRequest("prompt_cache_options.prewarm", "Prompt cache prewarming is not supported for this model.")
	}
	return nil
}

// historyItems splits a JSON array of hub messages into its elements.
func historyItems(history []byte) ([]json.RawMessage, *openai.Error) {
	history = bytes.TrimSpace(history)
	if len(history) == 0 {
		return nil, nil
	}
	h := gjson.ParseBytes(history)
	if !h.IsArray() || !gjson.ValidBytes(history) {
		return nil, &openai.Error{Status: http.StatusInternalServerError, Type: openai.TypeServer, Message: "The stored conversation could not be read."}
	}
	var out []json.RawMessage
	h.ForEach(func(_, m gjson.Result) bool {
		if m.IsObject() {
			out = append(out, json.RawMessage(m.Raw))
		}
		return true
	})
	return out, nil
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) json.RawMessage {
	b, _ := marshal(s)
	return b
}

// marshal encodes v as JSON without escaping <, > and &.
func marshal(v any) ([]byte, *openai.Error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &openai.Error{Status: http.StatusInternalServerError, Type: openai.TypeServer, Message: "The request could not be translated."}
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
