package guardrails

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() {
	caddy.RegisterModule(PII{})
}

// PII finds personal data and secrets. Module ID: http.ai_gateway.guardrails.pii.
//
// Categories (all are detected by default, each match is redacted as [REDACTED:<category>]):
//
//   - email: local@domain.tld, with a dotted domain and an alphabetic top-level domain;
//   - phone: numbers written with a leading + (8 to 15 digits, groups separated by space, - or .),
//     and North American numbers: 555-123-4567, (555) 123-4567, 555.123.4567, 555 123 4567, with an
//     optional leading 1;
//   - credit_card: 13 to 19 digits starting with 2 to 6, optionally grouped by spaces or dashes,
//     that pass the Luhn check;
//   - ssn: US social security numbers written 123-45-6789 or 123 45 6789, excluding numbers never
//     issued (area 000, 666 or 9xx, group 00, serial 0000);
//   - iban: IBANs, compact (DE89370400440532013000) or in groups of four, that pass the mod-97 check;
//   - ip: IPv4 addresses in dotted decimal and IPv6 addresses;
//   - secret: API keys and tokens of well-known shapes: OpenAI and Anthropic (sk-...), AWS access
//     key IDs (AKIA.../ASIA...), GitHub (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), Slack (xox?-),
//     Google API keys (AIza...), Stripe (sk_live_, sk_test_, rk_live_, rk_test_), JSON Web Tokens,
//     and PEM private key blocks (from the BEGIN line to the END line, or to the end of the text).
//
// Numbers, addresses and tokens must stand alone: a match glued to a letter, digit or underscore
// on either side is not one. In a stream, text that could still be the start of a match (for
// example the last word, which could be followed by "@") is held back until it is decided;
// a private key block is held back until its END line.
type PII struct {
	Base
	// Detect lists the categories to look for: email, phone, credit_card, ssn, iban, ip, secret.
	// Default: all of them.
	Detect []string `json:"detect,omitempty"`

	tg *textGuard
}

// piiCategories lists the categories in the order their detectors run; at equal positions the
// earlier one wins.
var piiCategories = []string{"secret", "email", "credit_card", "ssn", "iban", "phone", "ip"}

var piiDescriptions = map[string]string{
	"email":       "email address",
	"phone":       "phone number",
	"credit_card": "payment card number",
	"ssn":         "social security number",
	"iban":        "IBAN",
	"ip":          "IP address",
	"secret":      "secret",
}

var piiDetectors = map[string]detector{
	"email":       emailDetector{},
	"phone":       phoneDetector{},
	"credit_card": cardDetector{},
	"ssn":         ssnDetector{},
	"iban":        ibanDetector{},
	"ip":          ipDetector{},
	"secret":      secretDetector{},
}

// CaddyModule returns the Caddy module information.
func (PII) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".pii",
		New: func() caddy.Module { return new(PII) },
	}
}

// Provision checks the configuration and prepares the detectors.
func (p *PII) Provision(caddy.Context) error {
	if err := p.provisionBase("pii", true); err != nil {
		return err
	}
	want := p.Detect
	if len(want) == 0 {
		want = piiCategories
	}
	for _, c := range want {
		if _, ok := piiDetectors[c]; !ok {
			return fmt.Errorf("provisioning guardrail %q: unknown category %q", p.Name, c)
		}
	}
	tg := &textGuard{base: &p.Base}
	for _, c := range piiCategories {
		if !slices.Contains(want, c) {
			continue
		}
		tg.sc.dets = append(tg.sc.dets, piiDetectors[c])
		tg.cat = append(tg.cat, c)
		tg.what = append(tg.what, piiDescriptions[c])
		tg.place = append(tg.place, "[REDACTED:"+c+"]")
	}
	p.tg = tg
	return nil
}

func (p *PII) scanGuard() *textGuard { return p.tg }

