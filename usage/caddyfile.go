package usage

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalDirective parses the subdirective at the dispenser's current
// token if it is one of the accounting subdirectives (database, auth,
// default_plan, plan, response_retention) and reports whether it was. The host
// calls it for every token of its block:
//
//	for nesting := d.Nesting(); d.NextBlock(nesting); {
//		if ok, err := h.Usage.UnmarshalDirective(d); err != nil {
//			return err
//		} else if ok {
//			continue
//		}
//		switch d.Val() { ... }
//	}
//
// Syntax:
//
//	database [<postgres://...> | sqlite [<path>] | <path>] {
//		sync_interval        <duration>
//		key_refresh_interval <duration>
//		batch_size           <records>
//		flush_interval       <duration>
//		buffer_limit         <records>
//		spill_dir            <path>
//		shutdown_timeout     <duration>
//	}
//	auth keys|none
//	auth identity <placeholder> [plan <placeholder-or-name>]
//	default_plan <name>
//	plan <name> {
//		requests_per_minute <n>
//		requests_per_day    <n>
//		tokens_per_minute   <n>
//		tokens_per_day      <n>
//		budget_per_day      <usd>
//		budget_per_month    <usd>
//		models              <model...>
//		default_max_tokens  <n>
//		unmetered_paths     <path...>
//	}
//	response_retention <duration>
//
// Durations take Caddy's units, days ("30d") included.
func (c *Config) UnmarshalDirective(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "database":
		return true, c.unmarshalDatabase(d)
	case "auth":
		return true, c.unmarshalAuth(d)
	case "default_plan":
		if c.DefaultPlan != "" {
			return true, d.Err("default_plan already specified")
		}
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		c.DefaultPlan = d.Val()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		return true, nil
	case "plan":
		return true, c.unmarshalPlan(d)
	case "response_retention":
		if c.ResponseRetention != 0 {
			return true, d.Err("response_retention already specified")
		}
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return true, d.ArgErr()
		}
		return true, parseDuration(d, val, &c.ResponseRetention)
	}
	return false, nil
}

func (c *Config) unmarshalDatabase(d *caddyfile.Dispenser) error {
	if c.Database != "" {
		return d.Err("database already specified")
	}
	args := d.RemainingArgs()
	switch {
	case len(args) == 0:
	case args[0] == "sqlite" && len(args) <= 2:
		c.Database = "sqlite://"
		if len(args) == 2 {
			c.Database += args[1]
		}
	case args[0] == "postgres" || args[0] == "postgresql":
		return d.Errf("database: give a postgres:// URL, not '%s'", args[0])
	case len(args) == 1:
		c.Database = args[0]
	default:
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		var err error
		switch name {
		case "sync_interval":
			err = parseDuration(d, val, &c.SyncInterval)
		case "key_refresh_interval":
			err = parseDuration(d, val, &c.KeyRefreshInterval)
		case "flush_interval":
			err = parseDuration(d, val, &c.FlushInterval)
		case "shutdown_timeout":
			err = parseDuration(d, val, &c.ShutdownTimeout)
		case "batch_size":
			err = parseInt(d, val, &c.BatchSize)
		case "buffer_limit":
			err = parseInt(d, val, &c.BufferLimit)
		case "spill_dir":
			c.SpillDir = val
		default:
			return d.Errf("unrecognized database subdirective '%s'", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) unmarshalAuth(d *caddyfile.Dispenser) error {
	if c.Auth != nil {
		return d.Err("auth already specified")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	a := &AuthConfig{Mode: d.Val()}
	switch a.Mode {
	case AuthKeys, AuthNone:
		if d.NextArg() {
			return d.ArgErr()
		}
	case AuthIdentity:
		if !d.NextArg() {
			return d.Err("auth identity: missing identity placeholder")
		}
		a.Identity = d.Val()
		if d.NextArg() {
			if d.Val() != "plan" || !d.NextArg() {
				return d.ArgErr()
			}
			a.Plan = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			if d.Val() != "plan" {
				return d.Errf("unrecognized auth subdirective '%s'", d.Val())
			}
			if a.Plan != "" {
				return d.Err("auth: plan already specified")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Plan = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		}
	default:
		return d.Errf("unknown auth mode '%s' (want keys, identity or none)", a.Mode)
	}
	c.Auth = a
	return nil
}

func (c *Config) unmarshalPlan(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if _, ok := c.Plans[name]; ok {
		return d.Errf("plan '%s' already specified", name)
	}
	p := new(Plan)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch sub {
		case "models":
			models := d.RemainingArgs()
			if len(models) == 0 {
				return d.ArgErr()
			}
			p.Models = append(p.Models, models...)
			continue
		case "unmetered_paths":
			paths := d.RemainingArgs()
			if len(paths) == 0 {
				return d.ArgErr()
			}
			for _, path := range paths {
				if err := validUnmeteredPath(path); err != nil {
					return d.Errf("plan '%s': unmetered_paths: %v", name, err)
				}
			}
			p.UnmeteredPaths = append(p.UnmeteredPaths, paths...)
			continue
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		var err error
		switch sub {
		case "requests_per_minute":
			err = parseInt(d, val, &p.RequestsPerMinute)
		case "requests_per_day":
			err = parseInt(d, val, &p.RequestsPerDay)
		case "tokens_per_minute":
			err = parseInt(d, val, &p.TokensPerMinute)
		case "tokens_per_day":
			err = parseInt(d, val, &p.TokensPerDay)
		case "default_max_tokens":
			err = parseInt(d, val, &p.DefaultMaxTokens)
		case "budget_per_day":
			err = parseUSD(d, val, &p.BudgetPerDay)
		case "budget_per_month":
			err = parseUSD(d, val, &p.BudgetPerMonth)
		default:
			return d.Errf("unrecognized plan subdirective '%s'", sub)
		}
		if err != nil {
			return err
		}
	}
	if c.Plans == nil {
		c.Plans = make(map[string]*Plan)
	}
	c.Plans[name] = p
	return nil
}

func parseDuration(d *caddyfile.Dispenser, val string, dst *caddy.Duration) error {
	dur, err := caddy.ParseDuration(val)
	if err != nil || dur <= 0 {
		return d.Errf("invalid duration '%s'", val)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func parseInt[T int | int64](d *caddyfile.Dispenser, val string, dst *T) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(val, "_", ""), 10, 64)
	if err != nil || n < 0 {
		return d.Errf("invalid number '%s'", val)
	}
	*dst = T(n)
	return nil
}

func parseUSD(d *caddyfile.Dispenser, val string, dst *float64) error {
	f, err := strconv.ParseFloat(strings.TrimPrefix(val, "$"), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return d.Errf("invalid amount '%s'", val)
	}
	*dst = f
	return nil
}
