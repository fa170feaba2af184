package polygate_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/polygate/polygate/internal/gatewaytest"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

func readAllString(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// validateCaddyfile adapts a whole Caddyfile and runs caddy validate on
// it (provisioning every module without starting anything).
func validateCaddyfile(t *testing.T, cf string) error {
	t.Helper()
	out, err := gatewaytest.Adapt(cf)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}
