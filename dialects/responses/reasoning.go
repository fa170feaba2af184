package responses

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// blobPrefix starts the encrypted_content this package writes; anything
// else (OpenAI's own encrypted reasoning) is not ours and is not read.
const blobPrefix = "polygate.v1."

// callExtra is the provider data of one tool call (its extra_content, e.g.
// {"google":{"thought_signature":"…"}}), keyed by the call's call_id.
type callExtra struct {
	CallID string          `json:"call_id"`
	Extra  json.RawMessage `json:"extra_content"`
}

// reasoningBlob is what a reasoning item's encrypted_content carries from one
// turn to the next: the signed thinking blocks (thinking_blocks, exactly as
// the provider returned them) and the extra_content of tool calls, which
// the Responses API has no field for. It is base64 JSON behind blobPrefix,
// opaque to clients but not encrypted: the thinking text is also in the
// summary, and redacted blocks are already encrypted by their provider.
type reasoningBlob struct {
	ThinkingBlocks []json.RawMessage `json:"thinking_blocks,omitempty"`
	Extras         []callExtra       `json:"tool_calls,omitempty"`
}

func (r *reasoningBlob) empty() bool { return len(r.ThinkingBlocks) == 0 && len(r.Extras) == 0 }

// encode returns the encrypted_content for r, "" when r is empty.
func (r *reasoningBlob) encode() string {
	if r.empty() {
		return ""
	}
	b, err := json.Marshal(r)
	if err != nil { // raw members that are not JSON: never produced
		return ""
	}
	return blobPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeBlob reads an encrypted_content written by encode. ok is false for
// anything else, including OpenAI's encrypted reasoning.
func decodeBlob(s string) (r reasoningBlob, ok bool) {
	rest, found := strings.CutPrefix(s, blobPrefix)
	if !found {
		return r, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return reasoningBlob{}, false
	}
	out := r.ThinkingBlocks[:0]
	for _, tb := range r.ThinkingBlocks {
		if len(tb) > 0 && tb[0] == '{' {
			out = append(out, tb)
		}
	}
	r.ThinkingBlocks = out
	extras := r.Extras[:0]
	for _, e := range r.Extras {
		if e.CallID != "" && len(e.Extra) > 0 && e.Extra[0] == '{' {
			extras = append(extras, e)
		}
	}
	r.Extras = extras
	return r, true
}
