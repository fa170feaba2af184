package cache

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

const chatBody = `{
  "model": "gpt-4o-mini",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"}
  ],
  "temperature": 0.2,
  "tools": [{"type": "function", "function": {"name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "stream": true,
  "stream_options": {"include_usage": true},
  "user": "alice"
}`

func mustKey(t *testing.T, endpoint, model, scope, body string) Key {
	t.Helper()
	k, ok := MakeKey(endpoint, model, scope, []byte(body))
	if !ok {
		t.Fatalf("MakeKey refused %s", body)
	}
	return k
}

func TestKeyIgnoresOrderAndWhitespace(t *testing.T) {
	base := mustKey(t, "chat/completions", "m", "", chatBody)
	same := []string{
		// members reordered at every level, whitespace removed
		`{"user":"alice","tools":[{"function":{"parameters":{"required":["city"],"properties":{"city":{"type":"string"}},"type":"object"},"name":"get_weather"},"type":"function"}],"temperature":0.2,"stream_options":{"include_usage":true},"stream":true,"messages":[{"content":"You are terse.","role":"system"},{"content":"Weather in Paris?","role":"user"}],"model":"gpt-4o-mini"}`,
		// escapes that mean the same characters, and 0.20 for 0.2
		`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse\u002e"},{"role":"user","content":"Weather in Paris?"}],"temperature":0.20,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"str\u0069ng"}},"required":["city"]}}}]}`,
	}
	for _, body := range same {
		if got := mustKey(t, "chat/completions", "m", "", body); got != base {
			t.Errorf("key differs for equivalent body %s", body)
		}
	}
	// Unicode escapes, surrogate pairs and \/ resolve to the characters.
	a := mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00 a\/b"}]}`)
	b := mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"café 😀 a/b"}]}`)
	if a != b {
		t.Error("escaped and literal characters give different keys")
	}
	// Numbers: same float value, same key; integers keep their digits.
	if mustKey(t, "e", "m", "", `{"x":1.0,"y":1e2}`) != mustKey(t, "e", "m", "", `{"x":1,"y":100.0}`) {
		t.Error("1.0 and 1 give different keys")
	}
	if mustKey(t, "e", "m", "", `{"seed":12345678901234567890}`) == mustKey(t, "e", "m", "", `{"seed":12345678901234567891}`) {
		t.Error("big integers lost digits")
	}
}

func TestKeyExcludesDeliveryFields(t *testing.T) {
	base := mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}]}`)
	for _, extra := range []string{
		`"stream":true`,
		`"stream":false`,
		`"stream_options":{"include_usage":true}`,
		`"user":"bob"`,
		`"safety_identifier":"h123"`,
		`"prompt_cache_key":"k"`,
		`"metadata":{"run":"7"}`,
		`"store":true`,
		`"model":"another-name"`,
		`"temperature":null`,
	} {
		body := `{"messages":[{"role":"user","content":"hi"}],` + extra + `}`
		if got := mustKey(t, "chat/completions", "m", "", body); got != base {
			t.Errorf("adding %s changed the key", extra)
		}
	}
	// Only the top level is filtered: a nested "user" is content.
	nested := mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi","user":"x"}]}`)
	if nested == base {
		t.Error("a nested member named user was ignored")
	}
}

func TestKeyChangesWithAnswerFields(t *testing.T) {
	const body = `{"messages":[{"role":"user","content":"hi"}],"temperature":0.5}`
	base := mustKey(t, "chat/completions", "m", "", body)
	variants := map[string]Key{
		"temperature":     mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.6}`),
		"message content": mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi!"}],"temperature":0.5}`),
		"message role":    mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"system","content":"hi"}],"temperature":0.5}`),
		"extra message":   mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"hi"}],"temperature":0.5}`),
		"tools":           mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"tools":[{"type":"function","function":{"name":"f"}}]}`),
		"max_tokens":      mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":5}`),
		"service_tier":    mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"service_tier":"flex"}`),
		"unknown field":   mustKey(t, "chat/completions", "m", "", `{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"x_vendor":1}`),
		"model":           mustKey(t, "chat/completions", "m2", "", body),
		"scope":           mustKey(t, "chat/completions", "m", "key_1", body),
		"endpoint":        mustKey(t, "embeddings", "m", "", body),
	}
	seen := map[Key]string{base: "base"}
	for name, k := range variants {
		if other, dup := seen[k]; dup {
			t.Errorf("%s gives the same key as %s", name, other)
		}
		seen[k] = name
	}
	// Length prefixes keep field boundaries apart.
	if mustKey(t, "ab", "c", "", `{}`) == mustKey(t, "a", "bc", "", `{}`) {
		t.Error("endpoint and model run into each other")
	}
}

func TestKeyRefusesInvalidBodies(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `"x"`, `{`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{"a":01}`,
		`{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":tru}`, `{"a":1.}`, `{"a":-}`, `{"a" 1}`,
		`{"a":[1,]}`, `{"a":"\ud83d`,
		`{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`,
	} {
		if _, ok := MakeKey("chat/completions", "m", "", []byte(body)); ok {
			t.Errorf("MakeKey accepted %q", body)
		}
	}
	deep := `{"a":` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `}`
	if _, ok := MakeKey("chat/completions", "m", "", []byte(deep)); !ok {
		t.Error("MakeKey refused a body within the depth bound")
	}
}

