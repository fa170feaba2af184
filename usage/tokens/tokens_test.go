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
	if codecFor("gpt-4").name() != "cl100k_base" || codecFor("gpt-4o").name() != "o200k_base" ||
		codecFor("gpt-4.1-mini").name() != "o200k_base" || codecFor("o3-mini").name() != "o200k_base" {
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

func TestCountRemembers(t *testing.T) {
	c := codecFor("gpt-4o")
	long := "You are a helpful assistant who answers in haiku, always."
	want, err := c.codec.Count(long)
	if err != nil {
		t.Fatal(err)
	}
	if got := Count("gpt-4o", long); got != want {
		t.Fatalf("first Count = %d, want %d", got, want)
	}
	c.memo.Wait()
	if n, ok := c.memo.Get(long); !ok || int(n) != want {
		t.Fatalf("memo holds %d, %v; want %d", n, ok, want)
	}
	if got := Count("gpt-4o", long); got != want {
		t.Errorf("remembered Count = %d, want %d", got, want)
	}
	// A text that differs in one byte is counted anew.
	other := long + " Never in prose."
	wantOther, _ := c.codec.Count(other)
	if got := Count("gpt-4o", other); got != wantOther || wantOther == want {
		t.Errorf("Count(other) = %d, want %d (≠ %d)", got, wantOther, want)
	}
	// Short texts are not remembered.
	Count("gpt-4o", "hi there")
	c.memo.Wait()
	if _, ok := c.memo.Get("hi there"); ok {
		t.Error("a short text was remembered")
	}
}
