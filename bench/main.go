// Command bench is Polygate's benchmark harness. From the repository root:
//
//	go run ./bench            # full run, ≤ 15 minutes
//	go run ./bench -quick     # the concurrencies the checks need, 1 s runs, ≤ 3 minutes
//
// It builds bench/bin/caddy (./cmd/caddy), bench/bin/mock and bench/bin/writer,
// starts a mock OpenAI/Anthropic upstream and one process per target (the mock
// itself, Caddy reverse_proxy, Caddy ai_gateway in several configurations,
// Portkey's gateway when npm works), measures every scenario row in
// alternating order over several short rounds, and prints a markdown report
// (also written to bench/results/latest.md). See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick      bool
	scenarios  []string
	targets    []string
	conc       []int
	duration   time.Duration
	rounds     int
	threads    int
	streams    int
	noBuild    bool
	noPortkey  bool
	portkeyVer string
	aiExtra    string
	out        string
	keep       bool
	mockDelay  time.Duration
	caddyBin   string
	retries    int
	maxForeign float64
	postgres   string
	writerRecs int
	profileRow string // -profile: row@scenario
}

const defaultPortkeyVersion = "1.15.2"

// allScenarioNames are the table scenarios (scenarios.go) plus the writer
// and memory phases, in the order they run.
var allScenarioNames = func() []string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
	}
	return append(names, profilePhase, writerPhase, "memory")
}()

// profilePhase names the CPU profile of ai_gateway_full (profile.go): it
// needs scenario chat-unique's row of that target.
const profilePhase = "profile"

// quickSkips are left out of -quick: no check needs them.
var quickSkips = []string{"embeddings"}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func parseFlags() *options {
	o := &options{}
	var scn, tgt, conc string
	flag.BoolVar(&o.quick, "quick", false, "quick run: 1s runs, only the concurrencies the checks need, every scenario but "+strings.Join(quickSkips, ","))
	flag.StringVar(&scn, "scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(allScenarioNames, ",")+")")
	flag.StringVar(&tgt, "targets", "", "comma-separated targets to run (default all that start); each scenario's baseline is always kept")
	flag.StringVar(&conc, "conc", "", "comma-separated concurrencies for every scenario (default 1,16,64,256 or the scenario's own list; -quick: what the checks need)")
	flag.DurationVar(&o.duration, "duration", 0, "length of one measured run (default 2s, -quick 1s)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per (scenario, concurrency); target order rotates every round and medians are reported")
	flag.IntVar(&o.retries, "retries", 1, "times a run is measured again when other processes used more than -max-foreign cores meanwhile")
	flag.Float64Var(&o.maxForeign, "max-foreign", 0.3, "cores of CPU that processes outside the benchmark may use during a run before it is measured again")
	flag.IntVar(&o.threads, "wrk-threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.streams, "streams", 1000, "open streams in the memory test")
	flag.BoolVar(&o.noBuild, "no-build", false, "use the existing bench/bin binaries")
	flag.BoolVar(&o.noPortkey, "no-portkey", false, "skip the Portkey peer")
	flag.StringVar(&o.portkeyVer, "portkey-version", defaultPortkeyVersion, "@portkey-ai/gateway version to install")
	flag.StringVar(&o.aiExtra, "ai-extra", "", "Caddyfile text spliced into every ai_gateway block (e.g. guardrails, cache)")
	flag.StringVar(&o.out, "out", "bench/results/latest.md", "report file (relative to the repository root)")
	flag.DurationVar(&o.mockDelay, "mock-delay", 0, "delay between the mock's streamed events (throughput scenarios)")
	flag.StringVar(&o.caddyBin, "caddy", "", "use this caddy binary instead of building bench/bin/caddy (e.g. to compare two builds)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configs and process logs)")
	flag.StringVar(&o.postgres, "postgres", "", "PostgreSQL URL for ai_gateway_pg and the writer (default $POLYGATE_TEST_POSTGRES, else the cluster of bash .ci/postgres.sh); each use gets a fresh schema, dropped at the end")
	flag.StringVar(&o.profileRow, "profile", profiledTarget+"@"+profiledScenario, "row@scenario the profile phase loads (a row is its target or label)")
	flag.IntVar(&o.writerRecs, "writer-records", 50_000, "records bench/bin/writer writes in the direct writer measurement")
	flag.Parse()

	if o.duration == 0 {
		o.duration = 2 * time.Second
		if o.quick {
			o.duration = time.Second
		}
	}
	if scn == "" {
		for _, n := range allScenarioNames {
			if !o.quick || !slices.Contains(quickSkips, n) {
				o.scenarios = append(o.scenarios, n)
			}
		}
	} else {
		for _, s := range splitList(scn) {
			if !slices.Contains(allScenarioNames, s) {
				fatalf("unknown scenario %q (have %s)", s, strings.Join(allScenarioNames, ","))
			}
			o.scenarios = append(o.scenarios, s)
		}
	}
	o.targets = splitList(tgt)
	for _, c := range splitList(conc) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			fatalf("bad concurrency %q", c)
		}
		o.conc = append(o.conc, n)
	}
	if o.rounds < 1 {
		o.rounds = 1
	}
	return o
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func fatalf(format string, a ...any) {
	stopAll()
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(1)
}

