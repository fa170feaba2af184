package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Measurement is one run of one row at one concurrency.
type Measurement struct {
	Requests int
	RPS      float64
	P50, P99 time.Duration // whole-response latency (wrk) or TTFB (Go)
	CPUPerRq time.Duration // target process CPU per request
	// AllocsPerRq is the target's heap allocations per request (Caddy
	// targets, from the admin endpoint's /debug/vars); NaN when unknown.
	AllocsPerRq float64
	Err         string

	// Accounting of the machine's CPU during the run, to spot other work.
	TargetCPU time.Duration // target process
	ToolCPU   time.Duration // wrk (child) or the Go load generator (this process)
	DBCPU     time.Duration // the target's PostgreSQL server, if any
	Upstream  int64         // requests the mock served meanwhile (0 for cache hits)
	Wall      time.Duration
	Foreign   float64 // cores used by processes outside the benchmark, on average
}

// preparedRow is a row with placeholders expanded and its target's process.
type preparedRow struct {
	*Row
	url     string
	body    []byte
	headers map[string]string
	p       *proc
	script  string // wrk lua script path
	unique  bool   // body has uniqueMark
	err     string // set when the row cannot be measured
	served  int    // requests completed in every run so far, warm-ups and retries included
}

func prepareRow(e *env, r *Row, p *proc, mockPort int, idx int) (*preparedRow, error) {
	pr := &preparedRow{Row: r, p: p, headers: map[string]string{}}
	pr.url = fmt.Sprintf("http://127.0.0.1:%d%s", p.port, r.Path)
	pr.body = []byte(expand(r.Body, p.port, mockPort))
	pr.unique = bytes.Contains(pr.body, []byte(uniqueMark))
	for k, v := range r.Headers {
		pr.headers[k] = expand(v, p.port, mockPort)
	}
	if len(pr.body) > 0 {
		if _, ok := pr.headers["Content-Type"]; !ok {
			pr.headers["Content-Type"] = "application/json"
		}
	}
	if e.wrk != "" {
		pr.script = filepath.Join(e.tmp, fmt.Sprintf("row%02d-%s-%s.lua", idx, r.Scenario, r.Target))
		if err := os.WriteFile(pr.script, []byte(wrkScript(r.Method, pr.body, pr.headers)), 0o644); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

func wrkScript(method string, body []byte, headers map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\n", method)
	head, tail, unique := bytes.Cut(body, []byte(uniqueMark))
	if unique {
		// Each request gets "r<run>t<thread>n<n>": the run id comes as the
		// script's argument, the thread number from setup (every wrk thread
		// has its own Lua state and counter). Letters keep the digits apart:
		// "<run>-<thread>-<n>" read as a card number to the pii guardrail
		// one time in ten (Luhn), whose redaction made those prompts equal
		// and so cache hits.
		fmt.Fprintf(&b, "local head, tail = [==[%s]==], [==[%s]==]\n", head, tail)
		b.WriteString(`local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local run, n = "0", 0
init = function(args)
  run = args[1] or "0"
end
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. "r" .. run .. "t" .. tid .. "n" .. n .. tail)
end
`)
	} else if len(body) > 0 {
		fmt.Fprintf(&b, "wrk.body = [==[%s]==]\n", body)
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, headers[k])
	}
	b.WriteString(`done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
`)
	return b.String()
}

// wrkSeconds is d rounded up to whole seconds, at least 1.
func wrkSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// runWrk measures a row with wrk.
func runWrk(e *env, pr *preparedRow, conc int, d time.Duration, threads int) Measurement {
	if threads > conc {
		threads = conc
	}
	cpu0 := cpuTime(pr.p.pid())
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	// wrk takes whole seconds only ("-d0.5s" is a usage error).
	cmd := exec.CommandContext(ctx, e.wrk, "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conc),
		"-d"+strconv.Itoa(wrkSeconds(d))+"s", "--timeout", "10s", "-s", pr.script, pr.url, "--", strconv.FormatInt(runIDs.Add(1), 10))
	out, err := cmd.CombinedOutput()
	cpu := cpuTime(pr.p.pid()) - cpu0
	if err != nil {
		return Measurement{Err: "wrk: " + shorten(err.Error()+" "+string(out), 200)}
	}
	acct := Measurement{TargetCPU: cpu, Wall: time.Since(t0)}
	if ps := cmd.ProcessState; ps != nil {
		acct.ToolCPU = ps.UserTime() + ps.SystemTime()
	}
	i := bytes.Index(out, []byte("BENCHJSON "))
	if i < 0 {
		return Measurement{Err: "wrk: no result: " + shorten(string(out), 200)}
	}
	line := out[i+len("BENCHJSON "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	var w struct {
		Requests   int64 `json:"requests"`
		DurationUS int64 `json:"duration_us"`
		P50        int64 `json:"p50"`
		P99        int64 `json:"p99"`
		Connect    int64 `json:"connect"`
		Read       int64 `json:"read"`
		Write      int64 `json:"write"`
		Status     int64 `json:"status"`
		Timeout    int64 `json:"timeout"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return Measurement{Err: "wrk: bad result " + string(line)}
	}
	m := acct
	m.Requests, m.RPS = int(w.Requests), float64(w.Requests)/(float64(w.DurationUS)/1e6)
	m.P50, m.P99 = time.Duration(w.P50)*time.Microsecond, time.Duration(w.P99)*time.Microsecond
	if w.Requests > 0 {
		m.CPUPerRq = cpu / time.Duration(w.Requests)
	}
	errs := w.Connect + w.Read + w.Write + w.Status + w.Timeout
	if w.Requests == 0 || errs*100 > w.Requests {
		m.Err = fmt.Sprintf("%d requests, errors: %d non-2xx, %d connect, %d read, %d write, %d timeout",
			w.Requests, w.Status, w.Connect, w.Read, w.Write, w.Timeout)
	}
	return m
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     8 << 10,
		ReadBufferSize:      8 << 10,
	}
}

// uniqueMark in a body is replaced by a value unique to each request of
// the bench run.
const uniqueMark = "{{N}}"

// runIDs numbers wrk runs and Go requests, so that unique bodies never
// repeat within a bench run (targets' caches live as long as the run).
var runIDs atomic.Int64

func init() { runIDs.Store(time.Now().UnixNano() % 1e9 * 1000) }

func (pr *preparedRow) newRequest(ctx context.Context) *http.Request {
	var body io.Reader
	if len(pr.body) > 0 {
		b := pr.body
		if pr.unique {
			b = bytes.Replace(b, []byte(uniqueMark), strconv.AppendInt([]byte("g"), runIDs.Add(1), 10), 1)
		}
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, pr.Method, pr.url, body)
	for k, v := range pr.headers {
		req.Header.Set(k, v)
	}
	return req
}

// runGo measures a row with the Go load generator: closed loop, conc workers
// on keep-alive connections. P50/P99 are time to first response body byte.
func runGo(pr *preparedRow, conc int, d time.Duration) Measurement {
	tr := newTransport(conc)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	cpu0 := cpuTime(pr.p.pid())
	self0 := selfCPU()
	start := time.Now()
	deadline := start.Add(d)
	var mu sync.Mutex
	var all []time.Duration
	var errCount, okCount atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			buf := make([]byte, 16<<10)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				t0 := time.Now()
				resp, err := client.Do(pr.newRequest(ctx))
				if err != nil {
					cancel()
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				var ttfb time.Duration
				for {
					n, err := resp.Body.Read(buf)
					if n > 0 {
						ttfb = time.Since(t0)
						break
					}
					if err != nil {
						break
					}
				}
				io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				cancel()
				if resp.StatusCode/100 != 2 || ttfb == 0 {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode))
					continue
				}
				okCount.Add(1)
				lat = append(lat, ttfb)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(pr.p.pid()) - cpu0
	m := Measurement{Requests: int(okCount.Load()), RPS: float64(okCount.Load()) / elapsed.Seconds(),
		TargetCPU: cpu, ToolCPU: selfCPU() - self0, Wall: elapsed}
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		m.P50 = all[len(all)*50/100]
		m.P99 = all[min(len(all)-1, len(all)*99/100)]
		m.CPUPerRq = cpu / time.Duration(len(all))
	}
	ec := errCount.Load()
	if m.Requests == 0 || ec*100 > int64(m.Requests) {
		fe, _ := firstErr.Load().(string)
		m.Err = fmt.Sprintf("%d ok, %d errors (first: %s)", m.Requests, ec, shorten(fe, 120))
	}
	return m
}

// memStats is what the harness reads of a Caddy target's runtime memstats.
type memStats struct {
	Mallocs    int64
	HeapInuse  int64 // bytes in in-use heap spans
	StackInuse int64 // bytes of goroutine stacks
}

// readMemStats reads a Caddy target's runtime memstats from its admin
// endpoint's expvar; ok is false for other targets or when it does not answer.
func readMemStats(p *proc) (m memStats, ok bool) {
	if p == nil || p.admin == 0 {
		return m, false
	}
	resp, err := statsClient.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/vars", p.admin))
	if err != nil {
		return m, false
	}
	defer resp.Body.Close()
	var v struct {
		Memstats memStats `json:"memstats"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return m, false
	}
	return v.Memstats, true
}

// mallocs is the heap allocation count of a Caddy target, or -1.
func mallocs(p *proc) int64 {
	m, ok := readMemStats(p)
	if !ok {
		return -1
	}
	return m.Mallocs
}

// mockCalls is how many API requests the mock has served so far (its
// /mock/stats counters), or 0 when it does not answer.
func mockCalls(port int) int64 {
	resp, err := statsClient.Get(fmt.Sprintf("http://127.0.0.1:%d/mock/stats", port))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var st map[string]int64
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return 0
	}
	var n int64
	for k, v := range st {
		if k != "open" && k != "models" {
			n += v
		}
	}
	return n
}

var statsClient = &http.Client{Transport: newTransport(1), Timeout: 5 * time.Second}

// probeResult is a probe and how it went.
type probeResult struct {
	Probe
	err error
}

// probe sends pb's request to p and checks the answer.
func probe(p *proc, mockPort int, pb *Probe) error {
	pr := &preparedRow{Row: &Row{Method: "POST", Path: "/v1/chat/completions", Headers: clientHeaders}, p: p,
		url: fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", p.port), body: []byte(expand(pb.Body, p.port, mockPort)),
		headers: map[string]string{"Content-Type": "application/json"}}
	for k, v := range clientHeaders {
		pr.headers[k] = v
	}
	want := pb.Status
	if want == 0 {
		want = 200
	}
	client := &http.Client{Transport: newTransport(1), Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(pb.Within)
	for {
		err := func() error {
			resp, err := client.Do(pr.newRequest(context.Background()))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			s := string(b)
			switch {
			case resp.StatusCode != want:
				return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, want, shorten(s, 160))
			case pb.Header != "" && resp.Header.Get(pb.Header) != pb.Value:
				return fmt.Errorf("%s: %q, want %q", pb.Header, resp.Header.Get(pb.Header), pb.Value)
			}
			for _, h := range pb.Has {
				if !strings.Contains(s, h) {
					return fmt.Errorf("answer lacks %q: %s", h, shorten(s, 200))
				}
			}
			for _, h := range pb.HasNot {
				if strings.Contains(s, h) {
					return fmt.Errorf("answer contains %q: %s", h, shorten(s, 200))
				}
			}
			return nil
		}()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// preflight sends one request and checks the answer looks right.
func preflight(pr *preparedRow) error {
	client := &http.Client{Transport: newTransport(1), Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(pr.newRequest(context.Background()))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, shorten(string(b), 160))
	}
	s := string(b)
	switch {
	case pr.Stream && strings.HasSuffix(pr.Path, "/responses"):
		if !strings.Contains(s, "event: response.completed") || !strings.Contains(s, `"input_tokens"`) {
			return fmt.Errorf("not a Responses stream with usage: %s", shorten(s, 160))
		}
	case pr.Stream && strings.HasSuffix(pr.Path, "/messages"):
		if !strings.Contains(s, "event: message_stop") || !strings.Contains(s, "event: content_block_delta") {
			return fmt.Errorf("not a Messages stream: %s", shorten(s, 160))
		}
	case pr.Stream:
		if !strings.Contains(s, "data: [DONE]") || !strings.Contains(s, "chat.completion.chunk") {
			return fmt.Errorf("not an OpenAI stream: %s", shorten(s, 160))
		}
		if strings.Contains(pr.Row.Body, `"include_usage":true`) && !strings.Contains(s, `"total_tokens"`) {
			return fmt.Errorf("stream has no usage chunk: %s", shorten(s, 160))
		}
	case strings.HasSuffix(pr.Path, "/chat/completions"):
		if !strings.Contains(s, `"chat.completion"`) || !strings.Contains(s, `"usage"`) {
			return fmt.Errorf("not a chat.completion: %s", shorten(s, 160))
		}
	case strings.HasSuffix(pr.Path, "/embeddings"):
		if !strings.Contains(s, `"embedding"`) {
			return fmt.Errorf("not an embedding list: %s", shorten(s, 160))
		}
	}
	return nil
}

// MemResult is the memory test of one target.
type MemResult struct {
	Target             string
	Opened, Want       int
	IdleKiB, DuringKiB int64
	HWMKiB             int64
	PerStreamKiB       float64
	// HeapKiB and StackKiB split the per-stream figure of a Caddy target
	// into in-use heap spans and goroutine stacks (runtime memstats, read
	// with RSS); NaN for other targets.
	HeapKiB, StackKiB float64
	// MarginalKiB is what each stream of a second batch of Want streams,
	// opened while the first stay open, adds to RSS: the cost of one more
	// stream once the process's fixed structures (pages first touched by
	// the first batch) are resident. NaN when the second batch failed.
	MarginalKiB float64
	OpenTime    time.Duration
	Err         string
}

// memoryTest opens n streams that the hold mock keeps open after the first
// event and reads the target's RSS before and while they are open, then
// opens n more and reads it again (the marginal cost per stream).
// warm, if not nil, is a non-streamed row of the same target sent 20 times
// first (the hold mock answers those normally).
func memoryTest(pr, warm *preparedRow, n int) MemResult {
	res := MemResult{Target: pr.name(), Want: n, HeapKiB: math.NaN(), StackKiB: math.NaN(), MarginalKiB: math.NaN()}
	pid := pr.p.pid()

	for i := 0; warm != nil && i < 20; i++ {
		if err := preflight(warm); err != nil {
			res.Err = "warm-up: " + err.Error()
			return res
		}
	}
	time.Sleep(time.Second)
	idle, _, err := procStatus(pid)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.IdleKiB = idle
	idleStats, statsOK := readMemStats(pr.p)

	tr := newTransport(2 * n)
	tr.MaxIdleConnsPerHost = 1
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
		tr.CloseIdleConnections()
	}()

	t0 := time.Now()
	opened, fe := openStreams(ctx, &wg, client, pr, n)
	res.OpenTime = time.Since(t0)
	res.Opened = opened
	if opened < n {
		res.Err = fmt.Sprintf("only %d/%d streams opened (%s)", opened, n, shorten(fe, 120))
		return res
	}
	time.Sleep(time.Second) // let the target settle
	res.DuringKiB, res.HWMKiB, _ = procStatus(pid)
	res.PerStreamKiB = float64(res.DuringKiB-idle) / float64(n)
	if during, ok := readMemStats(pr.p); ok && statsOK {
		res.HeapKiB = float64(during.HeapInuse-idleStats.HeapInuse) / 1024 / float64(n)
		res.StackKiB = float64(during.StackInuse-idleStats.StackInuse) / 1024 / float64(n)
	}

	if more, _ := openStreams(ctx, &wg, client, pr, n); more == n {
		time.Sleep(time.Second)
		if rss, _, err := procStatus(pid); err == nil {
			res.MarginalKiB = float64(rss-res.DuringKiB) / float64(n)
		}
	}
	return res
}

// openStreams opens n streams of pr that stay open until ctx ends, and
// returns once each has received its first byte (or one failed, or a
// minute has passed): how many did, and the first error.
func openStreams(ctx context.Context, wg *sync.WaitGroup, client *http.Client, pr *preparedRow, n int) (int, string) {
	var opened atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64) // at most 64 connections being set up at once
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			resp, err := client.Do(pr.newRequest(ctx))
			if err != nil {
				<-sem
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 512)
			got := false
			for {
				k, err := resp.Body.Read(buf)
				if k > 0 {
					got = true
					break
				}
				if err != nil {
					break
				}
			}
			<-sem
			if !got || resp.StatusCode != 200 {
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, no first event", resp.StatusCode))
				return
			}
			opened.Add(1)
			<-ctx.Done()
		}()
	}
	waitUntil := time.Now().Add(60 * time.Second)
	for opened.Load() < int64(n) && time.Now().Before(waitUntil) {
		if firstErr.Load() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fe, _ := firstErr.Load().(string)
	return int(opened.Load()), fe
}
