package guardrails

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() {
	caddy.RegisterModule(Regex{})
}

// DefaultMaxMatch is the default of [Regex.MaxMatch], in bytes.
const DefaultMaxMatch = 256

// Regex finds text matching deny patterns. Module ID: http.ai_gateway.guardrails.regex.
//
// Patterns use Go's RE2 syntax and are compiled when the configuration is loaded. Each text
// (a message, a content part, tool call arguments, an answer) is searched on its own: ^ and $
// refer to the start and end of that text unless (?m) is given. Matches are taken leftmost
// first; a pattern that could match empty text is refused.
//
// In a stream, text is released as soon as no pattern can match starting in it: only the
// trailing part that could still be the beginning of a match is held back, and never more than
// MaxMatch bytes. A match longer than MaxMatch bytes may therefore be missed in a stream, or
// found only in part; non-streamed texts are not affected.
type Regex struct {
	Base
	// Deny lists the patterns (Go RE2 syntax) whose matches trigger the action, reported with
	// category "deny_pattern". At least one is required.
	Deny []string `json:"deny,omitempty"`
	// Allow lists patterns that exempt a deny match: a match is exempt when an allow pattern
	// matches anywhere in the matched text (anchor it with ^ and $ to require the whole match).
	// Default: none.
	Allow []string `json:"allow,omitempty"`
	// MaxMatch is the longest text, in bytes, that a stream holds back while it could still
	// become a match. Default: 256.
	MaxMatch int `json:"max_match,omitempty"`
	// Replacement is the text that replaces a match with action redact. Default: "[REDACTED]".
	Replacement string `json:"replacement,omitempty"`

	tg *textGuard
}

// CaddyModule returns the Caddy module information.
func (Regex) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".regex",
		New: func() caddy.Module { return new(Regex) },
	}
}

// Provision compiles the patterns.
func (r *Regex) Provision(caddy.Context) error {
	if err := r.provisionBase("regex", true); err != nil {
		return err
	}
	if len(r.Deny) == 0 {
		return fmt.Errorf("provisioning guardrail %q: at least one deny pattern is required", r.Name)
	}
	if r.MaxMatch < 0 {
		return fmt.Errorf("provisioning guardrail %q: max_match must not be negative", r.Name)
	}
	maxMatch := r.MaxMatch
	if maxMatch == 0 {
		maxMatch = DefaultMaxMatch
	}
	repl := r.Replacement
	if repl == "" {
		repl = "[REDACTED]"
	}
	tg := &textGuard{base: &r.Base}
	for i, p := range r.Deny {
		d, err := compileDeny(p, maxMatch)
		if err != nil {
			return fmt.Errorf("provisioning guardrail %q: deny pattern %d %q: %v", r.Name, i+1, p, err)
		}
		tg.sc.dets = append(tg.sc.dets, d)
		tg.cat = append(tg.cat, "deny_pattern")
		tg.what = append(tg.what, "text matching deny pattern "+strconv.Itoa(i+1))
		tg.place = append(tg.place, repl)
	}
	var allow []*regexp.Regexp
	for i, p := range r.Allow {
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("provisioning guardrail %q: allow pattern %d %q: %v", r.Name, i+1, p, err)
		}
		allow = append(allow, re)
	}
	if len(allow) > 0 {
		tg.exempt = func(m string) bool {
			for _, re := range allow {
				if re.MatchString(m) {
					return true
				}
			}
			return false
		}
	}
	r.tg = tg
	return nil
}

func (r *Regex) scanGuard() *textGuard { return r.tg }

// UnmarshalCaddyfile sets up the guardrail from Caddyfile tokens. Syntax:
//
//	guardrail regex {
//		name        <name>
//		on          input|output...
//		action      block|redact|log
//		deny        <pattern>...
//		allow       <pattern>...
//		max_match   <bytes>
//		replacement <text>
//	}
//
// deny and allow may be repeated.
func (r *Regex) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return r.unmarshalBlock(d, "regex", func(d *caddyfile.Dispenser) error {
		switch d.Val() {
		case "deny", "allow":
			which := d.Val()
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := syntax.Parse(a, syntax.Perl); err != nil {
					return d.Errf("parsing guardrail \"regex\": %s pattern %q: %v", which, a, err)
				}
			}
			if which == "deny" {
				r.Deny = append(r.Deny, args...)
			} else {
				r.Allow = append(r.Allow, args...)
			}
		case "max_match":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("parsing guardrail \"regex\": max_match must be a positive number of bytes, got '%s'", d.Val())
			}
			r.MaxMatch = n
			if d.NextArg() {
				return d.ArgErr()
			}
		case "replacement":
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.Replacement = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("parsing guardrail \"regex\": unrecognized subdirective '%s'", d.Val())
		}
		return nil
	})
}

