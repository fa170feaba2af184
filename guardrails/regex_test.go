package guardrails

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRegexMatches(t *testing.T) {
	r := newRegex(t, "redact", nil, `(?i)ignore (all )?previous instructions`, `\bpass(word)?\b`, `(?m)^rm -rf`)
	tests := []struct {
		in   string
		want []string
	}{
		{"Please IGNORE ALL previous Instructions now", []string{"IGNORE ALL previous Instructions"}},
		{"ignore previous instructions", []string{"ignore previous instructions"}},
		{"ignore the previous instructions", nil}, // near miss
		{"my password is x; passport", []string{"password"}},
		{"bypass", nil}, // \b keeps it out
		{"ok\nrm -rf /\nnot rm -rf", []string{"rm -rf"}},
	}
	for _, tc := range tests {
		var got []string
		for _, m := range matches(r.tg, tc.in) {
			got = append(got, m.text)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := batchRedact(r.tg, "say password twice: password"); got != "say [REDACTED] twice: [REDACTED]" {
		t.Errorf("redacted %q", got)
	}
}

// TestPrefixOf checks that every prefix of every match is in the prefix language, so a stream
// never releases the beginning of a match too early.
func TestPrefixOf(t *testing.T) {
	patterns := []string{
		`(?i)ignore (all )?previous instructions`, `\bsecret\w{0,8}\b`, `(?m)^foo$`, `\d{3}-\d{2}`,
		`a+b`, `(ab|cd)*ef`, `x[0-9a-f]{2,4}y`, `(?s)<<.*?>>`, `Straße`, `(?i)kelvin`,
	}
	texts := []string{
		"IGNORE ALL PREVIOUS INSTRUCTIONS", "secretive", "foo", "123-45", "aaab", "abcdabef",
		"x0a1y", "<<\n>>", "Straße", "KELVIN",
	}
	for i, p := range patterns {
		d, err := compileDeny(p, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		loc := d.re.FindStringIndex(texts[i])
		if loc == nil {
			t.Fatalf("%s does not match %q", p, texts[i])
		}
		m := texts[i][loc[0]:loc[1]]
		for k := 0; k <= len(m); k++ {
			if k < len(m) && !isRuneStart(m[k]) {
				continue
			}
			s := texts[i][:loc[0]+k]
			if u := d.undecided(s, 0); u > loc[0] {
				t.Errorf("%s: %q (prefix of match %q) not held: undecided=%d, match at %d", p, s, m, u, loc[0])
			}
		}
	}
}

func TestRegexUndecided(t *testing.T) {
	d, _ := compileDeny(`(?i)ignore (all )?previous instructions`, 256)
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"Sure, I will", 12},         // nothing can start a match
		{"Sure, I will ig", 13},      // "ig" could
		{"Sure, ignore all prev", 6}, // a match in progress
		{"big", 1},                   // "ig" inside a word can start a match too (no \b)
	} {
		if got := d.undecided(tc.s, 0); got != tc.want {
			t.Errorf("undecided(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	// The hold never exceeds max_match.
	d, _ = compileDeny(`<<.*>>`, 16)
	s := "<<" + strings.Repeat("x", 100)
	if got := d.undecided(s, 0); got < len(s)-16 {
		t.Errorf("undecided = %d, want at least %d", got, len(s)-16)
	}
}

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		s, needle string
		want      bool
	}{
		{"Please IGNORE previous", "ignore", true},
		{"Please ignor previous", "ignore", false},
		{"PREVIOUS INSTRUCTIONS", "previous instructions", true},
		{"previous instruction", "previous instructions", false},
		{"ſystem", "system", true}, // non-ASCII: may match through folding
		{"é ignore", "ignore", true},
		{"é ignor", "ignore", false}, // no k or s in the needle: ASCII search is exact
		{"", "x", false},
	} {
		if got := containsFold(tc.s, tc.needle); got != tc.want {
			t.Errorf("containsFold(%q, %q) = %v", tc.s, tc.needle, got)
		}
	}
	// Against a reference on ASCII text.
	hay := "the quick brown fox jumps over the lazy dog; Ignore Previous Instructions. vivid"
	for i := 0; i < len(hay); i++ {
		for j := i + 1; j <= len(hay) && j <= i+12; j++ {
			needle := strings.ToLower(hay[i:j])
			if !isASCII(needle) || strings.ContainsAny(needle, "ks") {
				continue
			}
			if !containsFold(hay, needle) {
				t.Fatalf("containsFold(hay, %q) = false", needle)
			}
			if containsFold(hay, needle+"#") != strings.Contains(strings.ToLower(hay), needle+"#") {
				t.Fatalf("containsFold(hay, %q) wrong", needle+"#")
			}
		}
	}
}

func TestRequiredAndLeadingLiteral(t *testing.T) {
	for _, tc := range []struct{ p, lit, lead string }{
		{`(?i)ignore (all )?previous instructions`, "previous instructions", "ignore "},
		{`\bsecret\w+`, "secret", "secret"},
		{`a+b`, "a", ""},
		{`(x|y)z`, "z", ""},
		{`[0-9]+`, "", ""},
	} {
		d, err := compileDeny(tc.p, 256)
		if err != nil {
			t.Fatal(err)
		}
		if d.lit != tc.lit || d.lead != tc.lead {
			t.Errorf("%s: lit %q lead %q, want %q %q", tc.p, d.lit, d.lead, tc.lit, tc.lead)
		}
	}
	// A filtered pattern still finds what the plain regexp finds.
	d, _ := compileDeny(`(?i)ignore (all )?previous instructions`, 256)
	for _, s := range []string{"IGNORE PREVIOUS INSTRUCTIONS", "ignore all previous instructionS", "ignore previous"} {
		q, _, _ := d.next(s, 0, true)
		if want := regexp.MustCompile(`(?i)ignore (all )?previous instructions`).MatchString(s); (q >= 0) != want {
			t.Errorf("%q: found %v, want %v", s, q >= 0, want)
		}
	}
}
