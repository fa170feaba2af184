package mockllm

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// This file holds the mock's other dialects: OpenAI's Responses API and
// Amazon Bedrock's Converse API (its stream in AWS's binary event-stream
// framing). Like the rest of the mock, every answer is built once.

// ResponseJSON is the non-streamed Responses API answer.
const ResponseJSON = `{"id":"resp_BenchMock0000000000000000001","object":"response","created_at":1741569952,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":64,"model":"gpt-4o-mini-2024-07-18","output":[{"type":"message","id":"msg_BenchMock0000000000000000001","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Requests flow like streams,\nbalanced across quiet nodes,\nno server stands alone. Load balancers spread the work evenly.","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":0.7,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":27,"input_tokens_details":{"cached_tokens":0},"output_tokens":26,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":53},"user":null,"metadata":{}}`

// buildResponsesStream is a streamed Responses answer: the created and
// in-progress events, one output item with one text part whose text comes in
// n deltas, and response.completed with usage.
func buildResponsesStream(n int) [][]byte {
	var evs [][]byte
	seq := 0
	add := func(typ, data string) {
		data = `{"type":"` + typ + `","sequence_number":` + strconv.Itoa(seq) + `,` + data + `}`
		seq++
		evs = append(evs, []byte("event: "+typ+"\ndata: "+data+"\n\n"))
	}
	const id = `"resp_BenchMock0000000000000000002"`
	head := `"id":` + id + `,"object":"response","created_at":1741569952,"model":"gpt-4o-mini-2024-07-18"`
	add("response.created", `"response":{`+head+`,"status":"in_progress","output":[],"usage":null}`)
	add("response.in_progress", `"response":{`+head+`,"status":"in_progress","output":[],"usage":null}`)
	const item = `"id":"msg_BenchMock0000000000000000002","type":"message","role":"assistant"`
	add("response.output_item.added", `"output_index":0,"item":{`+item+`,"status":"in_progress","content":[]}`)
	add("response.content_part.added", `"item_id":"msg_BenchMock0000000000000000002","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`)
	var text strings.Builder
	for i := 0; i < n; i++ {
		t := tokens[i%len(tokens)]
		text.WriteString(t)
		add("response.output_text.delta", `"item_id":"msg_BenchMock0000000000000000002","output_index":0,"content_index":0,"delta":`+jsonString(t))
	}
	full := jsonString(text.String())
	add("response.output_text.done", `"item_id":"msg_BenchMock0000000000000000002","output_index":0,"content_index":0,"text":`+full)
	part := `{"type":"output_text","text":` + full + `,"annotations":[]}`
	add("response.content_part.done", `"item_id":"msg_BenchMock0000000000000000002","output_index":0,"content_index":0,"part":`+part)
	done := `{` + item + `,"status":"completed","content":[` + part + `]}`
	add("response.output_item.done", `"output_index":0,"item":`+done)
	add("response.completed", `"response":{`+head+`,"status":"completed","output":[`+done+`],"usage":{"input_tokens":27,"input_tokens_details":{"cached_tokens":0},"output_tokens":`+strconv.Itoa(n)+`,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":`+strconv.Itoa(27+n)+`}}`)
	return evs
}

func (s *Server) responses(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, &s.Stats.Responses, s.respJSON, &s.Stats.ResponsesStream, s.respStream)
}

// ConverseJSON is the non-streamed Bedrock Converse answer.
const ConverseJSON = `{"output":{"message":{"role":"assistant","content":[{"text":"Requests flow like streams,\nbalanced across quiet nodes,\nno server stands alone. Load balancers spread the work evenly."}]}},"stopReason":"end_turn","usage":{"inputTokens":27,"outputTokens":26,"totalTokens":53},"metrics":{"latencyMs":412}}`

// buildConverseStream is a ConverseStream answer as event-stream messages:
// messageStart, n text deltas, contentBlockStop, messageStop and metadata
// with usage, each message one element (so the mock flushes each).
func buildConverseStream(n int) [][]byte {
	enc := eventstream.NewEncoder()
	var evs [][]byte
	add := func(typ, payload string) {
		var b bytes.Buffer
		err := enc.Encode(&b, eventstream.Message{
			Headers: eventstream.Headers{
				{Name: ":event-type", Value: eventstream.StringValue(typ)},
				{Name: ":content-type", Value: eventstream.StringValue("application/json")},
				{Name: ":message-type", Value: eventstream.StringValue("event")},
			},
			Payload: []byte(payload),
		})
		if err != nil {
			panic(err)
		}
		evs = append(evs, b.Bytes())
	}
	add("messageStart", `{"p":"abcd","role":"assistant"}`)
	for i := 0; i < n; i++ {
		add("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":`+jsonString(tokens[i%len(tokens)])+`},"p":"abcdefgh"}`)
	}
	add("contentBlockStop", `{"contentBlockIndex":0,"p":"abcd"}`)
	add("messageStop", `{"p":"abcdef","stopReason":"end_turn"}`)
	add("metadata", `{"metrics":{"latencyMs":412},"p":"abc","usage":{"inputTokens":27,"outputTokens":`+strconv.Itoa(n)+`,"totalTokens":`+strconv.Itoa(27+n)+`}}`)
	return evs
}

var hdrEventStream = []string{"application/vnd.amazon.eventstream"}

// bedrock serves POST /model/{modelId}/converse and /converse-stream. It
// checks that the request is signed (an AWS4-HMAC-SHA256 Authorization with
// an X-Amz-Date), not the signature itself: the providers' own tests do that.
func (s *Server) bedrock(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w)
		return
	}
	drain(r)
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.Header.Get("X-Amz-Date") == "" {
		w.Header()["Content-Type"] = hdrJSON
		w.Header().Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"message":"Missing Authentication Token"}`))
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/converse"):
		s.Stats.Converse.Add(1)
		writeJSON(w, s.converseJSON)
	case strings.HasSuffix(r.URL.Path, "/converse-stream"):
		s.Stats.ConverseStream.Add(1)
		h := w.Header()
		h["Content-Type"] = hdrEventStream
		s.stream(w, r, s.converseStream)
	default:
		w.Header()["Content-Type"] = hdrJSON
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"mock: unknown operation"}`))
	}
}
