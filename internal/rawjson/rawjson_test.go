package rawjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestValueEnd(t *testing.T) {
	long := strings.Repeat("x", 20)
	for _, v := range []string{
		`""`, `"a"`, `"a\\"`, `"\\\""`, `"\"\"\\"`,
		`"` + long + `\"` + long + `"`,
		`"` + long + `\\\\"`,
		`"` + long + `\\\"\\"`,
		`"` + strings.Repeat(`\\`, 30) + `"`,
		`"` + strings.Repeat(`\"`, 30) + `"`,
		`"` + long[:15] + `\"` + long + `"`, // escape across the 16-byte switch
		`{"a":"}","b":[1,{"c":"]\""}]}`, `[]`, `[[],{}]`, `-1.5e3`, `true`, `null`,
	} {
		for _, tail := range []string{"", ",", " }", `,"x":"y"}`} {
			if got := ValueEnd(v+tail, 0); got != len(v) {
				t.Errorf("ValueEnd(%s%s) = %d, want %d", v, tail, got, len(v))
			}
		}
	}
}

func TestEachMemberAndElement(t *testing.T) {
	var names, values []string
	EachMember(` { "a" : 1 , "b\"" :"x\"}", "c":[ {"d":2} ] } `[1:], func(n, v string) bool {
		names, values = append(names, n), append(values, v)
		return true
	})
	if strings.Join(names, "|") != `"a"|"b\""|"c"` || strings.Join(values, "|") != `1|"x\"}"|[ {"d":2} ]` {
		t.Errorf("members %q = %q", names, values)
	}
	var elems []string
	EachElement(`[ 1, "a,b" ,{"x":[2,3]},[] ]`, func(v string) bool {
		elems = append(elems, v)
		return true
	})
	if strings.Join(elems, "|") != `1|"a,b"|{"x":[2,3]}|[]` {
		t.Errorf("elements = %q", elems)
	}
	if MemberValue(`{"a":1,"b":2}`, `"b"`) != "2" || MemberValue(`{"a":1}`, `"b"`) != "" {
		t.Error("memberValue")
	}
	if !IsEmptyArray("[ \n]") || IsEmptyArray("[1]") {
		t.Error("isEmptyArray")
	}
	// They tell a whole object or array from bytes that cannot be one.
	all := func(string, string) bool { return true }
	each := func(string) bool { return true }
	for _, ok := range []string{`{}`, `{ } `, `{"a":1}`, `{"a":{"b":[1,2]} , "c" : "}"}`} {
		if !EachMember(ok, all) {
			t.Errorf("EachMember(%s) = false", ok)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":1`, `{"a":"x}`, `{"a":1}x`, `[1]`, `{1:2}`} {
		if EachMember(bad, all) {
			t.Errorf("EachMember(%s) = true", bad)
		}
	}
	for _, ok := range []string{`[]`, `[ ]`, `[1, [2], {"a":"]"}]`} {
		if !EachElement(ok, each) {
			t.Errorf("EachElement(%s) = false", ok)
		}
	}
	for _, bad := range []string{`[`, `[1,]`, `[1 2]`, `[1`, `[,1]`, `["]`, `[1]x`, `{}`} {
		if EachElement(bad, each) {
			t.Errorf("EachElement(%s) = true", bad)
		}
	}
	// A walk fn stops is not malformed.
	if !EachMember(`{"a":1,"b":2}`, func(string, string) bool { return false }) || !EachElement(`[1,2]`, func(string) bool { return false }) {
		t.Error("a stopped walk reported malformed")
	}
}

// FuzzWalk: on any text the walker ends without panicking, and on a valid
// JSON object it hands out exactly the members encoding/json sees, in
// order.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":"x\"}","c":[{"d":2}],"e":null}`, `{}`, `[1,"a",{}]`, `{"a":`, `{"a"`, `"\`, `{"a":1,,}`, `[[[`, `{"\u00e9":"é"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var names, values []string
		EachMember(s, func(n, v string) bool {
			names, values = append(names, n), append(values, v)
			return true
		})
		EachElement(s, func(string) bool { return true })
		ValueEnd(s, 0)
		if !json.Valid([]byte(s)) {
			return
		}
		trimmed := strings.TrimSpace(s)
		if IsArray(trimmed) && !EachElement(trimmed, func(string) bool { return true }) {
			t.Errorf("EachElement(%s) reported a valid array malformed", trimmed)
		}
		if !IsObject(trimmed) {
			return
		}
		names, values = names[:0], values[:0]
		if !EachMember(trimmed, func(n, v string) bool {
			names, values = append(names, n), append(values, v)
			return true
		}) {
			t.Errorf("EachMember(%s) reported a valid object malformed", trimmed)
		}
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.Token() // {
		i := 0
		for ; dec.More(); i++ {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if i >= len(names) {
				t.Fatalf("member %d (%q) not handed out", i, tok)
			}
			var name string
			if err := json.Unmarshal([]byte(names[i]), &name); err != nil || name != tok.(string) {
				t.Errorf("member %d: name %s, want %q", i, names[i], tok)
			}
			var want, got any
			json.Unmarshal(raw, &want)
			if err := json.Unmarshal([]byte(values[i]), &got); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("member %d: value %s, want %s", i, values[i], raw)
			}
		}
		if i != len(names) {
			t.Errorf("%d members handed out, want %d", len(names), i)
		}
	})
}

