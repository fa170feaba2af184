package azure

import (
	"encoding/json"
	"os"
	"reflect"
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
	const want = `{"base_url":"{env.AZURE_OPENAI_ENDPOINT}","api_key":"{env.AZURE_OPENAI_API_KEY}","api_version":"2024-10-21","timeout":300000000000,"first_byte_timeout":30000000000,"max_idle_conns_per_host":256,"stream_usage":true}`
	var gotV, wantV any
	_ = json.Unmarshal(got, &gotV)
	_ = json.Unmarshal([]byte(want), &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
