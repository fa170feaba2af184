package messages

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/polygate/polygate/openai"
)

// Info is what the answer builders need to know about a translated request.
type Info struct {
	// Model is the model the client asked for; answers carry it.
	Model string
	// Stream reports whether the client asked for a stream.
	Stream bool
	// Thinking reports whether the client enabled thinking (type "enabled"
	// or "adaptive"): only then do answers carry thinking blocks.
	Thinking bool
	// OmitThinking reports thinking.display "omitted": thinking blocks
	// then carry their signature with empty text.
	OmitThinking bool
	// StopSequences are the request's stop_sequences, to name the one that
	// stopped the answer when the provider says which.
	StopSequences []string
	// Dropped names the request fields that were ignored because the hub
	// has no use for them (top_k, context_management, unknown fields…), in
	// the order of the field list of the request, for logging.
	Dropped []string
}

// knownFields are the top-level request fields the translation reads.
var knownFields = map[string]bool{
	"model": true, "messages": true, "system": true, "max_tokens": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true,
	"top_k": true, "thinking": true, "tools": true, "tool_choice": true,
	"metadata": true, "service_tier": true, "container": true, "mcp_servers": true,
	"output_config": true, "output_format": true, "cache_control": true,
}

// TranslateRequest turns a Messages request body into a hub chat request
// body (its "model" is the client's model, for the gateway to route and
// replace). The error, when not nil, is an *openai.Error with status 400
// whose message starts with the offending parameter (as in "max_tokens:
// Field required"), ready for [ErrorResponse]. Streamed requests always
// ask for the usage chunk (stream_options.include_usage).
func TranslateRequest(body []byte) ([]byte, *Info, error) {
	top, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	t := &translator{top: top, info: &Info{}}
	out, err := t.translate()
	if err != nil {
		return nil, nil, err
	}
	b, err := marshal(out)
	if err != nil {
		return nil, nil, invalid("", "the request cannot be translated: "+err.Error())
	}
	return b, t.info, nil
}

// decodeObject decodes a request body into its top-level members.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, invalid("", "the request body must be a JSON object")
	}
	return top, nil
}

type translator struct {
	top  map[string]json.RawMessage
	info *Info
	out  hubRequest
}

func (t *translator) translate() (*hubRequest, error) {
	out := &t.out
	if err := t.scalars(); err != nil {
		return nil, err
	}
	if err := t.refusals(); err != nil {
		return nil, err
	}
	if err := t.thinking(); err != nil {
		return nil, err
	}
	if err := t.system(); err != nil {
		return nil, err
	}
	if err := t.messages(); err != nil {
		return nil, err
	}
	if err := t.tools(); err != nil {
		return nil, err
	}
	if err := t.outputFormat(); err != nil {
		return nil, err
	}
	if err := t.autoCache(); err != nil {
		return nil, err
	}
	var unknown []string
	for k := range t.top {
		if !knownFields[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	t.info.Dropped = append(t.info.Dropped, unknown...)
	return out, nil
}

// scalars reads model, max_tokens, sampling, stop, stream, metadata and
// service_tier.
func (t *translator) scalars() error {
	out := &t.out
	if err := t.str("model", &out.Model, true); err != nil {
		return err
	}
	if out.Model == "" {
		return invalid("model", "model: Field required")
	}
	t.info.Model = out.Model
	raw, ok := t.get("max_tokens")
	if !ok {
		return invalid("max_tokens", "max_tokens: Field required")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return invalid("max_tokens", "max_tokens: Input should be a valid integer")
	}
	if n < 1 {
		return invalid("max_tokens", "max_tokens: must be at least 1 (max_tokens 0, which only warms Anthropic's prompt cache, has no equivalent at this model's provider)")
	}
	out.MaxCompletionTokens = n
	if out.Temperature, err = t.number("temperature"); err != nil {
		return err
	}
	if out.TopP, err = t.number("top_p"); err != nil {
		return err
	}
	if _, ok := t.get("top_k"); ok {
		t.info.Dropped = append(t.info.Dropped, "top_k")
	}
	if raw, ok := t.get("stop_sequences"); ok {
		if err := json.Unmarshal(raw, &out.Stop); err != nil {
			return invalid("stop_sequences", "stop_sequences: Input should be a valid list of strings")
		}
		t.info.StopSequences = out.Stop
	}
	if raw, ok := t.get("stream"); ok {
		if err := json.Unmarshal(raw, &out.Stream); err != nil {
			return invalid("stream", "stream: Input should be a valid boolean")
		}
		if out.Stream {
			out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
		}
		t.info.Stream = out.Stream
	}
	if raw, ok := t.get("metadata"); ok {
		var md map[string]json.RawMessage
		if err := json.Unmarshal(raw, &md); err != nil {
			return invalid("metadata", "metadata: Input should be a valid object")
		}
		if u, ok := md["user_id"]; ok && !isNull(u) {
			if err := json.Unmarshal(u, &out.User); err != nil {
				return invalid("metadata.user_id", "metadata.user_id: Input should be a valid string")
			}
		}
	}
	var tier string
	if err := t.str("service_tier", &tier, false); err != nil {
		return err
	}
	switch tier {
	case "":
	case "auto":
		out.ServiceTier = "auto"
	case "standard_only":
		out.ServiceTier = "default"
	default:
		return invalid("service_tier", "service_tier: Input should be 'auto' or 'standard_only'")
	}
	return nil
}

// refusals rejects the fields that change what the answer means and that
// the hub cannot carry: a code-execution container and MCP servers.
func (t *translator) refusals() error {
	if raw, ok := t.get("container"); ok && !isNull(raw) {
		return invalid("container", "container: containers belong to Anthropic's code execution and skills, which this model's provider does not run")
	}
	if raw, ok := t.get("mcp_servers"); ok && !isNull(raw) && !isEmptyArray(raw) {
		return invalid("mcp_servers", "mcp_servers: the MCP connector runs at Anthropic; this model's provider cannot call MCP servers (connect them as client tools instead)")
	}
	return nil
}

// get returns a member that is present and not null.
func (t *translator) get(name string) (json.RawMessage, bool) {
	raw, ok := t.top[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func (t *translator) str(name string, dst *string, required bool) error {
	raw, ok := t.get(name)
	if !ok {
		if required {
			return invalid(name, name+": Field required")
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid(name, name+": Input should be a valid string")
	}
	return nil
}

func (t *translator) number(name string) (*float64, error) {
	raw, ok := t.get(name)
	if !ok {
		return nil, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, invalid(name, name+": Input should be a valid number")
	}
	return &f, nil
}

// invalid returns the 400 for param; message names it.
func invalid(param, message string) *openai.Error {
	return openai.InvalidRequest(param, message)
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func isEmptyArray(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '[' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}

// path joins a parameter path: path("messages", 2, "content", 0) is
// "messages[2].content[0]".
func path(parts ...any) string {
	b := make([]byte, 0, 32)
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(v), 10)
			b = append(b, ']')
		case string:
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, v...)
		}
	}
	return string(b)
}
