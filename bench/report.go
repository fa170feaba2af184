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

func (r *report) baseline(s *Scenario) int {
	for i, pr := range r.rows[s.Name] {
		if pr.Target == s.Baseline {
			return i
		}
	}
	return -1
}

// ratio returns the per-round ratio stat of row vs baseline.
func (r *report) ratio(s *Scenario, conc, row int, ttfb bool, f func(Measurement) float64) stat {
	bi := r.baseline(s)
	a, b := r.cells[cellKey{s.Name, conc, row}], r.cells[cellKey{s.Name, conc, bi}]
	if bi < 0 || a == nil || b == nil {
		return stat{med: math.NaN()}
	}
	if ttfb {
		return statOf(ratios(a.ttfb, b.ttfb, f))
	}
	return statOf(ratios(a.wrk, b.wrk, f))
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
	w("figures are medians over rounds, and `× rp` is the median of per-round ratios to reverse_proxy measured in the same round (range over rounds in brackets). ")
	if e.wrk != "" {
		w("Throughput and whole-response latency: wrk -t%d (-t1 at concurrency 1), keep-alive. ", o.threads)
	} else {
		w("Throughput and latency: Go load generator (wrk missing). ")
	}
	w("TTFB (streams): Go net/http client, keep-alive, time from sending to the first body byte. ")
	w("CPU µs/req is the target process's user+system CPU over the run divided by requests (for `direct`, the mock's). ")
	w("No access log on any Caddy (no `log` directive), admin off.")
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

	for _, s := range r.scenarios {
		prs := r.rows[s.Name]
		if len(prs) == 0 {
			continue
		}
		w("## %s (`%s`)\n\n%s\n\n", s.Title, s.Name, s.Desc)
		if s.Stream {
			w("| conc | target | streams/s | × rp | TTFB p50 ms | × rp | TTFB p99 ms | stream p50 ms (wrk) | CPU µs/req |\n")
			w("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
		} else {
			w("| conc | target | req/s | × rp | p50 ms | × rp | p99 ms | CPU µs/req |\n")
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
	}

	if r.memRan {
		w("## Memory per open stream (`memory`)\n\n")
		w("Fresh process per target, mock in hold mode (first SSE event, then the stream stays open). After 20 non-streamed warm-up requests and 1 s idle, VmRSS is read; then %d concurrent streamed chat requests are opened and, once every one has received its first byte and 1 s has passed, VmRSS/VmHWM are read again. Per stream = (RSS during − RSS idle) / %d.\n\n", o.streams, o.streams)
		w("| target | RSS idle MiB | RSS with %d streams MiB | VmHWM MiB | KiB per stream |\n|---|---:|---:|---:|---:|\n", o.streams)
		for _, m := range r.mem {
			if m.Err != "" {
				w("| %s | n/a (error: %s) | | | |\n", m.Target, mdEscape(shorten(m.Err, 240)))
				continue
			}
			w("| %s | %.1f | %.1f | %.1f | %.1f |\n", m.Target, float64(m.IdleKiB)/1024, float64(m.DuringKiB)/1024, float64(m.HWMKiB)/1024, m.PerStreamKiB)
		}
		w("\n")
	}

	w("## Targets (issue)\n\n")
	for _, line := range r.checks() {
		w("- %s\n", line)
	}
	return b.String()
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

// checks evaluates the targets for ai_gateway.
func (r *report) checks() []string {
	var out []string
	find := func(name string) (*Scenario, int, *preparedRow) {
		for _, s := range r.scenarios {
			if s.Name != name {
				continue
			}
			for i, pr := range r.rows[s.Name] {
				if pr.Target == "ai_gateway" {
					return s, i, pr
				}
			}
			return s, -1, nil
		}
		return nil, -1, nil
	}
	const c = 64
	check := func(label, scn string, ttfb bool, f func(Measurement) float64, pass func(float64) bool, unit string) {
		s, i, pr := find(scn)
		switch {
		case s == nil:
			out = append(out, fmt.Sprintf("[NOT RUN] %s (scenario `%s` not selected)", label, scn))
			return
		case pr == nil:
			out = append(out, fmt.Sprintf("[NOT RUN] %s (no ai_gateway row)", label))
			return
		case !slices.Contains(r.o.concFor(s), c):
			out = append(out, fmt.Sprintf("[NOT RUN] %s (concurrency %d not measured)", label, c))
			return
		}
		st := r.ratio(s, c, i, ttfb, f)
		if math.IsNaN(st.med) {
			msg := "no measurement"
			if pr.err != "" {
				msg = "n/a: " + shorten(pr.err, 240)
			}
			out = append(out, fmt.Sprintf("[N/A] %s (%s)", label, msg))
			return
		}
		verdict := "FAIL"
		if pass(st.med) {
			verdict = "PASS"
		}
		if strings.HasPrefix(label, "(info)") {
			verdict, label = "INFO", strings.TrimSpace(strings.TrimPrefix(label, "(info)"))
		}
		spread := ""
		if st.n > 1 {
			spread = fmt.Sprintf(" (rounds %.2f–%.2f)", st.lo, st.hi)
		}
		out = append(out, fmt.Sprintf("[%s] %s: %.2f%s%s", verdict, label, st.med, unit, spread))
	}
	check("ai_gateway ≥ 1.2× reverse_proxy throughput, non-streamed chat, c=64", "chat", false, fRPS, func(x float64) bool { return x >= 1.2 }, "×")
	check("ai_gateway ≥ 1.0× reverse_proxy throughput, streamed chat, c=64", "chat-stream", false, fRPS, func(x float64) bool { return x >= 1.0 }, "×")
	check("ai_gateway p50 latency ≤ reverse_proxy's, non-streamed chat, c=64", "chat", false, fP50, func(x float64) bool { return x <= 1.0 }, "× reverse_proxy's")
	check("(info) ai_gateway TTFB p50 vs reverse_proxy, streamed chat, c=64", "chat-stream", true, fP50, func(x float64) bool { return x <= 1.0 }, "× reverse_proxy's")
	if !r.memRan {
		out = append(out, "[NOT RUN] ai_gateway ≤ 64 KiB per open stream (scenario `memory` not selected)")
	} else {
		found := false
		for _, m := range r.mem {
			if m.Target != "ai_gateway" {
				continue
			}
			found = true
			if m.Err != "" {
				out = append(out, fmt.Sprintf("[N/A] ai_gateway ≤ 64 KiB per open stream (n/a: %s)", shorten(m.Err, 240)))
			} else {
				v := "FAIL"
				if m.PerStreamKiB <= 64 {
					v = "PASS"
				}
				ref := ""
				for _, o := range r.mem {
					if o.Target == "reverse_proxy" && o.Err == "" {
						ref = fmt.Sprintf(" (reverse_proxy: %.1f KiB in the same run)", o.PerStreamKiB)
					}
				}
				out = append(out, fmt.Sprintf("[%s] ai_gateway ≤ 64 KiB per open stream: %.1f KiB%s", v, m.PerStreamKiB, ref))
			}
		}
		if !found {
			out = append(out, "[NOT RUN] ai_gateway ≤ 64 KiB per open stream (target not selected)")
		}
	}
	return out
}

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
