package cache

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// UnmarshalCaddyfile sets c up from the `cache` subdirective of the
// ai_gateway block. The dispenser must be positioned on the `cache` token,
// as it is in the host's block loop:
//
//	case "cache":
//		if h.Cache != nil {
//			return d.Err("cache already specified")
//		}
//		h.Cache = new(cache.Config)
//		if err := h.Cache.UnmarshalCaddyfile(d); err != nil {
//			return err
//		}
//
// Syntax (every option is optional; `cache` alone enables the cache with
// the defaults):
//
//	cache {
//		ttl      <duration>   # default 10m
//		max_size <size>       # e.g. 256MiB; default 64MiB, at least 1MiB
//		scope    key|plan|global  # default key
//	}
func (c *Config) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("cache: unexpected argument '%s' (options go in a block)", d.Val())
	}
	seen := make(map[string]bool, 3)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "ttl", "max_size", "scope":
		default:
			return d.Errf("cache: unrecognized option '%s'", opt)
		}
		if seen[opt] {
			return d.Errf("cache: %s already specified", opt)
		}
		seen[opt] = true
		if !d.NextArg() {
			return d.Errf("cache: %s: missing value", opt)
		}
		val := d.Val()
		if d.NextArg() {
			return d.Errf("cache: %s: too many values", opt)
		}
		switch opt {
		case "ttl":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("cache: ttl %q: expected a positive duration, e.g. 10m", val)
			}
			c.TTL = caddy.Duration(dur)
		case "max_size":
			size, err := humanize.ParseBytes(val)
			if err != nil || size > 1<<62 {
				return d.Errf("cache: max_size %q: expected a size, e.g. 256MiB", val)
			}
			if size < MinMaxSize {
				return d.Errf("cache: max_size %q: must be at least 1MiB", val)
			}
			c.MaxSize = int64(size)
		case "scope":
			switch val {
			case ScopeKey, ScopePlan, ScopeGlobal:
				c.Scope = val
			default:
				return d.Errf("cache: scope %q: must be key, plan or global", val)
			}
		}
	}
	return nil
}