func findRoot() string {
	dir, _ := os.Getwd()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/polygate/polygate") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			fatalf("run from inside the polygate repository")
		}
		dir = parent
	}
}

func main() {
	o := parseFlags()
	start := time.Now()
	root := findRoot()
	if err := os.Chdir(root); err != nil {
		fatalf("%v", err)
	}
	raiseNoFile()

	tmp, err := os.MkdirTemp("", "polygate-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	e := &env{root: root, tmp: tmp, aiExtra: o.aiExtra, mockDelay: o.mockDelay}
	e.pg.flag = o.postgres
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		logf("interrupted: stopping children")
		stopAll()
		e.dropSchemas()
		os.Exit(130)
	}()
	defer func() {
		if !o.keep {
			os.RemoveAll(tmp)
		}
	}()
	setup(e, o)

	rep := run(e, o)
	e.dropSchemas()
	rep.elapsed = time.Since(start)
	md := rep.markdown()
	fmt.Println(md)
	out := o.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			logf("writing %s: %v", out, err)
		} else {
			logf("report written to %s", o.out)
		}
	}
	if o.keep {
		logf("configs and logs kept in %s", tmp)
	}
	stopAll()
}

func raiseNoFile() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// setup builds the binaries and finds wrk and Portkey.
func setup(e *env, o *options) {
	e.caddyBin = filepath.Join(e.root, "bench", "bin", "caddy")
	e.mockBin = filepath.Join(e.root, "bench", "bin", "mock")
	e.writerBin = filepath.Join(e.root, "bench", "bin", "writer")
	builds := []struct{ out, pkg string }{{e.caddyBin, "./cmd/caddy"}, {e.mockBin, "./bench/mock"}, {e.writerBin, "./bench/writer"}}
	if o.caddyBin != "" {
		abs, err := filepath.Abs(o.caddyBin)
		if err != nil {
			fatalf("%v", err)
		}
		e.caddyBin = abs
		builds = builds[1:]
		e.note("caddy binary given with -caddy: %s", o.caddyBin)
	}
	if !o.noBuild {
		for _, b := range builds {
			logf("go build -o %s %s", rel(e, b.out), b.pkg)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			out, err := runCmd(ctx, e.root, "go", "build", "-o", b.out, b.pkg)
			cancel()
			if err != nil {
				if st, serr := os.Stat(b.out); serr == nil {
					e.note("building %s failed (%s); using the existing %s built %s", b.pkg, shorten(out, 300), rel(e, b.out), st.ModTime().Format("2006-01-02 15:04"))
				} else if b.out == e.writerBin {
					e.note("building %s failed (%s): the direct writer measurement is n/a", b.pkg, shorten(out, 300))
				} else {
					fatalf("building %s: %v\n%s", b.pkg, err, out)
				}
			}
		}
	}
	for _, b := range []string{e.caddyBin, e.mockBin} {
		if _, err := os.Stat(b); err != nil {
			fatalf("%s missing (run without -no-build)", rel(e, b))
		}
	}
	out, _ := exec.Command(e.caddyBin, "list-modules").Output()
	if !strings.Contains(string(out), "http.handlers.ai_gateway") {
		e.note("bench/bin/caddy has no http.handlers.ai_gateway module (not in ./cmd/caddy yet): ai_gateway rows are n/a")
	}

	if p, err := exec.LookPath("wrk"); err == nil {
		e.wrk = p
	} else if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			logf("wrk missing: apt-get install -y wrk")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			if _, err := runCmd(ctx, e.root, "apt-get", "install", "-y", "-qq", "wrk"); err != nil {
				runCmd(ctx, e.root, "apt-get", "update", "-qq")
				runCmd(ctx, e.root, "apt-get", "install", "-y", "-qq", "wrk")
			}
			cancel()
			e.wrk, _ = exec.LookPath("wrk")
		}
	}
	if e.wrk != "" && o.duration%time.Second != 0 {
		e.note("wrk takes whole seconds: its runs last %ds (-duration %s); the Go client's runs last %s", wrkSeconds(o.duration), o.duration, o.duration)
	}
	if e.wrk == "" {
		e.note("wrk not available: throughput is measured with the Go load generator too (it competes harder for the 2 cores)")
	}

	if o.noPortkey || (len(o.targets) > 0 && !slices.Contains(o.targets, "portkey")) {
		return
	}
	setupPortkey(e, o.portkeyVer)
}

