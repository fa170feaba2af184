package polygate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
	"github.com/polygate/polygate/usage"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("ai_gateway", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("ai_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return handler, err
}

// UnmarshalCaddyfile sets up the gateway from Caddyfile tokens. Syntax:
//
//	ai_gateway {
//		base_path <path>
//		max_request_body <size>
//		direct_models on|off
//		default_provider <name>
//		provider <name> <type> {
//			<type-specific options>
//		}
//		guardrail <type> {
//			<type-specific options>
//		}
//		cache {
//			ttl <duration>
//			max_size <size>
//			scope key|plan|global
//		}
//		metrics [off|per_key]
//		trace_content on|off
//		prices_file <path>
//		prices_catalogue on|off
//		accounting off
//		database <dsn>|sqlite [path]
//		auth keys|none|identity <placeholder> [plan <placeholder-or-name>]
//		default_plan <name>
//		response_retention <duration>
//		plan <name> {
//			<limits>
//			unmetered_paths <path>...
//		}
//		model <name> {
//			upstream <provider> <upstream-model> [weight <n>]
//			price <input-usd-per-million> <output-usd-per-million> [cached <usd>] [cache_write <usd>] [cache_write_1h <usd>]
//			price_image <usd>
//			price_audio_minute <usd>
//			price_tts_chars <usd-per-million>
//			retries <n>
//			fallback <model>...
//			lb_policy weighted|least_busy|lowest_latency
//			max_fails <n>
//			fail_duration <duration>
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	var refs []ref
	for d.NextBlock(0) {
		switch d.Val() {
		case "base_path":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.BasePath = d.Val()
			if h.BasePath == "" || h.BasePath[0] != '/' {
				return d.Errf("base_path %q: must start with /", h.BasePath)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "max_request_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size == 0 {
				return d.Errf("max_request_body: parsing size %q: expected e.g. 8MiB", d.Val())
			}
			h.MaxRequestBody = int64(size)
			if d.NextArg() {
				return d.ArgErr()
			}
		case "direct_models":
			if err := providers.ParseBool(d, &h.DirectModels); err != nil {
				return err
			}
		case "default_provider":
			if !d.Args(&h.DefaultProvider) {
				return d.ArgErr()
			}
			refs = append(refs, ref{kind: refDefault, name: h.DefaultProvider, at: d.Token()})
			if d.NextArg() {
				return d.ArgErr()
			}
		case "provider":
			var name, typ string
			if !d.Args(&name, &typ) {
				return d.Errf("provider: expected a name and a type, e.g. 'provider openai openai'")
			}
			if _, ok := h.ProvidersRaw[name]; ok {
				return d.Errf("provider %q: defined more than once", name)
			}
			id := "http.ai_gateway.providers." + typ
			if _, err := caddy.GetModule(id); err != nil {
				return d.Errf("provider %q: unknown provider type %q", name, typ)
			}
			unm, err := caddyfile.UnmarshalModule(d, id)
			if err != nil {
				return fmt.Errorf("provider %q: %w", name, err)
			}
			if h.ProvidersRaw == nil {
				h.ProvidersRaw = make(map[string]json.RawMessage)
			}
			h.ProvidersRaw[name] = caddyconfig.JSONModuleObject(unm, "type", typ, nil)
		case "model":
			m, at, mrefs, err := parseModel(d)
			if err != nil {
				return err
			}
			for _, existing := range h.Models {
				if existing.Name == m.Name {
					return errAt(at, "model %q: defined more than once", m.Name)
				}
			}
			h.Models = append(h.Models, m)
			refs = append(refs, mrefs...)
		case "guardrail":
			var typ string
			if !d.Args(&typ) {
				return d.Errf("guardrail: expected a type, e.g. 'guardrail pii'")
			}
			id := "http.ai_gateway.guardrails." + typ
			if _, err := caddy.GetModule(id); err != nil {
				return d.Errf("guardrail: unknown guardrail type %q", typ)
			}
			unm, err := caddyfile.UnmarshalModule(d, id)
			if err != nil {
				return fmt.Errorf("guardrail %q: %w", typ, err)
			}
			h.GuardrailsRaw = append(h.GuardrailsRaw, caddyconfig.JSONModuleObject(unm, "guardrail", typ, nil))
		case "prices_file":
			if !d.Args(&h.PricesFile) || d.NextArg() {
				return d.Err("prices_file: expected one path")
			}
		case "prices_catalogue":
			if err := providers.ParseBool(d, &h.PricesCatalogue); err != nil {
				return err
			}
		case "trace_content":
			var on string
			if !d.Args(&on) || d.NextArg() || (on != "on" && on != "off") {
				return d.Err("trace_content: expected on or off")
			}
			h.TraceContent = on == "on"
		case "metrics":
			if h.Metrics != nil {
				return d.Err("metrics already specified")
			}
			h.Metrics = new(MetricsConfig)
			for d.NextArg() {
				switch d.Val() {
				case "off":
					h.Metrics.Disabled = true
				case "per_key":
					h.Metrics.PerKey = true
				default:
					return d.Errf("metrics: unknown option '%s' (want off or per_key)", d.Val())
				}
			}
		case "cache":
			if h.Cache != nil {
				return d.Err("cache already specified")
			}
			h.Cache = new(cache.Config)
			if err := h.Cache.UnmarshalCaddyfile(d); err != nil {
				return err
			}
		case "accounting":
			if !d.NextArg() || d.Val() != "off" || d.NextArg() {
				return d.Err("accounting: the only setting is 'accounting off'")
			}
			if h.Accounting == nil {
				h.Accounting = new(usage.Config)
			}
			h.Accounting.Disabled = true
		default:
			if h.Accounting == nil {
				h.Accounting = new(usage.Config)
			}
			handled, err := h.Accounting.UnmarshalDirective(d)
			if err != nil {
				return err
			}
			if !handled {
				return d.Errf("unrecognized subdirective '%s'", d.Val())
			}
		}
	}
	if h.Accounting != nil && reflect.DeepEqual(*h.Accounting, usage.Config{}) {
		h.Accounting = nil
	}
	if h.Accounting != nil {
		if err := h.Accounting.Validate(); err != nil {
			return fmt.Errorf("%s:%d - Error during parsing: %v", d.File(), d.Line(), err)
		}
	}
	return h.checkRefs(refs)
}

