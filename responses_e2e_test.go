package polygate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openaigo "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	oai "github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// fakeResponsesAPI is an OpenAI account's Responses API: it checks its key
// and the required fields, answers with its own name and the input's last
// text, and knows only the ids it made (as OpenAI does: ids belong to the
// account).
type fakeResponsesAPI struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	ids  map[string][]byte
	n    int
	seen [][]byte
}

func newFakeResponsesAPI(t *testing.T, name string) *fakeResponsesAPI {
	f := &fakeResponsesAPI{name: name, ids: map[string][]byte{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeResponsesAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func (f *fakeResponsesAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer key-"+f.name {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/responses/"); ok && r.Method == http.MethodGet {
		if stored, ok := f.ids[id]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(stored)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"No response found with id '`+id+`'.","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if r.URL.Path != "/v1/responses" || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f.seen = append(f.seen, body)
	req := gjson.ParseBytes(body)
	if !req.Get("model").Exists() || !req.Get("input").Exists() {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}`)
		return
	}
	if prev := req.Get("previous_response_id").Str; prev != "" {
		if _, ok := f.ids[prev]; !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"Previous response with id '`+prev+`' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}`)
			return
		}
	}
	f.n++
	id := fmt.Sprintf("resp_%s_%d", f.name, f.n)
	said := req.Get("input").Str
	if said == "" {
		said = req.Get("input.@reverse.0.content").Str
	}
	text := "from " + f.name + ": " + said
	resp, _ := json.Marshal(map[string]any{
		"id": id, "object": "response", "created_at": 1767225600, "status": "completed", "model": req.Get("model").Str,
		"output": []any{map[string]any{"id": "msg_" + id, "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}},
		"usage": map[string]any{"input_tokens": 11, "input_tokens_details": map[string]any{"cached_tokens": 3},
			"output_tokens": 7, "output_tokens_details": map[string]any{"reasoning_tokens": 2}, "total_tokens": 18},
	})
	f.ids[id] = resp
	if !req.Get("stream").Bool() {
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	inProgress := strings.Replace(string(resp), `"status":"completed"`, `"status":"in_progress"`, 1)
	seq := 0
	send := func(typ, rest string) {
		fmt.Fprintf(w, "event: %s\ndata: {\"type\":%q,\"sequence_number\":%d%s}\n\n", typ, typ, seq, rest)
		seq++
		w.(http.Flusher).Flush()
	}
	item := fmt.Sprintf(`"item_id":"msg_%s","output_index":0,"content_index":0`, id)
	send("response.created", `,"response":`+inProgress)
	send("response.output_item.added", `,"output_index":0,"item":{"id":"msg_`+id+`","type":"message","status":"in_progress","role":"assistant","content":[]}`)
	send("response.content_part.added", ","+item+`,"part":{"type":"output_text","text":"","annotations":[]}`)
	half := len(text) / 2
	for _, d := range []string{text[:half], text[half:]} {
		q, _ := json.Marshal(d)
		send("response.output_text.delta", ","+item+`,"delta":`+string(q)+`,"logprobs":[]`)
	}
	q, _ := json.Marshal(text)
	send("response.output_text.done", ","+item+`,"text":`+string(q)+`,"logprobs":[]`)
	send("response.content_part.done", ","+item+`,"part":{"type":"output_text","text":`+string(q)+`,"annotations":[]}`)
	send("response.output_item.done", `,"output_index":0,"item":`+gjson.GetBytes(resp, "output.0").Raw)
	send("response.completed", `,"response":`+string(resp))
}

// fakeAnthropic is Anthropic's Messages API: it checks x-api-key,
// anthropic-version and max_tokens, and answers with the number of
// messages it got and the last user text, or a tool call for "weather".
type fakeAnthropic struct {
	*httptest.Server
	mu      sync.Mutex
	seen    [][]byte
	headers []http.Header
}

func (f *fakeAnthropic) seenHeader(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.headers[len(f.headers)-1].Values(name), ",")
}

func newFakeAnthropic(t *testing.T) *fakeAnthropic {
	f := &fakeAnthropic{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAnthropic) last() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

func (f *fakeAnthropic) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q}}`, typ, msg)
	}
	if r.Header.Get("X-Api-Key") != "key-anthropic" {
		fail(401, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		fail(400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, body)
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	req := gjson.ParseBytes(body)
	if r.URL.Path == "/v1/messages/count_tokens" {
		fmt.Fprintf(w, `{"input_tokens":%d}`, 10*len(req.Get("messages").Array()))
		return
	}
	if !req.Get("max_tokens").Exists() {
		fail(400, "invalid_request_error", "max_tokens: Field required")
		return
	}
	msgs := req.Get("messages").Array()
	thinking := req.Get("thinking.type").Str == "enabled"
	if thinking {
		// As Anthropic: with thinking on, an assistant turn that called a
		// tool must come back with its signed thinking block first.
		for i, m := range msgs {
			if m.Get("role").Str == "assistant" && m.Get(`content.#(type=="tool_use")`).Exists() &&
				(m.Get("content.0.type").Str != "thinking" || m.Get("content.0.signature").Str != "sig-abc") {
				fail(400, "invalid_request_error", fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.", i, m.Get("content.0.type").Str))
				return
			}
		}
	}
	if req.Get("model").Str == "overloaded" {
		w.WriteHeader(529)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		return
	}
	lastMsg := msgs[len(msgs)-1]
	said := lastMsg.Get("content").Str
	if said == "" {
		said = lastMsg.Get("content.#(type==\"text\").text").Str
	}
	var content, stop string
	switch {
	case lastMsg.Get(`content.#(type=="tool_result")`).Exists():
		content, stop = `[{"type":"text","text":"it is sunny"}]`, "end_turn"
	case strings.Contains(said, "weather") && req.Get("tools").Exists():
		content, stop = `[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]`, "tool_use"
	default:
		q, _ := json.Marshal(fmt.Sprintf("turns=%d said=%s", len(msgs), said))
		content, stop = `[{"type":"text","text":`+string(q)+`}]`, "end_turn"
	}
	if thinking {
		content = `[{"type":"thinking","thinking":"let me think","signature":"sig-abc"},` + content[1:]
	}
	model := req.Get("model").Str
	usage := `{"input_tokens":20,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":5}`
	if req.Get("system.0.cache_control").Exists() {
		// As Anthropic: a cache breakpoint writes the prefix, 1h when asked.
		usage = `{"input_tokens":20,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"cache_creation":{"ephemeral_5m_input_tokens":30,"ephemeral_1h_input_tokens":20},"output_tokens":5}`
	}
	if !req.Get("stream").Bool() {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_01","type":"message","role":"assistant","model":%q,"content":%s,"stop_reason":%q,"stop_sequence":null,"usage":%s}`, model, content, stop, usage)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(typ, data string) {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
		w.(http.Flusher).Flush()
	}
	send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":%s}}`, model, usage))
	gjson.Parse(content).ForEach(func(i, block gjson.Result) bool {
		if block.Get("type").Str == "thinking" {
			send("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"thinking","thinking":"","signature":""}}`, i.Int()))
			send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"thinking_delta","thinking":"let me think"}}`, i.Int()))
			send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"signature_delta","signature":"sig-abc"}}`, i.Int()))
		} else if block.Get("type").Str == "text" {
			send("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}`, i.Int()))
			text := block.Get("text").Str
			for _, part := range []string{text[:len(text)/2], text[len(text)/2:]} {
				q, _ := json.Marshal(part)
				send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}`, i.Int(), q))
			}
		} else {
			send("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}`, i.Int()))
			send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`, i.Int()))
			send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`, i.Int()))
		}
		send("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i.Int()))
		return true
	})
	send("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":5}}`, stop))
	send("message_stop", `{"type":"message_stop"}`)
}

func responsesSite(a, b *fakeResponsesAPI, claude *fakeAnthropic, extra string) string {
	return fmt.Sprintf(`	ai_gateway {
		provider a openai {
			base_url %s/v1
			api_key key-a
		}
		provider b openai {
			base_url %s/v1
			api_key key-b
		}
		provider claude anthropic {
			base_url %s
			api_key key-anthropic
		}
		model gpt {
			upstream a gpt-5-mini
			upstream b gpt-5-mini
			price 1 2 cached 0.5
		}
		model sonnet {
			upstream claude claude-sonnet-4-5
			price 3 15
		}
		%s
	}`, a.URL, b.URL, claude.URL, extra)
}

func TestResponsesNativeSticky(t *testing.T) {
	a, b := newFakeResponsesAPI(t, "a"), newFakeResponsesAPI(t, "b")
	g := gatewaytest.Start(t, responsesSite(a, b, newFakeAnthropic(t), ""))
	client := g.OpenAI()
	ctx := t.Context()

	first, err := client.Responses.New(ctx, oai.ResponseNewParams{Model: "gpt", Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("one")}})
	if err != nil {
		t.Fatal(err)
	}
	owner := first.ID[len("resp_") : len("resp_")+1]
	if first.OutputText() != "from "+owner+": one" || first.Usage.InputTokens != 11 || first.Usage.InputTokensDetails.CachedTokens != 3 {
		t.Fatalf("first turn: %s", first.RawJSON())
	}
	// Two more turns, streamed and not: every one on the upstream that made
	// the first id, though both upstreams serve the model.
	prev := first.ID
	for turn := 2; turn <= 3; turn++ {
		params := oai.ResponseNewParams{Model: "gpt", PreviousResponseID: openaigo.String(prev),
			Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String(fmt.Sprint("turn ", turn))}}
		var text, id string
		if turn == 2 {
			s := client.Responses.NewStreaming(ctx, params)
			for s.Next() {
				ev := s.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text += ev.Delta
				case "response.completed":
					id = ev.Response.ID
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			r, err := client.Responses.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			text, id = r.OutputText(), r.ID
		}
		if want := fmt.Sprintf("from %s: turn %d", owner, turn); text != want {
			t.Fatalf("turn %d answered %q, want %q", turn, text, want)
		}
		prev = id
	}
	mine, other := map[string]*fakeResponsesAPI{"a": a, "b": b}[owner], map[string]*fakeResponsesAPI{"a": b, "b": a}[owner]
	if mine.count() != 3 || other.count() != 0 {
		t.Errorf("turns: %d on the upstream that made the id, %d on the other", mine.count(), other.count())
	}
	// GET follows the id to its upstream.
	resp, body := g.Do("GET", "/v1/responses/"+prev, "", "")
	if resp.StatusCode != 200 || gjson.Get(body, "id").Str != prev {
		t.Errorf("GET /v1/responses/%s: %d %s", prev, resp.StatusCode, body)
	}
	// An id the gateway never saw is 404 in OpenAI's shape.
	_, err = client.Responses.New(ctx, oai.ResponseNewParams{Model: "gpt", PreviousResponseID: openaigo.String("resp_unknown"),
		Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("x")}})
	var apiErr *openaigo.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Param != "previous_response_id" {
		t.Errorf("unknown previous_response_id: %v", err)
	}
}

func TestResponsesTranslatedToAnthropic(t *testing.T) {
	claude := newFakeAnthropic(t)
	g := gatewaytest.Start(t, responsesSite(newFakeResponsesAPI(t, "a"), newFakeResponsesAPI(t, "b"), claude, ""))
	client := g.OpenAI()
	ctx := t.Context()

	// Three turns chained by previous_response_id: the gateway keeps the
	// conversation, so the provider sees it grow.
	var prev string
	for turn := 1; turn <= 3; turn++ {
		params := oai.ResponseNewParams{Model: "sonnet", Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String(fmt.Sprint("hello ", turn))}}
		if prev != "" {
			params.PreviousResponseID = openaigo.String(prev)
		}
		var text, id string
		if turn == 2 {
			s := client.Responses.NewStreaming(ctx, params)
			var seq int64 = -1
			for s.Next() {
				ev := s.Current()
				if ev.SequenceNumber != seq+1 {
					t.Errorf("sequence_number %d after %d", ev.SequenceNumber, seq)
				}
				seq = ev.SequenceNumber
				switch ev.Type {
				case "response.output_text.delta":
					text += ev.Delta
				case "response.completed":
					id = ev.Response.ID
					if ev.Response.Usage.InputTokens != 20 || ev.Response.Usage.OutputTokens != 5 {
						t.Errorf("streamed usage %+v", ev.Response.Usage)
					}
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			r, err := client.Responses.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			text, id = r.OutputText(), r.ID
		}
		// turn n sends 2n-1 messages: every earlier question and answer.
		if want := fmt.Sprintf("turns=%d said=hello %d", 2*turn-1, turn); text != want {
			t.Fatalf("turn %d answered %q, want %q", turn, text, want)
		}
		prev = id
	}
	if got := gjson.GetBytes(claude.last(), "messages.#.role").Raw; got != `["user","assistant","user","assistant","user"]` {
		t.Errorf("conversation sent upstream: %s", got)
	}
	// The gateway answers GET and input_items for translated responses.
	resp, body := g.Do("GET", "/v1/responses/"+prev, "", "")
	if resp.StatusCode != 200 || gjson.Get(body, "output.0.content.0.text").Str != "turns=5 said=hello 3" {
		t.Errorf("GET stored response: %d %s", resp.StatusCode, body)
	}
	resp, body = g.Do("GET", "/v1/responses/"+prev+"/input_items", "", "")
	if resp.StatusCode != 200 || gjson.Get(body, "data.0.content.0.text").Str != "hello 3" {
		t.Errorf("input_items: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.Do("DELETE", "/v1/responses/"+prev, "", ""); resp.StatusCode != 200 || !gjson.Get(body, "deleted").Bool() {
		t.Errorf("DELETE: %d %s", resp.StatusCode, body)
	}
	if resp, _ := g.Do("GET", "/v1/responses/"+prev, "", ""); resp.StatusCode != 404 {
		t.Errorf("GET after DELETE: %d", resp.StatusCode)
	}

	// A function call round trip.
	tools := []oai.ToolUnionParam{oai.ToolParamOfFunction("get_weather", map[string]any{
		"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"},
	}, false)}
	r, err := client.Responses.New(ctx, oai.ResponseNewParams{Model: "sonnet", Tools: tools,
		Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("what is the weather in Paris?")}})
	if err != nil {
		t.Fatal(err)
	}
	var call oai.ResponseFunctionToolCall
	for _, item := range r.Output {
		if item.Type == "function_call" {
			call = item.AsFunctionCall()
		}
	}
	if call.Name != "get_weather" || gjson.Get(call.Arguments, "city").Str != "Paris" {
		t.Fatalf("function call: %s", r.RawJSON())
	}
	out := oai.ResponseInputItemParamOfFunctionCallOutput(`{"sky":"clear"}`)
	out.OfFunctionCallOutput.CallID = openaigo.String(call.CallID)
	r, err = client.Responses.New(ctx, oai.ResponseNewParams{Model: "sonnet", Tools: tools, PreviousResponseID: openaigo.String(r.ID),
		Input: oai.ResponseNewParamsInputUnion{OfInputItemList: oai.ResponseInputParam{out}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "it is sunny" {
		t.Errorf("after the tool's output: %s", r.RawJSON())
	}
	sent := gjson.GetBytes(claude.last(), "messages")
	if sent.Get("1.content.0.type").Str != "tool_use" || sent.Get("2.content.0.tool_use_id").Str != "toolu_01" {
		t.Errorf("tool round trip sent %s", sent.Raw)
	}

	// What Anthropic cannot do is a 400 naming the parameter.
	_, err = client.Responses.New(ctx, oai.ResponseNewParams{Model: "sonnet", Background: openaigo.Bool(true),
		Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("x")}})
	var apiErr *openaigo.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "background" {
		t.Errorf("background to a translated provider: %v", err)
	}
}

func TestResponsesGuardrailsAndBudget(t *testing.T) {
	a, b := newFakeResponsesAPI(t, "a"), newFakeResponsesAPI(t, "b")
	claude := newFakeAnthropic(t)
	g := gatewaytest.Start(t, responsesSite(a, b, claude, `
		guardrail pii {
			on input output
			action redact
		}
		guardrail regex {
			on output
			deny "turns=\d+ said=forbidden"
			action block
		}
		cache {
			ttl 1m
		}`))
	client := g.OpenAI()
	ctx := t.Context()

	// Input redaction reaches the translated upstream redacted.
	_, err := client.Responses.New(ctx, oai.ResponseNewParams{Model: "sonnet",
		Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("mail john@example.com please")}})
	if err != nil {
		t.Fatal(err)
	}
	if sent := string(claude.last()); strings.Contains(sent, "john@example.com") {
		t.Errorf("the email reached the provider: %s", sent)
	}
	// Streamed output is checked before the client sees it, native and
	// translated: the block ends the stream without the text.
	for _, model := range []string{"sonnet", "gpt"} {
		s := client.Responses.NewStreaming(ctx, oai.ResponseNewParams{Model: model,
			Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("forbidden")}})
		var text, status string
		for s.Next() {
			ev := s.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text += ev.Delta
			case "response.completed", "response.incomplete":
				status = string(ev.Response.Status)
			}
		}
		if model == "sonnet" && (strings.Contains(text, "forbidden") || status != "incomplete") {
			t.Errorf("%s: blocked stream showed %q, ended %q (err %v)", model, text, status, s.Err())
		}
		if model == "gpt" && status != "completed" {
			// "from a: forbidden" does not match the pattern: it passes.
			t.Errorf("%s: stream ended %q, text %q (err %v)", model, status, text, s.Err())
		}
	}
	// An exact repeat is a cache hit, replayed as the same event sequence.
	params := oai.ResponseNewParams{Model: "sonnet", Input: oai.ResponseNewParamsInputUnion{OfString: openaigo.String("cache me")}}
	var runs [2]string
	_, runs[0] = gatewaytest.RoundTrip(t, mustRequest(t, g.URL+"/v1/responses", `{"model":"sonnet","stream":true,"input":"cache me"}`))
	// The cache stores in the background: ask until the answer is there.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, body := gatewaytest.RoundTrip(t, mustRequest(t, g.URL+"/v1/responses", `{"model":"sonnet","stream":true,"input":"cache me"}`))
		if resp.Header.Get("X-Polygate-Cache") == "HIT" {
			runs[1] = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cache hit: %q", resp.Header.Get("X-Polygate-Cache"))
		}
	}
	// The replay is the same event sequence (its text in one delta) ending
	// in the same Response.
	if a, b := eventShape(runs[0]), eventShape(runs[1]); a != b {
		t.Errorf("replayed stream differs:\n%s\n---\n%s", a, b)
	}
	_ = params
}

// eventShape is a Responses stream's event types, consecutive deltas as
// one, and its terminal event's output text, status and usage (the
// cache may hold the answer of another miss than the first: ids differ).
func eventShape(stream string) string {
	var types []string
	var final string
	for _, line := range strings.Split(stream, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		typ := gjson.Get(data, "type").Str
		if n := len(types); n > 0 && types[n-1] == typ && strings.HasSuffix(typ, ".delta") {
			continue
		}
		types = append(types, typ)
		if typ == "response.completed" {
			r := gjson.Get(data, "response")
			final = r.Get("output.0.content.0.text").Str + " " + r.Get("status").Str + " " + r.Get("usage").Raw
		}
	}
	return strings.Join(types, " ") + "\n" + final
}

func mustRequest(t *testing.T, url, body string) *http.Request {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

var _ = option.WithAPIKey

// TestResponsesBadInput: the refusals of the Responses routes, in OpenAI's
// shape.
func TestResponsesBadInput(t *testing.T) {
	a, b := newFakeResponsesAPI(t, "a"), newFakeResponsesAPI(t, "b")
	g := gatewaytest.Start(t, responsesSite(a, b, newFakeAnthropic(t), `model only-a {
			upstream a gpt-5-mini
		}
		model only-b {
			upstream b gpt-5-mini
		}`))
	_, body := g.Do("POST", "/v1/responses", "application/json", `{"model":"only-a","input":"hi"}`)
	native := gjson.Get(body, "id").Str
	_, body = g.Do("POST", "/v1/responses", "application/json", `{"model":"sonnet","input":"hi"}`)
	translated := gjson.Get(body, "id").Str
	if native == "" || translated == "" {
		t.Fatalf("ids %q %q", native, translated)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
		param              string
	}{
		// A native id continued on a model its provider does not serve.
		{"POST", "/v1/responses", `{"model":"only-b","input":"x","previous_response_id":"` + native + `"}`, 400, "previous_response_id"},
		// A translated conversation continued on a model served only natively.
		{"POST", "/v1/responses", `{"model":"only-a","input":"x","previous_response_id":"` + translated + `"}`, 400, "previous_response_id"},
		// Only background responses can be cancelled.
		{"POST", "/v1/responses/" + translated + "/cancel", ``, 400, ""},
		{"PUT", "/v1/responses/" + translated, ``, 405, ""},
		{"GET", "/v1/responses/" + translated + "/nonsense", ``, 404, ""},
		{"GET", "/v1/responses/resp_unknown", ``, 404, ""},
	} {
		resp, out := g.Do(tc.method, tc.path, "application/json", tc.body)
		if resp.StatusCode != tc.status || gjson.Get(out, "error.message").Str == "" || gjson.Get(out, "error.param").Str != tc.param {
			t.Errorf("%s %s %s: %d %s; want %d param %q", tc.method, tc.path, tc.body, resp.StatusCode, out, tc.status, tc.param)
		}
	}
}