// TestMembersAndElements: the position walkers hand out what EachMember and
// EachElement hand out, end where the value ends, and stop when asked.
func TestMembersAndElements(t *testing.T) {
	obj := ` {"a" : 1 , "b":[1, {"c":"]"} ],"d":{"e":null} } ,`
	at := SkipSpace(obj, 0)
	var names, values []string
	end := Members(obj, at, func(name string, v int) int {
		e := ValueEnd(obj, v)
		names, values = append(names, name), append(values, obj[v:e])
		if name == `"b"` {
			var elems []string
			if got := Elements(obj, v, func(el int) int { elems = append(elems, obj[el:ValueEnd(obj, el)]); return -1 }); got != e {
				t.Errorf("Elements ended at %d, want %d", got, e)
			}
			if strings.Join(elems, "|") != `1|{"c":"]"}` {
				t.Errorf("elements %q", elems)
			}
		}
		return -1
	})
	if want := strings.LastIndexByte(obj, '}') + 1; end != want {
		t.Errorf("Members ended at %d, want %d", end, want)
	}
	if strings.Join(names, "|") != `"a"|"b"|"d"` || strings.Join(values, "|") != `1|[1, {"c":"]"} ]|{"e":null}` {
		t.Errorf("members %q = %q", names, values)
	}
	// A position that is not a value's (-1: none found) is no object and no array.
	for _, i := range []int{-1, len(obj), len(obj) + 5} {
		if Members(obj, i, func(string, int) int { t.Fatal("called"); return -1 }) != -1 ||
			Elements(obj, i, func(int) int { t.Fatal("called"); return -1 }) != -1 {
			t.Errorf("walk at %d did not fail", i)
		}
	}
	var seen []string
	if Members(obj, at, func(name string, _ int) int { seen = append(seen, name); return -2 }) != -1 || len(seen) != 1 {
		t.Errorf("a stopped walk: %q", seen)
	}
	// MoreMembers resumes after a value the caller read itself.
	var rest []string
	b := strings.Index(obj, "[")
	if MoreMembers(obj, ValueEnd(obj, b), func(name string, _ int) int { rest = append(rest, name); return -1 }) != end || strings.Join(rest, "|") != `"d"` {
		t.Errorf("MoreMembers: %q", rest)
	}
	for _, bad := range []string{`{"a":1`, `{"a" 1}`, `{"a":1;}`, `[1 2]`, `x`, ``} {
		Members(bad, 0, func(string, int) int { return -1 })
		Elements(bad, 0, func(int) int { return -1 })
	}
	if Members(`{}`, 0, nil) != 2 || Elements(`[ ]`, 0, nil) != 3 {
		t.Error("empty object or array")
	}
}

// TestHead: a chunk walked whole becomes the head; a chunk starting with it
// is walked from Key on; a name of the head met after Key, a chunk with a
// PerChunk member before Key, or a different start make the next chunk be
// walked whole; a walk stopped at Key does not go on.
func TestHead(t *testing.T) {
	h := Head{Key: `"choices"`, PerChunk: []string{`"usage"`}}
	var seen []string
	walk := func(c string) int {
		seen = seen[:0]
		return h.Walk(c, func(name string, at int) int { seen = append(seen, name); return -1 })
	}
	head := `{"id":"a","model":"m",`
	c := head + `"choices":[1],"x":2}`
	for i, want := range []string{`"id"|"model"|"choices"|"x"`, `"choices"|"x"`} {
		if end := walk(c); end != len(c) || strings.Join(seen, "|") != want {
			t.Errorf("walk %d: %q, end %d", i, seen, end)
		}
	}
	if h.Prefix() != head+`"choices":` {
		t.Errorf("prefix %q", h.Prefix())
	}
	walk(head + `"choices":[],"model":"n"}`) // a head name after Key
	if h.Prefix() != "" {
		t.Errorf("prefix %q kept after the model changed", h.Prefix())
	}
	walk(c)
	walk(`{"usage":null,"choices":[]}`)
	if h.Prefix() != "" {
		t.Errorf("prefix %q from a chunk with usage before choices", h.Prefix())
	}
	walk(c)
	stop := h.Walk(c, func(name string, _ int) int { return -2 })
	if stop != -1 || h.Prefix() == "" {
		t.Errorf("stopped walk: %d, prefix %q", stop, h.Prefix())
	}
	h.Forget()
	if walk(c); strings.Join(seen, "|") != `"id"|"model"|"choices"|"x"` {
		t.Errorf("after Forget: %q", seen)
	}
}