func rel(e *env, p string) string {
	if r, err := filepath.Rel(e.root, p); err == nil {
		return r
	}
	return p
}

// honoNodeServer pins @hono/node-server: Portkey 1.15.2 with a newer one
// answers every streamed request with a 500 ("TypeError: immutable" in
// updateHeaders, Portkey-AI/gateway issue #1389).
const honoNodeServer = "1.13.8"

func setupPortkey(e *env, version string) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		e.note("npm not found: Portkey peer skipped")
		return
	}
	node, err := exec.LookPath("node")
	if err != nil {
		e.note("node not found: Portkey peer skipped")
		return
	}
	dir := filepath.Join(e.root, "bench", ".portkey")
	pkgDir := filepath.Join(dir, "node_modules", "@portkey-ai", "gateway")
	js := filepath.Join(pkgDir, "build", "start-server.js")
	versionOf := func(pkgJSON string) string {
		b, err := os.ReadFile(pkgJSON)
		if err != nil {
			return ""
		}
		var v struct {
			Version string `json:"version"`
		}
		json.Unmarshal(b, &v)
		return v.Version
	}
	hono := filepath.Join(dir, "node_modules", "@hono", "node-server", "package.json")
	if versionOf(filepath.Join(pkgDir, "package.json")) != version || versionOf(hono) != honoNodeServer {
		logf("npm install @portkey-ai/gateway@%s (with @hono/node-server %s) into bench/.portkey", version, honoNodeServer)
		os.MkdirAll(dir, 0o755)
		pkg := fmt.Sprintf(`{
  "private": true,
  "description": "Portkey's gateway for go run ./bench (peer comparison); installed by the harness",
  "dependencies": { "@portkey-ai/gateway": %q },
  "overrides": { "@hono/node-server": %q }
}
`, version, honoNodeServer)
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
			e.note("writing bench/.portkey/package.json: %v: Portkey peer skipped", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		out, err := runCmd(ctx, dir, npm, "install", "--no-audit", "--no-fund", "--loglevel=error")
		cancel()
		if err != nil {
			e.note("npm install @portkey-ai/gateway@%s failed: %s: Portkey peer skipped", version, shorten(out, 200))
			return
		}
	}
	if _, err := os.Stat(js); err != nil {
		e.note("Portkey installed but %s is missing: Portkey peer skipped", rel(e, js))
		return
	}
	e.node, e.portkeyJS, e.portkeyV = node, js, versionOf(filepath.Join(pkgDir, "package.json"))
	e.note("Portkey %s runs with @hono/node-server %s pinned (newer ones break its streaming on node: Portkey-AI/gateway#1389); started as `node build/start-server.js --port=N --headless` with NODE_ENV=production, routed per request by `x-portkey-provider` + `x-portkey-custom-host`; its node streaming code sleeps 25 ms before forwarding the first chunk, which is in its TTFB", e.portkeyV, honoNodeServer)
}

// keyOf identifies a measured cell.
type cellKey struct {
	scenario string
	conc     int
	row      int
}

type cell struct {
	wrk  []Measurement // per round (throughput + whole-response latency)
	ttfb []Measurement // per round (Go client, streamed scenarios)
}

// concFor is the concurrencies s is measured at: -conc, or in a quick run
// those its checks need, or the scenario's own list, or 1, 16, 64, 256.
func (o *options) concFor(s *Scenario) []int {
	switch {
	case len(o.conc) > 0:
		return o.conc
	case o.quick:
		return checkedConc(s.Name)
	case s.Conc != nil:
		return s.Conc
	}
	return []int{1, 16, 64, 256}
}

