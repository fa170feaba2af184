package responses

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// collapse merges runs of delta events of one item and part into one event
// (deltas concatenated, logprobs joined) and drops sequence numbers, so that
// streams that cut their text differently compare equal.
func collapse(t *testing.T, events []event) []event {
	t.Helper()
	var out []event
	for _, ev := range events {
		data, _ := sjson.DeleteBytes(ev.data, "sequence_number")
		isDelta := len(ev.name) > 6 && ev.name[len(ev.name)-6:] == ".delta"
		if isDelta && len(out) > 0 && out[len(out)-1].name == ev.name {
			prev := gjson.ParseBytes(out[len(out)-1].data)
			cur := gjson.ParseBytes(data)
			if prev.Get("item_id").Str == cur.Get("item_id").Str && prev.Get("content_index").Int() == cur.Get("content_index").Int() {
				merged, _ := sjson.SetBytes(out[len(out)-1].data, "delta", prev.Get("delta").Str+cur.Get("delta").Str)
				if lp := cur.Get("logprobs"); lp.IsArray() {
					all := append(prev.Get("logprobs").Array(), lp.Array()...)
					raws := make([]json.RawMessage, len(all))
					for i, r := range all {
						raws[i] = json.RawMessage(r.Raw)
					}
					b, _ := json.Marshal(raws)
					merged, _ = sjson.SetRawBytes(merged, "logprobs", b)
				}
				out[len(out)-1].data = merged
				continue
			}
		}
		out = append(out, event{name: ev.name, data: data})
	}
	return out
}

// TestReplayMatchesLiveStream: replaying a stored Response gives the events
// of the live stream that produced it, up to how the text was cut into
// deltas.
func TestReplayMatchesLiveStream(t *testing.T) {
	for _, sc := range scenarios(t) {
		if !sc.has("events.sse") || !sc.has("response.json") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			got, err := Replay(sc.read(t, "response.json"))
			if err != nil {
				t.Fatal(err)
			}
			want := collapse(t, parseSSE(t, sc.read(t, "events.sse")))
			have := collapse(t, parseSSE(t, got))
			if len(want) != len(have) {
				t.Fatalf("%d events, want %d:\n%v\n%v", len(have), len(want), eventNames(have), eventNames(want))
			}
			for i := range want {
				if want[i].name != have[i].name {
					t.Fatalf("event %d is %s, want %s", i, have[i].name, want[i].name)
				}
				jsonEqual(t, "event "+itoa(i)+" "+want[i].name, want[i].data, have[i].data)
			}
			// Sequence numbers count from 0 in the replay too.
			for i, ev := range parseSSE(t, got) {
				if gjson.GetBytes(ev.data, "sequence_number").Int() != int64(i) {
					t.Fatalf("event %d has sequence_number %s", i, gjson.GetBytes(ev.data, "sequence_number").Raw)
				}
			}
		})
	}
}

func eventNames(evs []event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.name)
	}
	return out
}

// TestReplayOpenAIResponse: a Response stored from OpenAI itself (pretty
// printed, with a built-in tool call and annotations) replays as the events
// OpenAI streams for it, ending with the stored object.
func TestReplayOpenAIResponse(t *testing.T) {
	stored, err := os.ReadFile("testdata/openai/response_web_search.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Replay(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.annotation.added", "response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	}
	events := parseSSE(t, out)
	if got := eventNames(events); len(got) != len(want) {
		t.Fatalf("events %v", got)
	}
	for i, ev := range events {
		if ev.name != want[i] {
			t.Fatalf("event %d %s, want %s", i, ev.name, want[i])
		}
	}
	created := gjson.GetBytes(events[0].data, "response")
	if created.Get("status").Str != "in_progress" || created.Get("output").Raw != "[]" || created.Get("usage").Raw != "null" || created.Get("completed_at").Raw != "null" {
		t.Errorf("created %s", created.Raw)
	}
	if gjson.GetBytes(events[2].data, "item.encrypted_content").Exists() {
		t.Error("reasoning item added with its encrypted_content")
	}
	if a := gjson.GetBytes(events[13].data, "annotation.url").Str; a != "https://weather.example.com/cape-town?utm_source=openai" {
		t.Errorf("annotation %s", events[13].data)
	}
	jsonEqual(t, "completed response", stored, []byte(gjson.GetBytes(events[len(events)-1].data, "response").Raw))
}

func TestReplayTerminalByStatus(t *testing.T) {
	for status, want := range map[string]string{"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"} {
		out, err := Replay([]byte(`{"id":"resp_1","object":"response","status":"` + status + `","output":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		events := parseSSE(t, out)
		if events[len(events)-1].name != want {
			t.Errorf("%s: last event %s", status, events[len(events)-1].name)
		}
	}
	for _, bad := range []string{``, `[]`, `{"output":`, `"x"`} {
		if _, err := Replay([]byte(bad)); err == nil {
			t.Errorf("%q replayed", bad)
		}
	}
}
