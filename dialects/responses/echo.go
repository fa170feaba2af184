package responses

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// echo is what a Response repeats of its request, each member as compact
// JSON (nil when the request left it out, then the API's default is
// written).
type echo struct {
	instructions, maxOutput, maxToolCalls, temperature, topP, topLogprobs []byte
	previous, conversation, cacheKey, cacheRetention, safety, user        []byte
	serviceTier, truncation, metadata, tools, toolChoice                  []byte
	effort, summary, format, verbosity                                    []byte
	parallel, store                                                       bool
}

func newEcho(f *fields) echo {
	e := echo{
		instructions:   compact(f.instructions),
		maxOutput:      compact(f.maxOutput),
		maxToolCalls:   compact(f.maxToolCalls),
		temperature:    compact(f.temperature),
		topP:           compact(f.topP),
		topLogprobs:    compact(f.topLogprobs),
		previous:       compact(f.previous),
		cacheKey:       compact(f.cacheKey),
		cacheRetention: compact(f.cacheRetention),
		safety:         compact(f.safety),
		user:           compact(f.user),
		serviceTier:    compact(f.serviceTier),
		truncation:     compact(f.truncation),
		metadata:       compact(f.metadata),
		tools:          compact(f.tools),
		toolChoice:     compact(f.toolChoice),
		parallel:       f.parallel.Type != gjson.False,
		store:          f.store.Type != gjson.False,
	}
	switch c := f.conversation; {
	case c.Type == gjson.String:
		e.conversation = append(append([]byte(`{"id":`), openai.AppendString(nil, c.Str)...), '}')
	case c.IsObject():
		e.conversation = compact(c)
	}
	if r := f.reasoning; r.IsObject() {
		e.effort = compact(r.Get("effort"))
		e.summary = compact(r.Get("summary"))
		if e.summary == nil {
			e.summary = compact(r.Get("generate_summary"))
		}
	}
	if t := f.text; t.IsObject() {
		e.format = compact(t.Get("format"))
		e.verbosity = compact(t.Get("verbosity"))
	}
	return e
}

// compact returns r's JSON without insignificant whitespace (so that it
// fits on one SSE data line); nil for an absent or null value.
func compact(r gjson.Result) []byte {
	if !r.Exists() || r.Type == gjson.Null {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(r.Raw)); err != nil {
		return nil
	}
	return buf.Bytes()
}

// state is the part of a Response that changes while it is produced.
type state struct {
	id          string
	createdAt   int64
	completedAt int64 // 0: null
	status      string
	model       string
	serviceTier string
	err         *openai.Error // response.error, for status "failed"
	incomplete  string        // incomplete_details.reason
	output      []byte        // the output items, comma-separated
	usage       *Usage
}

// appendResponse appends the Response object for st and e, members in the
// order the Responses API writes them.
func appendResponse(b []byte, e *echo, st *state) []byte {
	b = append(b, `{"id":`...)
	b = openai.AppendString(b, st.id)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, st.createdAt, 10)
	b = append(b, `,"status":`...)
	b = openai.AppendString(b, st.status)
	b = append(b, `,"background":false,"completed_at":`...)
	b = appendTime(b, st.completedAt)
	if e.conversation != nil {
		b = append(b, `,"conversation":`...)
		b = append(b, e.conversation...)
	}
	b = append(b, `,"error":`...)
	if st.err != nil {
		b = append(b, `{"code":`...)
		b = openai.AppendString(b, errorCode(st.err))
		b = append(b, `,"message":`...)
		b = openai.AppendString(b, st.err.Message)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if st.incomplete != "" {
		b = append(b, `{"reason":`...)
		b = openai.AppendString(b, st.incomplete)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = appendRaw(b, `,"instructions":`, e.instructions, "null")
	b = appendRaw(b, `,"max_output_tokens":`, e.maxOutput, "null")
	b = appendRaw(b, `,"max_tool_calls":`, e.maxToolCalls, "null")
	b = append(b, `,"model":`...)
	b = openai.AppendString(b, st.model)
	b = append(b, `,"output":[`...)
	b = append(b, st.output...)
	b = append(b, `],"parallel_tool_calls":`...)
	b = strconv.AppendBool(b, e.parallel)
	b = appendRaw(b, `,"previous_response_id":`, e.previous, "null")
	b = appendRaw(b, `,"prompt_cache_key":`, e.cacheKey, "null")
	b = appendRaw(b, `,"prompt_cache_retention":`, e.cacheRetention, "null")
	b = appendRaw(b, `,"reasoning":{"effort":`, e.effort, "null")
	b = appendRaw(b, `,"summary":`, e.summary, "null")
	b = appendRaw(b, `},"safety_identifier":`, e.safety, "null")
	b = append(b, `,"service_tier":`...)
	switch {
	case st.serviceTier != "":
		b = openai.AppendString(b, st.serviceTier)
	case e.serviceTier != nil:
		b = append(b, e.serviceTier...)
	default:
		b = append(b, `"default"`...)
	}
	b = append(b, `,"store":`...)
	b = strconv.AppendBool(b, e.store)
	b = appendRaw(b, `,"temperature":`, e.temperature, "null")
	b = appendRaw(b, `,"text":{"format":`, e.format, `{"type":"text"}`)
	if e.verbosity != nil {
		b = appendRaw(b, `,"verbosity":`, e.verbosity, "null")
	}
	b = appendRaw(b, `},"tool_choice":`, e.toolChoice, `"auto"`)
	b = appendRaw(b, `,"tools":`, e.tools, "[]")
	b = appendRaw(b, `,"top_logprobs":`, e.topLogprobs, "0")
	b = appendRaw(b, `,"top_p":`, e.topP, "null")
	b = appendRaw(b, `,"truncation":`, e.truncation, `"disabled"`)
	b = append(b, `,"usage":`...)
	if st.usage != nil {
		b = st.usage.appendJSON(b)
	} else {
		b = append(b, "null"...)
	}
	b = appendRaw(b, `,"user":`, e.user, "null")
	b = appendRaw(b, `,"metadata":`, e.metadata, "{}")
	return append(b, '}')
}

func appendRaw(b []byte, name string, v []byte, def string) []byte {
	b = append(b, name...)
	if v == nil {
		return append(b, def...)
	}
	return append(b, v...)
}

func appendTime(b []byte, t int64) []byte {
	if t == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, t, 10)
}

// errorCode is the Responses error code for e: its own code, else
// "rate_limit_exceeded" for a rate limit and "server_error" for the rest.
func errorCode(e *openai.Error) string {
	switch {
	case e.Code != "":
		return e.Code
	case e.Type == openai.TypeRateLimit:
		return "rate_limit_exceeded"
	default:
		return "server_error"
	}
}
