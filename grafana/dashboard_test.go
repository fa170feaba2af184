// Package grafana_test checks the Grafana dashboard against the metrics a
// running gateway really exports.
package grafana_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/polygate/polygate/internal/gatewaytest"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }

// dashboard is the part of the dashboard JSON that holds queries.
type dashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

// exported is what the gateway's registry holds: each metric family's
// label names, and which families are histograms.
type exported struct {
	labels     map[string]map[string]bool
	histograms map[string]bool
}

// TestDashboardQueriesExportedMetrics starts a gateway, sends it requests
// so that its histograms have samples, and checks that every PromQL
// expression of the dashboard (panel targets and template variables)
// names only metrics the gateway's Caddy registry holds, with labels those
// metrics have, and uses _bucket, _sum and _count only on histograms that
// Caddy's /metrics exports as such.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model gpt-4o-mini {
			upstream up gpt-4o-mini
			price 0.15 0.60
		}
	}`, up.URL))
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	} {
		resp, out := g.Do("POST", "/v1/chat/completions", "application/json", body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("chat request: %d %s", resp.StatusCode, out)
		}
	}
	ex := exported{labels: described(t), histograms: scrapedHistograms(t, g.Admin+"/metrics")}

	raw, err := os.ReadFile("polygate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		expr, _ := q["query"].(string)
		m := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`).FindStringSubmatch(expr)
		if m == nil {
			t.Errorf("variable %s: cannot read query %q", v.Name, expr)
			continue
		}
		ex.check(t, "variable "+v.Name, m[1]+"{"+m[2]+"!=\"\"}", "")
		checked++
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			ex.check(t, fmt.Sprintf("panel %d %q", p.ID, p.Title), tg.Expr, tg.LegendFormat)
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("the dashboard has no queries")
	}
}

// described reads the name and label names of every collector registered
// in the active config's registry (the one Caddy's /metrics serves),
// whether or not it has samples yet.
func described(t *testing.T) map[string]map[string]bool {
	t.Helper()
	ctx := caddy.ActiveContext()
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		t.Fatal("no active Caddy config")
	}
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	desc := regexp.MustCompile(`^Desc\{fqName: "([^"]+)", help: "(?:[^"\\]|\\.)*", unit: "(?:[^"\\]|\\.)*", constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)
	out := map[string]map[string]bool{}
	for d := range ch {
		m := desc.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		labels := map[string]bool{}
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels[l] = true
			}
		}
		for _, cl := range strings.Split(m[2], ",") {
			if name, _, ok := strings.Cut(cl, "="); ok {
				labels[name] = true
			}
		}
		out[m[1]] = labels
	}
	if len(out) == 0 {
		t.Fatal("the registry describes no metrics")
	}
	return out
}

// scrapedHistograms reads the families /metrics declares as histograms.
func scrapedHistograms(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && f[3] == "histogram" {
			out[f[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// token matches, in order: strings, durations in brackets, numbers,
// identifiers, the matcher operators and single characters.
var token = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[a-zA-Z_:][a-zA-Z0-9_:]*|=~|!~|!=|\S`)

// keywords are PromQL words that are neither metrics nor functions.
var keywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true}

// check reads one PromQL expression and reports every metric or label it
// uses that the gateway does not export.
func (ex exported) check(t *testing.T, where, expr, legend string) {
	t.Helper()
	toks := token.FindAllString(expr, -1)
	var metrics []string
	var grouping []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tok == "by" || tok == "without" || tok == "on" || tok == "ignoring" || tok == "group_left" || tok == "group_right":
			if next != "(" {
				continue
			}
			for i += 2; i < len(toks) && toks[i] != ")"; i++ {
				if toks[i] != "," {
					grouping = append(grouping, toks[i])
				}
			}
		case keywords[tok], !isIdent(tok), next == "(", next == "by", next == "without":
			// operators, numbers, strings, ranges, functions, aggregations
		default:
			metrics = append(metrics, tok)
			family, ok := ex.family(tok)
			if !ok {
				t.Errorf("%s: %s is not a metric the gateway exports (%s)", where, tok, expr)
			}
			if next != "{" {
				continue
			}
			for i += 2; i < len(toks) && toks[i] != "}"; i++ {
				if isIdent(toks[i]) {
					if toks[i] == "__name__" {
						t.Errorf("%s: matching on __name__ is not checked; name the metric (%s)", where, expr)
					} else if ok && !ex.hasLabel(tok, family, toks[i]) {
						t.Errorf("%s: %s has no label %s (%s)", where, tok, toks[i], expr)
					}
					i += 2 // the operator and the value
				}
			}
		}
	}
	if len(metrics) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		grouping = append(grouping, m[1])
	}
	for _, l := range grouping {
		found := false
		for _, m := range metrics {
			if family, ok := ex.family(m); ok && ex.hasLabel(m, family, l) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: label %s belongs to none of %v (%s)", where, l, sorted(metrics), expr)
		}
	}
}

// family finds the family a series name belongs to: the name itself, or a
// histogram's _bucket, _sum or _count.
func (ex exported) family(name string) (string, bool) {
	if _, ok := ex.labels[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if ok && ex.histograms[base] {
			if _, described := ex.labels[base]; described {
				return base, true
			}
		}
	}
	return "", false
}

func (ex exported) hasLabel(series, family, label string) bool {
	return ex.labels[family][label] || label == "le" && strings.HasSuffix(series, "_bucket") && series != family
}

func isIdent(s string) bool {
	return s != "" && (s[0] == '_' || s[0] == ':' || s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}
