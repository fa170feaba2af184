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
		if !IsObject(trimmed) {
			return
		}
		names, values = names[:0], values[:0]
		EachMember(trimmed, func(n, v string) bool {
			names, values = append(names, n), append(values, v)
			return true
		})
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
