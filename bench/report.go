package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

type report struct {
	e         *env
	o         *options
	started   time.Time
	elapsed   time.Duration
	targets   map[string]*Target
	scenarios []*Scenario
	rows      map[string][]*preparedRow
	cells     map[cellKey]*cell
	mem       []MemResult
	memRan    bool
	probes    []probeResult
	usage     []*usageCount
	writer    *writerResult
	profile   *profileResult

	runs, retried, noisyKept int
	retryBudget              int
	foreign                  []float64 // cores used by other processes, per kept run
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stat is a median over rounds plus, for ratios, the range over rounds.
type stat struct {
	med, lo, hi float64
	n           int
}

func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{med: math.NaN()}
	}
	return stat{med: median(xs), lo: slices.Min(xs), hi: slices.Max(xs), n: len(xs)}
}

func field(ms []Measurement, f func(Measurement) float64) []float64 {
	out := make([]float64, 0, len(ms))
	for _, m := range ms {
		out = append(out, f(m))
	}
	return out
}

// ratios pairs round i of a with round i of b (same round, adjacent in time).
func ratios(a, b []Measurement, f func(Measurement) float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if fb := f(b[i]); fb > 0 {
			out = append(out, f(a[i])/fb)
		}
	}
	return out
}

// diffs pairs rounds like ratios and returns f(a) − f(b).
func diffs(a, b []Measurement, f func(Measurement) float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		out = append(out, f(a[i])-f(b[i]))
	}
	return out
}

var (
	fRPS = func(m Measurement) float64 { return m.RPS }
	fP50 = func(m Measurement) float64 { return ms(m.P50) }
	fP99 = func(m Measurement) float64 { return ms(m.P99) }
	fCPU = func(m Measurement) float64 { return us(m.CPUPerRq) }
)

func fmtRatio(s stat) string {
	if math.IsNaN(s.med) || s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.hi-s.lo < 0.005 {
		return fmt.Sprintf("%.2f", s.med)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.med, s.lo, s.hi)
}

func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// rowOf is the index of target's row in scenario s, or -1.
// A row is named by its label when it has one (rows of one target on
// several paths), else by its target.
func (r *report) rowOf(s *Scenario, target string) int {
	for i, pr := range r.rows[s.Name] {
		if pr.name() == target {
			return i
		}
	}
	for i, pr := range r.rows[s.Name] {
		if pr.Target == target {
			return i
		}
	}
	return -1
}

// series is row i's runs at conc: wrk's, or the Go client's TTFB pass.
func (r *report) series(s *Scenario, conc, i int, ttfb bool) []Measurement {
	c := r.cells[cellKey{s.Name, conc, i}]
	switch {
	case c == nil:
		return nil
	case ttfb:
		return c.ttfb
	}
	return c.wrk
}

