package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/polygate/polygate/providers"
)

// MaxFileSize bounds a prices file: 32 MiB (LiteLLM's whole file is under
// 2 MiB).
const MaxFileSize = 32 << 20

// LoadFile reads a prices file in Polygate's format or LiteLLM's (see
// Parse). Errors start with "prices_file <path>: ".
func LoadFile(path string) (*Catalogue, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("prices_file %s: %v", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return nil, fmt.Errorf("prices_file %s: larger than %d MiB", path, MaxFileSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("prices_file %s: reading: %v", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("prices_file %s: larger than %d MiB", path, MaxFileSize>>20)
	}
	return Parse(path, data)
}

// Parse reads prices in one of two formats, told apart by their content:
//
// Polygate's (that of the embedded catalogue): an object with "as_of"
// (YYYY-MM-DD, optional), "source" (text, optional) and "models", an
// object of entries by name, each with USD per million tokens "input",
// "output", "cached", "cache_write", "cache_write_1h", and "image" (per
// image), "audio_minute" (per minute), "tts_chars" (per million
// characters), all optional, plus "provider" and "aliases". Unknown
// fields are refused.
//
// LiteLLM's model_prices_and_context_window.json: an object of entries by
// model name (see parseLiteLLM).
//
// name is the file's path (or EmbeddedName), used in errors, which start
// with "prices_file <name>: " and name the first bad entry.
func Parse(name string, data []byte) (*Catalogue, error) {
	c, err := parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("prices_file %s: %v", name, err)
	}
	return c, nil
}

func parse(name string, data []byte) (*Catalogue, error) {
	top, err := readObject(data)
	if err != nil {
		return nil, err
	}
	own := false
	for _, m := range top {
		if m.key == "models" || m.key == "as_of" {
			own = true
			break
		}
	}
	var entries []Entry
	var src Source
	if own {
		entries, src, err = parseOwn(top)
	} else {
		entries, err = parseLiteLLM(top)
	}
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errors.New("no entry states a price")
	}
	seen := make(map[string]string, len(entries))
	for i := range entries {
		e := &entries[i]
		e.Source = name
		for _, n := range append([]string{e.Model}, e.Aliases...) {
			if first, dup := seen[n]; dup {
				if first == e.Model {
					return nil, fmt.Errorf("entry %q: alias %q: named twice", e.Model, n)
				}
				return nil, fmt.Errorf("entry %q: %q is already the name or an alias of entry %q", e.Model, n, first)
			}
			seen[n] = e.Model
		}
	}
	src.Name, src.Entries = name, len(entries)
	return newCatalogue(entries, []Source{src}), nil
}

// member is one member of a JSON object, in file order.
type member struct {
	key   string
	value json.RawMessage
}

// readObject splits a JSON object into its members, in order, refusing
// duplicate keys and anything that is not one object.
func readObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(data, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object: expected Polygate's {\"as_of\": …, \"models\": {…}} or LiteLLM's model_prices_and_context_window.json")
	}
	var members []member
	keys := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(data, err)
		}
		key, _ := tok.(string)
		if keys[key] {
			return nil, fmt.Errorf("%q defined more than once", key)
		}
		keys[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, jsonError(data, err)
		}
		members = append(members, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more data after the top-level object")
	}
	return members, nil
}

// jsonError says where a JSON syntax error is.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := min(int(se.Offset), len(data))
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		return fmt.Errorf("invalid JSON at line %d: %v", line, se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of file")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// jsonKind is the kind of a JSON value by its first byte.
func jsonKind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '-' || c >= '0' && c <= '9':
		return '0'
	default:
		return c // { [ " t f n
	}
}

// number reads a JSON number that must be finite and not negative.
// Absent and null are 0, false.
func number(v json.RawMessage) (string, bool, error) {
	switch jsonKind(v) {
	case 0, 'n':
		return "", false, nil
	case '0':
	default:
		return "", false, errors.New("must be a number")
	}
	s := string(bytes.TrimSpace(v))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return "", false, errors.New("must be a finite number")
	}
	if f < 0 {
		return "", false, errors.New("must not be negative")
	}
	return s, true, nil
}

