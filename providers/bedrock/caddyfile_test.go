package bedrock

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshal loads a "provider <name> bedrock { … }" snippet the way the
// ai_gateway directive does: caddyfile.UnmarshalModule positioned on the
// type token.
func unmarshal(t *testing.T, src string) (any, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser(src)
	if !d.Next() || d.Val() != "provider" || !d.NextArg() || !d.NextArg() {
		t.Fatalf("unexpected snippet %q", src)
	}
	return caddyfile.UnmarshalModule(d, "http.ai_gateway.providers."+d.Val())
}

func TestCaddyfileSnippet(t *testing.T) {
	src, err := os.ReadFile("testdata/provider.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := unmarshal(t, string(src))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(mod)
	const want = `{
		"region":"us-west-2",
		"access_key_id":"{env.AWS_ACCESS_KEY_ID}",
		"secret_access_key":"{env.AWS_SECRET_ACCESS_KEY}",
		"session_token":"{env.AWS_SESSION_TOKEN}",
		"role_arn":"arn:aws:iam::123456789012:role/polygate-bedrock",
		"role_session_name":"gateway-prod",
		"external_id":"ext-7d2f",
		"guardrail_identifier":"gr-abc123def456",
		"guardrail_version":"3",
		"guardrail_trace":"enabled",
		"base_url":"https://vpce-0a1b2c3d-xyz.bedrock-runtime.us-west-2.vpce.amazonaws.com",
		"headers":{"X-Team":"search"},
		"timeout":300000000000,
		"first_byte_timeout":30000000000,
		"max_idle_conns_per_host":256}`
	var gotV, wantV any
	_ = json.Unmarshal(got, &gotV)
	_ = json.Unmarshal([]byte(want), &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("got  %s\nwant %s", got, compact([]byte(want)))
	}

	mod, err = unmarshal(t, "provider b bedrock {\n\tprofile prod\n\tapi_key_unused_check off\n}")
	if err == nil {
		t.Errorf("an unknown subdirective was accepted: %+v", mod)
	}
	mod, err = unmarshal(t, "provider b bedrock {\n\tapi_key {env.AWS_BEARER_TOKEN_BEDROCK}\n\tregion {env.AWS_REGION}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(mod); string(got) != `{"api_key":"{env.AWS_BEARER_TOKEN_BEDROCK}","region":"{env.AWS_REGION}"}` {
		t.Errorf("api key snippet: %s", got)
	}
}

// TestCaddyfileErrors checks each error and the line it names.
func TestCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		src, msg string
		line     int
	}{
		{"provider b bedrock extra {\n}", "wrong argument count", 1},
		{"provider b bedrock {\n\tregion\n}", "wrong argument count", 2},
		{"provider b bedrock {\n\tregion us-east-1 us-west-2\n}", "wrong argument count", 2},
		{"provider b bedrock {\n\tregion US East\n}", "wrong argument count", 2},
		{"provider b bedrock {\n\tprofile a\n\tregion mars\n}", "not an AWS region name", 3},
		{"provider b bedrock {\n\tregion us-east-1\n\tregion us-west-2\n}", "region already specified", 3},
		{"provider b bedrock {\n\trole_arn my-role\n}", "not an ARN", 2},
		{"provider b bedrock {\n\tguardrail_identifier g\n\tguardrail_version 1\n\tguardrail_trace loud\n}", "guardrail_trace must be", 4},
		{"provider b bedrock {\n\tfoo bar\n}", "unrecognized subdirective 'foo'", 2},
		{"provider b bedrock {\n\ttimeout soon\n}", "parsing timeout duration", 2},
		{"provider b bedrock {\n\tbase_url ftp://x\n}", "base_url", 2},
		{"provider b bedrock {\n\taccess_key_id AKID\n}", "go together", 3},
		{"provider b bedrock {\n\tsession_token t\n}", "session_token needs", 3},
		{"provider b bedrock {\n\taccess_key_id a\n\tsecret_access_key s\n\tprofile p\n}", "exclude each other", 5},
		{"provider b bedrock {\n\tapi_key k\n\tprofile p\n}", "api_key", 4},
		{"provider b bedrock {\n\texternal_id e\n}", "need role_arn", 3},
		{"provider b bedrock {\n\tguardrail_identifier g\n}", "needs guardrail_version", 3},
	} {
		_, err := unmarshal(t, tc.src)
		if err == nil {
			t.Errorf("%q: no error", tc.src)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), ":"+itoa(tc.line)) {
			t.Errorf("%q: got %q, want %q on line %d", tc.src, err, tc.msg, tc.line)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