// ratio returns the per-round ratio stat of row vs the scenario's baseline.
func (r *report) ratio(s *Scenario, conc, row int, ttfb bool, f func(Measurement) float64) stat {
	bi := r.rowOf(s, s.Baseline)
	if bi < 0 {
		return stat{med: math.NaN()}
	}
	return statOf(ratios(r.series(s, conc, row, ttfb), r.series(s, conc, bi, ttfb), f))
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	e, o := r.e, r.o

	w("# Polygate benchmark\n\n")
	w("%s, %s run, took %s.\n\n", r.started.Format("2006-01-02 15:04 MST"), map[bool]string{true: "quick", false: "full"}[o.quick], r.elapsed.Round(time.Second))
	w("- machine: %s\n", machine())
	w("- %s, Caddy %s, %s", runtime.Version(), cmdLine(e.caddyBin, "version"), wrkVersion(e))
	if e.portkeyJS != "" {
		w(", node %s + @portkey-ai/gateway %s", cmdLine(e.node, "--version"), e.portkeyV)
	}
	w("\n")
	if rev := gitRev(e.root); rev != "" {
		w("- tree: %s\n", rev)
	}
	w("- method: every target is its own process on the same 2 cores as the mock and the load generator; ")
	w("%d rounds × %s per (scenario, concurrency), target order rotated every round; ", o.rounds, o.duration)
	w("figures are medians over rounds, and `× <baseline>` is the median of per-round ratios to the scenario's baseline measured in the same round (range over rounds in brackets). ")
	if e.wrk != "" {
		w("Throughput and whole-response latency: wrk -t%d (-t1 at concurrency 1), keep-alive. ", o.threads)
	} else {
		w("Throughput and latency: Go load generator (wrk missing). ")
	}
	w("TTFB (streams): Go net/http client, keep-alive, time from sending to the first body byte. ")
	w("CPU µs/req is the target process's user+system CPU over the run divided by requests (for `direct`, the mock's). ")
	w("No access log on any Caddy (no `log` directive); each Caddy's admin endpoint listens on its own port and is read between runs only (allocations) and by the profile phase.")
	if e.mockDelay > 0 {
		w(" Mock delay between streamed events: %s.", e.mockDelay)
	}
	w("\n")
	if r.runs > 0 {
		w("- machine noise: processes outside the benchmark used a median of %.2f cores (max %.2f) during the %d measured runs; %d runs were measured again because they exceeded %.2f cores (at most %d may be), %d kept runs still did",
			median(r.foreign), slices.Max(r.foreign), r.runs, r.retried, o.maxForeign, r.retryBudget, r.noisyKept)
		if r.noisyKept*5 > r.runs {
			w(" — **the machine was busy: treat these figures with caution and run again when it is idle**")
		}
		w(".\n")
	}
	for _, n := range e.notes {
		w("- note: %s\n", n)
	}
	w("\n")
	r.targetsTable(w)
	r.probesList(w)

	for _, s := range r.scenarios {
		prs := r.rows[s.Name]
		if len(prs) == 0 {
			continue
		}
		w("## %s (`%s`)\n\n%s", s.Title, s.Name, s.Desc)
		if n := o.roundsFor(s); n != o.rounds {
			w(" %d rounds.", n)
		}
		w("\n\n")
		x := "× " + s.Baseline
		if s.Stream {
			w("| conc | target | streams/s | %s | TTFB p50 ms | %s | TTFB p99 ms | stream p50 ms (wrk) | CPU µs/req |\n", x, x)
			w("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
		} else {
			w("| conc | target | req/s | %s | p50 ms | %s | p99 ms | CPU µs/req |\n", x, x)
			w("|---:|---|---:|---:|---:|---:|---:|---:|\n")
		}
		// Rows that never measured anything get one line.
		var failed []int
		for i, pr := range prs {
			if pr.err != "" && !r.measured(s, i) {
				failed = append(failed, i)
			}
		}
		for _, c := range o.concFor(s) {
			for i, pr := range prs {
				cl := r.cells[cellKey{s.Name, c, i}]
				if cl == nil || len(cl.wrk) == 0 || slices.Contains(failed, i) {
					continue
				}
				rps := median(field(cl.wrk, fRPS))
				p50 := median(field(cl.wrk, fP50))
				p99 := median(field(cl.wrk, fP99))
				cpu := median(field(cl.wrk, fCPU))
				name := pr.name()
				if pr.err != "" {
					name += " (later failed: " + mdEscape(shorten(pr.err, 120)) + ")"
				}
				if s.Stream {
					t50 := median(field(cl.ttfb, fP50))
					t99 := median(field(cl.ttfb, fP99))
					w("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, name, fmtNum(rps, 0), fmtRatio(r.ratio(s, c, i, false, fRPS)),
						fmtNum(t50, 2), fmtRatio(r.ratio(s, c, i, true, fP50)), fmtNum(t99, 2), fmtNum(p50, 2), fmtNum(cpu, 0))
				} else {
					w("| %d | %s | %s | %s | %s | %s | %s | %s |\n", c, name, fmtNum(rps, 0), fmtRatio(r.ratio(s, c, i, false, fRPS)),
						fmtNum(p50, 2), fmtRatio(r.ratio(s, c, i, false, fP50)), fmtNum(p99, 2), fmtNum(cpu, 0))
				}
			}
		}
		for _, i := range failed {
			pad := " | | | | |"
			if s.Stream {
				pad += " |"
			}
			w("| all | %s | n/a (error: %s)%s |\n", prs[i].name(), mdEscape(shorten(prs[i].err, 240)), pad)
		}
		w("\n")
		for _, uc := range r.usage {
			if uc.scenario == s.Name {
				w("Usage rows written by %s during this scenario: %d, for %d requests completed (warm-up included).\n\n", uc.target, uc.after-uc.before, uc.served)
			}
		}
	}
	r.costSection(w)
	r.profileSection(w)
	r.writerSection(w)

	if r.memRan {
		w("## Memory per open stream (`memory`)\n\n")
		w("Fresh process per target, mock in hold mode (first SSE event, then the stream stays open). After 20 non-streamed warm-up requests and 1 s idle, VmRSS is read; then %d concurrent streamed chat requests are opened and, once every one has received its first byte and 1 s has passed, VmRSS/VmHWM are read again. Per stream = (RSS during − RSS idle) / %d. Of that, for Caddy targets, heap and stacks are the growth of the Go runtime's in-use heap spans (`HeapInuse`) and goroutine stacks (`StackInuse`) over the same interval, per stream (read from `/debug/vars` with RSS; the rest is the runtime's own structures and pages not yet returned). Then %d more streams are opened while the first stay open: *next %d* is what each of those adds to RSS, the cost of one more stream once what the first batch touched for the first time (e.g. the response cache's admission counters, allocated at start and paged in as keys arrive) is resident.\n\n", o.streams, o.streams, o.streams, o.streams)
		w("| target | RSS idle MiB | RSS with %d streams MiB | VmHWM MiB | KiB per stream | of which heap KiB | stacks KiB | next %d: KiB per stream |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", o.streams, o.streams)
		for _, m := range r.mem {
			if m.Err != "" {
				w("| %s | n/a (error: %s) | | | | | | |\n", m.Target, mdEscape(shorten(m.Err, 240)))
				continue
			}
			w("| %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %s |\n", m.Target, float64(m.IdleKiB)/1024, float64(m.DuringKiB)/1024, float64(m.HWMKiB)/1024, m.PerStreamKiB, kib(m.HeapKiB), kib(m.StackKiB), kib(m.MarginalKiB))
		}
		w("\n")
	}

	w("## Targets (issues)\n")
	issue := 0
	for i := range checks {
		c := &checks[i]
		if c.issue != issue {
			issue = c.issue
			w("\n**Issue %d: %s**\n\n", issue, issueTitles[issue])
		}
		for _, line := range r.evaluate(c) {
			w("- %s\n", line)
		}
	}
	return b.String()
}

// targetsTable lists the targets that were started.
func (r *report) targetsTable(w func(string, ...any)) {
	seen := map[string]bool{}
	for _, prs := range r.rows {
		for _, pr := range prs {
			seen[pr.Target] = true
		}
	}
	if r.writer != nil {
		seen["ai_gateway_pg"] = true
	}
	w("| target | what |\n|---|---|\n")
	for _, t := range targets(r.o.aiExtra) {
		if seen[t.Name] {
			w("| %s | %s |\n", t.Name, mdEscape(t.Desc))
		}
	}
	w("\n")
}

func (r *report) probesList(w func(string, ...any)) {
	if len(r.probes) == 0 {
		return
	}
	w("Configuration probes (one request each before measuring; a failed probe makes its target n/a):\n\n")
	for _, p := range r.probes {
		res := "ok"
		if p.err != nil {
			res = "**FAILED**: " + mdEscape(shorten(p.err.Error(), 240))
		}
		w("- %s: %s: %s\n", p.Target, p.What, res)
	}
	w("\n")
}

func (r *report) writerSection(w func(string, ...any)) {
	wr := r.writer
	if wr == nil {
		return
	}
	w("## Usage records per second (`writer`)\n\n")
	w("Through the gateway: wrk sends the `chat` request to ai_gateway_pg at concurrency 64 for %s, then the rows of its `polygate_usage` table are counted every 20 ms until they have not changed for 1.5 s; records/s = new rows / (first request → last row visible). ", wr.load)
	w("Direct: `bench/bin/writer` opens the usage engine (`usage.Open`) on a fresh schema, queues %d records from 4 goroutines with `Service.Record` and waits until `Stats().Written` counts them all. Absolute figures: compare with reverse_proxy's in the same run (%s).\n\n", r.o.writerRecs, r.rpContext())
	w("| measurement | records | seconds | records/s | notes |\n|---|---:|---:|---:|---|\n")
	if wr.e2eErr != "" {
		w("| through ai_gateway_pg | n/a (error: %s) | | | |\n", mdEscape(shorten(wr.e2eErr, 240)))
	} else {
		w("| through ai_gateway_pg | %d | %.2f | %.0f | %d requests completed, %.0f req/s; PostgreSQL CPU %.0f µs/request |\n",
			wr.rows, wr.secs, wr.e2eRate(), wr.served, wr.gatewayRPS, us(wr.dbCPU)/max(1, float64(wr.served)))
	}
	for _, d := range []struct {
		name string
		run  writerRun
	}{{"bench/bin/writer → PostgreSQL", wr.pg}, {"bench/bin/writer → SQLite (for comparison)", wr.sqlite}} {
		if d.run.Error != "" {
			w("| %s | n/a (error: %s) | | | |\n", d.name, mdEscape(shorten(d.run.Error, 240)))
			continue
		}
		note := fmt.Sprintf("queued in %.2f s", d.run.QueueSecs)
		if d.run.Rows >= 0 {
			note += fmt.Sprintf("; %d rows in the table", d.run.Rows)
		}
		w("| %s | %d | %.2f | %.0f | %s |\n", d.name, d.run.Written, d.run.Seconds, d.run.PerSecond, note)
	}
	w("\n")
}

// rpContext is reverse_proxy's non-streamed p50 and throughput in this run,
// for absolute figures: the first scenario that measured it at its highest
// concurrency.
func (r *report) rpContext() string {
	for _, s := range r.scenarios {
		i := r.rowOf(s, "reverse_proxy")
		if s.Stream || i < 0 {
			continue
		}
		concs := r.o.concFor(s)
		for j := len(concs) - 1; j >= 0; j-- {
			if ms := r.series(s, concs[j], i, false); len(ms) > 0 {
				return fmt.Sprintf("reverse_proxy, `%s` c=%d: p50 %.2f ms, %.0f req/s", s.Name, concs[j], median(field(ms, fP50)), median(field(ms, fRPS)))
			}
		}
	}
	return "reverse_proxy not measured"
}

// measured reports whether a row has at least one measurement.
func (r *report) measured(s *Scenario, row int) bool {
	for k, c := range r.cells {
		if k.scenario == s.Name && k.row == row && len(c.wrk) > 0 {
			return true
		}
	}
	return false
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/1024/1024)
	}
	kern := cmdLine("uname", "-r")
	return fmt.Sprintf("%d cores (%s)%s, Linux %s", runtime.NumCPU(), model, mem, kern)
}

func cmdLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return "?"
	}
	return strings.Fields(string(out) + " ?")[0]
}

func wrkVersion(e *env) string {
	if e.wrk == "" {
		return "no wrk"
	}
	out, _ := exec.Command(e.wrk, "-v").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) >= 2 {
		return "wrk " + f[1]
	}
	return "wrk"
}

func gitRev(root string) string {
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	cmd.Dir = root
	if st, err := cmd.Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += " (with uncommitted changes)"
	}
	return rev
}

// How a check compares rows measured in the same rounds.
const (
	ratioCheck = iota // median of per-round f(target) / f(vs)
	diffCheck         // median of per-round f(target) − f(vs), in ms
	absCheck          // median over rounds of f(target): only where the issue gives an absolute figure
)

// check is one target of the issues. A check with eval set is computed by
// that function (memory, usage rows, writer, cache hits); the others compare
// two rows of one scenario at one concurrency.
type check struct {
	issue    int
	label    string
	scenario string
	conc     int
	target   string
	vs       string // the row compared with (ratio and diff checks)
	ttfb     bool   // the Go client's TTFB pass instead of wrk's run
	metric   func(Measurement) float64
	kind     int
	limit    float64
	atMost   bool     // passes when the value is ≤ limit (else ≥)
	info     bool     // no threshold: reported as INFO
	context  []string // absCheck: rows whose figure in the same rounds is printed beside
	eval     func(r *report, c *check) []string
}

