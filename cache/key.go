package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Key identifies a stored answer: the first 128 bits of a SHA-256 over the
// canonical request (see [MakeKey]). A cryptographic hash keeps a client
// from crafting a request that collides with another's.
type Key [16]byte

// String returns k in hexadecimal.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// hash is the ristretto key: 64 of the 128 bits. Get compares the whole
// key with the one stored in the entry.
func (k Key) hash() uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// excluded are the top-level request fields left out of the key because
// they do not change the answer:
//
//   - stream, stream_options: how the answer is delivered; a stored answer
//     is served streamed or not, as asked.
//   - user, safety_identifier: identify the end user for abuse monitoring.
//   - prompt_cache_key: a routing hint for the provider's prompt cache.
//   - metadata, store: tags and retention of the completion on the
//     provider's side. A hit is not stored again by the provider.
//   - model: the host passes the public model name separately.
//
// Everything else is part of the key, unknown fields included, and so is
// service_tier, which the answer echoes.
var excluded = [...]string{
	"model", "stream", "stream_options", "user", "safety_identifier",
	"prompt_cache_key", "metadata", "store",
}

// maxDepth bounds the nesting of a cacheable body. It bounds the work of
// sorting nested objects (each level may copy its contents once) and the
// recursion; real requests (JSON schemas included) nest far less.
const maxDepth = 64

// MakeKey returns the key of a request to endpoint ("chat/completions" or
// "embeddings") for the public model, with body its JSON body, in the
// given scope (an opaque value such as a key id or a plan name; "" for a
// global scope). [Cache.Key] picks the scope from the configuration;
// MakeKey is for hosts that choose their own.
//
// The key covers the endpoint, model, scope and the body made canonical:
// object members sorted by name at every level, insignificant whitespace
// dropped, strings with their escapes resolved (so "\u00e9" equals "é"),
// numbers with a fraction or exponent in their shortest form (1.0 equals 1),
// and top-level members that are null or do not change the answer
// (stream, stream_options, user, safety_identifier, prompt_cache_key,
// metadata, store, and model, which is passed separately) left out. Two
// bodies that differ only in member order or whitespace get the same key.
//
// ok is false when body is not a valid JSON object or nests deeper than 64
// levels; such a request is not cacheable.
func MakeKey(endpoint, model, scope string, body []byte) (k Key, ok bool) {
	return makeKey(endpoint, model, "", scope, body)
}

func makeKey(endpoint, model, scopeKind, scope string, body []byte) (k Key, ok bool) {
	c := canonPool.Get().(*canonicalizer)
	defer c.release()
	out := append(c.out[:0], "polygate-cache-v1\n"...)
	for _, s := range [...]string{endpoint, model, scopeKind, scope} {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	c.out = out
	if !c.canonical(body) {
		return Key{}, false
	}
	sum := sha256.Sum256(c.out)
	copy(k[:], sum[:])
	return k, true
}

var canonPool = sync.Pool{New: func() any { return new(canonicalizer) }}

// canonicalizer writes the canonical form of a JSON text into out. It
// validates as it goes and allocates only to grow its reused buffers.
type canonicalizer struct {
	in      []byte
	pos     int
	depth   int
	out     []byte
	tmp     []byte
	members []member
}

// member is an object member written to out: its name (with quotes) at
// out[ks:ke], the whole member at out[start:end].
type member struct{ ks, ke, start, end int }

func (c *canonicalizer) release() {
	c.in = nil
	if cap(c.out) > 1<<20 || cap(c.tmp) > 1<<20 {
		return // let the garbage collector have big buffers
	}
	canonPool.Put(c)
}

// canonical appends the canonical form of body, which must be a JSON
// object, to c.out.
func (c *canonicalizer) canonical(body []byte) bool {
	c.in, c.pos, c.depth = body, 0, 0
	c.members = c.members[:0]
	c.skipSpace()
	if c.pos >= len(c.in) || c.in[c.pos] != '{' {
		return false
	}
	if !c.object(true) {
		return false
	}
	c.skipSpace()
	return c.pos == len(c.in)
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canonicalizer) value() bool {
	c.skipSpace()
	if c.pos >= len(c.in) {
		return false
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(false)
	case ch == '[':
		return c.array()
	case ch == '"':
		return c.str()
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || '0' <= ch && ch <= '9':
		return c.number()
	}
	return false
}

func (c *canonicalizer) literal(lit string) bool {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
		return false
	}
	c.pos += len(lit)
	c.out = append(c.out, lit...)
	return true
}

func isExcluded(name []byte) bool {
	for _, x := range excluded {
		if string(name) == x {
			return true
		}
	}
	return false
}