// regexDetector finds the matches of one deny pattern.
type regexDetector struct {
	re *regexp.Regexp
	// ctx is `\A(?s:.)(?s:.*?)(P)`: searching from the rune before a position finds the leftmost
	// match at or after it with correct ^, \b and friends. Set when P has assertions.
	ctx *regexp.Regexp
	// partial matches a text suffix that is a prefix of some match of P (possibly empty).
	partial    *regexp.Regexp
	partialCtx *regexp.Regexp
	maxMatch   int
	// lit is a literal every match contains (lower case if fold): texts without it are skipped.
	lit  string
	fold bool
	// first marks the bytes a match can start with.
	first [256]bool
	// lead is the literal every match starts with (lower case if fold), if any.
	lead string
}

func compileDeny(p string, maxMatch int) (*regexDetector, error) {
	tree, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if minLen(tree) == 0 {
		return nil, fmt.Errorf("pattern can match empty text")
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	d := &regexDetector{re: re, maxMatch: maxMatch}
	d.lit, d.fold = requiredLiteral(tree)
	firstBytes(tree, &d.first)
	d.lead = leadingLiteral(tree)
	pre := prefixOf(tree.Simplify()).String()
	if d.partial, err = regexp.Compile(`(?:` + pre + `)\z`); err != nil {
		return nil, fmt.Errorf("building stream matcher: %v", err)
	}
	if hasAssertion(tree) {
		if d.ctx, err = regexp.Compile(`\A(?s:.)(?s:.*?)(` + p + `)`); err != nil {
			return nil, err
		}
		if d.partialCtx, err = regexp.Compile(`\A(?s:.)(?s:.*?)(` + pre + `)\z`); err != nil {
			return nil, fmt.Errorf("building stream matcher: %v", err)
		}
	}
	return d, nil
}

func (d *regexDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	q, e := -1, -1
	if d.mayMatch(s[pos:]) {
		q, e = d.find(s, pos)
	}
	if final {
		return q, e, n
	}
	u := d.undecided(s, pos)
	if q >= 0 && q < u {
		return q, e, u
	}
	return -1, -1, u
}

// find returns the leftmost match at or after pos, or -1.
func (d *regexDetector) find(s string, pos int) (int, int) {
	if d.ctx == nil || pos == 0 {
		loc := d.re.FindStringIndex(s[pos:])
		if loc == nil {
			return -1, -1
		}
		return pos + loc[0], pos + loc[1]
	}
	_, k := utf8.DecodeLastRuneInString(s[:pos])
	m := d.ctx.FindStringSubmatchIndex(s[pos-k:])
	if m == nil {
		return -1, -1
	}
	return pos - k + m[2], pos - k + m[3]
}

// undecided returns the leftmost position at or after pos from which the rest of s could be the
// beginning of a match, but not earlier than len(s)-maxMatch.
func (d *regexDetector) undecided(s string, pos int) int {
	n := len(s)
	from := pos
	if lim := n - d.maxMatch; lim > from {
		from = lim
		for from > pos && !utf8.RuneStart(s[from]) {
			from--
		}
	}
	// Only a suffix starting with a possible first byte, and agreeing with the leading literal,
	// can be the beginning of a match.
	for from < n && (!d.first[s[from]] || (d.lead != "" && !agrees(s[from:], d.lead))) {
		from++
	}
	if from == n {
		return n
	}
	if d.partialCtx == nil || from == 0 {
		loc := d.partial.FindStringIndex(s[from:])
		if loc == nil {
			return n
		}
		return from + loc[0]
	}
	_, k := utf8.DecodeLastRuneInString(s[:from])
	m := d.partialCtx.FindStringSubmatchIndex(s[from-k:])
	if m == nil {
		return n
	}
	return from - k + m[2]
}

// mayMatch is a quick test: false means no match can lie in s.
func (d *regexDetector) mayMatch(s string) bool {
	switch {
	case d.lit == "":
		return true
	case !d.fold:
		return strings.Contains(s, d.lit)
	}
	return containsFold(s, d.lit)
}

// containsFold reports whether s may contain lower (ASCII, lower case) ignoring case. When
// lower has a 'k' or an 's', which have non-ASCII case variants (K, ſ), any non-ASCII byte in s
// makes it answer true.
func containsFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	if strings.ContainsAny(lower, "ks") && !isASCII(s) {
		return true
	}
	// Look for the rarest letter of the needle in either case, then compare around it.
	p := rarest(lower)
	lc := lower[p]
	uc := lc
	if lc >= 'a' && lc <= 'z' {
		uc -= 'a' - 'A'
	}
	for i := p; i < len(s); {
		j := strings.IndexByte(s[i:], lc)
		if uc != lc {
			if k := strings.IndexByte(s[i:], uc); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return false
		}
		at := i + j - p
		if at+len(lower) <= len(s) && equalFoldASCII(s[at:at+len(lower)], lower) {
			return true
		}
		i += j + 1
	}
	return false
}