var issueTitles = map[int]string{
	2:  "the core gateway (`ai_gateway`, accounting off) against reverse_proxy",
	3:  "translated streaming",
	4:  "guardrails",
	5:  "accounting in PostgreSQL",
	6:  "response cache and metrics",
	10: "the gateway as configured out of the box",
	11: "the Responses API",
	12: "Anthropic's Messages API",
	13: "Bedrock",
	14: "tracing",
	15: "every feature on",
}

// checks, in the order of the report (set in init: some call report
// methods that read checks).
var checks []check

func init() {
	checks = []check{
		{issue: 2, label: "ai_gateway ≥ 1.2× reverse_proxy throughput, non-streamed chat", scenario: "chat", conc: 64,
			target: "ai_gateway", vs: "reverse_proxy", metric: fRPS, limit: 1.2},
		{issue: 2, label: "ai_gateway ≥ 1.0× reverse_proxy throughput, streamed chat", scenario: "chat-stream", conc: 64,
			target: "ai_gateway", vs: "reverse_proxy", metric: fRPS, limit: 1.0},
		{issue: 2, label: "ai_gateway p50 latency ≤ reverse_proxy's, non-streamed chat", scenario: "chat", conc: 64,
			target: "ai_gateway", vs: "reverse_proxy", metric: fP50, limit: 1.0, atMost: true},
		{issue: 2, info: true, label: "ai_gateway TTFB p50 vs reverse_proxy's, streamed chat", scenario: "chat-stream", conc: 64,
			target: "ai_gateway", vs: "reverse_proxy", ttfb: true, metric: fP50},
		{issue: 2, label: "ai_gateway ≤ 64 KiB per open stream", target: "ai_gateway", limit: 64, eval: (*report).memoryCheck},
		{issue: 2, info: true, label: "cost of the default configuration: ai_gateway_default (accounting on, SQLite) throughput vs ai_gateway's, non-streamed chat",
			scenario: "chat", conc: 64, target: "ai_gateway_default", vs: "ai_gateway", metric: fRPS},

		{issue: 3, label: "translated streaming (Anthropic) adds ≤ 0.5 ms to TTFB p50 compared to OpenAI passthrough through the gateway",
			scenario: "anthropic-stream", conc: 1, target: "ai_gateway_anthropic", vs: "ai_gateway", ttfb: true, metric: fP50, kind: diffCheck, limit: 0.5, atMost: true},
		{issue: 3, info: true, label: "the same under load (queueing adds to both)",
			scenario: "anthropic-stream", conc: 16, target: "ai_gateway_anthropic", vs: "ai_gateway", ttfb: true, metric: fP50, kind: diffCheck},

		{issue: 4, label: "ai_gateway_guardrails ≥ 0.9× ai_gateway throughput, non-streamed chat", scenario: "guardrails", conc: 64,
			target: "ai_gateway_guardrails", vs: "ai_gateway", metric: fRPS, limit: 0.9},
		{issue: 4, label: "ai_gateway_guardrails TTFB p50 within 1 ms of ai_gateway's, streamed chat", scenario: "guardrails-stream", conc: 1,
			target: "ai_gateway_guardrails", vs: "ai_gateway", ttfb: true, metric: fP50, kind: diffCheck, limit: 1, atMost: true},
		{issue: 4, info: true, label: "the same under load (queueing adds to both)", scenario: "guardrails-stream", conc: 16,
			target: "ai_gateway_guardrails", vs: "ai_gateway", ttfb: true, metric: fP50, kind: diffCheck},
		{issue: 4, info: true, label: "guardrails' added p50 latency, non-streamed chat", scenario: "guardrails", conc: 1,
			target: "ai_gateway_guardrails", vs: "ai_gateway", metric: fP50, kind: diffCheck},

		{issue: 5, label: "ai_gateway_pg ≥ 0.9× ai_gateway (accounting off) throughput, non-streamed chat", scenario: "accounting", conc: 64,
			target: "ai_gateway_pg", vs: "ai_gateway", metric: fRPS, limit: 0.9},
		{issue: 5, label: "every request through ai_gateway_pg leaves a usage row", eval: (*report).usageCheck},
		{issue: 5, label: "the usage writer sustains ≥ 5,000 records/s into PostgreSQL", eval: (*report).writerCheck},

		{issue: 6, label: "cache hits ≥ 2× ai_gateway's uncached throughput", scenario: "cache", conc: 64,
			target: "ai_gateway_cache", vs: "ai_gateway", metric: fRPS, limit: 2},
		{issue: 6, label: "cache-hit p50 ≤ 0.2 ms (absolute, as the issue states)", scenario: "cache", conc: 1,
			target: "ai_gateway_cache", metric: fP50, kind: absCheck, limit: 0.2, atMost: true, context: []string{"reverse_proxy", "direct"}},
		{issue: 6, label: "ai_gateway_cache's measured requests were cache hits", eval: (*report).cacheHitCheck},
		{issue: 6, label: "metrics cost ≤ 3 % of throughput: ai_gateway ≥ 0.97× ai_gateway_nometrics", scenario: "metrics", conc: 64,
			target: "ai_gateway", vs: "ai_gateway_nometrics", metric: fRPS, limit: 0.97},

		{issue: 10, label: "ai_gateway_default (SQLite accounting, metrics) ≥ 1.25× reverse_proxy throughput, non-streamed chat", scenario: "chat", conc: 64,
			target: "ai_gateway_default", vs: "reverse_proxy", metric: fRPS, limit: 1.25},
		{issue: 10, label: "ai_gateway_default ≥ 1.0× reverse_proxy throughput, non-streamed chat", scenario: "chat", conc: 16,
			target: "ai_gateway_default", vs: "reverse_proxy", metric: fRPS, limit: 1.0},
		{issue: 10, info: true, label: "the same with unique prompts", scenario: "chat-unique", conc: 64,
			target: "ai_gateway_default", vs: "reverse_proxy", metric: fRPS},

		{issue: 11, label: "Responses passed through (streamed) ≥ 0.9× chat completions through the gateway", scenario: "responses", conc: 64,
			target: "ai_gateway", vs: "ai_gateway chat", metric: fRPS, limit: 0.9},
		{issue: 11, label: "Responses translated to Anthropic (streamed) ≥ 0.9× chat completions translated to Anthropic through the same gateway", scenario: "responses", conc: 64,
			target: "ai_gateway_anthropic", vs: "ai_gateway_anthropic chat", metric: fRPS, limit: 0.9},
		{issue: 11, info: true, label: "Responses translated to Anthropic (streamed) vs chat completions passed through to OpenAI", scenario: "responses", conc: 64,
			target: "ai_gateway_anthropic", vs: "ai_gateway chat", metric: fRPS},
		{issue: 11, label: "Responses translated to Anthropic adds ≤ 0.5 ms to TTFB p50 compared to Responses passed through", scenario: "responses", conc: 1,
			target: "ai_gateway_anthropic", vs: "ai_gateway", ttfb: true, metric: fP50, kind: diffCheck, limit: 0.5, atMost: true},
		{issue: 11, info: true, label: "Responses passed through vs reverse_proxy", scenario: "responses", conc: 64,
			target: "ai_gateway", vs: "reverse_proxy", metric: fRPS},

		{issue: 12, label: "Messages passed through natively (streamed) ≥ 1.0× reverse_proxy throughput", scenario: "messages", conc: 64,
			target: "ai_gateway_anthropic (native)", vs: "reverse_proxy", metric: fRPS, limit: 1.0},
		{issue: 12, info: true, label: "Messages translated to OpenAI chat (streamed) vs reverse_proxy", scenario: "messages", conc: 64,
			target: "ai_gateway (translated to OpenAI)", vs: "reverse_proxy", metric: fRPS},
		{issue: 12, info: true, label: "Messages translated to OpenAI: TTFB p50 vs native", scenario: "messages", conc: 1,
			target: "ai_gateway (translated to OpenAI)", vs: "ai_gateway_anthropic (native)", ttfb: true, metric: fP50, kind: diffCheck},

		{issue: 13, label: "streamed chat through bedrock ≥ 0.9× the anthropic provider's throughput", scenario: "bedrock-stream", conc: 64,
			target: "ai_gateway_bedrock", vs: "ai_gateway_anthropic", metric: fRPS, limit: 0.9},
		{issue: 13, info: true, label: "bedrock TTFB p50 vs anthropic's", scenario: "bedrock-stream", conc: 16,
			target: "ai_gateway_bedrock", vs: "ai_gateway_anthropic", ttfb: true, metric: fP50, kind: diffCheck},

		{issue: 14, label: "tracing on (sampler 1.0) costs ≤ 10 % throughput: ai_gateway_tracing ≥ 0.9× ai_gateway", scenario: "tracing", conc: 64,
			target: "ai_gateway_tracing", vs: "ai_gateway", metric: fRPS, limit: 0.9},
		{issue: 14, info: true, label: "Caddy's own tracing on reverse_proxy (its server span alone)", scenario: "tracing", conc: 64,
			target: "reverse_proxy_tracing", vs: "reverse_proxy", metric: fRPS},
		{issue: 14, info: true, label: "the gateway traced vs reverse_proxy traced", scenario: "tracing", conc: 64,
			target: "ai_gateway_tracing", vs: "reverse_proxy_tracing", metric: fRPS},

		{issue: 15, label: "ai_gateway_full, unique prompts ≥ 1.2× reverse_proxy throughput, non-streamed chat", scenario: "chat-unique", conc: 64,
			target: "ai_gateway_full", vs: "reverse_proxy", metric: fRPS, limit: 1.2},
		{issue: 15, label: "ai_gateway_full p50 latency ≤ reverse_proxy's, unique prompts, non-streamed chat", scenario: "chat-unique", conc: 64,
			target: "ai_gateway_full", vs: "reverse_proxy", metric: fP50, limit: 1.0, atMost: true},
		{issue: 15, label: "ai_gateway_full, unique prompts ≥ 1.0× reverse_proxy throughput, streamed chat", scenario: "chat-stream-unique", conc: 64,
			target: "ai_gateway_full", vs: "reverse_proxy", metric: fRPS, limit: 1.0},
		{issue: 15, label: "ai_gateway_full's unique prompts all missed the cache", eval: (*report).uniqueMissCheck},
		{issue: 15, label: "ai_gateway_full ≤ 56 KiB per open stream", target: "ai_gateway_full", limit: 56, eval: (*report).memoryCheck},
		{issue: 15, label: "ai_gateway_full Responses (streamed) ≥ 0.9× its chat completions", scenario: "full-dialects", conc: 64,
			target: "ai_gateway_full responses", vs: "ai_gateway_full chat", metric: fRPS, limit: 0.9},
		{issue: 15, label: "ai_gateway_full Messages (streamed) ≥ 0.9× its chat completions", scenario: "full-dialects", conc: 64,
			target: "ai_gateway_full messages", vs: "ai_gateway_full chat", metric: fRPS, limit: 0.9},
	}
}