// ref is a name that must be defined somewhere in the block, and the token
// that names it (for the error's file and line).
type ref struct {
	kind  int
	name  string
	model string
	at    caddyfile.Token
}

const (
	refProvider = iota // an upstream's provider
	refFallback        // a fallback model
	refDefault         // default_provider
)

// errAt is d.Errf at the place of token at.
func errAt(at caddyfile.Token, format string, args ...any) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{at})
	d.Next()
	return d.Errf(format, args...)
}

// checkRefs reports the first name that is not defined, where it is named.
func (h *Handler) checkRefs(refs []ref) error {
	models := make(map[string]bool, len(h.Models))
	for _, m := range h.Models {
		models[m.Name] = true
	}
	for _, r := range refs {
		name := r.name
		switch r.kind {
		case refProvider:
			if _, ok := h.ProvidersRaw[name]; !ok {
				return errAt(r.at, "model %q: upstream names unknown provider %q", r.model, name)
			}
		case refFallback:
			if name == r.model {
				return errAt(r.at, "model %q: cannot fall back to itself", r.model)
			}
			if !models[name] {
				return errAt(r.at, "model %q: fallback names unknown model %q", r.model, name)
			}
		case refDefault:
			if _, ok := h.ProvidersRaw[name]; !ok {
				return errAt(r.at, "default_provider %q: no such provider", name)
			}
		}
	}
	return nil
}

// parseModel reads a model block; at is the token of its name.
func parseModel(d *caddyfile.Dispenser) (m *Model, at caddyfile.Token, refs []ref, err error) {
	m, refs, err = parseModelBlock(d, &at)
	return m, at, refs, err
}