// UnmarshalCaddyfile sets up the guardrail from Caddyfile tokens. Syntax:
//
//	guardrail pii {
//		name   <name>
//		on     input|output...
//		action block|redact|log
//		detect email|phone|credit_card|ssn|iban|ip|secret...
//	}
func (p *PII) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.unmarshalBlock(d, "pii", func(d *caddyfile.Dispenser) error {
		switch d.Val() {
		case "detect":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, ok := piiDetectors[a]; !ok {
					return d.Errf("parsing guardrail \"pii\": unknown category '%s' (want %s)", a, strings.Join(piiCategories, ", "))
				}
				p.Detect = append(p.Detect, a)
			}
			return nil
		}
		return d.Errf("parsing guardrail \"pii\": unrecognized subdirective '%s'", d.Val())
	})
}

// --- character classes ---

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// isWord reports an ASCII letter, digit or underscore: what may not touch a number or token.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }

// leftFree reports whether a match may start at q: the character before it is not a word character.
func leftFree(s string, q int) bool { return q == 0 || !isWord(s[q-1]) }

// holdOr returns the hold to report with a decided match ending at end.
func holdOr(end, n int, final bool) int {
	if final {
		return n
	}
	return end
}

// nextDigit returns the index of the first ASCII digit in s at or after i, or len(s).
func nextDigit(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// Eight bytes at a time: a byte b of x is a digit when b < 0x80, b+(0x80-'0') has its high
	// bit set and b+(0x80-'9'-1) has not.
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		low := x &^ highs
		ge0 := low + ones*(0x80-'0')
		gt9 := low + ones*(0x80-'9'-1)
		if ge0&^gt9&^x&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= '9' && c >= '0' {
			return i
		}
	}
	return len(s)
}

// --- email ---

type emailDetector struct{}

// emailLocalMax bounds how far back a local part is followed: past 64
// characters (with the dots that may lead it) no address starts there.
const emailLocalMax = 72

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

func (emailDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	for i := pos; i < n; {
		j := strings.IndexByte(s[i:], '@')
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		// The local part is judged whole, also when it began before pos
		// (in the context, which streams keep long enough: ctxKeep).
		run := at
		for run > 0 && at-run <= emailLocalMax && isLocalChar(s[run-1]) {
			run--
		}
		ls := max(run, pos)
		ls += dotsAt(s, ls, at)
		if ls == at || at-ls > 64 || at-run-dotsAt(s, run, at) > 64 {
			continue
		}
		de := at + 1
		for de < n && isDomainChar(s[de]) {
			de++
		}
		if de == n && !final {
			if de-at-1 <= 253 {
				return -1, -1, ls
			}
			continue
		}
		if end, ok := emailDomainEnd(s, at+1, de); ok {
			return ls, end, holdOr(end, n, final)
		}
	}
	if final {
		return -1, -1, n
	}
	// The last word could still be followed by "@".
	h := n
	for h > pos && isLocalChar(s[h-1]) {
		h--
	}
	h += dotsAt(s, h, n)
	if n-h > 64 {
		h = n
	}
	return -1, -1, h
}

// dotsAt counts the dots that start s[from:to] (they are not part of a
// local part).
func dotsAt(s string, from, to int) int {
	k := from
	for k < to && s[k] == '.' {
		k++
	}
	return k - from
}

// emailDomainEnd validates the domain s[from:to] (trailing dots and dashes are not part of it)
// and returns where the address ends.
func emailDomainEnd(s string, from, to int) (int, bool) {
	for to > from && (s[to-1] == '.' || s[to-1] == '-') {
		to--
	}
	if to-from > 253 || to == from {
		return 0, false
	}
	labels, start := 0, from
	for k := from; k <= to; k++ {
		if k < to && s[k] != '.' {
			continue
		}
		l := s[start:k]
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return 0, false
		}
		labels++
		if k == to { // top-level domain
			if len(l) < 2 {
				return 0, false
			}
			for x := 0; x < len(l); x++ {
				if !isAlpha(l[x]) {
					return 0, false
				}
			}
		}
		start = k + 1
	}
	return to, labels >= 2
}

// --- payment cards ---

type cardDetector struct{}

