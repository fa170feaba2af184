// Package rawjson is a minimal walker over JSON text. It hands out the raw
// text of members and elements, never decoding strings: callers that only
// copy string text (cache replay and accumulation, stream translation)
// would waste work unescaping every string they pass, as gjson does.
//
// The walker is meant for text already known to be valid JSON. On other
// text it never panics and always ends, but what it hands out is
// unspecified.
package rawjson

import (
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// skipSpace returns the index of the first non-whitespace byte of s at or
// after i.
func SkipSpace(s string, i int) int {
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
func ValueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return StringEnd(s, i)
	case '{', '[':
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				i = StringEnd(s, i) - 1
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
func StringEnd(s string, i int) int {
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

// EachMember calls fn with the raw name (quotes included) and raw value of
// every member of the object obj, until fn returns false. It returns false
// when obj is not an object or the walk met bytes that cannot be one (a
// missing colon, comma, value or closing brace) before fn stopped it; the
// values themselves are not validated. It is Members handing out text.
func EachMember(obj string, fn func(name, value string) bool) bool {
	if len(obj) < 2 || obj[0] != '{' {
		return false
	}
	var w textWalk
	end := Members(obj, 0, func(name string, at int) int { return w.step(obj, at, func(v string) bool { return fn(name, v) }) })
	return w.whole(obj, end)
}

// EachElement calls fn with the raw text of every element of the array
// arr, until fn returns false. It returns false when arr is not an array
// or the walk met bytes that cannot be one before fn stopped it. It is
// Elements handing out text.
func EachElement(arr string, fn func(value string) bool) bool {
	if len(arr) < 2 || arr[0] != '[' {
		return false
	}
	var w textWalk
	end := Elements(arr, 0, func(at int) int { return w.step(arr, at, fn) })
	return w.whole(arr, end)
}

// textWalk is the state EachMember and EachElement keep over a positional
// walk: whether fn stopped it, or a value was missing.
type textWalk struct{ stopped, missing bool }

// step hands fn the value that starts at s[at] and returns the walk's next
// step: the index past the value, or -2 to stop.
func (w *textWalk) step(s string, at int, fn func(value string) bool) int {
	end := ValueEnd(s, at)
	switch {
	case end == at:
		w.missing = true
		return -2
	case !fn(s[at:end]):
		w.stopped = true
		return -2
	}
	return end
}

// whole reports what EachMember and EachElement return after a walk of s
// that ended at end.
func (w *textWalk) whole(s string, end int) bool {
	return w.stopped || !w.missing && end >= 0 && SkipSpace(s, end) == len(s)
}

// memberValue returns the raw value of obj's member name (given with its
// quotes), or "" when there is none.
func MemberValue(obj, name string) (value string) {
	EachMember(obj, func(n, v string) bool {
		if n == name {
			value = v
			return false
		}
		return true
	})
	return value
}

// Raw value kinds, told apart by their first byte.
func IsString(v string) bool { return len(v) >= 2 && v[0] == '"' }
func IsObject(v string) bool { return len(v) >= 2 && v[0] == '{' }
func IsArray(v string) bool  { return len(v) >= 2 && v[0] == '[' }
func IsNull(v string) bool   { return v == "null" }
func IsNumber(v string) bool { return v != "" && (v[0] == '-' || '0' <= v[0] && v[0] <= '9') }

// stringText returns the text of the raw string v without its quotes.
func StringText(v string) string { return v[1 : len(v)-1] }

// isEmptyArray reports whether v is an array with no elements.
func IsEmptyArray(v string) bool {
	return IsArray(v) && SkipSpace(v, 1) == len(v)-1
}

// intValue returns the raw number v as an int, if it is written as one.
func IntValue(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// Members walks the members of the object that starts at s[i], for
// callers that read nested values in the same pass: fn gets each raw name
// (quotes included) and the index where its value starts, and returns the
// index just past the value when it read the value itself, or -1 to have
// it skipped. Members returns the index just past the object, or -1 when
// s[i] does not start one (i < 0 included) or fn stopped (by returning -2).
func Members(s string, i int, fn func(name string, value int) (end int)) int {
	if i < 0 || i >= len(s) || s[i] != '{' {
		return -1
	}
	i = SkipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1
	}
	return members(s, i, fn)
}

// MoreMembers is Members for the rest of an object whose walk a caller
// began itself: i is the index just past a member's value.
func MoreMembers(s string, i int, fn func(name string, value int) (end int)) int {
	if i < 0 {
		return -1 // the value before ended the walk
	}
	i = SkipSpace(s, i)
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '}':
		return i + 1
	case ',':
		return members(s, SkipSpace(s, i+1), fn)
	}
	return -1
}

// members walks members from the name at s[i].
func members(s string, i int, fn func(name string, value int) (end int)) int {
	for i < len(s) && s[i] == '"' {
		end := StringEnd(s, i)
		name := s[i:end]
		i = SkipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return -1
		}
		i = SkipSpace(s, i+1)
		var done int
		if i, done = afterValue(s, i, fn(name, i), '}'); done != 0 {
			return done
		}
	}
	return -1
}

// afterValue continues a walk past the value that starts at s[at] and
// that fn said ends at end (-1: skip it; -2: stop): it returns the index of
// the next member or element, or done, non-zero, when the walk is over
// (the index past the closing byte, or -1).
func afterValue(s string, at, end int, closing byte) (next, done int) {
	switch {
	case end == -2:
		return 0, -1
	case end < at:
		end = ValueEnd(s, at)
	}
	i := SkipSpace(s, end)
	switch {
	case i >= len(s):
		return 0, -1
	case s[i] == closing:
		return 0, i + 1
	case s[i] == ',':
		return SkipSpace(s, i+1), 0
	}
	return 0, -1
}

// Elements is Members for the elements of the array that starts at s[i]:
// fn gets the index where each element starts and returns the index just
// past it, or -1 to have it skipped, or -2 to stop.
func Elements(s string, i int, fn func(value int) (end int)) int {
	if i < 0 || i >= len(s) || s[i] != '[' {
		return -1
	}
	i = SkipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1
	}
	for i < len(s) {
		var done int
		if i, done = afterValue(s, i, fn(i), ']'); done != 0 {
			return done
		}
	}
	return -1
}

