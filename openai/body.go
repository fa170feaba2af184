package openai

import (
	"bytes"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// WantsStreamUsage reports whether a chat request body asks for the usage
// chunk at the end of a stream (stream_options.include_usage).
func WantsStreamUsage(body []byte) bool {
	return gjson.GetBytes(body, "stream_options.include_usage").Bool()
}

// WithStreamUsage returns body with stream_options.include_usage set to true,
// keeping every other field. body must be a JSON object; when the flag is
// already set body itself is returned.
func WithStreamUsage(body []byte) []byte {
	opts := gjson.GetBytes(body, "stream_options")
	if opts.Exists() {
		if opts.Get("include_usage").Bool() {
			return body
		}
		if opts.IsObject() {
			if out, err := sjson.SetBytes(body, "stream_options.include_usage", true); err == nil {
				return out
			}
			return body
		}
		if out, err := sjson.SetRawBytes(body, "stream_options", []byte(`{"include_usage":true}`)); err == nil {
			return out
		}
		return body
	}
	end := bytes.LastIndexByte(body, '}')
	if end < 0 {
		return body
	}
	const field = `"stream_options":{"include_usage":true}`
	out := make([]byte, 0, len(body)+len(field)+1)
	out = append(out, body[:end]...)
	if len(bytes.TrimSpace(body[bytes.IndexByte(body, '{')+1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, field...)
	return append(out, body[end:]...)
}

// SetModel returns body with its "model" value, read from body as res,
// replaced by the JSON literal quoted. Every other byte of body is kept, so
// unknown fields pass through unchanged.
func SetModel(body []byte, res gjson.Result, quoted []byte) []byte {
	if res.Index <= 0 || res.Index+len(res.Raw) > len(body) {
		out, err := sjson.SetRawBytes(body, "model", quoted)
		if err != nil {
			return body
		}
		return out
	}
	out := make([]byte, 0, len(body)-len(res.Raw)+len(quoted))
	out = append(out, body[:res.Index]...)
	out = append(out, quoted...)
	return append(out, body[res.Index+len(res.Raw):]...)
}

// WithStreamOff returns body with "stream" false, for internal calls that
// need a whole answer; body itself when it does not ask for a stream.
func WithStreamOff(body []byte) []byte {
	if !gjson.GetBytes(body, "stream").Bool() {
		return body
	}
	out, err := sjson.SetBytes(body, "stream", false)
	if err != nil {
		return body
	}
	return out
}
