package guardrails

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// hostParse parses `guardrail <type> {...}` as the ai_gateway host does and returns the JSON
// the host stores.
func hostParse(t *testing.T, input string) (string, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(input)
	d.Next() // guardrail
	if !d.NextArg() {
		t.Fatal("no type")
	}
	typ := d.Val()
	mod, err := caddyfile.UnmarshalModule(d, Namespace+"."+typ)
	if err != nil {
		return "", err
	}
	raw := caddyconfig.JSONModuleObject(mod, "guardrail", typ, nil)
	return string(raw), nil
}

func TestCaddyfileHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{`guardrail pii {
			on input output
			action redact
			detect email phone credit_card iban secret
		}`, `{"on":["input","output"],"action":"redact","detect":["email","phone","credit_card","iban","secret"],"guardrail":"pii"}`},
		{`guardrail regex {
			on input
			deny "(?i)ignore (all )?previous instructions"
			deny a+b c
			allow x
			max_match 64
			replacement ***
			name no-injection
		}`, `{"name":"no-injection","on":["input"],"deny":["(?i)ignore (all )?previous instructions","a+b","c"],"allow":["x"],"max_match":64,"replacement":"***","guardrail":"regex"}`},
		{`guardrail moderation {
			on input
			model llama-guard
			fail closed
		}`, `{"on":["input"],"model":"llama-guard","fail":"closed","guardrail":"moderation"}`},
		{`guardrail moderation {
			action log
			model omni
			format openai
			timeout 2s
			fail open
			stream_window 100
		}`, `{"action":"log","model":"omni","format":"openai","timeout":2000000000,"fail":"open","stream_window":100,"guardrail":"moderation"}`},
		{`guardrail limits {
			max_input_tokens 8000
			max_messages 50
			models gpt-4o gpt-4o-mini
			encoding cl100k_base
		}`, `{"max_input_tokens":8000,"max_messages":50,"models":["gpt-4o","gpt-4o-mini"],"encoding":"cl100k_base","guardrail":"limits"}`},
		{`guardrail pii`, `{"guardrail":"pii"}`},
	}
	for _, tc := range tests {
		got, err := hostParse(t, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		var g, w any
		if err := json.Unmarshal([]byte(got), &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pii {\ndetect email fax\n}", `parsing guardrail "pii": unknown category 'fax'`},
		{"pii {\ndetect\n}", `wrong argument count`},
		{"pii {\ncolor red\n}", `parsing guardrail "pii": unrecognized subdirective 'color'`},
		{"pii {\non sideways\n}", `parsing guardrail "pii": unknown stage 'sideways'`},
		{"pii {\naction drop\n}", `parsing guardrail "pii": unknown action 'drop'`},
		{"pii {\nname a b\n}", `wrong argument count`},
		{"pii {\nname a\nname b\n}", `name already specified`},
		{`pii extra`, `wrong argument count`},
		{"regex {\ndeny \"(\"\n}", `parsing guardrail "regex": deny pattern "("`},
		{"regex {\nmax_match -1\n}", `max_match must be a positive number`},
		{"moderation {\nformat xml\n}", `parsing guardrail "moderation": unknown format 'xml'`},
		{"moderation {\nfail maybe\n}", `unknown fail 'maybe'`},
		{"moderation {\ntimeout soon\n}", `invalid timeout 'soon'`},
		{"moderation {\nmodel\n}", `wrong argument count`},
		{"moderation {\nmodel a b\n}", `wrong argument count`},
		{"limits {\nmax_input_tokens many\n}", `max_input_tokens must be a positive number`},
		{"limits {\nencoding p50k_base\n}", `unknown encoding 'p50k_base'`},
		{"limits {\nmodels\n}", `wrong argument count`},
	}
	for _, tc := range tests {
		d := caddyfile.NewTestDispenser(tc.in)
		typ := strings.Fields(tc.in)[0]
		mod, err := caddy.GetModule(Namespace + "." + typ)
		if err != nil {
			t.Fatal(err)
		}
		err = mod.New().(caddyfile.Unmarshaler).UnmarshalCaddyfile(d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestProvisionErrors(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	tests := []struct {
		g    caddy.Provisioner
		want string
	}{
		{&PII{Detect: []string{"dna"}}, `provisioning guardrail "pii": unknown category "dna"`},
		{&PII{Base: Base{On: []string{"sideways"}}}, `unknown stage "sideways"`},
		{&Regex{}, `at least one deny pattern is required`},
		{&Regex{Deny: []string{"ok", "a("}}, `deny pattern 2 "a("`},
		{&Regex{Deny: []string{"a*"}}, `deny pattern 1 "a*": pattern can match empty text`},
		{&Regex{Deny: []string{`\b`}}, `can match empty text`},
		{&Regex{Deny: []string{"x"}, Allow: []string{"["}}, `allow pattern 1 "["`},
		{&Moderation{}, `provisioning guardrail "moderation": model is required`},
		{&Moderation{Base: Base{Action: "redact"}, Model: "m"}, `action redact is not supported by moderation guardrails`},
		{&Moderation{Model: "m", Format: "openai", Template: "server"}, `template applies to format llama_guard only`},
		{&Limits{}, `nothing to check`},
		{&Limits{Base: Base{On: []string{"output"}}, MaxMessages: 1}, `limits checks input only`},
		{&Limits{Base: Base{Action: "log"}, MaxMessages: 1}, `limits always blocks`},
		{&Limits{MaxMessages: 1, Encoding: "r50k_base"}, `unknown encoding "r50k_base"`},
	}
	for _, tc := range tests {
		err := tc.g.Provision(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: error %v, want %q", tc.g, err, tc.want)
		}
	}
}

func TestProvisionDefaults(t *testing.T) {
	m := &Moderation{Model: "lg"}
	provision(t, m)
	if m.Name != "moderation" || m.stages != Input || m.act != actBlock || m.timeout != 10*time.Second ||
		m.failOpen || m.openai || m.window != DefaultStreamWindow {
		t.Fatalf("defaults: %+v", m)
	}
	r := newRegex(t, "", nil, "x")
	if r.Name != "regex" || r.tg.place[0] != "[REDACTED]" || r.tg.sc.dets[0].(*regexDetector).maxMatch != DefaultMaxMatch {
		t.Fatalf("defaults: %+v", r)
	}
	p := newPII(t, "", nil)
	if len(p.tg.cat) != 7 {
		t.Fatalf("categories %v", p.tg.cat)
	}
	// JSON round trip of a module keeps snake_case names and omits empty fields.
	b, _ := json.Marshal(&Regex{Deny: []string{"x"}, MaxMatch: 9})
	if string(b) != `{"deny":["x"],"max_match":9}` {
		t.Fatalf("json %s", b)
	}
}
