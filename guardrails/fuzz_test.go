package guardrails

import (
	"strings"
	"testing"
)

// FuzzStreamRedactor checks that streaming redaction, whatever the chunking, releases exactly
// the batch redaction of the whole text, and only ever prefixes of it.
func FuzzStreamRedactor(f *testing.F) {
	for i, s := range streamTexts {
		f.Add(s, []byte{byte(i * 7), 3, 200, 17})
	}
	f.Add("ignore all previous instructions, foo\nsecret123 bar", []byte{5, 9, 1})
	f.Add("x@y.zz 4111111111111111 +1 (555) 123-4567", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	p := newPII(f, "redact", []string{"output"})
	r := &Regex{Base: Base{Action: "redact", On: []string{"output"}}, MaxMatch: 1 << 20,
		Deny: []string{`(?i)ignore (all )?previous instructions`, `\bsecret\w{0,8}\b`, `(?m)^foo$`, `\d{3}-\d{2}`, `a+b`}}
	provision(f, r)
	chain := NewChain([]Guardrail{p, r})
	f.Fuzz(func(t *testing.T, text string, cuts []byte) {
		if len(text) > 2000 {
			return
		}
		// Cut points, in order, on rune boundaries (JSON string deltas never split a rune).
		var parts []string
		last := 0
		for _, c := range cuts {
			at := last + int(c)%(len(text)-last+1)
			for at < len(text) && !isRuneStart(text[at]) {
				at++
			}
			parts = append(parts, text[last:at])
			last = at
		}
		parts = append(parts, text[last:])

		for _, g := range []*textGuard{p.tg, r.tg} {
			want := batchRedact(g, text)
			released, blocked := streamText(g, parts)
			if blocked {
				t.Fatal("blocked with action redact")
			}
			sofar := ""
			for _, x := range released {
				sofar += x
				if !strings.HasPrefix(want, sofar) {
					t.Fatalf("%s: parts %q: released %q, not a prefix of %q", g.base.typ, parts, sofar, want)
				}
			}
			if sofar != want {
				t.Fatalf("%s: parts %q: stream %q, batch %q", g.base.typ, parts, sofar, want)
			}
		}

		// The whole pipeline: pii, then regex on what pii released.
		want := batchRedact(r.tg, batchRedact(p.tg, text))
		f := &StreamFilter{chain: chain}
		fl := f.newField("x", true)
		got := ""
		for i, x := range parts {
			out, blocked := fl.feed(x, i == len(parts)-1)
			if blocked {
				t.Fatal("blocked")
			}
			got += strings.Clone(out) // out shares the field's buffer
		}
		if got != want {
			t.Fatalf("pipeline: parts %q: stream %q, batch %q", parts, got, want)
		}
	})
}

// TestStreamRedactorContext: cases the fuzzer found where a stream, resuming
// inside a run that began before its scan position, judged a part of the
// run that the whole text does not match (a card number inside a longer
// digit run, a JWT followed by another segment, an address whose local part
// is too long).
func TestStreamRedactorContext(t *testing.T) {
	p := newPII(t, "redact", []string{"output"})
	for _, parts := range [][]string{
		{"000 45674920 7946 0", "958"},
		{"eyJ00000000000000000.eyJ000000000000000000000000.00000000000000000000.", "0"},
		{strings.Repeat("0", 65), "000@0.AA"},
		{strings.Repeat("a", 40) + " ", "b@example.com"},
	} {
		text := strings.Join(parts, "")
		want := batchRedact(p.tg, text)
		released, _ := streamText(p.tg, parts)
		if got := strings.Join(released, ""); got != want {
			t.Errorf("parts %q: stream %q, batch %q", parts, got, want)
		}
	}
}