// object writes the object at c.pos with its members sorted by their
// canonical names (a stable sort: duplicate names keep their order). At the
// top level, excluded and null members are dropped.
func (c *canonicalizer) object(top bool) bool {
	c.depth++
	if c.depth > maxDepth {
		return false
	}
	c.pos++ // '{'
	objStart := len(c.out)
	c.out = append(c.out, '{')
	base := len(c.members)
	sorted := true
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
	} else {
		for {
			c.skipSpace()
			if c.pos >= len(c.in) || c.in[c.pos] != '"' {
				return false
			}
			sep := len(c.out)
			if len(c.members) > base {
				c.out = append(c.out, ',')
			}
			start := len(c.out)
			if !c.str() {
				return false
			}
			ke := len(c.out)
			c.skipSpace()
			if c.pos >= len(c.in) || c.in[c.pos] != ':' {
				return false
			}
			c.pos++
			c.out = append(c.out, ':')
			if !c.value() {
				return false
			}
			end := len(c.out)
			if top && (isExcluded(c.out[start+1:ke-1]) || string(c.out[ke+1:end]) == "null") {
				c.out = c.out[:sep]
			} else {
				if n := len(c.members); sorted && n > base {
					prev := c.members[n-1]
					if bytes.Compare(c.out[prev.ks:prev.ke], c.out[start:ke]) > 0 {
						sorted = false
					}
				}
				c.members = append(c.members, member{ks: start, ke: ke, start: start, end: end})
			}
			c.skipSpace()
			if c.pos >= len(c.in) {
				return false
			}
			if c.in[c.pos] == ',' {
				c.pos++
				continue
			}
			if c.in[c.pos] != '}' {
				return false
			}
			c.pos++
			break
		}
	}
	if !sorted {
		ms := c.members[base:]
		out := c.out
		slices.SortStableFunc(ms, func(a, b member) int {
			return bytes.Compare(out[a.ks:a.ke], out[b.ks:b.ke])
		})
		off := objStart + 1
		c.tmp = append(c.tmp[:0], c.out[off:]...)
		c.out = c.out[:off]
		for i, m := range ms {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			c.out = append(c.out, c.tmp[m.start-off:m.end-off]...)
		}
	}
	c.out = append(c.out, '}')
	c.members = c.members[:base]
	c.depth--
	return true
}

func (c *canonicalizer) array() bool {
	c.depth++
	if c.depth > maxDepth {
		return false
	}
	c.pos++ // '['
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
	} else {
		for first := true; ; first = false {
			if !first {
				c.out = append(c.out, ',')
			}
			if !c.value() {
				return false
			}
			c.skipSpace()
			if c.pos >= len(c.in) {
				return false
			}
			if c.in[c.pos] == ',' {
				c.pos++
				continue
			}
			if c.in[c.pos] != ']' {
				return false
			}
			c.pos++
			break
		}
	}
	c.out = append(c.out, ']')
	c.depth--
	return true
}

// str writes the string at c.pos in canonical form: escapes resolved, then
// only '"', '\\' and control characters escaped (as \b \f \n \r \t or
// \u00xx). A string without escapes is already canonical and copied as
// is. Lone surrogate escapes, which decode to nothing valid, are kept as
// lowercase \uxxxx escapes.
func (c *canonicalizer) str() bool {
	in := c.in
	i := c.pos + 1
	for i < len(in) && plain[in[i]] {
		i++
	}
	if i >= len(in) || in[i] < 0x20 {
		return false
	}
	if in[i] == '"' {
		c.out = append(c.out, in[c.pos:i+1]...)
		c.pos = i + 1
		return true
	}
	out := append(c.out, in[c.pos:i]...)
	for {
		if i >= len(in) {
			return false
		}
		ch := in[i]
		switch {
		case ch == '"':
			c.out = append(out, '"')
			c.pos = i + 1
			return true
		case ch < 0x20:
			return false
		case ch != '\\':
			j := i + 1
			for j < len(in) && plain[in[j]] {
				j++
			}
			out = append(out, in[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(in) {
			return false
		}
		switch e := in[i+1]; e {
		case '"', '\\', 'b', 'f', 'n', 'r', 't':
			out = append(out, '\\', e)
			i += 2
		case '/':
			out = append(out, '/')
			i += 2
		case 'u':
			r, ok := hex4(in, i+2)
			if !ok {
				return false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r < 0xdc00 && i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
					if r2, ok := hex4(in, i+2); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							i += 6
							continue
						}
					}
				}
				out = appendUnicodeEscape(out, r)
				continue
			}
			out = appendRune(out, r)
		default:
			return false
		}
	}
}

// plain marks the bytes a string holds as they are: all but '"', '\\' and
// control characters.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendRune appends r in canonical form.
func appendRune(out []byte, r rune) []byte {
	switch r {
	case '"':
		return append(out, '\\', '"')
	case '\\':
		return append(out, '\\', '\\')
	case '\b':
		return append(out, '\\', 'b')
	case '\f':
		return append(out, '\\', 'f')
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	}
	if r < 0x20 {
		return appendUnicodeEscape(out, r)
	}
	return utf8.AppendRune(out, r)
}

func appendUnicodeEscape(out []byte, r rune) []byte {
	const digits = "0123456789abcdef"
	return append(out, '\\', 'u', digits[r>>12&15], digits[r>>8&15], digits[r>>4&15], digits[r&15])
}

func hex4(in []byte, i int) (rune, bool) {
	if i+4 > len(in) {
		return 0, false
	}
	var r rune
	for _, ch := range in[i : i+4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch -= 'a' - 10
		case 'A' <= ch && ch <= 'F':
			ch -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(ch)
	}
	return r, true
}

// number writes the number at c.pos: an integer as written (so that big
// integers such as seeds keep every digit), a number with a fraction or an
// exponent in the shortest form that reads back as the same float64.
func (c *canonicalizer) number() bool {
	in, i := c.in, c.pos
	if in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && '1' <= in[i] && in[i] <= '9':
		i = digits(in, i)
	default:
		return false
	}
	isFloat := false
	if i < len(in) && in[i] == '.' {
		isFloat = true
		j := digits(in, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		isFloat = true
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		j := digits(in, i)
		if j == i {
			return false
		}
		i = j
	}
	raw := in[c.pos:i]
	c.pos = i
	if isFloat {
		if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
			c.out = strconv.AppendFloat(c.out, f, 'g', -1, 64)
			return true
		}
	}
	c.out = append(c.out, raw...)
	return true
}

func digits(in []byte, i int) int {
	for i < len(in) && '0' <= in[i] && in[i] <= '9' {
		i++
	}
	return i
}