// roundsFor is the number of rounds of s.
func (o *options) roundsFor(s *Scenario) int {
	return o.rounds * max(1, s.RoundsX)
}

// wantTarget reports whether target is measured in scenario scn: every
// target unless -targets says otherwise, and always the scenario's baseline.
func (o *options) wantTarget(scn, target string) bool {
	if len(o.targets) == 0 || slices.Contains(o.targets, target) {
		return true
	}
	for _, s := range scenarios {
		if s.Name == scn {
			return s.Baseline == target
		}
	}
	return scn == "memory" && target == "reverse_proxy"
}

// run measures everything and returns the report data.
func run(e *env, o *options) *report {
	rep := &report{e: e, o: o, cells: map[cellKey]*cell{}, started: time.Now()}
	tmap := map[string]*Target{}
	for _, t := range targets(o.aiExtra) {
		tmap[t.Name] = t
	}
	rep.targets = tmap

	var scns []*Scenario
	for i := range scenarios {
		if slices.Contains(o.scenarios, scenarios[i].Name) {
			scns = append(scns, &scenarios[i])
		}
	}
	rep.scenarios = scns
	rep.rows = map[string][]*preparedRow{}

	// Phase 1: throughput and latency, then the writer phase on the same
	// processes.
	if len(scns) > 0 || slices.Contains(o.scenarios, writerPhase) {
		runThroughput(e, o, rep, tmap)
	}
	// Phase 2: memory per open stream, on fresh processes.
	if slices.Contains(o.scenarios, "memory") {
		rep.mem = runMemory(e, o, tmap)
		rep.memRan = true
	}
	return rep
}

// runner measures rows against one mock.
type runner struct {
	e    *env
	o    *options
	rep  *report
	mock *proc
}

// neededRows are the rows of the selected scenarios and phases, in order.
func neededRows(o *options) []*Row {
	var out []*Row
	for i := range rows {
		if r := &rows[i]; r.Scenario != memoryExtra && slices.Contains(o.scenarios, r.Scenario) && o.wantTarget(r.Scenario, r.Target) {
			out = append(out, r)
		}
	}
	return out
}

func runThroughput(e *env, o *options, rep *report, tmap map[string]*Target) {
	mock, err := e.startMock(false)
	if err != nil {
		fatalf("starting the mock: %v", err)
	}
	defer mock.stop()
	rn := &runner{e: e, o: o, rep: rep, mock: mock}
	need := neededRows(o)

	// Start every target that a selected row needs, then probe it.
	started := map[string]*proc{}
	startErr := map[string]string{}
	for _, r := range need {
		if _, ok := started[r.Target]; ok {
			continue
		}
		if _, ok := startErr[r.Target]; ok {
			continue
		}
		t := tmap[r.Target]
		if t == nil {
			startErr[r.Target] = "unknown target"
			continue
		}
		if t.Kind == "portkey" && e.portkeyJS == "" {
			startErr[r.Target] = "skipped" // noted at setup
			continue
		}
		logf("starting %s", t.Name)
		p, err := e.startTarget(t, mock, "")
		if err != nil {
			startErr[r.Target] = err.Error()
			logf("  %s: n/a: %v", t.Name, err)
			continue
		}
		started[r.Target] = p
	}
	defer func() {
		for name, p := range started {
			if name != "direct" {
				p.stop()
			}
		}
	}()
	for _, pb := range probes {
		p := started[pb.Target]
		if p == nil {
			continue
		}
		err := probe(p, mock.port, &pb)
		rep.probes = append(rep.probes, probeResult{Probe: pb, err: err})
		if err != nil {
			logf("  probe %s: %s: FAILED: %v", pb.Target, pb.What, err)
			if _, bad := startErr[pb.Target]; !bad {
				startErr[pb.Target] = fmt.Sprintf("probe %q failed: %v", pb.What, err)
			}
		} else {
			logf("  probe %s: %s: ok", pb.Target, pb.What)
		}
	}

	// Prepare and check every row.
	var writerRow *preparedRow
	for idx, r := range need {
		if msg, bad := startErr[r.Target]; bad {
			if r.Target == "portkey" && e.portkeyJS == "" {
				continue // skipped, noted at setup
			}
			pr := &preparedRow{Row: r, err: msg}
			if r.Scenario == writerPhase {
				writerRow = pr
			} else {
				rep.rows[r.Scenario] = append(rep.rows[r.Scenario], pr)
			}
			continue
		}
		pr, err := prepareRow(e, r, started[r.Target], mock.port, idx+1)
		if err != nil {
			fatalf("%v", err)
		}
		// Two tries: Portkey's first request can be slow.
		if err := preflight(pr); err != nil {
			if err2 := preflight(pr); err2 != nil {
				pr.err = err2.Error()
				logf("  %s/%s: n/a: %v", r.Scenario, pr.name(), err2)
			}
		}
		if r.Scenario == writerPhase {
			writerRow = pr
		} else {
			rep.rows[r.Scenario] = append(rep.rows[r.Scenario], pr)
		}
	}

	// Re-measuring noisy runs may add at most a fifth to the run time.
	planned := 0
	for _, s := range rep.scenarios {
		passes := 1
		if s.Stream {
			passes = 2
		}
		for _, pr := range rep.rows[s.Name] {
			planned += len(pr.concs(o.concFor(s))) * o.roundsFor(s) * passes
		}
	}
	rep.retryBudget = (planned + 4) / 5

	for _, s := range rep.scenarios {
		rn.scenario(s)
	}
	if slices.Contains(o.scenarios, profilePhase) {
		row, scenario, _ := strings.Cut(o.profileRow, "@")
		var pr *preparedRow
		for _, p := range rep.rows[scenario] {
			if p.name() == row {
				pr = p
			}
		}
		rep.profile = rn.profile(pr)
		rep.profile.row, rep.profile.scenario = row, scenario
	}
	if slices.Contains(o.scenarios, writerPhase) {
		rep.writer = rn.writerPhase(writerRow)
	}
}

