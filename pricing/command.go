package pricing

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/polygate/polygate/providers"
)

// BuildCommand adds the "prices" subcommand to cmd (caddy ai-gateway):
//
//	prices [model] [--prices-file <path>] [--provider <type>] [--json]
//
// Without a model it lists the catalogue (the embedded one, with the
// prices file merged over it); with one it prints the entry that prices
// it and where that entry comes from, or fails when none does. --json
// prints JSON instead: the list in Polygate's prices-file format, or the
// matched entry. It uses cmd's persistent --json flag when cmd has one.
//
// With the ai-gateway command's --config (a Caddy config file) and a
// readConfig to read it, the prices file and prices_catalogue come from
// the config, and a model named by the config is shown as the config
// prices it: its price line, or the entry of each upstream model.
func BuildCommand(cmd *cobra.Command, readConfig func(path, adapter string) (*Config, error)) {
	prices := &cobra.Command{
		Use:   "prices [model] [--prices-file <path>] [--provider <type>] [--json]",
		Short: "Shows the price catalogue, or the price of one upstream model",
		Long: `
Shows the price catalogue that prices models without a price line: the
embedded, dated catalogue of list prices, with --prices-file merged over it
(Polygate's format or LiteLLM's model_prices_and_context_window.json).
With a model (an upstream model id, e.g. claude-sonnet-4-5-20250929 or
us.anthropic.claude-sonnet-4-5-20250929-v1:0), shows the price it gets and
the entry that matched; fails when no entry matches. Prices are USD per
million tokens.
`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPrices(cmd, args, readConfig) },
	}
	f := prices.Flags()
	f.String("prices-file", "", "Prices file to merge over the embedded catalogue (the ai_gateway prices_file)")
	f.String("provider", "", "Provider type of the upstream (openai, anthropic, gemini, vertex, bedrock, azure), to prefer its entries")
	f.Bool("no-catalogue", false, "Leave the embedded catalogue out (as prices_catalogue off)")
	if cmd.PersistentFlags().Lookup("json") == nil {
		f.Bool("json", false, "Print JSON instead of a table")
	}
	cmd.AddCommand(prices)
}

// Config is what a Caddy config says about prices.
type Config struct {
	// Path is the config file's path.
	Path string
	// PricesFile is the ai_gateway prices_file, if any.
	PricesFile string
	// NoCatalogue is prices_catalogue off.
	NoCatalogue bool
	// Models are the public models by name.
	Models map[string]ConfigModel
}

// ConfigModel is a public model of a config.
type ConfigModel struct {
	// Price is its price line, nil when it has none.
	Price *providers.Price
	// Upstreams are the upstream models serving it.
	Upstreams []ConfigUpstream
}

// ConfigUpstream is an upstream of a public model.
type ConfigUpstream struct {
	// Provider is the provider's name; Type its module (openai, bedrock, …).
	Provider, Type string
	// Model is the upstream model id.
	Model string
}

func runPrices(cmd *cobra.Command, args []string, readConfig func(path, adapter string) (*Config, error)) error {
	f := cmd.Flags()
	file, _ := f.GetString("prices-file")
	provider, _ := f.GetString("provider")
	noCatalogue, _ := f.GetBool("no-catalogue")
	asJSON, _ := f.GetBool("json")
	var cfg *Config
	if path, _ := f.GetString("config"); path != "" && readConfig != nil {
		adapter, _ := f.GetString("adapter")
		var err error
		if cfg, err = readConfig(path, adapter); err != nil {
			return err
		}
		if file == "" {
			file = cfg.PricesFile
		}
		noCatalogue = noCatalogue || cfg.NoCatalogue
	}
	var c *Catalogue
	if !noCatalogue {
		c = Embedded()
	}
	if file != "" {
		over, err := LoadFile(file)
		if err != nil {
			return err
		}
		c = c.Merge(over)
	}
	w := cmd.OutOrStdout()
	if len(args) == 0 {
		if asJSON {
			return writeJSON(w, catalogueJSONOf(c))
		}
		return printList(w, c)
	}
	if m, ok := cfg.model(args[0]); ok {
		return printModel(w, c, cfg, args[0], m, asJSON)
	}
	e, ok := c.Find(provider, args[0])
	if !ok {
		return fmt.Errorf("no price matches %q: its requests are costed at zero unless its model block has a price line", args[0])
	}
	if asJSON {
		return writeJSON(w, struct {
			Model string `json:"model"`
			Entry
			Matched string `json:"matched"`
		}{args[0], e, e.Model})
	}
	fmt.Fprintf(w, "%s matches %s (%s)\n\n", args[0], e.Model, sourceLine(c, e.Source))
	return printRates(w, e.Price, e.Provider)
}

func (c *Config) model(name string) (ConfigModel, bool) {
	if c == nil {
		return ConfigModel{}, false
	}
	m, ok := c.Models[name]
	return m, ok
}

