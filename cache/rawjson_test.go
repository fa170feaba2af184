package cache

import (
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
			if got := valueEnd(v+tail, 0); got != len(v) {
				t.Errorf("valueEnd(%s%s) = %d, want %d", v, tail, got, len(v))
			}
		}
	}
}

func TestEachMemberAndElement(t *testing.T) {
	var names, values []string
	eachMember(` { "a" : 1 , "b\"" :"x\"}", "c":[ {"d":2} ] } `[1:], func(n, v string) bool {
		names, values = append(names, n), append(values, v)
		return true
	})
	if strings.Join(names, "|") != `"a"|"b\""|"c"` || strings.Join(values, "|") != `1|"x\"}"|[ {"d":2} ]` {
		t.Errorf("members %q = %q", names, values)
	}
	var elems []string
	eachElement(`[ 1, "a,b" ,{"x":[2,3]},[] ]`, func(v string) bool {
		elems = append(elems, v)
		return true
	})
	if strings.Join(elems, "|") != `1|"a,b"|{"x":[2,3]}|[]` {
		t.Errorf("elements = %q", elems)
	}
	if memberValue(`{"a":1,"b":2}`, `"b"`) != "2" || memberValue(`{"a":1}`, `"b"`) != "" {
		t.Error("memberValue")
	}
	if !isEmptyArray("[ \n]") || isEmptyArray("[1]") {
		t.Error("isEmptyArray")
	}
}
