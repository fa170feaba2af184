package responses

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tidwall/gjson"
)

// TestOutputMessagesShortcut: the shortcut for a plain text answer gives
// what the general conversion gives, and outputs it does not take still
// convert (or fail) as before.
func TestOutputMessagesShortcut(t *testing.T) {
	for _, tc := range []struct {
		output string
		short  bool
	}{
		{`[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi \"there\" <b>\n\u2028é","annotations":[],"logprobs":[]}]}]`, true},
		{`[{"role":"assistant","type":"message","content":[{"text":"x","type":"output_text"}]}]`, true},
		{`[{"type":"message","role":"assistant","content":[{"text":"x"}]}]`, false},
		{`[{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]`, false},
		{`[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"},{"type":"output_text","text":"b"}]}]`, false},
		{`[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a","prompt_cache_breakpoint":{}}]}]`, false},
		{`[{"type":"message","role":"user","content":[{"type":"output_text","text":"a"}]}]`, false},
		{`[{"type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}]`, false},
		{`[{"type":"message","role":"assistant","content":[{"type":"output_text","text":7}]}]`, false},
	} {
		_, short := onlyText(gjson.Parse(tc.output))
		if short != tc.short {
			t.Errorf("%s: shortcut %v, want %v", tc.output, short, tc.short)
		}
		got, gotErr := OutputMessages([]byte(`{"output":` + tc.output + `}`))
		msgs, wantErr := convertInput(gjson.Parse(tc.output), "")
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, want %v", tc.output, gotErr, wantErr)
			continue
		}
		if wantErr != nil {
			continue
		}
		want, _ := marshal(msgs)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %s: %v", tc.output, got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %s\nwant %s", tc.output, got, want)
		}
	}
}
