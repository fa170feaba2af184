package cache

import (
	"strconv"
	"strings"
)

// A minimal walker over JSON text that is already known to be valid (the
// callers check with gjson.Valid first). It hands out the raw text of
// members and elements, never decoding strings: replay and accumulation
// only copy string text, so unescaping it (as gjson does for every string
// it visits) would be wasted work.

// skipSpace returns the index of the first non-whitespace byte of s at or
// after i.
func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// valueEnd returns the index just past the JSON value that starts at s[i].
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				i = stringEnd(s, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(s) {
			switch s[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// stringEnd returns the index just past the string that starts at s[i].
// Short strings (names, ids) are scanned byte by byte; past 16 bytes it
// jumps from quote to quote, a quote preceded by an odd number of
// backslashes being escaped.
func stringEnd(s string, i int) int {
	first := i + 1
	for i = first; i < len(s) && i < first+16; i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	for ; i < len(s); i++ {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			break
		}
		i += j
		k := i - 1
		for k >= first && s[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1
		}
	}
	return len(s)
}

// eachMember calls fn with the raw name (quotes included) and raw value of
// every member of the object obj, until fn returns false. It does nothing
// when obj is not an object.
func eachMember(obj string, fn func(name, value string) bool) {
	if len(obj) < 2 || obj[0] != '{' {
		return
	}
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		end := stringEnd(obj, i)
		name := obj[i:end]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		end = valueEnd(obj, i)
		if !fn(name, obj[i:end]) {
			return
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i = skipSpace(obj, i+1)
	}
}

// eachElement calls fn with the raw text of every element of the array
// arr, until fn returns false. It does nothing when arr is not an array.
func eachElement(arr string, fn func(value string) bool) {
	if len(arr) < 2 || arr[0] != '[' {
		return
	}
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end := valueEnd(arr, i)
		if !fn(arr[i:end]) {
			return
		}
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return
		}
		i = skipSpace(arr, i+1)
	}
}

// memberValue returns the raw value of obj's member name (given with its
// quotes), or "" when there is none.
func memberValue(obj, name string) (value string) {
	eachMember(obj, func(n, v string) bool {
		if n == name {
			value = v
			return false
		}
		return true
	})
	return value
}

// Raw value kinds, told apart by their first byte.
func isString(v string) bool { return len(v) >= 2 && v[0] == '"' }
func isObject(v string) bool { return len(v) >= 2 && v[0] == '{' }
func isArray(v string) bool  { return len(v) >= 2 && v[0] == '[' }
func isNull(v string) bool   { return v == "null" }
func isNumber(v string) bool { return v != "" && (v[0] == '-' || '0' <= v[0] && v[0] <= '9') }

// stringText returns the text of the raw string v without its quotes.
func stringText(v string) string { return v[1 : len(v)-1] }

// isEmptyArray reports whether v is an array with no elements.
func isEmptyArray(v string) bool {
	return isArray(v) && skipSpace(v, 1) == len(v)-1
}

// intValue returns the raw number v as an int, if it is written as one.
func intValue(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil
}
