package guardrails

import "strings"

// secretShape describes an API key or token: a fixed prefix followed by a body of allowed
// characters whose length is within [min, max].
type secretShape struct {
	prefix   string
	body     func(byte) bool
	min, max int
}

func isTokenChar(c byte) bool { return isWord(c) || c == '-' }
func isB64URL(c byte) bool    { return isAlnum(c) || c == '-' || c == '_' }
func isUpperDigit(c byte) bool {
	return isUpper(c) || isDigit(c)
}

var secretShapes = []secretShape{
	{"sk-", isB64URL, 20, 256}, // OpenAI (sk-, sk-proj-, ...) and Anthropic (sk-ant-...)
	{"sk_live_", isAlnum, 16, 256},
	{"sk_test_", isAlnum, 16, 256},
	{"rk_live_", isAlnum, 16, 256},
	{"rk_test_", isAlnum, 16, 256},
	{"AKIA", isUpperDigit, 16, 16}, // AWS access key ID
	{"ASIA", isUpperDigit, 16, 16},
	{"ghp_", isAlnum, 30, 255}, // GitHub
	{"gho_", isAlnum, 30, 255},
	{"ghu_", isAlnum, 30, 255},
	{"ghs_", isAlnum, 30, 255},
	{"ghr_", isAlnum, 30, 255},
	{"github_pat_", isWord, 22, 255},
	{"xoxa-", isTokenChar, 10, 255}, // Slack
	{"xoxb-", isTokenChar, 10, 255},
	{"xoxe-", isTokenChar, 10, 255},
	{"xoxp-", isTokenChar, 10, 255},
	{"xoxr-", isTokenChar, 10, 255},
	{"xoxs-", isTokenChar, 10, 255},
	{"AIza", isB64URL, 35, 35}, // Google API key
}

const (
	pemBegin = "-----BEGIN "
	pemEnd   = "-----END "
	pemDash  = "-----"
	jwtStart = "eyJ"
	// pemMaxLabel bounds the label of a PEM header ("ENCRYPTED PRIVATE KEY").
	pemMaxLabel = 40
	// jwtMax bounds the length of a JSON Web Token.
	jwtMax = 16 << 10
)

// secretFirst marks the bytes a secret can start with.
var secretFirst = func() (t [256]bool) {
	for _, sh := range secretShapes {
		t[sh.prefix[0]] = true
	}
	t[jwtStart[0]] = true
	t['-'] = true
	return t
}()

// secondOK marks, for each first byte of a secret, the bytes that can follow it.
var secondOK = func() (t [256][256]bool) {
	for _, sh := range secretShapes {
		t[sh.prefix[0]][sh.prefix[1]] = true
	}
	t[jwtStart[0]][jwtStart[1]] = true
	t['-']['-'] = true
	return t
}()

// shapesByFirst lists, for each first byte, the indexes of the shapes starting with it.
var shapesByFirst = func() (t [256][]int) {
	for i, sh := range secretShapes {
		t[sh.prefix[0]] = append(t[sh.prefix[0]], i)
	}
	return t
}()

type secretDetector struct{}

func (secretDetector) next(s string, pos int, final bool) (int, int, int) {
	n := len(s)
	for q := pos; q < n; q++ {
		c := s[q]
		if !secretFirst[c] || (q+1 < n && !secondOK[c][s[q+1]]) {
			continue
		}
		var end int
		var open, ok bool
		if c == '-' {
			end, open, ok = pemAt(s, q, final)
		} else {
			if !leftFree(s, q) || (q > 0 && s[q-1] == '-') {
				continue
			}
			end, open, ok = tokenAt(s, q, final)
		}
		if open {
			return -1, -1, q
		}
		if ok {
			return q, end, holdOr(end, n, final)
		}
	}
	return -1, -1, n
}

