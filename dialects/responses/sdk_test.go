package responses_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	oai "github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/dialects/responses"
)

// sdkStream decodes an event stream with the official client's decoder and
// event types.
func sdkStream(b []byte) *ssestream.Stream[oai.ResponseStreamEventUnion] {
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(b))}
	return ssestream.NewStream[oai.ResponseStreamEventUnion](ssestream.NewDecoder(res), nil)
}

// checkEvents reads a whole event stream with the SDK and checks what a
// client relies on: every event decodes into its type, sequence numbers
// count up from 0, deltas add up to their done events and to the items of
// output_item.done, and the terminal Response has those items. It returns
// the terminal Response.
func checkEvents(t *testing.T, b []byte) oai.Response {
	t.Helper()
	s := sdkStream(b)
	var (
		seq      int64
		texts    = map[string]string{} // item id (and content index) → text from deltas
		done     []oai.ResponseOutputItemUnion
		terminal *oai.Response
	)
	key := func(id string, i int64) string { return id + "#" + strconv.FormatInt(i, 10) }
	for s.Next() {
		ev := s.Current()
		if ev.SequenceNumber != seq {
			t.Errorf("event %s has sequence_number %d, want %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq++
		if terminal != nil {
			t.Errorf("event %s after the terminal event", ev.Type)
		}
		switch e := ev.AsAny().(type) {
		case oai.ResponseCreatedEvent:
			if e.Response.Status != "in_progress" || len(e.Response.Output) != 0 || !strings.HasPrefix(e.Response.ID, "resp_") {
				t.Errorf("response.created: %s", e.Response.RawJSON())
			}
		case oai.ResponseTextDeltaEvent:
			texts[key(e.ItemID, e.ContentIndex)] += e.Delta
		case oai.ResponseTextDoneEvent:
			if got := texts[key(e.ItemID, e.ContentIndex)]; got != e.Text {
				t.Errorf("output_text.done %q, deltas %q", e.Text, got)
			}
		case oai.ResponseRefusalDeltaEvent:
			texts[key(e.ItemID, e.ContentIndex)] += e.Delta
		case oai.ResponseRefusalDoneEvent:
			if got := texts[key(e.ItemID, e.ContentIndex)]; got != e.Refusal {
				t.Errorf("refusal.done %q, deltas %q", e.Refusal, got)
			}
		case oai.ResponseReasoningSummaryTextDeltaEvent:
			texts[key(e.ItemID, e.SummaryIndex)] += e.Delta
		case oai.ResponseReasoningSummaryTextDoneEvent:
			if got := texts[key(e.ItemID, e.SummaryIndex)]; got != e.Text {
				t.Errorf("reasoning_summary_text.done %q, deltas %q", e.Text, got)
			}
		case oai.ResponseFunctionCallArgumentsDeltaEvent:
			texts[e.ItemID] += e.Delta
		case oai.ResponseFunctionCallArgumentsDoneEvent:
			if got := texts[e.ItemID]; got != e.Arguments {
				t.Errorf("function_call_arguments.done %q, deltas %q", e.Arguments, got)
			}
		case oai.ResponseOutputItemAddedEvent:
			if e.OutputIndex != int64(len(done)) {
				t.Errorf("item added at %d after %d items", e.OutputIndex, len(done))
			}
		case oai.ResponseOutputItemDoneEvent:
			if e.OutputIndex != int64(len(done)) {
				t.Errorf("item done at %d after %d items", e.OutputIndex, len(done))
			}
			switch it := e.Item.AsAny().(type) {
			case oai.ResponseOutputMessage:
				for i, c := range it.Content {
					got := texts[key(it.ID, int64(i))]
					if (c.Type == "output_text" && c.Text != got) || (c.Type == "refusal" && c.Refusal != got) {
						t.Errorf("message part %d: %+v, deltas %q", i, c, got)
					}
				}
			case oai.ResponseFunctionToolCall:
				if it.Arguments != texts[it.ID] || it.CallID == "" || it.Name == "" {
					t.Errorf("function call %s, deltas %q", it.RawJSON(), texts[it.ID])
				}
			case oai.ResponseReasoningItem:
				for i, p := range it.Summary {
					if got := texts[key(it.ID, int64(i))]; p.Text != got {
						t.Errorf("reasoning summary %q, deltas %q", p.Text, got)
					}
				}
			default:
				t.Errorf("item of type %s", e.Item.Type)
			}
			done = append(done, e.Item)
		case oai.ResponseCompletedEvent:
			terminal = &e.Response
		case oai.ResponseIncompleteEvent:
			terminal = &e.Response
		case oai.ResponseFailedEvent:
			terminal = &e.Response
		case oai.ResponseInProgressEvent, oai.ResponseContentPartAddedEvent, oai.ResponseContentPartDoneEvent,
			oai.ResponseReasoningSummaryPartAddedEvent, oai.ResponseReasoningSummaryPartDoneEvent, oai.ResponseErrorEvent:
		default:
			t.Errorf("event %q is not one the SDK knows", ev.Type)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("the SDK's stream failed: %v", err)
	}
	if terminal == nil {
		t.Fatal("no terminal event")
	}
	if len(terminal.Output) != len(done) {
		t.Fatalf("terminal response has %d items, output_item.done gave %d", len(terminal.Output), len(done))
	}
	for i := range done {
		if done[i].RawJSON() != terminal.Output[i].RawJSON() {
			t.Errorf("item %d differs:\n%s\n%s", i, done[i].RawJSON(), terminal.Output[i].RawJSON())
		}
	}
	return *terminal
}

// TestSDKReadsEvents decodes every expected event stream of testdata with
// the official client.
func TestSDKReadsEvents(t *testing.T) {
	files, _ := filepath.Glob("testdata/cases/*/events.sse")
	if len(files) == 0 {
		t.Fatal("no event streams")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			resp := checkEvents(t, b)
			if resp.Status != "completed" && resp.Status != "incomplete" {
				t.Errorf("status %s", resp.Status)
			}
			if resp.Usage.TotalTokens == 0 || resp.Usage.TotalTokens != resp.Usage.InputTokens+resp.Usage.OutputTokens {
				t.Errorf("usage %s", resp.Usage.RawJSON())
			}
		})
	}
}

// TestSDKReadsResponses decodes every expected Response of testdata into
// the official client's type.
func TestSDKReadsResponses(t *testing.T) {
	files, _ := filepath.Glob("testdata/cases/*/response.json")
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r oai.Response
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if r.Object != "response" || !strings.HasPrefix(r.ID, "resp_") || r.CreatedAt == 0 || r.Model == "" {
				t.Errorf("head: %s %s %v %s", r.Object, r.ID, r.CreatedAt, r.Model)
			}
			completion := gjson.GetBytes(mustRead(t, filepath.Join(filepath.Dir(f), "completion.json")), "choices.0.message")
			if got, want := r.OutputText(), completion.Get("content").Str; got != want {
				t.Errorf("OutputText() = %q, want %q", got, want)
			}
			calls, reasoning := 0, 0
			for _, item := range r.Output {
				switch it := item.AsAny().(type) {
				case oai.ResponseFunctionToolCall:
					want := completion.Get("tool_calls." + itoa(calls))
					if it.CallID != want.Get("id").Str || it.Name != want.Get("function.name").Str || it.Arguments != want.Get("function.arguments").Str || it.Status != "completed" {
						t.Errorf("call %d: %s, want %s", calls, it.RawJSON(), want.Raw)
					}
					calls++
				case oai.ResponseReasoningItem:
					rc := completion.Get("reasoning_content")
					if reasoning++; reasoning == 1 && (len(it.Summary) != 1 || it.Summary[0].Text != rc.Str) {
						t.Errorf("reasoning %s, want summary %q", it.RawJSON(), rc.Str)
					}
				}
			}
			if int64(calls) != completion.Get("tool_calls.#").Int() {
				t.Errorf("%d calls", calls)
			}
			if completion.Get("reasoning_content").Exists() != (reasoning > 0) {
				t.Errorf("%d reasoning items for reasoning_content %s", reasoning, completion.Get("reasoning_content").Raw)
			}
			u := gjson.GetBytes(mustRead(t, filepath.Join(filepath.Dir(f), "completion.json")), "usage")
			if r.Usage.InputTokens != u.Get("prompt_tokens").Int() || r.Usage.OutputTokens != u.Get("completion_tokens").Int() ||
				r.Usage.InputTokensDetails.CachedTokens != u.Get("prompt_tokens_details.cached_tokens").Int() ||
				r.Usage.InputTokensDetails.CacheWriteTokens != u.Get("prompt_tokens_details.cache_write_tokens").Int() ||
				r.Usage.OutputTokensDetails.ReasoningTokens != u.Get("completion_tokens_details.reasoning_tokens").Int() {
				t.Errorf("usage %s from %s", r.Usage.RawJSON(), u.Raw)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(i int) string { return strconv.Itoa(i) }

// fakeHub is a gateway in miniature: it translates what the official client
// sends with ToChat and answers from recorded hub completions with FromChat
// or a Stream, keeping each hub request.
type fakeHub struct {
	mu       sync.Mutex
	requests [][]byte
	answers  []hubAnswer
}

type hubAnswer struct {
	completion []byte
	chunks     [][]byte
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, e := responses.ToChat(body, nil)
	if e != nil {
		e.Write(w)
		return
	}
	h.mu.Lock()
	h.requests = append(h.requests, req.Chat)
	a := h.answers[0]
	h.answers = h.answers[1:]
	h.mu.Unlock()
	if !req.Stream {
		out, err := responses.FromChat(a.completion, req)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	s := responses.NewStream(req)
	rc := http.NewResponseController(w)
	for _, c := range a.chunks {
		_, _ = w.Write(s.Chunk(c))
		_ = rc.Flush()
	}
	_, _ = w.Write(s.Finish())
}

func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, bytes.Clone(l))
		}
	}
	return out
}

