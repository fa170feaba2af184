package responses

import (
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// typeError is OpenAI's error for a member of the wrong JSON type.
func typeError(param, want string, got gjson.Result) *openai.Error {
	return openai.InvalidRequest(param, "Invalid type for '"+param+"': expected "+want+", but got "+kind(got)+" instead.")
}

// kind names a JSON value's type the way OpenAI's errors do.
func kind(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if r.IsArray() {
		return "an array"
	}
	return "an object"
}

// unsupported is the 400 for a value the hub cannot carry.
func unsupported(param, message string) *openai.Error {
	return openai.InvalidRequest(param, message)
}

func boolean(r gjson.Result, param string, def bool) (bool, *openai.Error) {
	switch r.Type {
	case gjson.True:
		return true, nil
	case gjson.False:
		return false, nil
	}
	if r.Exists() {
		return def, typeError(param, "a boolean", r)
	}
	return def, nil
}

// number returns a number member as its JSON text, nil when absent.
func number(r gjson.Result, param string) (json.RawMessage, *openai.Error) {
	if !r.Exists() {
		return nil, nil
	}
	if r.Type != gjson.Number {
		return nil, typeError(param, "a number", r)
	}
	return json.RawMessage(r.Raw), nil
}

func str(r gjson.Result, param string) (string, *openai.Error) {
	if !r.Exists() {
		return "", nil
	}
	if r.Type != gjson.String {
		return "", typeError(param, "a string", r)
	}
	return r.Str, nil
}

// includes checks include (an array of strings) and reports whether it asks
// for output logprobs. Every other value is accepted: reasoning items always
// carry what the next turn needs in encrypted_content, and the outputs of
// built-in tools never occur.
func includes(r gjson.Result) (logprobs bool, err *openai.Error) {
	if !r.Exists() {
		return false, nil
	}
	if !r.IsArray() {
		return false, typeError("include", "an array", r)
	}
	i := 0
	r.ForEach(func(_, v gjson.Result) bool {
		if v.Type != gjson.String {
			err = typeError("include["+itoa(i)+"]", "a string", v)
			return false
		}
		if v.Str == "message.output_text.logprobs" {
			logprobs = true
		}
		i++
		return true
	})
	return logprobs, err
}

// effort maps reasoning.effort to the hub's reasoning_effort: "none" is
// left out (no reasoning), "xhigh" and "max" become "high", the hub's
// highest.
func effort(r gjson.Result) (string, *openai.Error) {
	if !r.Exists() {
		return "", nil
	}
	if !r.IsObject() {
		return "", typeError("reasoning", "an object", r)
	}
	var out string
	var err *openai.Error
	r.ForEach(func(k, v gjson.Result) bool {
		if v.Type == gjson.Null {
			return true
		}
		switch k.Str {
		case "effort":
			if v.Type != gjson.String {
				err = typeError("reasoning.effort", "a string", v)
				return false
			}
			switch v.Str {
			case "none":
			case "minimal", "low", "medium", "high":
				out = v.Str
			case "xhigh", "max":
				out = "high"
			default:
				err = openai.InvalidRequest("reasoning.effort", "Invalid value for 'reasoning.effort': "+quote(v.Str)+". Supported values are: 'none', 'minimal', 'low', 'medium', 'high', 'xhigh' and 'max'.")
				return false
			}
		case "summary", "generate_summary", "context", "mode":
			if v.Type != gjson.String {
				err = typeError("reasoning."+k.Str, "a string", v)
				return false
			}
		}
		return true
	})
	return out, err
}

// cacheTTL reads prompt_cache_options.ttl, the default lifetime of the
// request's cache breakpoints ("30m" or "12h").
func cacheTTL(r gjson.Result) (string, *openai.Error) {
	if !r.Exists() {
		return "", nil
	}
	if !r.IsObject() {
		return "", typeError("prompt_cache_options", "an object", r)
	}
	return str(r.Get("ttl"), "prompt_cache_options.ttl")
}

func itoa(i int) string { return strconv.Itoa(i) }

func quote(s string) string {
	return "'" + s + "'"
}
