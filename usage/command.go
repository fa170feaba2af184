package usage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// BuildCommand adds the keys and usage subcommands, and the flags they
// share, to the ai-gateway command (registered by the root package).
func BuildCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "Address of Caddy's admin API (default localhost:2019)")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from")
	pf.StringP("adapter", "a", "", "Name of the config adapter for --config")
	pf.String("database", "", "Database to act on, when several are open")
	pf.Bool("json", false, "Print the admin API's JSON instead of a table")

	keys := &cobra.Command{Use: "keys", Short: "Manages virtual API keys"}

	create := &cobra.Command{
		Use:   "create --name <name> [--plan <plan>] [--budget <usd>] [--expires <time>]",
		Short: "Creates a key and prints it once",
		Args:  cobra.NoArgs,
		RunE:  runCreate,
	}
	create.Flags().String("name", "", "Name of the key (required)")
	create.Flags().String("plan", "", "Plan of the key (default: the default plan)")
	create.Flags().Float64("budget", 0, "Monthly budget of the key in USD (default: none)")
	create.Flags().String("expires", "", "Expiry, RFC 3339 or YYYY-MM-DD (default: never)")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the keys",
		Args:  cobra.NoArgs,
		RunE:  runList,
	}
	revoke := &cobra.Command{
		Use:   "revoke <id>",
		Short: "Revokes a key",
		Args:  cobra.ExactArgs(1),
		RunE:  runRevoke,
	}
	keys.AddCommand(create, list, revoke)

	report := &cobra.Command{
		Use:   "usage [--group-by key|caller|model|provider|endpoint|day] [--since <time>] [--until <time>]",
		Short: "Shows requests, tokens and cost",
		Args:  cobra.NoArgs,
		RunE:  runUsage,
	}
	report.Flags().String("group-by", "model", "Grouping: key, caller, model, provider, endpoint or day")
	report.Flags().String("since", "", "Start, RFC 3339 or YYYY-MM-DD (default: start of this month)")
	report.Flags().String("until", "", "End, RFC 3339 (exclusive) or YYYY-MM-DD (inclusive) (default: now)")

	cmd.AddCommand(keys, report)
}

// adminCall sends a request to the admin API and decodes its JSON answer
// into out.
func adminCall(cmd *cobra.Command, method, path string, query url.Values, body, out any) error {
	flags := cmd.Flags()
	addr, _ := flags.GetString("address")
	configFile, _ := flags.GetString("config")
	adapter, _ := flags.GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(addr, nil, configFile, adapter)
	if err != nil {
		return err
	}
	if query == nil {
		query = url.Values{}
	}
	if db, _ := flags.GetString("database"); db != "" {
		query.Set("database", db)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, rd)
	if err != nil {
		return cleanAdminError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading admin API response: %v", err)
	}
	if asJSON, _ := flags.GetBool("json"); asJSON {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding admin API response: %v", err)
	}
	return nil
}

var adminErrorRE = regexp.MustCompile(`HTTP (\d+): (\{.*\})\s*$`)

// cleanAdminError turns "caddy responded with error: HTTP 400:
// {"error":"..."}" into "HTTP 400: ...".
func cleanAdminError(err error) error {
	m := adminErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(m[2]), &body) != nil || body.Error == "" {
		return err
	}
	return fmt.Errorf("HTTP %s: %s", m[1], body.Error)
}

func runCreate(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	name, _ := f.GetString("name")
	plan, _ := f.GetString("plan")
	budget, _ := f.GetFloat64("budget")
	expires, _ := f.GetString("expires")
	req := createKeyRequest{Name: name, Plan: plan, BudgetUSD: budget}
	if expires != "" {
		t, err := ParseTime(expires, false)
		if err != nil {
			return fmt.Errorf("--expires: %v", err)
		}
		req.ExpiresAt = t.Format(time.RFC3339)
	}
	var out createdKey
	if err := adminCall(cmd, http.MethodPost, "/ai_gateway/keys", nil, req, &out); err != nil {
		return err
	}
	if asJSON, _ := f.GetBool("json"); asJSON {
		return nil
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Created key %s (%s, plan %s).\n", out.ID, out.Name, orDash(out.Plan))
	fmt.Fprintf(w, "\n    %s\n\n", out.Key)
	fmt.Fprintln(w, "Store it now: it is not shown again.")
	return nil
}

func runList(cmd *cobra.Command, _ []string) error {
	var keys []KeyInfo
	if err := adminCall(cmd, http.MethodGet, "/ai_gateway/keys", nil, nil, &keys); err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return nil
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKEY\tPLAN\tSTATUS\tBUDGET/MONTH\tSPENT/MONTH\tEXPIRES\tCREATED")
	for _, k := range keys {
		budget := "-"
		if k.BudgetUSD > 0 {
			budget = usd(k.BudgetUSD)
		}
		expires := "-"
		if k.ExpiresAt != nil {
			expires = k.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Hint, orDash(k.Plan),
			k.Status, budget, usd(k.SpentMonthUSD), expires, k.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func runRevoke(cmd *cobra.Command, args []string) error {
	var k KeyInfo
	if err := adminCall(cmd, http.MethodDelete, "/ai_gateway/keys/"+url.PathEscape(args[0]), nil, nil, &k); err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Revoked key %s (%s).\n", k.ID, k.Name)
	return nil
}

func runUsage(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	q := url.Values{}
	groupBy, _ := f.GetString("group-by")
	q.Set("group_by", groupBy)
	for _, name := range []string{"since", "until"} {
		v, _ := f.GetString(name)
		if v == "" {
			continue
		}
		if _, err := ParseTime(v, false); err != nil {
			return fmt.Errorf("--%s: %v", name, err)
		}
		q.Set(name, v)
	}
	var rep usageReport
	if err := adminCall(cmd, http.MethodGet, "/ai_gateway/usage", q, nil, &rep); err != nil {
		return err
	}
	if asJSON, _ := f.GetBool("json"); asJSON {
		return nil
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Usage by %s from %s to %s (UTC)\n\n", rep.GroupBy,
		rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	header := groupHeader(rep.GroupBy)
	fmt.Fprintf(tw, "%s\tREQUESTS\tINPUT TOKENS\tOUTPUT TOKENS\tCOST\t\n", header)
	var total UsageRow
	for _, r := range rep.Rows {
		group := orDash(r.Group)
		if r.Name != "" {
			group += " (" + r.Name + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t\n", group, r.Requests, r.InputTokens, r.OutputTokens, usd(r.CostUSD))
		total.Requests += r.Requests
		total.InputTokens += r.InputTokens
		total.OutputTokens += r.OutputTokens
		total.CostUSD += r.CostUSD
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%s\t\n", total.Requests, total.InputTokens, total.OutputTokens, usd(total.CostUSD))
	return tw.Flush()
}

func groupHeader(groupBy string) string {
	switch groupBy {
	case "key":
		return "KEY"
	case "caller":
		return "CALLER"
	case "provider":
		return "PROVIDER"
	case "endpoint":
		return "ENDPOINT"
	case "day":
		return "DAY"
	}
	return "MODEL"
}

func usd(v float64) string {
	return "$" + strconv.FormatFloat(v, 'f', 4, 64)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
