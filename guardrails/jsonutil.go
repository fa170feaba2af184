package guardrails

import (
	"slices"
	"unicode/utf8"
)

// edit replaces body[at:at+n] with text, JSON-encoded as a string when str is set.
type edit struct {
	at, n int
	text  string
	str   bool
}

// applyEdits returns a copy of body with the non-overlapping edits applied.
func applyEdits(body []byte, edits []edit) []byte {
	return appendEdits(make([]byte, 0, len(body)+64), body, edits)
}

// appendEdits appends body to out with the non-overlapping edits applied.
func appendEdits(out, body []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.at - b.at })
	last := 0
	for _, e := range edits {
		if e.at < last || e.at+e.n > len(body) {
			continue // overlapping or out of range: never produced, but never corrupt the body
		}
		out = append(out, body[last:e.at]...)
		if e.str {
			out = appendJSONString(out, e.text)
		} else {
			out = append(out, e.text...)
		}
		last = e.at + e.n
	}
	return append(out, body[last:]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s to dst as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
