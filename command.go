package polygate

import (
	"encoding/json"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/polygate/polygate/pricing"
	"github.com/polygate/polygate/usage"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "ai-gateway",
		Usage: "keys create|list|revoke | usage | prices [model] [--address <admin address>] [--config <file>]",
		Short: "Manages ai_gateway API keys, shows usage and prices",
		Long: `
Manages the ai_gateway handler's virtual API keys and shows its usage
reports, through the admin API of a running Caddy (admin.api.ai_gateway),
and shows the prices that cost its requests.

  caddy ai-gateway keys create --name <name> [--plan <plan>] [--budget <usd>] [--expires <time>]
  caddy ai-gateway keys list
  caddy ai-gateway keys revoke <id>
  caddy ai-gateway usage [--group-by key|caller|model|provider|endpoint|day] [--since <time>] [--until <time>]
  caddy ai-gateway prices [model] [--prices-file <path>] [--provider <type>]

Times are RFC 3339 or YYYY-MM-DD (UTC). The admin address is --address, or
the one in --config, or localhost:2019. When the handlers use several
databases, choose one with --database. With --config, prices reads the
config's prices_file and models: a public model shows its price line or
each upstream model's catalogue price.
`,
		CobraFunc: func(cmd *cobra.Command) {
			usage.BuildCommand(cmd)
			pricing.BuildCommand(cmd, readPriceConfig)
		},
	})
}

// readPriceConfig reads what a Caddy config says about prices: the
// prices_file, prices_catalogue and models of its ai_gateway handlers
// (merged, in the order found).
func readPriceConfig(path, adapter string) (*pricing.Config, error) {
	data, _, _, err := caddycmd.LoadConfig(path, adapter)
	if err != nil {
		return nil, err
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	cfg := &pricing.Config{Path: path, Models: map[string]pricing.ConfigModel{}}
	var walkErr error
	walkHandlers(root, func(raw []byte) {
		var h Handler
		if err := json.Unmarshal(raw, &h); err != nil {
			walkErr = fmt.Errorf("reading %s: ai_gateway handler: %v", path, err)
			return
		}
		if cfg.PricesFile == "" {
			cfg.PricesFile = h.PricesFile
		}
		if h.PricesCatalogue != nil && !*h.PricesCatalogue {
			cfg.NoCatalogue = true
		}
		types := make(map[string]string, len(h.ProvidersRaw))
		for name, p := range h.ProvidersRaw {
			var t struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(p, &t)
			types[name] = t.Type
		}
		for _, m := range h.Models {
			if m == nil {
				continue
			}
			if _, seen := cfg.Models[m.Name]; seen {
				continue
			}
			cm := pricing.ConfigModel{Price: m.Price}
			for _, u := range m.Upstreams {
				cm.Upstreams = append(cm.Upstreams, pricing.ConfigUpstream{Provider: u.Provider, Type: types[u.Provider], Model: u.Model})
			}
			cfg.Models[m.Name] = cm
		}
	})
	return cfg, walkErr
}

// walkHandlers calls fn with every object of v whose "handler" is
// "ai_gateway", wherever it is nested (routes, subroutes, handle blocks).
func walkHandlers(v any, fn func(raw []byte)) {
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == "ai_gateway" {
			raw, _ := json.Marshal(v)
			fn(raw)
		}
		for _, e := range v {
			walkHandlers(e, fn)
		}
	case []any:
		for _, e := range v {
			walkHandlers(e, fn)
		}
	}
}