// measure runs one measurement and works out how much CPU processes outside
// the benchmark used meanwhile; a run that shared the machine with more than
// -max-foreign cores of other work is done again (up to retries times).
func (rn *runner) measure(pr *preparedRow, conc int, d time.Duration, goClient bool, retries int) Measurement {
	e, o, rep, mock := rn.e, rn.o, rn.rep, rn.mock
	for attempt := 0; ; attempt++ {
		busy0 := machineBusy()
		mock0 := cpuTime(mock.pid())
		calls0 := mockCalls(mock.port)
		db0 := pr.p.dbCPU()
		allocs0 := mallocs(pr.p)
		var m Measurement
		if !goClient && e.wrk != "" {
			m = runWrk(e, pr, conc, d, o.threads)
		} else {
			m = runGo(pr, conc, d)
		}
		pr.served += m.Requests
		if m.Err != "" || m.Wall <= 0 {
			return m
		}
		m.AllocsPerRq = math.NaN()
		if a := mallocs(pr.p); allocs0 >= 0 && a >= 0 && m.Requests > 0 {
			m.AllocsPerRq = float64(a-allocs0) / float64(m.Requests)
		}
		m.Upstream = mockCalls(mock.port) - calls0
		m.DBCPU = pr.p.dbCPU() - db0
		ours := m.TargetCPU + m.ToolCPU + m.DBCPU
		if pr.p != mock {
			ours += cpuTime(mock.pid()) - mock0
		}
		m.Foreign = max(0, float64(machineBusy()-busy0-ours)/float64(m.Wall))
		if m.Foreign <= o.maxForeign || attempt >= retries || rep.retried >= rep.retryBudget {
			rep.runs++
			if m.Foreign > o.maxForeign {
				rep.noisyKept++
			}
			rep.foreign = append(rep.foreign, m.Foreign)
			return m
		}
		rep.retried++
		logf("  %s c=%d: other processes used %.2f cores during the run: measuring again", pr.name(), conc, m.Foreign)
		time.Sleep(time.Second)
	}
}