// letterRank orders ASCII letters from rare to common in English text.
const letterRank = "zqxjkvbpygfwmucldrhsnioate"

// rarest returns the index of the rarest letter of lower (or 0).
func rarest(lower string) int {
	best, bestRank := 0, len(letterRank)+1
	for i := 0; i < len(lower); i++ {
		r := strings.IndexByte(letterRank, lower[i])
		if r < 0 {
			continue
		}
		if r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

func equalFoldASCII(t, lower string) bool {
	for i := 0; i < len(lower); i++ {
		x := t[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != lower[i] {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if (uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56)&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// leadingLiteral returns the literal every match of re starts with (after zero-width
// assertions), lower-cased for case-insensitive matching, or "" if there is none usable.
func leadingLiteral(re *syntax.Regexp) string {
	for {
		switch re.Op {
		case syntax.OpCapture:
			re = re.Sub[0]
			continue
		case syntax.OpConcat:
			var first *syntax.Regexp
			for _, sub := range re.Sub {
				switch sub.Op {
				case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
					continue
				}
				first = sub
				break
			}
			if first == nil {
				return ""
			}
			re = first
			continue
		case syntax.OpLiteral:
			var b strings.Builder
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf {
					break
				}
				if re.Flags&syntax.FoldCase != 0 {
					r = unicode.ToLower(r)
				}
				b.WriteRune(r)
			}
			return b.String()
		}
		return ""
	}
}

// agrees reports whether t could start with lead, compared up to the shorter length. A
// case-insensitive lead is lower case; any non-ASCII byte in t counts as agreeing.
func agrees(t, lead string) bool {
	n := min(len(t), len(lead))
	for i := 0; i < n; i++ {
		c := t[i]
		if c >= utf8.RuneSelf {
			return true
		}
		if c == lead[i] {
			continue
		}
		if c >= 'A' && c <= 'Z' && c+('a'-'A') == lead[i] {
			continue
		}
		return false
	}
	return true
}

// requiredLiteral returns the longest literal that every match of re contains, lower-cased
// when it is matched case-insensitively, or "" if there is none usable (non-ASCII folding).
func requiredLiteral(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		var b strings.Builder
		for _, r := range re.Rune {
			if fold {
				if r >= utf8.RuneSelf {
					return "", false
				}
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		return b.String(), fold
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best, fold := "", false
		for _, sub := range re.Sub {
			if l, f := requiredLiteral(sub); len(l) > len(best) {
				best, fold = l, f
			}
		}
		return best, fold
	}
	return "", false
}

// firstBytes marks in set the bytes a match of re can start with and reports whether re can
// match the empty string (then what follows it can start a match too).
func firstBytes(re *syntax.Regexp, set *[256]bool) (nullable bool) {
	markRune := func(r rune) {
		if r < utf8.RuneSelf {
			set[r] = true
			return
		}
		var b [utf8.UTFMax]byte
		utf8.EncodeRune(b[:], r)
		set[b[0]] = true
	}
	markRange := func(lo, hi rune) {
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			set[r] = true
		}
		if hi >= utf8.RuneSelf {
			for c := 0xC0; c < 0x100; c++ { // any lead byte; invalid bytes decode as U+FFFD
				set[c] = true
			}
			for c := 0x80; c < 0xC0; c++ {
				set[c] = true
			}
		}
	}
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		r0 := re.Rune[0]
		markRune(r0)
		if re.Flags&syntax.FoldCase != 0 {
			for r := unicode.SimpleFold(r0); r != r0; r = unicode.SimpleFold(r) {
				markRune(r)
			}
		}
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			markRange(re.Rune[i], re.Rune[i+1])
		}
		return false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		markRange(0, unicode.MaxRune)
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return firstBytes(re.Sub[0], set)
	case syntax.OpStar, syntax.OpQuest:
		firstBytes(re.Sub[0], set)
		return true
	case syntax.OpRepeat:
		return firstBytes(re.Sub[0], set) || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !firstBytes(sub, set) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		nullable = false
		for _, sub := range re.Sub {
			if firstBytes(sub, set) {
				nullable = true
			}
		}
		return nullable
	case syntax.OpNoMatch:
		return false
	}
	return true // empty match and assertions
}

// minLen returns the least number of characters a match of re has.
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL, syntax.OpNoMatch:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		t := 0
		for _, s := range re.Sub {
			t += minLen(s)
		}
		return t
	case syntax.OpAlternate:
		m := -1
		for _, s := range re.Sub {
			if l := minLen(s); m < 0 || l < m {
				m = l
			}
		}
		return max(m, 0)
	}
	return 0 // empty match, assertions, star, quest
}

func hasAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range re.Sub {
		if hasAssertion(s) {
			return true
		}
	}
	return false
}

