package guardrails

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func provision(t testing.TB, p caddy.Provisioner) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

func newPII(t testing.TB, action string, on []string, cats ...string) *PII {
	t.Helper()
	p := &PII{Base: Base{Action: action, On: on}, Detect: cats}
	provision(t, p)
	return p
}

func newRegex(t testing.TB, action string, on []string, deny ...string) *Regex {
	t.Helper()
	r := &Regex{Base: Base{Action: action, On: on}, Deny: deny}
	provision(t, r)
	return r
}

type found struct {
	cat  string
	text string
}

// matches lists the matches of g in s, batch mode.
func matches(g *textGuard, s string) []found {
	var out []found
	g.sc.run(s, 0, true, func(h hit) bool {
		if g.exempt == nil || !g.exempt(s[h.start:h.end]) {
			out = append(out, found{g.cat[h.det], s[h.start:h.end]})
		}
		return true
	})
	return out
}

// batchRedact redacts s as a non-streamed text would be.
func batchRedact(g *textGuard, s string) string {
	out, _ := g.checkText(s, func(int) {})
	return out
}

// streamText feeds parts to a scanStream and returns each release.
func streamText(g *textGuard, parts []string) (released []string, blocked bool) {
	st := &scanStream{g: g, rec: &Recorder{}, loc: "test"}
	for i, p := range parts {
		out, b := st.Feed(p, i == len(parts)-1, nil)
		if b {
			return released, true
		}
		released = append(released, string(out))
	}
	return released, false
}

// splits returns s cut at every position (two parts) and, with step, at pairs of positions
// (three parts). Cuts fall on rune boundaries, as JSON string deltas do.
func splits(s string, step int) [][]string {
	var cuts []int
	for i := 0; i <= len(s); i++ {
		if i == len(s) || isRuneStart(s[i]) {
			cuts = append(cuts, i)
		}
	}
	var out [][]string
	for _, a := range cuts {
		out = append(out, []string{s[:a], s[a:]})
	}
	if step > 0 {
		for x := 0; x < len(cuts); x += step {
			for y := x; y < len(cuts); y += step {
				a, b := cuts[x], cuts[y]
				out = append(out, []string{s[:a], s[a:b], s[b:]})
			}
		}
	}
	return out
}

func isRuneStart(c byte) bool { return c&0xC0 != 0x80 }

func containsAny(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			return x
		}
	}
	return ""
}