// checkedConc is what -quick measures scenario scn at: the concurrencies
// of the checks on it (64 if none).
func checkedConc(scn string) []int {
	var out []int
	for _, c := range checks {
		if c.scenario == scn && !c.info && !slices.Contains(out, c.conc) {
			out = append(out, c.conc)
		}
	}
	if len(out) == 0 {
		return []int{64}
	}
	slices.Sort(out)
	return out
}

func verdict(c *check, ok bool) string {
	switch {
	case c.info:
		return "INFO"
	case ok:
		return "PASS"
	}
	return "FAIL"
}

func (c *check) passes(v float64) bool {
	if c.atMost {
		return v <= c.limit
	}
	return v >= c.limit
}

// evaluate returns the report lines of a check.
func (r *report) evaluate(c *check) []string {
	if c.eval != nil {
		return c.eval(r, c)
	}
	notRun := func(why string) []string {
		return []string{fmt.Sprintf("[NOT RUN] %s, c=%d (%s)", c.label, c.conc, why)}
	}
	var s *Scenario
	for _, sc := range r.scenarios {
		if sc.Name == c.scenario {
			s = sc
		}
	}
	if s == nil {
		return notRun(fmt.Sprintf("scenario `%s` not selected", c.scenario))
	}
	if !slices.Contains(r.o.concFor(s), c.conc) {
		return notRun(fmt.Sprintf("concurrency %d not measured", c.conc))
	}
	ai, bi := r.rowOf(s, c.target), r.rowOf(s, c.vs)
	if ai < 0 || (c.kind != absCheck && bi < 0) {
		return notRun("target not selected")
	}
	a := r.series(s, c.conc, ai, c.ttfb)
	var b []Measurement
	var vals []float64
	switch c.kind {
	case ratioCheck:
		b = r.series(s, c.conc, bi, c.ttfb)
		vals = ratios(a, b, c.metric)
	case diffCheck:
		b = r.series(s, c.conc, bi, c.ttfb)
		vals = diffs(a, b, c.metric)
	default:
		vals = field(a, c.metric)
	}
	if len(vals) == 0 {
		msg := "no measurement"
		for _, i := range []int{ai, bi} {
			if i >= 0 && r.rows[s.Name][i].err != "" {
				msg = "n/a: " + shorten(r.rows[s.Name][i].err, 240)
			}
		}
		return []string{fmt.Sprintf("[N/A] %s, c=%d (%s)", c.label, c.conc, msg)}
	}
	st := statOf(vals)
	format := func(v float64) string {
		switch c.kind {
		case ratioCheck:
			return fmt.Sprintf("%.2f×", v)
		case diffCheck:
			return fmt.Sprintf("%+.3f ms", v)
		}
		return fmt.Sprintf("%.3f ms", v)
	}
	line := fmt.Sprintf("[%s] %s, c=%d: %s", verdict(c, c.passes(st.med)), c.label, c.conc, format(st.med))
	if st.n > 1 {
		line += fmt.Sprintf(" (%d rounds: %s … %s)", st.n, format(st.lo), format(st.hi))
	}
	var also []string
	switch {
	case c.kind == diffCheck:
		also = append(also, fmt.Sprintf("%s %.3f ms, %s %.3f ms", c.target, median(field(a, c.metric)), c.vs, median(field(b, c.metric))))
	case c.kind == ratioCheck && !c.ttfb:
		also = append(also, fmt.Sprintf("target CPU µs/req %.2f×", median(ratios(a, b, fCPU))))
	}
	for _, name := range c.context {
		if i := r.rowOf(s, name); i >= 0 {
			if ms := r.series(s, c.conc, i, c.ttfb); len(ms) > 0 {
				also = append(also, fmt.Sprintf("%s %.3f ms", name, median(field(ms, c.metric))))
			}
		}
	}
	if len(also) > 0 {
		line += "; same rounds: " + strings.Join(also, ", ")
	}
	return []string{line}
}

