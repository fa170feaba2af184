package bedrock

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/providers"
)

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	provider <name> bedrock {
//		region <region>
//		profile <shared-config-profile>
//		access_key_id <id>
//		secret_access_key <secret>
//		session_token <token>
//		role_arn <arn>
//		role_session_name <name>
//		external_id <id>
//		api_key <bedrock-api-key>
//		guardrail_identifier <id-or-arn>
//		guardrail_version <version>
//		guardrail_trace enabled|disabled|enabled_full
//		base_url <url>
//		header <field> <value>
//		timeout <duration>
//		first_byte_timeout <duration>
//		max_idle_conns_per_host <n>
//	}
func (p *Bedrock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the type name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		sub := d.Val()
		var dst *string
		switch sub {
		case "region":
			dst = &p.Region
		case "profile":
			dst = &p.Profile
		case "access_key_id":
			dst = &p.AccessKeyID
		case "secret_access_key":
			dst = &p.SecretAccessKey
		case "session_token":
			dst = &p.SessionToken
		case "role_arn":
			dst = &p.RoleARN
		case "role_session_name":
			dst = &p.RoleSessionName
		case "external_id":
			dst = &p.ExternalID
		case "guardrail_identifier":
			dst = &p.GuardrailIdentifier
		case "guardrail_version":
			dst = &p.GuardrailVersion
		case "guardrail_trace":
			dst = &p.GuardrailTrace
		default:
			return d.Errf("unrecognized subdirective '%s'", sub)
		}
		if *dst != "" {
			return d.Errf("%s already specified", sub)
		}
		if err := providers.ParseString(d, dst); err != nil {
			return err
		}
		if sub == "region" && !strings.Contains(p.Region, "{") && !validRegion.MatchString(p.Region) {
			return d.Errf("region %q is not an AWS region name (like us-east-1)", p.Region)
		}
		if sub == "role_arn" && !strings.Contains(p.RoleARN, "{") && !strings.HasPrefix(p.RoleARN, "arn:") {
			return d.Errf("role_arn %q is not an ARN (arn:aws:iam::<account>:role/<name>)", p.RoleARN)
		}
		if sub == "guardrail_trace" {
			switch p.GuardrailTrace {
			case "enabled", "disabled", "enabled_full":
			default:
				return d.Errf("guardrail_trace must be enabled, disabled or enabled_full, not %q", p.GuardrailTrace)
			}
		}
	}
	if err := p.check(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}
