package console_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/console"
	"github.com/polygate/polygate/internal/gatewaytest"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want console.Console
	}{
		{`ai_gateway_console`, console.Console{}},
		{`ai_gateway_console {
		}`, console.Console{}},
		{`ai_gateway_console {
			database postgres://gw:{env.PGPASSWORD}@db:5432/gw
			refresh 10s
		}`, console.Console{Database: "postgres://gw:{env.PGPASSWORD}@db:5432/gw", Refresh: caddy.Duration(10 * time.Second)}},
		{`ai_gateway_console {
			database sqlite /var/lib/caddy/usage.db
		}`, console.Console{Database: "sqlite:///var/lib/caddy/usage.db"}},
		{`ai_gateway_console {
			database sqlite
		}`, console.Console{Database: "sqlite://"}},
		{`ai_gateway_console {
			database gateway
			refresh 1m
		}`, console.Console{Database: "gateway", Refresh: caddy.Duration(time.Minute)}},
	} {
		var got console.Console
		if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in)); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.Database != tc.want.Database || got.Refresh != tc.want.Refresh {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"ai_gateway_console extra", "Testfile:1"},
		{"ai_gateway_console {\n\tcolour red\n}", "unrecognized ai_gateway_console subdirective 'colour', at Testfile:2"},
		{"ai_gateway_console {\n\tdatabase\n}", "Testfile:2"},
		{"ai_gateway_console {\n\tdatabase a b\n}", "Testfile:2"},
		{"ai_gateway_console {\n\tdatabase sqlite a b\n}", "Testfile:2"},
		{"ai_gateway_console {\n\tdatabase a\n\tdatabase b\n}", "database already specified, at Testfile:3"},
		{"ai_gateway_console {\n\n\trefresh\n}", "Testfile:3"},
		{"ai_gateway_console {\n\trefresh soon\n}", "parsing refresh duration 'soon': time: invalid duration \"soon\", at Testfile:2"},
		{"ai_gateway_console {\n\trefresh 100ms\n}", "refresh 100ms: must be between 1s and 1h0m0s, at Testfile:2"},
		{"ai_gateway_console {\n\trefresh 2h\n}", "Testfile:2"},
		{"ai_gateway_console {\n\trefresh 5s 6s\n}", "Testfile:2"},
		{"ai_gateway_console {\n\trefresh 5s\n\trefresh 6s\n}", "refresh already specified, at Testfile:3"},
	} {
		var c console.Console
		err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// TestCaddyfileAdapt checks that the directive needs no `order` and lands
// where it is written, with its options in the JSON.
func TestCaddyfileAdapt(t *testing.T) {
	cf := `:8443 {
	route /console/* {
		basic_auth {
			ops $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
		}
		ai_gateway_console {
			database sqlite /var/lib/caddy/usage.db
			refresh 10s
		}
	}
	ai_gateway_console /ops/* {
		refresh 3s
	}
}`
	out, err := gatewaytest.Adapt(cf)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []json.RawMessage `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	js := string(out)
	for _, want := range []string{
		`{"database":"sqlite:///var/lib/caddy/usage.db","handler":"ai_gateway_console","refresh":10000000000}`,
		`{"handler":"ai_gateway_console","refresh":3000000000}`,
		`"handler":"authentication"`,
		`"/ops/*"`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("adapted JSON lacks %s:\n%s", want, js)
		}
	}
	// basic_auth runs before the console inside the route.
	if i, j := strings.Index(js, `"handler":"authentication"`), strings.Index(js, `"database":"sqlite:///var/lib`); i < 0 || j < i {
		t.Errorf("the console is not behind basic_auth:\n%s", js)
	}

	_, err = gatewaytest.Adapt(":8443 {\n\tai_gateway_console {\n\t\trefresh never\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "Caddyfile:3") {
		t.Errorf("error %v, want one at Caddyfile:3", err)
	}
}

func TestValidate(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, -time.Second, 2 * time.Hour} {
		c := console.Console{Refresh: caddy.Duration(d)}
		if err := c.Validate(); err == nil {
			t.Errorf("refresh %s accepted", d)
		}
	}
	for _, d := range []time.Duration{0, time.Second, time.Hour} {
		c := console.Console{Refresh: caddy.Duration(d)}
		if err := c.Validate(); err != nil {
			t.Errorf("refresh %s: %v", d, err)
		}
	}
}