func parseModelBlock(d *caddyfile.Dispenser, at *caddyfile.Token) (*Model, []ref, error) {
	m := new(Model)
	if !d.Args(&m.Name) {
		return nil, nil, d.Errf("model: expected a name")
	}
	*at = d.Token()
	if d.NextArg() {
		return nil, nil, d.ArgErr()
	}
	var refs []ref
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "upstream":
			var u Upstream
			if !d.Args(&u.Provider, &u.Model) {
				return nil, nil, d.Errf("model %q: upstream: expected a provider and a model", m.Name)
			}
			if d.NextArg() {
				if d.Val() != "weight" || !d.NextArg() {
					return nil, nil, d.Errf("model %q: upstream: expected 'weight <n>' after the model", m.Name)
				}
				w, err := strconv.Atoi(d.Val())
				if err != nil || w < 1 {
					return nil, nil, d.Errf("model %q: upstream weight %q: expected a positive integer", m.Name, d.Val())
				}
				u.Weight = w
				if d.NextArg() {
					return nil, nil, d.ArgErr()
				}
			}
			m.Upstreams = append(m.Upstreams, u)
			refs = append(refs, ref{kind: refProvider, name: u.Provider, at: d.Token()})
		case "price":
			var in, out string
			if !d.Args(&in, &out) {
				return nil, nil, d.Errf("model %q: price: expected input and output USD per million tokens", m.Name)
			}
			pi, err1 := strconv.ParseFloat(in, 64)
			po, err2 := strconv.ParseFloat(out, 64)
			if err1 != nil || err2 != nil || pi < 0 || po < 0 {
				return nil, nil, d.Errf("model %q: price %s %s: expected two non-negative numbers", m.Name, in, out)
			}
			p := priceOf(m)
			p.Input, p.Output = pi, po
			for d.NextArg() {
				kind := d.Val()
				var rate *float64
				switch kind {
				case "cached":
					rate = &p.Cached
				case "cache_write":
					rate = &p.CacheWrite
				case "cache_write_1h":
					rate = &p.CacheWrite1h
				default:
					return nil, nil, d.Errf("model %q: price: unknown rate %q (expected cached, cache_write or cache_write_1h)", m.Name, kind)
				}
				if err := priceArg(d, m.Name, "price "+kind, rate); err != nil {
					return nil, nil, err
				}
			}
		case "price_image", "price_audio_minute", "price_tts_chars":
			p := priceOf(m)
			rate := map[string]*float64{"price_image": &p.Image, "price_audio_minute": &p.AudioMinute, "price_tts_chars": &p.TTSChars}[d.Val()]
			if err := priceArg(d, m.Name, d.Val(), rate); err != nil {
				return nil, nil, err
			}
			if d.NextArg() {
				return nil, nil, d.ArgErr()
			}
		case "retries":
			var s string
			if !d.Args(&s) || d.NextArg() {
				return nil, nil, d.ArgErr()
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, nil, d.Errf("model %q: retries %q: expected a non-negative integer", m.Name, s)
			}
			m.Retries = n
		case "fallback":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, nil, d.Errf("model %q: fallback: expected one or more model names", m.Name)
			}
			m.Fallbacks = append(m.Fallbacks, args...)
			for _, f := range args {
				refs = append(refs, ref{kind: refFallback, name: f, at: d.Token()})
			}
		case "lb_policy":
			var name string
			if !d.Args(&name) {
				return nil, nil, d.ArgErr()
			}
			if m.LBPolicyRaw != nil {
				return nil, nil, d.Errf("model %q: lb_policy already specified", m.Name)
			}
			id := routing.PolicyNamespace + "." + name
			if _, err := caddy.GetModule(id); err != nil {
				return nil, nil, d.Errf("model %q: unknown lb_policy %q (want weighted, least_busy or lowest_latency)", m.Name, name)
			}
			unm, err := caddyfile.UnmarshalModule(d, id)
			if err != nil {
				return nil, nil, err
			}
			m.LBPolicyRaw = caddyconfig.JSONModuleObject(unm, "policy", name, nil)
		case "max_fails":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, nil, d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, nil, d.Errf("model %q: max_fails %q: expected a positive integer", m.Name, v)
			}
			m.MaxFails = n
		case "fail_duration":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return nil, nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return nil, nil, d.Errf("model %q: fail_duration %q: expected a positive duration such as 30s", m.Name, v)
			}
			m.FailDuration = caddy.Duration(dur)
		default:
			return nil, nil, d.Errf("model %q: unrecognized subdirective '%s'", m.Name, d.Val())
		}
	}
	if len(m.Upstreams) == 0 {
		return nil, nil, errAt(*at, "model %q: at least one upstream is required", m.Name)
	}
	for i := range refs {
		refs[i].model = m.Name
	}
	return m, refs, nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)

// priceOf returns the model's price, creating it.
func priceOf(m *Model) *providers.Price {
	if m.Price == nil {
		m.Price = new(providers.Price)
	}
	return m.Price
}

// priceArg reads the next argument as a non-negative USD amount into rate.
func priceArg(d *caddyfile.Dispenser, model, what string, rate *float64) error {
	if !d.NextArg() {
		return d.Errf("model %q: %s: expected a USD amount", model, what)
	}
	v, err := strconv.ParseFloat(d.Val(), 64)
	if err != nil || v < 0 {
		return d.Errf("model %q: %s %s: expected a non-negative number", model, what, d.Val())
	}
	*rate = v
	return nil
}