func (r *report) memoryCheck(c *check) []string {
	if !r.memRan {
		return []string{fmt.Sprintf("[NOT RUN] %s (scenario `memory` not selected)", c.label)}
	}
	ref := ""
	for _, m := range r.mem {
		if m.Target == "reverse_proxy" && m.Err == "" {
			ref = fmt.Sprintf(" (reverse_proxy: %.1f KiB in the same run)", m.PerStreamKiB)
		}
	}
	for _, m := range r.mem {
		if m.Target != c.target {
			continue
		}
		if m.Err != "" {
			return []string{fmt.Sprintf("[N/A] %s (n/a: %s)", c.label, shorten(m.Err, 240))}
		}
		out := []string{fmt.Sprintf("[%s] %s: %.1f KiB%s", verdict(c, m.PerStreamKiB <= c.limit), c.label, m.PerStreamKiB, ref)}
		if !math.IsNaN(m.MarginalKiB) {
			out = append(out, fmt.Sprintf("[INFO] %s, the next %d streams (opened while the first stay open): %.1f KiB per stream", m.Target, m.Want, m.MarginalKiB))
		}
		return out
	}
	return []string{fmt.Sprintf("[NOT RUN] %s (target not selected)", c.label)}
}

func (r *report) usageCheck(c *check) []string {
	var out []string
	for _, uc := range r.usage {
		if uc.target != "ai_gateway_pg" {
			continue
		}
		if uc.err != "" {
			out = append(out, fmt.Sprintf("[N/A] %s (`%s`: %s)", c.label, uc.scenario, shorten(uc.err, 240)))
			continue
		}
		n := uc.after - uc.before
		// Requests wrk leaves in flight when a run ends are recorded too.
		out = append(out, fmt.Sprintf("[%s] %s (`%s`): %d rows for %d completed requests", verdict(c, n >= int64(uc.served)), c.label, uc.scenario, n, uc.served))
	}
	if len(out) == 0 {
		for _, pr := range r.rows["accounting"] {
			if pr.Target == "ai_gateway_pg" && pr.err != "" {
				return []string{fmt.Sprintf("[N/A] %s (n/a: %s)", c.label, shorten(pr.err, 240))}
			}
		}
		return []string{fmt.Sprintf("[NOT RUN] %s (scenario `accounting` with ai_gateway_pg not measured)", c.label)}
	}
	return out
}