func TestCacheKeyScopes(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	key := func(scope, caller, plan string) Key {
		c, err := New(Config{Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		k, ok := c.Key("chat/completions", "m", caller, plan, body)
		if !ok {
			t.Fatal("Key refused a valid body")
		}
		return k
	}
	if key("key", "k1", "free") == key("key", "k2", "free") {
		t.Error("scope key: two callers share a key")
	}
	if key("key", "k1", "free") != key("key", "k1", "pro") {
		t.Error("scope key: the plan changed the key")
	}
	if key("plan", "k1", "free") != key("plan", "k2", "free") {
		t.Error("scope plan: callers of one plan do not share")
	}
	if key("plan", "k1", "free") == key("plan", "k1", "pro") {
		t.Error("scope plan: two plans share a key")
	}
	if key("global", "k1", "free") != key("global", "k2", "pro") {
		t.Error("scope global: callers do not share")
	}
	// A caller id equal to a plan name does not meet that plan's entries.
	if key("key", "free", "") == key("plan", "", "free") {
		t.Error("scope kinds are not kept apart")
	}
}

// reorder rewrites the JSON text v with every object's members in reverse
// order of their names (a stable sort, so members with the same name keep
// their order), scalars copied as written, and whitespace added.
func reorder(b *bytes.Buffer, v gjson.Result) {
	switch {
	case v.IsObject():
		type kv struct {
			name, rawKey string
			val          gjson.Result
		}
		var ms []kv
		v.ForEach(func(k, val gjson.Result) bool {
			ms = append(ms, kv{k.Str, k.Raw, val})
			return true
		})
		slices.SortStableFunc(ms, func(a, b kv) int { return strings.Compare(b.name, a.name) })
		b.WriteString("{ ")
		for i, m := range ms {
			if i > 0 {
				b.WriteString(" ,\n")
			}
			b.WriteString(m.rawKey)
			b.WriteString(" :\t")
			reorder(b, m.val)
		}
		b.WriteString(" }")
	case v.IsArray():
		b.WriteString("[ ")
		i := 0
		v.ForEach(func(_, el gjson.Result) bool {
			if i > 0 {
				b.WriteString(" , ")
			}
			i++
			reorder(b, el)
			return true
		})
		b.WriteString(" ]")
	default:
		b.WriteString(v.Raw)
	}
}

// nesting returns the deepest nesting of arrays and objects in valid JSON.
func nesting(body []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func FuzzKey(f *testing.F) {
	for _, s := range []string{
		chatBody,
		`{}`, `{"a":{"b":1,"a":[{"z":null,"y":true}]}}`, `{"a":1,"a":2}`,
		`{"\u0061":1,"b":"\ud83d\ude00\u00e9\/","c":-1.5e-3}`, `{"a":"\ud800x"}`,
		`[1,2]`, `{"a":`, `{"x":1e400}`, `{"a":[[[[[[]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		k, ok := MakeKey("chat/completions", "m", "s", body)
		valid := json.Valid(body)
		if ok && !valid {
			t.Fatalf("MakeKey accepted invalid JSON %q", body)
		}
		root := gjson.ParseBytes(body)
		if !valid || !root.IsObject() {
			return
		}
		if !ok {
			if nesting(body) <= maxDepth {
				t.Fatalf("MakeKey refused a valid object %q", body)
			}
			return
		}
		var b bytes.Buffer
		reorder(&b, root)
		k2, ok2 := MakeKey("chat/completions", "m", "s", b.Bytes())
		if !ok2 || k2 != k {
			t.Fatalf("reordered body gives another key (ok=%v)\n%s\n%s", ok2, body, b.Bytes())
		}
	})
}