// tokenAt matches an API key or a JSON Web Token at q.
func tokenAt(s string, q int, final bool) (end int, open, ok bool) {
	n := len(s)
	rest := s[q:]
	if s[q] == jwtStart[0] {
		if strings.HasPrefix(rest, jwtStart) {
			return jwtAt(s, q, final)
		}
		if !final && len(rest) < len(jwtStart) && strings.HasPrefix(jwtStart, rest) {
			return 0, true, false
		}
	}
	for _, i := range shapesByFirst[s[q]] {
		sh := &secretShapes[i]
		if !strings.HasPrefix(rest, sh.prefix) {
			if !final && len(rest) < len(sh.prefix) && strings.HasPrefix(sh.prefix, rest) {
				return 0, true, false
			}
			continue
		}
		b := q + len(sh.prefix)
		e := b
		for e < n && e-b <= sh.max && sh.body(s[e]) {
			e++
		}
		if e == n && !final {
			if e-b <= sh.max {
				return 0, true, false
			}
			continue
		}
		if e-b < sh.min || e-b > sh.max || (e < n && isTokenChar(s[e])) {
			continue
		}
		return e, false, true
	}
	return 0, false, false
}

// jwtAt matches header.payload[.signature] where header and payload are base64url JSON objects.
func jwtAt(s string, q int, final bool) (end int, open, ok bool) {
	n := len(s)
	seg := func(i int) int {
		for i < n && i-q <= jwtMax && isB64URL(s[i]) {
			i++
		}
		return i
	}
	e1 := seg(q)
	if e1-q > jwtMax {
		return 0, false, false
	}
	if e1 == n {
		return 0, !final, false
	}
	if e1-q < 10 || s[e1] != '.' {
		return 0, false, false
	}
	p := e1 + 1
	if !final && n-p < len(jwtStart) && strings.HasPrefix(jwtStart, s[p:]) {
		return 0, true, false
	}
	if !strings.HasPrefix(s[p:], jwtStart) {
		return 0, false, false
	}
	e2 := seg(p)
	if e2-q > jwtMax {
		return 0, false, false
	}
	if e2 == n {
		return 0, !final, false
	}
	if e2-p < 10 || s[e2] == '-' {
		return 0, false, false
	}
	end = e2
	if s[e2] == '.' {
		if e2+1 == n && !final {
			return 0, true, false
		}
		if e3 := seg(e2 + 1); e3 > e2+1 {
			if e3-q > jwtMax {
				return 0, false, false
			}
			if e3 == n && !final {
				return 0, true, false
			}
			end = e3
		}
	}
	if !final && end == n-1 && s[end] == '.' {
		return 0, true, false // another segment may follow: then it is no token
	}
	if end < n && (isTokenChar(s[end]) || (s[end] == '.' && end+1 < n && isB64URL(s[end+1]))) {
		return 0, false, false
	}
	return end, false, true
}

// pemAt matches a PEM private key block starting at q: from the BEGIN line to the matching END
// line, or to the end of the text if there is none.
func pemAt(s string, q int, final bool) (end int, open, ok bool) {
	n := len(s)
	rest := s[q:]
	if !strings.HasPrefix(rest, pemBegin) {
		return 0, !final && len(rest) < len(pemBegin) && strings.HasPrefix(pemBegin, rest), false
	}
	// Label: capital letters and spaces, then five dashes.
	ls := q + len(pemBegin)
	le := ls
	for le < n && le-ls <= pemMaxLabel && (isUpper(s[le]) || s[le] == ' ') {
		le++
	}
	if le == n {
		return 0, !final && le-ls <= pemMaxLabel, false
	}
	label := s[ls:le]
	if le-ls > pemMaxLabel || !strings.HasSuffix(label, "PRIVATE KEY") {
		return 0, false, false
	}
	if n-le < len(pemDash) {
		return 0, !final && strings.HasPrefix(pemDash, s[le:]), false
	}
	if s[le:le+len(pemDash)] != pemDash {
		return 0, false, false
	}
	for i := le + len(pemDash); ; {
		j := strings.Index(s[i:], pemEnd)
		if j < 0 {
			break
		}
		k := i + j + len(pemEnd)
		if strings.HasPrefix(s[k:], label) && strings.HasPrefix(s[k+len(label):], pemDash) {
			return k + len(label) + len(pemDash), false, true
		}
		if !final && n-k < len(label)+len(pemDash) && strings.HasPrefix(label+pemDash, s[k:]) {
			return 0, true, false
		}
		i = k
	}
	if !final {
		return 0, true, false
	}
	return n, false, true
}
