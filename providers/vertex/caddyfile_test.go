package vertex

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestCaddyfileSnippet loads testdata/provider.caddyfile the way the
// ai_gateway directive does: caddyfile.UnmarshalModule positioned on the
// type token of "provider <name> <type> { … }".
func TestCaddyfileSnippet(t *testing.T) {
	src, err := os.ReadFile("testdata/provider.caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	d := caddyfile.NewTestDispenser(string(src))
	if !d.Next() || d.Val() != "provider" || !d.NextArg() || !d.NextArg() {
		t.Fatal("unexpected snippet")
	}
	mod, err := caddyfile.UnmarshalModule(d, "http.ai_gateway.providers."+d.Val())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(mod)
	const want = `{"project":"{env.GOOGLE_CLOUD_PROJECT}","location":"us-central1","credentials_file":"/etc/polygate/vertex-sa.json",
		"api_version":"v1","max_tokens":8192,"headers":{"X-Goog-User-Project":"billing-project"},
		"timeout":300000000000,"first_byte_timeout":30000000000,"max_idle_conns_per_host":256}`
	var gotV, wantV any
	_ = json.Unmarshal(got, &gotV)
	_ = json.Unmarshal([]byte(want), &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser("vertex {\n project example.com:my-project\n location global\n base_url https://psc.example.internal\n}")
	var p Vertex
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.Project != "example.com:my-project" || p.Location != "global" || p.BaseURL != "https://psc.example.internal" {
		t.Errorf("got %+v", p)
	}
	// Placeholders are checked when provisioned.
	d = caddyfile.NewTestDispenser("vertex {\n project {env.P}\n location {env.L}\n base_url {env.B}\n}")
	if err := new(Vertex).UnmarshalCaddyfile(d); err != nil {
		t.Errorf("placeholders: %v", err)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	const head = "vertex {\n project p-1\n location us-central1\n"
	for _, tc := range []struct{ src, want string }{
		{"vertex extra", "wrong argument count or unexpected line ending after 'extra', at Testfile:1"},
		{"vertex {\n location us-central1\n}", "project is required, at Testfile:3"},
		{"vertex {\n project p-1\n}", "location is required, at Testfile:3"},
		{head + " bogus 1\n}", "unrecognized subdirective 'bogus', at Testfile:4"},
		{head + " api_key {env.KEY}\n}", "api_key is not supported: Vertex AI takes OAuth2 access tokens; set credentials_file or use application default credentials, at Testfile:4"},
		{"vertex {\n project My_Project\n location us-central1\n}", `project "My_Project" is not a Google Cloud project id or number, at Testfile:2`},
		{"vertex {\n project p-1\n location us-central1.evil.com/\n}", `location "us-central1.evil.com/" is not a Google Cloud location such as us-central1 or global, at Testfile:3`},
		{head + " project\n}", "wrong argument count or unexpected line ending after 'project', at Testfile:4"},
		{head + " credentials_file a b\n}", "wrong argument count or unexpected line ending after 'b', at Testfile:4"},
		{head + " max_tokens 0\n}", "max_tokens must be positive, at Testfile:4"},
		{head + " max_tokens many\n}", `expected a non-negative integer, got "many", at Testfile:4`},
		{head + " base_url https://us-central1-aiplatform.googleapis.com/v1\n}", `base_url "https://us-central1-aiplatform.googleapis.com/v1" ends in the API version; name the API root (https://us-central1-aiplatform.googleapis.com) and set the version with api_version v1, at Testfile:4`},
		{head + " base_url ftp://x\n}", "Testfile:4"},
		{head + " timeout soon\n}", `parsing timeout duration "soon"`},
	} {
		err := new(Vertex).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got  %v\n want %s", tc.src, err, tc.want)
		}
	}
}
