package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzAppendString: the literal decodes to the string (invalid UTF-8
// replaced) and is HTML-safe: no raw control character, '<', '>' or '&'.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "<a href='x'>&amp;</a>", "é ✓ 😀", "\xff\xfebad", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit := AppendString([]byte("x"), s)[1:]
		var got string
		if err := json.Unmarshal(lit, &got); err != nil {
			t.Fatalf("%q → %s: %v", s, lit, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Fatalf("%q → %s decodes to %q", s, lit, got)
		}
		if strings.ContainsAny(string(lit), "<>&") {
			t.Fatalf("%q → %s is not HTML-safe", s, lit)
		}
		for _, c := range lit {
			if c < 0x20 {
				t.Fatalf("%q → %s holds a raw control character", s, lit)
			}
		}
	})
}