func (cardDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	for q := nextDigit(s, pos); q < n; q = nextDigit(s, q) {
		// Maximal run of digits with single space or dash separators.
		digits, e := 0, q
		var ds [19]byte
		for e < n {
			c := s[e]
			if isDigit(c) {
				if digits < len(ds) {
					ds[digits] = c - '0'
				}
				digits++
				e++
				continue
			}
			if (c == ' ' || c == '-') && e+1 < n && isDigit(s[e+1]) {
				e++
				continue
			}
			break
		}
		open := !final && (e == n || (e == n-1 && (s[e] == ' ' || s[e] == '-')))
		// A run that began before pos (pos inside it, after a separator)
		// was judged whole from its start: judged again from here, a part
		// of it could pass for a card that the whole run is not.
		ok := !runBefore(s, q) && leftFree(s, q) && s[q] >= '2' && s[q] <= '6'
		if ok && open && digits <= 19 {
			return -1, -1, q
		}
		if ok && !open && digits >= 13 && digits <= 19 && (e == n || !isWord(s[e])) && luhn(ds[:digits]) {
			return q, e, holdOr(e, n, final)
		}
		q = e
	}
	return -1, -1, n
}

// runBefore reports whether the digit at s[q] continues a run of digits
// with single space or dash separators that starts before q.
func runBefore(s string, q int) bool {
	return q > 0 && isDigit(s[q-1]) || q > 1 && (s[q-1] == ' ' || s[q-1] == '-') && isDigit(s[q-2])
}

// luhn reports whether the digits pass the Luhn check.
func luhn(ds []byte) bool {
	sum := 0
	for i := range ds {
		d := int(ds[len(ds)-1-i])
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// --- US social security numbers ---

type ssnDetector struct{}

func (ssnDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	for q := nextDigit(s, pos); q < n; q = nextDigit(s, q+1) {
		if !leftFree(s, q) || (q > 0 && (s[q-1] == '-' || s[q-1] == '.') && q > 1 && isDigit(s[q-2])) {
			continue
		}
		// Shape: ddd S dd S dddd with S one of '-' or ' ', the same twice.
		shapeOK, k := true, 0
		var sep byte
		for k = 0; k < 11 && q+k < n; k++ {
			c := s[q+k]
			switch k {
			case 3:
				if c != '-' && c != ' ' {
					shapeOK = false
				}
				sep = c
			case 6:
				if c != sep {
					shapeOK = false
				}
			default:
				if !isDigit(c) {
					shapeOK = false
				}
			}
			if !shapeOK {
				break
			}
		}
		if !shapeOK {
			continue
		}
		if k < 11 { // ran out of text
			if final {
				return -1, -1, n
			}
			return -1, -1, q
		}
		e := q + 11
		if e < n && isWord(s[e]) {
			continue
		}
		if e < n && (s[e] == '-' || s[e] == '.' || s[e] == sep) {
			if e+1 == n && !final {
				return -1, -1, q
			}
			if e+1 < n && isDigit(s[e+1]) {
				continue
			}
		}
		if e == n && !final {
			return -1, -1, q
		}
		area, group, serial := s[q:q+3], s[q+4:q+6], s[q+7:q+11]
		if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
			continue
		}
		return q, e, holdOr(e, n, final)
	}
	return -1, -1, n
}

// --- IBAN ---

type ibanDetector struct{}

func isIBANChar(c byte) bool { return isUpper(c) || isDigit(c) }

func (ibanDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	for q := pos; q < n; q++ {
		if final {
			// A candidate has two capital letters, then two digits: jump from digit to digit.
			d := nextDigit(s, q+2)
			if d >= n {
				break
			}
			q = d - 2
		}
		if !isUpper(s[q]) || !leftFree(s, q) {
			continue
		}
		// Country code and check digits.
		k := 0
		for ; k < 4 && q+k < n; k++ {
			c := s[q+k]
			if (k < 2 && !isUpper(c)) || (k >= 2 && !isDigit(c)) {
				break
			}
		}
		if k < 4 {
			if q+k == n && !final {
				return -1, -1, q
			}
			continue
		}
		if cd := s[q+2 : q+4]; cd == "00" || cd == "01" || cd == "99" {
			continue
		}
		e := q + 4
		for e < n && isIBANChar(s[e]) {
			e++
		}
		if e == n && !final {
			if e-q <= 34 {
				return -1, -1, q
			}
			continue
		}
		if e < n && isWord(s[e]) {
			continue
		}
		if e-q > 4 { // compact form
			if e-q >= 15 && e-q <= 34 && ibanValid(s[q:e]) {
				return q, e, holdOr(e, n, final)
			}
			continue
		}
		// Grouped form: groups of four separated by single spaces, the last one may be shorter.
		var ends [8]int
		ng, chars, open := 0, 4, false
		for cur := e; ng < len(ends) && cur < n && s[cur] == ' '; {
			if cur+1 == n {
				open = !final
				break
			}
			g := cur + 1
			for g < n && g-cur <= 5 && isIBANChar(s[g]) {
				g++
			}
			glen := g - cur - 1
			if glen == 0 || glen > 4 || chars+glen > 34 {
				break
			}
			if g == n && !final {
				open = true
				break
			}
			if g < n && isWord(s[g]) {
				break
			}
			chars += glen
			ends[ng] = g
			ng++
			cur = g
			if glen < 4 {
				break
			}
		}
		if open {
			return -1, -1, q
		}
		// Try the longest candidate first.
		for gi := ng - 1; gi >= 0; gi-- {
			if c := ibanCompactLen(s[q:ends[gi]]); c >= 15 && c <= 34 && ibanValid(s[q:ends[gi]]) {
				return q, ends[gi], holdOr(ends[gi], n, final)
			}
		}
	}
	return -1, -1, n
}

func ibanCompactLen(s string) int {
	c := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			c++
		}
	}
	return c
}