// scenario measures every row of s: a warm-up run each, then at every
// concurrency several rounds in rotated order.
func (rn *runner) scenario(s *Scenario) {
	o, rep := rn.o, rn.rep
	prs := rep.rows[s.Name]
	concs := o.concFor(s)
	counts := rn.usageRowsBefore(s, prs)
	// Warm-up: one short unmeasured run per row at the highest concurrency.
	warmD := min(time.Second, o.duration)
	for _, pr := range prs {
		if pr.err != "" {
			continue
		}
		cs := pr.concs(concs)
		if len(cs) == 0 {
			continue
		}
		m := rn.measure(pr, slices.Max(cs), warmD, false, 0)
		if m.Err != "" {
			pr.err = m.Err
			logf("  %s/%s warm-up: n/a: %s", s.Name, pr.name(), m.Err)
		}
	}
	for _, c := range concs {
		for round := 0; round < o.roundsFor(s); round++ {
			order := rotate(prs, round)
			passes := []bool{false}
			if s.Stream {
				passes = append(passes, true)
			}
			for _, ttfbPass := range passes {
				for _, pr := range order {
					if pr.err != "" || !slices.Contains(pr.concs(concs), c) {
						continue
					}
					k := cellKey{s.Name, c, rowIndex(prs, pr)}
					cl := rep.cells[k]
					if cl == nil {
						cl = &cell{}
						rep.cells[k] = cl
					}
					m := rn.measure(pr, c, o.duration, ttfbPass, o.retries)
					what := "wrk"
					if ttfbPass || rn.e.wrk == "" {
						what = "go"
					}
					if m.Err != "" {
						pr.err = m.Err
						logf("[%s c=%d r%d] %-22s %s: n/a: %s", s.Name, c, round+1, pr.name(), what, m.Err)
						continue
					}
					if ttfbPass {
						cl.ttfb = append(cl.ttfb, m)
					} else {
						cl.wrk = append(cl.wrk, m)
					}
					logf("[%s c=%d r%d] %-22s %s: %8.0f req/s  p50 %7.2fms  p99 %7.2fms  cpu %4.0fµs/req  other %.2f cores",
						s.Name, c, round+1, pr.name(), what, m.RPS, ms(m.P50), ms(m.P99), us(m.CPUPerRq), m.Foreign)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}
	rn.usageRowsAfter(counts)
}

// concs is the part of the scenario's concurrencies the row is measured at.
func (r *Row) concs(scn []int) []int {
	if r.Conc == nil {
		return scn
	}
	var out []int
	for _, c := range scn {
		if slices.Contains(r.Conc, c) {
			out = append(out, c)
		}
	}
	return out
}

func rotate(prs []*preparedRow, k int) []*preparedRow {
	n := len(prs)
	if n == 0 {
		return nil
	}
	out := make([]*preparedRow, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, prs[(i+k)%n])
	}
	return out
}

func rowIndex(prs []*preparedRow, pr *preparedRow) int {
	for i, p := range prs {
		if p == pr {
			return i
		}
	}
	return -1
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func runMemory(e *env, o *options, tmap map[string]*Target) []MemResult {
	mock, err := e.startMock(true)
	if err != nil {
		fatalf("starting the hold mock: %v", err)
	}
	defer mock.stop()
	var out []MemResult
	for i := range rows {
		r := &rows[i]
		if (r.Scenario != memoryScenario && r.Scenario != memoryExtra) || r.Target == "direct" || !o.wantTarget("memory", r.Target) {
			continue
		}
		t := tmap[r.Target]
		if t.Kind == "portkey" && e.portkeyJS == "" {
			continue
		}
		logf("memory: %s, %d open streams", r.name(), o.streams)
		p, err := e.startTarget(t, mock, "-mem")
		if err != nil {
			out = append(out, MemResult{Target: r.name(), Want: o.streams, Err: err.Error()})
			continue
		}
		pr, err := prepareRow(e, r, p, mock.port, 900+i)
		if err != nil {
			fatalf("%v", err)
		}
		var warm *preparedRow
		for j := range rows {
			if (rows[j].Scenario == "chat" || rows[j].Scenario == "chat-unique") && rows[j].Target == r.Target && warm == nil {
				warm, _ = prepareRow(e, &rows[j], p, mock.port, 950+j)
			}
		}
		res := memoryTest(pr, warm, o.streams)
		if res.Err != "" {
			logf("  %s: n/a: %s", r.name(), res.Err)
		} else {
			logf("  %s: idle %d KiB, with %d streams %d KiB (HWM %d KiB): %.1f KiB/stream (opened in %v; heap %.1f, stacks %.1f); the next %d: %.1f KiB/stream",
				r.name(), res.IdleKiB, res.Opened, res.DuringKiB, res.HWMKiB, res.PerStreamKiB, res.OpenTime.Round(time.Millisecond), res.HeapKiB, res.StackKiB, o.streams, res.MarginalKiB)
		}
		out = append(out, res)
		p.stop()
	}
	return out
}
