package usage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseHostBlock parses a block the way the host handler does, letting
// the Config handle its directives.
func parseHostBlock(input string) (*Config, []string, error) {
	d := caddyfile.NewTestDispenser(input)
	cfg := new(Config)
	var other []string
	for d.Next() {
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			ok, err := cfg.UnmarshalDirective(d)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				other = append(other, d.Val())
				d.RemainingArgs()
			}
		}
	}
	return cfg, other, nil
}

func TestUnmarshalCaddyfile(t *testing.T) {
	cfg, other, err := parseHostBlock(`ai_gateway {
		database postgres://gateway@127.0.0.1/gateway?sslmode=disable {
			sync_interval 2s
			batch_size 1_000
			buffer_limit 5000
			spill_dir /var/spill
			flush_interval 500ms
			key_refresh_interval 3s
			shutdown_timeout 10s
		}
		auth identity {http.auth.user.id} plan {http.auth.user.plan}
		default_plan free
		provider openai
		plan free {
			requests_per_minute 10
			requests_per_day 50
			models gpt-4o-mini claude-*
		}
		plan pro {
			requests_per_minute 120
			tokens_per_minute 100000
			tokens_per_day 2000000
			budget_per_day $5
			budget_per_month 25
			default_max_tokens 1024
			unmetered_paths files batches/*
			unmetered_paths vector_stores*
		}
		response_retention 7d12h
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(other) != 1 || other[0] != "provider" {
		t.Errorf("host directives = %v, want [provider]", other)
	}
	got, _ := json.Marshal(cfg)
	want := `{"database":"postgres://gateway@127.0.0.1/gateway?sslmode=disable",` +
		`"auth":{"mode":"identity","identity":"{http.auth.user.id}","plan":"{http.auth.user.plan}"},` +
		`"default_plan":"free","plans":{` +
		`"free":{"requests_per_minute":10,"requests_per_day":50,"models":["gpt-4o-mini","claude-*"]},` +
		`"pro":{"requests_per_minute":120,"tokens_per_minute":100000,"tokens_per_day":2000000,"budget_per_day":5,"budget_per_month":25,"default_max_tokens":1024,` +
		`"unmetered_paths":["files","batches/*","vector_stores*"]}},` +
		`"sync_interval":2000000000,"key_refresh_interval":3000000000,"batch_size":1000,"flush_interval":500000000,` +
		`"buffer_limit":5000,"spill_dir":"/var/spill","shutdown_timeout":10000000000,"response_retention":648000000000000}`
	if string(got) != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestUnmarshalCaddyfileForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
	}{
		{"x {\n database sqlite /data/usage.db\n}", Config{Database: "sqlite:///data/usage.db"}},
		{"x {\n database sqlite\n}", Config{Database: "sqlite://"}},
		{"x {\n database /data/usage.db\n}", Config{Database: "/data/usage.db"}},
		{"x {\n database {env.DATABASE_URL}\n}", Config{Database: "{env.DATABASE_URL}"}},
		{"x {\n auth keys\n}", Config{Auth: &AuthConfig{Mode: AuthKeys}}},
		{"x {\n auth none\n}", Config{Auth: &AuthConfig{Mode: AuthNone}}},
		{"x {\n auth identity {http.auth.user.id}\n}", Config{Auth: &AuthConfig{Mode: AuthIdentity, Identity: "{http.auth.user.id}"}}},
		{"x {\n auth identity {http.auth.user.id} {\n plan gold\n }\n}", Config{Auth: &AuthConfig{Mode: AuthIdentity, Identity: "{http.auth.user.id}", Plan: "gold"}}},
	} {
		cfg, _, err := parseHostBlock(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got, _ := json.Marshal(cfg)
		want, _ := json.Marshal(tc.want)
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, want)
		}
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	for _, in := range []string{
		"x {\n database a b c\n}",
		"x {\n database postgres localhost\n}",
		"x {\n database a\n database b\n}",
		"x {\n database a {\n bogus 1\n }\n}",
		"x {\n database a {\n sync_interval soon\n }\n}",
		"x {\n database a {\n batch_size -1\n }\n}",
		"x {\n auth\n}",
		"x {\n auth magic\n}",
		"x {\n auth keys extra\n}",
		"x {\n auth identity\n}",
		"x {\n auth identity {id} tier gold\n}",
		"x {\n auth keys\n auth keys\n}",
		"x {\n default_plan\n}",
		"x {\n default_plan a b\n}",
		"x {\n plan\n}",
		"x {\n plan free {\n requests_per_minute ten\n }\n}",
		"x {\n plan free {\n budget_per_day -3\n }\n}",
		"x {\n plan free {\n models\n }\n}",
		"x {\n plan free {\n colour blue\n }\n}",
		"x {\n plan free {\n requests_per_minute 1 2\n }\n}",
		"x {\n plan free\n plan free\n}",
		"x {\n plan free {\n unmetered_paths\n }\n}",
		"x {\n plan free {\n unmetered_paths /v1/files\n }\n}",
		"x {\n plan free {\n unmetered_paths v1/files\n }\n}",
		"x {\n plan free {\n unmetered_paths files/*/content\n }\n}",
		"x {\n plan free {\n unmetered_paths *\n }\n}",
		"x {\n response_retention\n}",
		"x {\n response_retention forever\n}",
		"x {\n response_retention 0s\n}",
		"x {\n response_retention -1d\n}",
		"x {\n response_retention 1d 2d\n}",
		"x {\n response_retention 1d\n response_retention 2d\n}",
	} {
		if _, _, err := parseHostBlock(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{DefaultPlan: "free", Plans: map[string]*Plan{"free": {}}}, true},
		{Config{DefaultPlan: "gold", Plans: map[string]*Plan{"free": {}}}, false},
		{Config{Auth: &AuthConfig{Mode: "magic"}}, false},
		{Config{Auth: &AuthConfig{Mode: AuthIdentity}}, false},
		{Config{Auth: &AuthConfig{Mode: AuthKeys, Identity: "{x}"}}, false},
		{Config{Plans: map[string]*Plan{"free": {RequestsPerDay: -1}}}, false},
		{Config{Plans: map[string]*Plan{"free": {Models: []string{"a*b"}}}}, false},
		{Config{Plans: map[string]*Plan{"free": nil}}, false},
		{Config{BatchSize: 5000}, false},
		{Config{SyncInterval: caddy.Duration(-time.Second)}, false},
		{Config{ResponseRetention: caddy.Duration(-time.Hour)}, false},
		{Config{ResponseRetention: caddy.Duration(time.Hour)}, true},
		{Config{Plans: map[string]*Plan{"free": {UnmeteredPaths: []string{"files", "vector_stores/*"}}}}, true},
		{Config{Plans: map[string]*Plan{"free": {UnmeteredPaths: []string{"/files"}}}}, false},
		{Config{Plans: map[string]*Plan{"free": {UnmeteredPaths: []string{""}}}}, false},
		{Config{Plans: map[string]*Plan{"free": {UnmeteredPaths: []string{"a*/b"}}}}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			j, _ := json.Marshal(tc.cfg)
			t.Errorf("%s: err = %v, want ok=%v", j, err, tc.ok)
		}
	}
}

func TestPlanAllowsModel(t *testing.T) {
	p := &Plan{Models: []string{"gpt-4o-mini", "claude-*"}}
	for model, want := range map[string]bool{
		"gpt-4o-mini": true, "gpt-4o": false, "claude-3-5-sonnet": true, "claude": false, "": false,
	} {
		if got := p.AllowsModel(model); got != want {
			t.Errorf("AllowsModel(%q) = %v", model, got)
		}
	}
	if !(*Plan)(nil).AllowsModel("anything") || !(&Plan{}).AllowsModel("anything") {
		t.Error("a plan without models should allow all")
	}
}

func TestParseTarget(t *testing.T) {
	tg, err := parseTarget("postgres://gw:s3cret@db.internal:5432/gateway?sslmode=disable", "/data")
	if err != nil {
		t.Fatal(err)
	}
	if tg.dialect != postgresDialect || strings.Contains(tg.name, "s3cret") || !strings.Contains(tg.name, "db.internal") || tg.short != "gateway" {
		t.Errorf("postgres target: %+v", tg)
	}
	rotated, _ := parseTarget("postgres://gw:n3w@db.internal:5432/gateway?sslmode=require", "/data")
	if rotated.tag != tg.tag || rotated.key == tg.key {
		t.Error("the spill tag must survive a password rotation; the pool key must not")
	}
	other, _ := parseTarget("postgres://gw:s3cret@db.internal:5432/gateway?search_path=b", "/data")
	if other.tag == tg.tag {
		t.Error("another schema must have another tag")
	}
	qp, _ := parseTarget("postgresql://gw@db/x?password=hunter2", "/data")
	if strings.Contains(qp.name, "hunter2") {
		t.Errorf("password in query shown: %s", qp.name)
	}
	if _, err := parseTarget("postgres://gw:pa%zzss@db/x", "/data"); err == nil || strings.Contains(err.Error(), "pa%zzss") {
		t.Errorf("bad URL error leaks the password: %v", err)
	}

	for raw, path := range map[string]string{
		"":                       "/data/polygate/usage.db",
		"sqlite://":              "/data/polygate/usage.db",
		"sqlite:///var/usage.db": "/var/usage.db",
		"/var/usage.db":          "/var/usage.db",
		"sqlite:/var/usage.db":   "/var/usage.db",
	} {
		tg, err := parseTarget(raw, "/data")
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		if tg.dialect != sqliteDialect || tg.short != path || tg.name != "sqlite:"+path {
			t.Errorf("%q: %+v", raw, tg)
		}
		for _, want := range []string{"busy_timeout", "journal_mode%28WAL%29", "_time_format=sqlite", "_txlock=immediate"} {
			if !strings.Contains(tg.dsn, want) {
				t.Errorf("%q: DSN %s lacks %s", raw, tg.dsn, want)
			}
		}
	}
	custom, _ := parseTarget("sqlite:///var/u.db?_pragma=busy_timeout(50)", "/data")
	if strings.Count(custom.dsn, "busy_timeout") != 1 {
		t.Errorf("own busy_timeout not kept alone: %s", custom.dsn)
	}
	for _, bad := range []string{"mysql://x", "sqlite://:memory:"} {
		if _, err := parseTarget(bad, "/data"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseTime(t *testing.T) {
	got, err := ParseTime("2025-03-01", true)
	if err != nil || !got.Equal(time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("end of day: %v %v", got, err)
	}
	got, err = ParseTime("2025-03-01T10:00:00+02:00", true)
	if err != nil || !got.Equal(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("RFC 3339: %v %v", got, err)
	}
	if _, err := ParseTime("yesterday", false); err == nil {
		t.Error("no error")
	}
}

// TestCaddyfileErrorPositions: errors of the new subdirectives name the
// file and line of the offending token.
func TestCaddyfileErrorPositions(t *testing.T) {
	for in, want := range map[string]string{
		"x {\n plan free {\n requests_per_day 1\n unmetered_paths /v1/files\n }\n}": "Testfile:4",
		"x {\n auth keys\n response_retention soon\n}":                              "Testfile:3",
	} {
		_, _, err := parseHostBlock(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error at %s", in, err, want)
		}
	}
}

func TestResponseRetentionDefault(t *testing.T) {
	if got := (&Config{}).responseRetention(); got != 30*24*time.Hour {
		t.Errorf("default retention %v", got)
	}
	cfg, _, err := parseHostBlock("x {\n response_retention 30d\n}")
	if err != nil || time.Duration(cfg.ResponseRetention) != 30*24*time.Hour {
		t.Errorf("30d: %v %v", time.Duration(cfg.ResponseRetention), err)
	}
}