// ibanValid checks the ISO 13616 mod-97 checksum of an IBAN written with optional spaces.
func ibanValid(s string) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		}
	}
	// Move the first four characters to the end.
	for pass := 0; pass < 2; pass++ {
		seen := 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == ' ' {
				continue
			}
			if (pass == 0) == (seen >= 4) {
				add(c)
			}
			seen++
		}
	}
	return rem == 1
}

// --- IP addresses ---

type ipDetector struct{}

func isIPChar(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'
}

func (ipDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	if final && strings.IndexByte(s[pos:], ':') < 0 {
		// No IPv6 address possible: IPv4 addresses start with a digit.
		for q := nextDigit(s, pos); q < n; q = nextDigit(s, q) {
			if q > 0 && (isWord(s[q-1]) || s[q-1] == '.' || s[q-1] == ':') {
				for q < n && isIPChar(s[q]) {
					q++
				}
				continue
			}
			e := q
			for e < n && isIPChar(s[e]) {
				e++
			}
			end := e
			for end > q && s[end-1] == '.' {
				end--
			}
			if (e == n || !isWord(s[e])) && end-q >= 7 && end-q <= 15 && ipValid(s[q:end]) {
				return q, end, n
			}
			q = e
		}
		return -1, -1, n
	}
	for q := pos; q < n; q++ {
		c := s[q]
		if !isIPChar(c) || c == '.' {
			continue
		}
		if q > 0 && (isWord(s[q-1]) || s[q-1] == '.' || s[q-1] == ':') {
			continue
		}
		e := q
		for e < n && isIPChar(s[e]) {
			e++
		}
		if e == n && !final {
			if e-q <= 45 {
				return -1, -1, q
			}
			return -1, -1, n
		}
		next := e
		end := e
		for end > q && s[end-1] == '.' {
			end--
		}
		if (next < n && isWord(s[next])) || end-q < 3 || end-q > 45 {
			q = e - 1
			continue
		}
		if ipValid(s[q:end]) {
			return q, end, holdOr(end, n, final)
		}
		q = e - 1
	}
	return -1, -1, n
}

