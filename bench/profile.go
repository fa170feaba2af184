package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The profile phase: a CPU profile of ai_gateway_full serving unique
// prompts at c=64, taken from its admin endpoint's /debug/pprof/profile
// while wrk runs, summarised with `go tool pprof`.

// profiledTarget and profiledScenario name the row the phase loads.
const (
	profiledTarget   = "ai_gateway_full"
	profiledScenario = "chat-unique"
)

type profileResult struct {
	row      string // the row and scenario loaded
	scenario string
	seconds  int
	rps      float64
	err      string
	header   string     // pprof's "Showing nodes accounting for ..." line
	cum      []string   // top functions by cumulative share
	flat     []string   // top functions by own share
	packages [][]string // {package, flat %} by share, largest first
}

// profile loads pr at c=64 and profiles its process meanwhile.
func (rn *runner) profile(pr *preparedRow) *profileResult {
	res := &profileResult{seconds: 8}
	if rn.o.quick {
		res.seconds = 4
	}
	if pr == nil || pr.err != "" || pr.p == nil || pr.p.admin == 0 {
		res.err = "target not measured"
		if pr != nil && pr.err != "" {
			res.err = pr.err
		}
		return res
	}
	logf("profile: %s, %s at c=64 for %ds", pr.name(), pr.Scenario, res.seconds)
	load := make(chan Measurement, 1)
	d := time.Duration(res.seconds+2) * time.Second
	go func() {
		if rn.e.wrk != "" {
			load <- runWrk(rn.e, pr, 64, d, rn.o.threads)
		} else {
			load <- runGo(pr, 64, d)
		}
	}()
	time.Sleep(time.Second)
	path := filepath.Join(rn.e.tmp, strings.ReplaceAll(pr.name(), " ", "_")+".cpu.pprof")
	err := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(res.seconds+30)*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pr.p.admin, res.seconds), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(f, io.LimitReader(resp.Body, 256<<20))
		return err
	}()
	m := <-load
	res.rps = m.RPS
	if err != nil {
		res.err = "profile: " + err.Error()
		return res
	}
	if m.Err != "" {
		res.err = "load: " + m.Err
		return res
	}
	top := func(args ...string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := runCmd(ctx, rn.e.root, append(append([]string{"go", "tool", "pprof", "-top"}, args...), path)...)
		if err != nil {
			return nil, fmt.Errorf("go tool pprof: %v: %s", err, shorten(out, 200))
		}
		return strings.Split(out, "\n"), nil
	}
	all, err := top("-nodecount=100000")
	if err != nil {
		res.err = err.Error()
		return res
	}
	// The gateway's own functions by cumulative share (Caddy's, net/http's
	// and the runtime's frames above them say little).
	cum, err := top("-cum", "-nodecount=100000", "-focus=github.com/polygate/", "-show=github.com/polygate/")
	if err != nil {
		res.err = err.Error()
		return res
	}
	res.header, res.flat, res.packages = summarise(all, 25)
	_, res.cum, _ = summarise(cum, 35)
	return res
}

// summarise reads `pprof -top` output: its "Showing nodes" header, the
// first n function lines, and the flat share summed per package.
func summarise(lines []string, n int) (header string, fns []string, pkgs [][]string) {
	share := map[string]float64{}
	inTable := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "Showing nodes accounting for"):
			header = t
			continue
		case strings.HasPrefix(t, "flat "):
			inTable = true
			continue
		case !inTable || t == "":
			continue
		}
		f := strings.Fields(t)
		if len(f) < 6 {
			continue
		}
		name := strings.Join(f[5:], " ")
		if len(fns) < n {
			fns = append(fns, fmt.Sprintf("%s %s (cum %s %s)", f[1], name, f[3], f[4]))
		}
		if pct, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64); err == nil {
			share[packageOf(name)] += pct
		}
	}
	for p, v := range share {
		pkgs = append(pkgs, []string{p, strconv.FormatFloat(v, 'f', 1, 64)})
	}
	sort.Slice(pkgs, func(i, j int) bool {
		a, _ := strconv.ParseFloat(pkgs[i][1], 64)
		b, _ := strconv.ParseFloat(pkgs[j][1], 64)
		return a > b
	})
	if len(pkgs) > 20 {
		pkgs = pkgs[:20]
	}
	return header, fns, pkgs
}

// packageOf is the package path of a pprof function name
// ("github.com/x/y.(*T).M" is "github.com/x/y").
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

func (r *report) profileSection(w func(string, ...any)) {
	p := r.profile
	if p == nil {
		return
	}
	w("## CPU profile of `%s` (`%s`, c=64)\n\n", r.profile.row, r.profile.scenario)
	if p.err != "" {
		w("n/a: %s\n\n", mdEscape(shorten(p.err, 300)))
		return
	}
	w("Taken from the process's admin endpoint (`/debug/pprof/profile?seconds=%d`) while wrk loaded it (%.0f req/s meanwhile, profiling included). %s.\n\n", p.seconds, p.rps, p.header)
	w("Own CPU (flat) by package:\n\n| package | flat %% |\n|---|---:|\n")
	for _, pk := range p.packages {
		w("| %s | %s |\n", pk[0], pk[1])
	}
	w("\nThe gateway's functions by cumulative share (own %% then cumulative, of the whole process):\n\n```\n")
	for _, l := range p.cum {
		w("%s\n", l)
	}
	w("```\n\nTop functions by own share:\n\n```\n")
	for _, l := range p.flat {
		w("%s\n", l)
	}
	w("```\n\n")
}
