package tokens

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "", 0},
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"openai/gpt-4o-mini", "hello world", 2},
		{"claude-3-5-sonnet", "hello world", 2},
	} {
		if got := Count(tc.model, tc.text); got != tc.want {
			t.Errorf("Count(%q, %q) = %d, want %d", tc.model, tc.text, got, tc.want)
		}
	}
	if codecFor("gpt-4").GetName() != "cl100k_base" || codecFor("gpt-4o").GetName() != "o200k_base" ||
		codecFor("gpt-4.1-mini").GetName() != "o200k_base" || codecFor("o3-mini").GetName() != "o200k_base" {
		t.Error("wrong encoding choice")
	}
	if got := Count("gpt-4o", "\xff\xfe invalid utf-8"); got <= 0 {
		t.Errorf("invalid UTF-8 counted %d tokens", got)
	}
}

func TestMessages(t *testing.T) {
	if got, want := Messages("gpt-4o", "hello world", "hi"), 3+3+2+3+1; got != want {
		t.Errorf("Messages = %d, want %d", got, want)
	}
}