// printModel shows the price in force for a public model of the config:
// its price line, else the catalogue's entry for each upstream model.
func printModel(w io.Writer, c *Catalogue, cfg *Config, name string, m ConfigModel, asJSON bool) error {
	type upstreamPrice struct {
		Provider string           `json:"provider"`
		Model    string           `json:"model"`
		Matched  string           `json:"matched,omitempty"`
		Source   string           `json:"source,omitempty"`
		Price    *providers.Price `json:"price,omitempty"`
	}
	if m.Price != nil {
		if asJSON {
			return writeJSON(w, struct {
				Model  string          `json:"model"`
				Source string          `json:"source"`
				Price  providers.Price `json:"price"`
			}{name, "price line in " + cfg.Path, *m.Price})
		}
		fmt.Fprintf(w, "%s is priced by its price line in %s\n\n", name, cfg.Path)
		return printRates(w, *m.Price, "")
	}
	var ups []upstreamPrice
	for _, u := range m.Upstreams {
		up := upstreamPrice{Provider: u.Provider, Model: u.Model}
		if e, ok := c.Find(u.Type, u.Model); ok {
			up.Matched, up.Source, up.Price = e.Model, sourceLine(c, e.Source), &e.Price
		}
		ups = append(ups, up)
	}
	if asJSON {
		return writeJSON(w, struct {
			Model     string          `json:"model"`
			Upstreams []upstreamPrice `json:"upstreams"`
		}{name, ups})
	}
	fmt.Fprintf(w, "%s has no price line in %s: each upstream model is priced by the catalogue\n", name, cfg.Path)
	for _, u := range ups {
		if u.Price == nil {
			fmt.Fprintf(w, "\nupstream %s %s: no price matches; its requests are costed at zero\n", u.Provider, u.Model)
			continue
		}
		fmt.Fprintf(w, "\nupstream %s %s matches %s (%s)\n", u.Provider, u.Model, u.Matched, u.Source)
		if err := printRates(w, *u.Price, ""); err != nil {
			return err
		}
	}
	return nil
}

// printRates prints a price's rates, one per line.
func printRates(w io.Writer, p providers.Price, provider string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// An unset cache rate is charged at the rate it falls back to (see
	// providers.Price.Cost), which is what is shown.
	fallback := map[string]string{"cached": "input", "cache_write": "input", "cache_write_1h": "cache_write"}
	effective := map[string]float64{"input": p.Input, "cache_write": cmp.Or(p.CacheWrite, p.Input)}
	for _, r := range rates(p) {
		if from, ok := fallback[r.name]; ok && r.v == 0 {
			fmt.Fprintf(tw, "  %s\t%s\t%s (unset: the %s rate)\n", r.name, num(effective[from]), r.unit, from)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.name, num(r.v), r.unit)
	}
	if provider != "" {
		fmt.Fprintf(tw, "  provider\t%s\t\n", provider)
	}
	return tw.Flush()
}

// printList prints the sources, then one line per entry.
func printList(w io.Writer, c *Catalogue) error {
	if c.Len() == 0 {
		fmt.Fprintln(w, "No prices: the catalogue is left out and no prices file is given.")
		return nil
	}
	for _, s := range c.Sources() {
		fmt.Fprintln(w, sourceLine(c, s.Name)+":", s.Entries, "entries")
	}
	fmt.Fprintln(w, "\nUSD per million tokens; \"-\" is the input rate (cache_write_1h: the cache_write rate).")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tINPUT\tOUTPUT\tCACHED\tCACHE_WRITE\tCACHE_WRITE_1H\tOTHER\tPROVIDER")
	for _, e := range c.Entries() {
		p := e.Price
		var other []string
		for _, r := range rates(p)[5:] {
			other = append(other, r.name+" "+num(r.v))
		}
		name := e.Model
		if len(e.Aliases) > 0 {
			name += " (" + strings.Join(e.Aliases, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, num(p.Input), num(p.Output), dash(p.Cached),
			dash(p.CacheWrite), dash(p.CacheWrite1h), dash2(strings.Join(other, ", ")), dash2(e.Provider))
	}
	return tw.Flush()
}

// sourceLine names a source: "catalogue as of 2026-12-01" or
// "prices_file /etc/caddy/prices.json".
func sourceLine(c *Catalogue, name string) string {
	for _, s := range c.Sources() {
		if s.Name != name {
			continue
		}
		line := "prices_file " + s.Name
		if s.Name == EmbeddedName {
			line = "catalogue"
		}
		if s.AsOf != "" {
			line += " as of " + s.AsOf
		}
		return line
	}
	return name
}

type rate struct {
	name, unit string
	v          float64
}

// rates lists a price's rates: the five token rates, then the others that
// are set.
func rates(p providers.Price) []rate {
	rs := []rate{
		{"input", "per million tokens", p.Input},
		{"output", "per million tokens", p.Output},
		{"cached", "per million tokens", p.Cached},
		{"cache_write", "per million tokens", p.CacheWrite},
		{"cache_write_1h", "per million tokens", p.CacheWrite1h},
	}
	for _, r := range []rate{{"image", "per image", p.Image}, {"audio_minute", "per minute", p.AudioMinute}, {"tts_chars", "per million characters", p.TTSChars}} {
		if r.v != 0 {
			rs = append(rs, r)
		}
	}
	return rs
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func dash(v float64) string {
	if v == 0 {
		return "-"
	}
	return num(v)
}

func dash2(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// catalogueJSONOf is c in Polygate's prices-file format.
func catalogueJSONOf(c *Catalogue) any {
	type ownEntry struct {
		Provider string   `json:"provider,omitempty"`
		Aliases  []string `json:"aliases,omitempty"`
		providers.Price
	}
	out := struct {
		AsOf   string              `json:"as_of,omitempty"`
		Models map[string]ownEntry `json:"models"`
	}{Models: make(map[string]ownEntry, c.Len())}
	for _, s := range c.Sources() {
		if s.AsOf > out.AsOf {
			out.AsOf = s.AsOf
		}
	}
	for _, e := range c.Entries() {
		out.Models[e.Model] = ownEntry{e.Provider, e.Aliases, e.Price}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