func ipValid(t string) bool {
	colons, dots, decimal := 0, 0, false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == ':':
			colons++
		case c == '.':
			dots++
		case isDigit(c):
			decimal = true
		}
	}
	if colons >= 2 {
		if !decimal {
			return false
		}
		a, err := netip.ParseAddr(t)
		return err == nil && a.Is6()
	}
	if colons != 0 || dots != 3 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isDigit(t[i]) && t[i] != '.' {
			return false
		}
	}
	a, err := netip.ParseAddr(t)
	return err == nil && a.Is4()
}

// --- phone numbers ---

type phoneDetector struct{}

func (phoneDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	np := -1 // position of the next '+' or '(' (final mode)
	for q := pos; q < n; q++ {
		if final {
			// Jump to the next digit, '+' or '('.
			if np < q {
				np = n
				if i := strings.IndexByte(s[q:], '+'); i >= 0 {
					np = q + i
				}
				if i := strings.IndexByte(s[q:np], '('); i >= 0 {
					np = q + i
				}
			}
			if q = min(nextDigit(s, q), np); q >= n {
				break
			}
		}
		c := s[q]
		if c > '9' { // skip letters quickly
			continue
		}
		switch {
		case isDigit(c):
			if q > 0 && s[q-1] == '+' {
				continue // the number starts at the +
			}
		case c == '+' || c == '(':
			if q+1 == n {
				if !final && leftFree(s, q) {
					return -1, -1, q
				}
				continue
			}
			if !isDigit(s[q+1]) {
				continue
			}
		default:
			continue
		}
		if !leftFree(s, q) {
			continue
		}
		end, open, ok := phoneAt(s, q, final)
		if open {
			return -1, -1, q
		}
		if ok {
			return q, end, holdOr(end, n, final)
		}
	}
	return -1, -1, n
}

// phoneAt parses a phone number starting at q. open reports that the number reaches the end of
// a text that may continue, so it is not decided yet.
func phoneAt(s string, q int, final bool) (end int, open, ok bool) {
	n := len(s)
	i := q
	plus := s[i] == '+'
	if plus {
		i++
	}
	paren := -1 // index of the group written in parentheses
	inParen := false
	if s[i] == '(' {
		paren, inParen = 0, true
		i++
	}
	var groups [8]int
	ng, digits := 0, 0
	for {
		g := i
		for i < n && isDigit(s[i]) {
			i++
		}
		digits += i - g
		if digits > 15 {
			return 0, false, false
		}
		if i == n && !final {
			return 0, true, false
		}
		if i == g || ng == len(groups) {
			return 0, false, false
		}
		groups[ng] = i - g
		ng++
		closed := false
		if inParen {
			if i == n {
				return 0, false, false
			}
			if s[i] != ')' {
				return 0, false, false
			}
			i++
			inParen, closed = false, true
		}
		if i == n && !final {
			return 0, true, false
		}
		// Separator: one of space, dash or dot (optional right after a closing parenthesis),
		// possibly followed by an opening parenthesis.
		j := i
		if j < n && (s[j] == ' ' || s[j] == '-' || s[j] == '.') {
			j++
		}
		sep := j > i || closed
		if j < n && s[j] == '(' && sep && paren < 0 {
			j++
			if j < n && isDigit(s[j]) {
				paren, inParen = ng, true
			}
		}
		if j == n && !final && j > i {
			return 0, true, false
		}
		if !sep || j == n || !isDigit(s[j]) {
			if inParen { // "(" not followed by a digit: the number ends before it
				inParen, paren = false, -1
			}
			break
		}
		i = j
	}
	end = i
	if end < n && (isWord(s[end]) || s[end] == '+') {
		return 0, false, false
	}
	if plus {
		return end, false, digits >= 8 && paren != 0
	}
	// North American numbering plan.
	switch shape := groups[:ng]; {
	case slices.Equal(shape, []int{3, 3, 4}):
		return end, false, paren <= 0
	case slices.Equal(shape, []int{1, 3, 3, 4}) && s[q] == '1':
		return end, false, paren == -1 || paren == 1
	}
	return 0, false, false
}

// Interface guards
var (
	_ Guardrail             = (*PII)(nil)
	_ caddy.Provisioner     = (*PII)(nil)
	_ caddyfile.Unmarshaler = (*PII)(nil)
)