// prefixOf returns a regexp matching every prefix of every match of re (in its context).
// Assertions that would be checked at the end of a prefix are dropped, which only widens it.
func prefixOf(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpNoMatch:
		return re
	case syntax.OpLiteral:
		var cur *syntax.Regexp
		for i := len(re.Rune) - 1; i >= 0; i-- {
			lit := &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{re.Rune[i]}, Flags: re.Flags}
			if cur != nil {
				lit = concat(lit, cur)
			}
			cur = quest(lit)
		}
		if cur == nil {
			return empty()
		}
		return cur
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return quest(re)
	case syntax.OpCapture, syntax.OpQuest:
		return prefixOf(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		star := &syntax.Regexp{Op: syntax.OpStar, Sub: []*syntax.Regexp{re.Sub[0]}, Flags: re.Flags}
		return concat(star, prefixOf(re.Sub[0]))
	case syntax.OpRepeat: // not left by Simplify, handled for completeness
		if re.Max == 0 {
			return empty()
		}
		rep := &syntax.Regexp{Op: syntax.OpStar, Sub: []*syntax.Regexp{re.Sub[0]}, Flags: re.Flags}
		if re.Max > 0 {
			rep = &syntax.Regexp{Op: syntax.OpRepeat, Min: 0, Max: re.Max - 1, Sub: []*syntax.Regexp{re.Sub[0]}, Flags: re.Flags}
		}
		return concat(rep, prefixOf(re.Sub[0]))
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return empty()
		}
		p := prefixOf(re.Sub[len(re.Sub)-1])
		for i := len(re.Sub) - 2; i >= 0; i-- {
			p = alternate(prefixOf(re.Sub[i]), concat(re.Sub[i], p))
		}
		return p
	case syntax.OpAlternate:
		subs := make([]*syntax.Regexp, len(re.Sub))
		for i, s := range re.Sub {
			subs[i] = prefixOf(s)
		}
		return &syntax.Regexp{Op: syntax.OpAlternate, Sub: subs}
	}
	return empty() // empty match and assertions
}

func empty() *syntax.Regexp { return &syntax.Regexp{Op: syntax.OpEmptyMatch} }

func quest(re *syntax.Regexp) *syntax.Regexp {
	return &syntax.Regexp{Op: syntax.OpQuest, Sub: []*syntax.Regexp{re}}
}

func concat(a, b *syntax.Regexp) *syntax.Regexp {
	return &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{a, b}}
}

func alternate(a, b *syntax.Regexp) *syntax.Regexp {
	return &syntax.Regexp{Op: syntax.OpAlternate, Sub: []*syntax.Regexp{a, b}}
}

// Interface guards
var (
	_ Guardrail             = (*Regex)(nil)
	_ caddy.Provisioner     = (*Regex)(nil)
	_ caddyfile.Unmarshaler = (*Regex)(nil)
)
