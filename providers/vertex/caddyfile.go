package vertex

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/providers"
)

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> vertex {
//		project <project-id>
//		location <location>
//		credentials_file <path>
//		api_version <version>
//		max_tokens <n>
//		base_url <url>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
//
// project and location are required. Values without placeholders are
// checked here, the others when the config is loaded.
func (p *Vertex) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if sub == "api_key" {
			return d.Err(apiKeyRefused)
		}
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			if sub == "base_url" && !hasPlaceholder(p.BaseURL) {
				if err := checkBaseURL(p.BaseURL); err != nil {
					return d.Err(err.Error())
				}
			}
			continue
		}
		var err error
		switch sub {
		case "project":
			if err = providers.ParseString(d, &p.Project); err == nil && !hasPlaceholder(p.Project) {
				if err = checkProject(p.Project); err != nil {
					err = d.Err(err.Error())
				}
			}
		case "location":
			if err = providers.ParseString(d, &p.Location); err == nil && !hasPlaceholder(p.Location) {
				if err = checkLocation(p.Location); err != nil {
					err = d.Err(err.Error())
				}
			}
		case "credentials_file":
			err = providers.ParseString(d, &p.CredentialsFile)
		case "api_version":
			err = providers.ParseString(d, &p.APIVersion)
		case "max_tokens":
			if err = providers.ParseInt(d, &p.MaxTokens); err == nil && p.MaxTokens == 0 {
				err = d.Err("max_tokens must be positive")
			}
		default:
			err = d.Errf("unrecognized subdirective '%s'", sub)
		}
		if err != nil {
			return err
		}
	}
	if p.Project == "" {
		return d.Err("project is required")
	}
	if p.Location == "" {
		return d.Err("location is required")
	}
	return nil
}

func hasPlaceholder(s string) bool { return strings.Contains(s, "{") }

// Interface guard
var _ caddyfile.Unmarshaler = (*Vertex)(nil)