// TestOfficialClient runs a two-turn tool conversation with thinking
// through the official client: a streamed first turn whose reasoning and
// call the client sends back, with the tool's result, in a second,
// non-streamed turn; the hub must get the signed thinking block back.
func TestOfficialClient(t *testing.T) {
	dir := "testdata/cases/reasoning_tools"
	hub := &fakeHub{answers: []hubAnswer{
		{chunks: lines(mustRead(t, dir+"/chunks.jsonl"))},
		{completion: []byte(`{"id":"chatcmpl-2","object":"chat.completion","created":1767225609,"model":"claude-opus-4-1-20250805","choices":[{"index":0,"message":{"role":"assistant","content":"Yes, take an umbrella: light rain, 14 °C."},"finish_reason":"stop"}],"usage":{"prompt_tokens":2300,"completion_tokens":14,"total_tokens":2314,"prompt_tokens_details":{"cached_tokens":2190}}}`)},
	}}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("test-key"), option.WithMaxRetries(0))

	params := oai.ResponseNewParams{
		Model: "claude-opus-4-1",
		Input: oai.ResponseNewParamsInputUnion{OfString: openai.String("Should I take an umbrella in Paris today?")},
		Tools: []oai.ToolUnionParam{oai.ToolParamOfFunction("get_weather", map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}}},
			"required":             []string{"city", "unit"},
			"additionalProperties": false,
		}, true)},
		Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortHigh, Summary: shared.ReasoningSummaryDetailed},
		Include:   []oai.ResponseIncludable{oai.ResponseIncludableReasoningEncryptedContent},
		Store:     openai.Bool(false),
	}
	stream := client.Responses.NewStreaming(t.Context(), params)
	var first *oai.Response
	var deltas string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			deltas += ev.Delta
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			first = &r
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if first == nil || deltas != "Let me check the forecast for Paris." || first.OutputText() != deltas {
		t.Fatalf("first turn: %q %+v", deltas, first)
	}
	if got := gjson.GetBytes(hub.requests[0], "reasoning_effort").Str; got != "high" {
		t.Errorf("hub reasoning_effort %q", got)
	}

	// Second turn: the output items as they came, then the tool's output.
	var input oai.ResponseInputParam
	var callID string
	for _, item := range first.Output {
		var p oai.ResponseInputItemUnionParam
		if err := json.Unmarshal([]byte(item.RawJSON()), &p); err != nil {
			t.Fatalf("output item as input: %v", err)
		}
		input = append(input, p)
		if item.Type == "function_call" {
			callID = item.AsFunctionCall().CallID
		}
	}
	out := oai.ResponseInputItemParamOfFunctionCallOutput(`{"temperature":14,"conditions":"light rain"}`)
	out.OfFunctionCallOutput.CallID = openai.String(callID)
	input = append(input, out)
	params.Input = oai.ResponseNewParamsInputUnion{OfInputItemList: append(oai.ResponseInputParam{oai.ResponseInputItemParamOfMessage("Should I take an umbrella in Paris today?", oai.EasyInputMessageRoleUser)}, input...)}
	second, err := client.Responses.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "Yes, take an umbrella: light rain, 14 °C." || second.Status != "completed" || second.Usage.InputTokensDetails.CachedTokens != 2190 {
		t.Errorf("second turn: %s", second.RawJSON())
	}
	msgs := gjson.GetBytes(hub.requests[1], "messages")
	if got := msgs.Get("#.role").Raw; got != `["user","assistant","tool"]` {
		t.Fatalf("hub messages %s", msgs.Raw)
	}
	wantBlock := gjson.GetBytes(mustRead(t, dir+"/completion.json"), "choices.0.message.thinking_blocks.0")
	if got := msgs.Get("1.thinking_blocks.0"); got.Get("signature").Str != wantBlock.Get("signature").Str || got.Get("thinking").Str != wantBlock.Get("thinking").Str {
		t.Errorf("thinking block %s, want %s", got.Raw, wantBlock.Raw)
	}
	if msgs.Get("1.tool_calls.0.id").Str != callID || msgs.Get("2.tool_call_id").Str != callID {
		t.Errorf("tool call ids: %s", msgs.Raw)
	}
}

// TestOfficialClientSeesErrors: a refused request reaches the client as an
// API error with the parameter.
func TestOfficialClientSeesErrors(t *testing.T) {
	srv := httptest.NewServer(&fakeHub{})
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("test-key"), option.WithMaxRetries(0))
	_, err := client.Responses.New(t.Context(), oai.ResponseNewParams{
		Model: "claude-sonnet-4-5",
		Input: oai.ResponseNewParamsInputUnion{OfString: openai.String("news?")},
		Tools: []oai.ToolUnionParam{{OfWebSearch: &oai.WebSearchToolParam{Type: oai.WebSearchToolTypeWebSearch}}},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "tools[0].type" || apiErr.Type != "invalid_request_error" {
		t.Fatalf("error %v", err)
	}
}