// ownRates maps the rate fields of Polygate's format to providers.Price.
var ownRates = []struct {
	field string
	rate  func(*providers.Price) *float64
}{
	{"input", func(p *providers.Price) *float64 { return &p.Input }},
	{"output", func(p *providers.Price) *float64 { return &p.Output }},
	{"cached", func(p *providers.Price) *float64 { return &p.Cached }},
	{"cache_write", func(p *providers.Price) *float64 { return &p.CacheWrite }},
	{"cache_write_1h", func(p *providers.Price) *float64 { return &p.CacheWrite1h }},
	{"image", func(p *providers.Price) *float64 { return &p.Image }},
	{"audio_minute", func(p *providers.Price) *float64 { return &p.AudioMinute }},
	{"tts_chars", func(p *providers.Price) *float64 { return &p.TTSChars }},
}

// parseOwn reads Polygate's format.
func parseOwn(top []member) ([]Entry, Source, error) {
	var src Source
	var models []member
	haveModels := false
	for _, m := range top {
		switch m.key {
		case "as_of":
			var s string
			if jsonKind(m.value) != '"' || json.Unmarshal(m.value, &s) != nil {
				return nil, src, errors.New("as_of: must be a date such as \"2026-12-01\"")
			}
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return nil, src, fmt.Errorf("as_of %q: must be a date such as \"2026-12-01\"", s)
			}
			src.AsOf = s
		case "source":
			if jsonKind(m.value) != '"' {
				return nil, src, errors.New("source: must be a string")
			}
		case "models":
			if jsonKind(m.value) != '{' {
				return nil, src, errors.New("models: must be an object of entries by model name")
			}
			var err error
			if models, err = readObject(m.value); err != nil {
				return nil, src, fmt.Errorf("models: %v", err)
			}
			haveModels = true
		default:
			return nil, src, fmt.Errorf("unknown field %q (Polygate's format has as_of, source and models)", m.key)
		}
	}
	if !haveModels {
		return nil, src, errors.New("models: required")
	}
	entries := make([]Entry, 0, len(models))
	for _, m := range models {
		e, err := ownEntry(m)
		if err != nil {
			return nil, src, fmt.Errorf("entry %q: %v", m.key, err)
		}
		entries = append(entries, e)
	}
	return entries, src, nil
}

// openEntry checks an entry's name and that its value is an object
// (notObject is the error otherwise), and returns the entry named and the
// object's members. Both formats' entries start here.
func openEntry(m member, notObject string) (Entry, []member, error) {
	e := Entry{Model: m.key}
	if m.key == "" || len(m.key) > maxModelLen {
		return e, nil, fmt.Errorf("a name of 1 to %d bytes is required", maxModelLen)
	}
	if jsonKind(m.value) != '{' {
		return e, nil, errors.New(notObject)
	}
	fields, err := readObject(m.value)
	return e, fields, err
}

func ownEntry(m member) (Entry, error) {
	e, fields, err := openEntry(m, "must be an object")
	if err != nil {
		return e, err
	}
fields:
	for _, f := range fields {
		switch f.key {
		case "provider":
			if jsonKind(f.value) != '"' || json.Unmarshal(f.value, &e.Provider) != nil {
				return e, errors.New("provider: must be a string")
			}
			continue
		case "aliases":
			if jsonKind(f.value) != '[' || json.Unmarshal(f.value, &e.Aliases) != nil {
				return e, errors.New("aliases: must be a list of model names")
			}
			for _, a := range e.Aliases {
				if a == "" || len(a) > maxModelLen {
					return e, fmt.Errorf("aliases: names of 1 to %d bytes are required", maxModelLen)
				}
			}
			continue
		}
		for _, r := range ownRates {
			if r.field != f.key {
				continue
			}
			s, ok, err := number(f.value)
			if err != nil {
				return e, fmt.Errorf("%s: %v", f.key, err)
			}
			if ok {
				*r.rate(&e.Price), _ = strconv.ParseFloat(s, 64)
			}
			continue fields
		}
		return e, fmt.Errorf("unknown field %q", f.key)
	}
	if e.Price.IsZero() {
		return e, errors.New("states no price")
	}
	return e, nil
}