func (r *report) writerCheck(c *check) []string {
	wr := r.writer
	if wr == nil {
		return []string{fmt.Sprintf("[NOT RUN] %s (phase `%s` not selected)", c.label, writerPhase)}
	}
	const want = 5000
	ctx := "; same run: " + r.rpContext()
	var out []string
	if wr.pg.Error != "" {
		out = append(out, fmt.Sprintf("[N/A] %s, bench/bin/writer (%s)", c.label, shorten(wr.pg.Error, 240)))
	} else {
		ok := wr.pg.PerSecond >= want && wr.pg.Rows == int64(wr.pg.Records)
		out = append(out, fmt.Sprintf("[%s] %s, bench/bin/writer (usage.Open + Service.Record, %d records, %d rows in the table): %.0f records/s%s",
			verdict(c, ok), c.label, wr.pg.Records, wr.pg.Rows, wr.pg.PerSecond, ctx))
	}
	if wr.e2eErr != "" {
		return append(out, fmt.Sprintf("[N/A] the same through ai_gateway_pg (%s)", shorten(wr.e2eErr, 240)))
	}
	// Through the gateway the figure is at most the gateway's request rate,
	// and the last partial batch waits for the writer's next flush (every
	// 1 s). The writer kept up if its rows were all visible within that
	// flush interval (plus half a second) after the last request.
	rate := wr.e2eRate()
	v, why := "PASS", ""
	if rate < want {
		v = "FAIL"
		why = fmt.Sprintf(" — the rows lagged behind the requests: the last one was visible %.2f s after the last request", wr.tail)
		if wr.tail <= 1.5 && wr.rows >= int64(wr.served) {
			v = "INFO"
			why = fmt.Sprintf(" — bounded by the gateway (%.0f req/s on this machine, with wrk and the mock on the same 2 cores) and by the writer's 1 s flush interval: the last row was visible %.2f s after the last request, so the writer kept up; bench/bin/writer's figure is the writer's own", wr.gatewayRPS, wr.tail)
		}
	}
	return append(out, fmt.Sprintf("[%s] the same through ai_gateway_pg (wrk c=64 for %s): %.0f records/s (%d rows for %d completed requests in %.2f s, first request → last row visible; gateway %.0f req/s)%s",
		v, wr.load, rate, wr.rows, wr.served, wr.secs, wr.gatewayRPS, why))
}

