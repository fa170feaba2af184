package telemetry

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTruncate: a cut text is a prefix of the text, within the bound, on a
// rune boundary, and its messages JSON reads back.
func FuzzTruncate(f *testing.F) {
	f.Add("hello", 3)
	f.Add("Zoë é 日本語 🙂", 7)
	f.Add(strings.Repeat("é", 10), 5)
	f.Add("\xff\xfe broken", 2)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<20 {
			return
		}
		got, cut := truncate(s, max)
		if len(got) > max || !strings.HasPrefix(s, got) || cut != (len(got) < len(s)) {
			t.Fatalf("truncate(%q, %d) = %q, %v", s, max, got, cut)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("truncate(%q, %d) = %q: not UTF-8", s, max, got)
		}
		var back []message
		if err := json.Unmarshal([]byte(messagesJSON(message{Role: "user", Parts: []part{{Type: "text", Content: got}}})), &back); err != nil || len(back) != 1 {
			t.Fatalf("messages JSON of %q does not read back: %v", got, err)
		}
	})
}
