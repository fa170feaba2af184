package handlers

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzDeltaContent: on valid JSON, deltaText finds what gjson's
// path finds (gjson and the raw walker differ on names written with
// escapes, so those are left out).
func FuzzDeltaContent(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"content":"Hi \"x\"\n"}}]}`,
		`{"choices":[{"delta":{"role":"assistant","content":""}},{"delta":{"content":"no"}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":1}}`,
		`{"choices":[{"delta":{"content":null}}]}`,
		`{"choices":[{"delta":{"content":"a","content":"b"}}]}`,
		`{"choices":{"0":{"delta":{"content":"x"}}}}`,
		`[1]`, `{"choices":[{"delta":"x"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d deltaText
		got := d.appendTo(nil, b)
		// A second chunk of the stream with the same head reads the same.
		again := d.appendTo(nil, b)
		if !json.Valid(b) || gjson.GetBytes(b, "choices").IsObject() || containsEscapedName(b) {
			return
		}
		if want := gjson.GetBytes(b, "choices.0.delta.content").Str; string(got) != want || string(again) != want {
			t.Fatalf("%s: got %q then %q, want %q", b, got, again, want)
		}
	})
}

func containsEscapedName(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\\' && b[i+1] == 'u' {
			return true
		}
	}
	return false
}