// Head walks the chunks of a stream, which repeat their first members (id,
// object, created, model...) up to the one that changes from chunk to chunk
// (Key, e.g. "choices"): once a chunk was walked whole, a later chunk that
// starts with the same bytes is walked from Key on, the members before it
// skipped. Their values are the same, so skipping them is right for a
// reader whose state they set, as long as nothing else changed that state
// since: a member after Key with a name the head holds (a second
// service_tier) makes the next chunk be walked whole. A chunk whose members
// before Key include one of PerChunk (what a reader needs from every chunk,
// such as its usage) becomes no head. The zero Head with Key set is ready.
type Head struct {
	Key      string   // raw name, quotes included
	PerChunk []string // raw names
	prefix   string   // the last head: a chunk up to the value of Key
	names    []int    // start and end in prefix of each name the head holds
}

// Walk walks the members of the object s (after leading spaces) with fn,
// as Members does, and returns what Members returns.
func (h *Head) Walk(s string, fn func(name string, value int) (end int)) int {
	tail := func(name string, at int) int {
		if h.holds(name) {
			h.Forget()
		}
		return fn(name, at)
	}
	if h.prefix != "" && strings.HasPrefix(s, h.prefix) {
		at := len(h.prefix)
		switch end := fn(h.Key, at); {
		case end == -2:
			return -1
		case end < at:
			return MoreMembers(s, ValueEnd(s, at), tail)
		default:
			return MoreMembers(s, end, tail)
		}
	}
	h.prefix, h.names = "", h.names[:0]
	head, before := true, true
	return Members(s, SkipSpace(s, 0), func(name string, at int) int {
		switch {
		case !before:
			return tail(name, at)
		case name == h.Key:
			before = false
			if head {
				h.prefix = strings.Clone(s[:at])
			}
		default:
			start := int(uintptr(unsafe.Pointer(unsafe.StringData(name))) - uintptr(unsafe.Pointer(unsafe.StringData(s))))
			h.names = append(h.names, start, start+len(name))
			head = head && !slices.Contains(h.PerChunk, name)
		}
		return fn(name, at)
	})
}

// Prefix returns the head in force: the last chunk walked whole up to the
// value of Key, or "" when the next chunk is walked whole.
func (h *Head) Prefix() string { return h.prefix }

// Forget drops the head: the next chunk is walked whole.
func (h *Head) Forget() { h.prefix, h.names = "", h.names[:0] }

// holds reports whether the head has a member named name.
func (h *Head) holds(name string) bool {
	if h.prefix == "" {
		return false
	}
	for i := 0; i+1 < len(h.names); i += 2 {
		if h.prefix[h.names[i]:h.names[i+1]] == name {
			return true
		}
	}
	return false
}
