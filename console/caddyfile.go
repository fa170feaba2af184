package console

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("ai_gateway_console", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("ai_gateway_console", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(Console)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the console from Caddyfile tokens. Syntax:
//
//	ai_gateway_console [<matcher>] {
//		database <postgres://...> | sqlite [<path>] | <path> | <name>
//		refresh  <duration>
//	}
//
// database names the usage database when ai_gateway handlers use several
// (as in their own database setting, or as the admin API names it);
// refresh is how often the page polls (default 5s).
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "database":
			if c.Database != "" {
				return d.Err("database already specified")
			}
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] != "sqlite":
				c.Database = args[0]
			case len(args) >= 1 && len(args) <= 2 && args[0] == "sqlite":
				// As ai_gateway's `database sqlite [<path>]`.
				c.Database = "sqlite://" + strings.Join(args[1:], "")
			default:
				return d.ArgErr()
			}
		case "refresh":
			if c.Refresh != 0 {
				return d.Err("refresh already specified")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			v := d.Val()
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("parsing refresh duration '%s': %v", v, err)
			}
			if dur < MinRefresh || dur > MaxRefresh {
				return d.Errf("refresh %s: must be between %s and %s", v, MinRefresh, MaxRefresh)
			}
			c.Refresh = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized ai_gateway_console subdirective '%s'", d.Val())
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Console)(nil)
