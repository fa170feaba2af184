package cache

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func caddyDuration(d time.Duration) caddy.Duration { return caddy.Duration(d) }

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  Config
		err   string
	}{
		{input: `cache`, want: Config{}},
		{input: `cache {
		}`, want: Config{}},
		{input: `cache {
			ttl 90s
			max_size 256MiB
			scope plan
		}`, want: Config{TTL: caddyDuration(90 * time.Second), MaxSize: 256 << 20, Scope: ScopePlan}},
		{input: `cache {
			max_size 2MB
			scope global
		}`, want: Config{MaxSize: 2_000_000, Scope: ScopeGlobal}},
		{input: `cache {
			ttl 1d
			scope key
		}`, want: Config{TTL: caddyDuration(24 * time.Hour), Scope: ScopeKey}},

		{input: `cache 10m`, err: "unexpected argument"},
		{input: `cache {
			ttl
		}`, err: "ttl: missing value"},
		{input: `cache {
			ttl 10m 20m
		}`, err: "ttl: too many values"},
		{input: `cache {
			ttl soon
		}`, err: `ttl "soon"`},
		{input: `cache {
			ttl -5m
		}`, err: `ttl "-5m"`},
		{input: `cache {
			ttl 0s
		}`, err: `ttl "0s"`},
		{input: `cache {
			max_size lots
		}`, err: `max_size "lots"`},
		{input: `cache {
			max_size 512KiB
		}`, err: "at least 1MiB"},
		{input: `cache {
			scope user
		}`, err: `scope "user"`},
		{input: `cache {
			ttl 1m
			ttl 2m
		}`, err: "ttl already specified"},
		{input: `cache {
			metrics
		}`, err: "unrecognized option 'metrics'"},
	} {
		d := caddyfile.NewTestDispenser(tc.input)
		d.Next() // the host's loop stands on the cache token
		var got Config
		err := got.UnmarshalCaddyfile(d)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s\nerr = %v, want one containing %q", tc.input, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s\nunexpected error: %v", tc.input, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s\ngot %+v, want %+v", tc.input, got, tc.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s\nparsed config does not validate: %v", tc.input, err)
		}
	}
}

// The parser leaves the dispenser where the host's block loop continues.
func TestUnmarshalCaddyfileInHostBlock(t *testing.T) {
	d := caddyfile.NewTestDispenser(`ai_gateway {
		cache {
			ttl 5m
		}
		base_path /v1
	}`)
	d.Next()
	var cfg Config
	var after []string
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "cache":
			if err := cfg.UnmarshalCaddyfile(d); err != nil {
				t.Fatal(err)
			}
		default:
			after = append(after, d.Val())
			d.RemainingArgs()
		}
	}
	if cfg.TTL != caddyDuration(5*time.Minute) {
		t.Errorf("ttl = %v", cfg.TTL)
	}
	if len(after) != 1 || after[0] != "base_path" {
		t.Errorf("host saw %v after the cache block", after)
	}
}

func TestConfigJSON(t *testing.T) {
	var cfg Config
	if err := json.Unmarshal([]byte(`{"ttl":"90s","max_size":2097152,"scope":"global"}`), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{TTL: caddyDuration(90 * time.Second), MaxSize: 2 << 20, Scope: ScopeGlobal}
	if cfg != want {
		t.Errorf("got %+v", cfg)
	}
	b, err := json.Marshal(Config{})
	if err != nil || string(b) != "{}" {
		t.Errorf("empty config encodes as %s (%v)", b, err)
	}
}