// cacheHitCheck counts the requests the mock served during the cache rows'
// runs: hits make none. ai_gateway's row, which makes one per request, shows
// that the counter works.
func (r *report) cacheHitCheck(c *check) []string {
	var s *Scenario
	for _, sc := range r.scenarios {
		if sc.Name == "cache" {
			s = sc
		}
	}
	if s == nil {
		return []string{fmt.Sprintf("[NOT RUN] %s (scenario `cache` not selected)", c.label)}
	}
	count := func(target string) (req, up int64) {
		i := r.rowOf(s, target)
		for _, conc := range r.o.concFor(s) {
			for _, m := range r.series(s, conc, i, false) {
				req += int64(m.Requests)
				up += m.Upstream
			}
		}
		return
	}
	hitReq, hitUp := count("ai_gateway_cache")
	refReq, refUp := count("ai_gateway")
	switch {
	case hitReq == 0:
		return []string{fmt.Sprintf("[N/A] %s (no measurement)", c.label)}
	case refReq > 0 && float64(refUp) < 0.9*float64(refReq):
		return []string{fmt.Sprintf("[N/A] %s (the mock's counter saw %d calls for ai_gateway's %d requests: not counting)", c.label, refUp, refReq)}
	}
	ok := float64(hitUp) <= 0.001*float64(hitReq)
	return []string{fmt.Sprintf("[%s] %s: the mock served %d requests during ai_gateway_cache's runs of %d requests (during ai_gateway's: %d for %d)",
		verdict(c, ok), c.label, hitUp, hitReq, refUp, refReq)}
}

// uniqueMissCheck counts the mock's calls during ai_gateway_full's runs of
// unique prompts: every request must reach it (a miss), or the scenario
// measured cache hits.
func (r *report) uniqueMissCheck(c *check) []string {
	var req, up int64
	for _, s := range r.scenarios {
		if s.Name != "chat-unique" && s.Name != "features" {
			continue
		}
		i := r.rowOf(s, "ai_gateway_full")
		if i < 0 {
			continue
		}
		for _, conc := range r.o.concFor(s) {
			for _, m := range r.series(s, conc, i, false) {
				req += int64(m.Requests)
				up += m.Upstream
			}
		}
	}
	if req == 0 {
		return []string{fmt.Sprintf("[NOT RUN] %s (scenarios `chat-unique`/`features` with ai_gateway_full not measured)", c.label)}
	}
	// wrk counts the requests that completed; requests in flight when a run
	// ends reach the mock without being counted.
	ok := up >= req
	return []string{fmt.Sprintf("[%s] %s: the mock served %d requests during its %d requests", verdict(c, ok), c.label, up, req)}
}

// costSection is the per-feature cost table: the gateway process's CPU and
// allocations per request, feature by feature, in the same rounds.
func (r *report) costSection(w func(string, ...any)) {
	var s *Scenario
	for _, sc := range r.scenarios {
		if sc.Name == "features" {
			s = sc
		}
	}
	if s == nil {
		return
	}
	prs := r.rows[s.Name]
	core := r.rowOf(s, "ai_gateway")
	w("## Cost per feature (`features`, c=%d)\n\n", s.Conc[0])
	w("Medians over the `features` rounds. CPU is the gateway process's user+system time per request; allocations are the process's heap allocations (runtime memstats `Mallocs`, read from the admin endpoint's `/debug/vars` before and after each run) per request. Δ is against the core gateway (`ai_gateway`: metrics on, accounting off) in the same rounds.\n\n")
	w("| target | req/s | × core | CPU µs/req | Δ CPU µs | allocs/req | Δ allocs |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, conc := range r.o.concFor(s) {
		base := r.series(s, conc, core, false)
		for i, pr := range prs {
			ms := r.series(s, conc, i, false)
			if len(ms) == 0 {
				continue
			}
			cpu := median(field(ms, fCPU))
			al := median(field(ms, fAllocs))
			dcpu, dal := math.NaN(), math.NaN()
			if len(base) > 0 && i != core {
				dcpu = median(diffs(ms, base, fCPU))
				dal = median(diffs(ms, base, fAllocs))
			}
			w("| %s | %s | %s | %s | %s | %s | %s |\n", pr.name(), fmtNum(median(field(ms, fRPS)), 0), fmtRatio(r.ratio(s, conc, i, false, fRPS)),
				fmtNum(cpu, 0), fmtSigned(dcpu, 0), fmtNum(al, 0), fmtSigned(dal, 0))
		}
	}
	w("\n")
}

func fmtSigned(x float64, prec int) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%+.*f", prec, x)
}

func fAllocs(m Measurement) float64 { return m.AllocsPerRq }

// kib formats a KiB figure, "—" when unknown.
func kib(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.1f", v)
}
