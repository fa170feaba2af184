package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a started child process.
type proc struct {
	name string
	port int
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	pg   *pgDB // the PostgreSQL schema of a target whose Caddyfile has {{PG}}
	// admin is the port of a Caddy target's admin endpoint, 0 for others.
	admin int
}

var (
	procsMu sync.Mutex
	procs   = map[*proc]bool{}
)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProc starts a command with its output in logPath and waits until port
// accepts connections.
func startProc(name string, port int, logPath string, env []string, wait time.Duration, argv ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{name: name, port: port, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); lf.Close(); close(p.done) }()
	procsMu.Lock()
	procs[p] = true
	procsMu.Unlock()

	deadline := time.Now().Add(wait)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited: %s", name, logTail(logPath))
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen on port %d within %v: %s", name, port, wait, logTail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	procsMu.Lock()
	delete(procs, p)
	procsMu.Unlock()
}

// stopAll stops every child still running (used on exit and on ^C).
func stopAll() {
	procsMu.Lock()
	var ps []*proc
	for p := range procs {
		ps = append(ps, p)
	}
	procsMu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// logTail returns the most telling line of a log: the last "Error:"/"error"
// line, or else its last non-empty line, shortened.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pick := ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if pick == "" {
			pick = l
		}
		if strings.HasPrefix(l, "Error:") || strings.Contains(l, `"level":"error"`) {
			pick = l
			break
		}
	}
	// Caddy logs JSON lines: keep their message and error.
	var j struct {
		Msg   string `json:"msg"`
		Error string `json:"error"`
	}
	if strings.HasPrefix(pick, "{") && json.Unmarshal([]byte(pick), &j) == nil && j.Msg != "" {
		pick = j.Msg
		if j.Error != "" {
			pick += ": " + j.Error
		}
	}
	// Caddy's provisioning errors nest: keep the part about our module.
	if i := strings.LastIndex(pick, "loading module '"); i >= 0 {
		pick = pick[i:]
	}
	// Drop the work directory from paths.
	pick = strings.ReplaceAll(pick, filepath.Dir(path)+string(filepath.Separator), "")
	return shorten(pick, 300)
}

// shorten collapses white space and, past n bytes, keeps the head and the
// tail of s (the tail of an error chain is usually its most specific part).
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	head := n / 3
	tail := n - head
	return strings.ToValidUTF8(s[:head]+" … "+s[len(s)-tail:], "")
}

// expand replaces the {{PORT}} and {{MOCK}} placeholders.
func expand(s string, port, mock int) string {
	return strings.NewReplacer("{{PORT}}", strconv.Itoa(port), "{{MOCK}}", strconv.Itoa(mock)).Replace(s)
}

// env holds what the harness found about the machine and tools.
type env struct {
	root      string // repo root
	tmp       string // work dir for configs and logs
	caddyBin  string
	mockBin   string
	writerBin string
	wrk       string
	node      string
	portkeyJS string
	portkeyV  string
	notes     []string
	aiExtra   string
	mockDelay time.Duration
	pg        pgState
}

func (e *env) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	e.notes = append(e.notes, msg)
	logf("note: %s", msg)
}

// startMock starts the mock upstream binary.
func (e *env) startMock(hold bool) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{e.mockBin, "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	name := "mock"
	if hold {
		args = append(args, "-hold")
		name = "mock-hold"
	} else if e.mockDelay > 0 {
		args = append(args, "-delay", e.mockDelay.String())
	}
	return startProc(name, port, filepath.Join(e.tmp, name+".log"), nil, 10*time.Second, args...)
}

// startTarget starts one target process against the mock on mockPort. For
// the "mock" kind it returns the mock itself.
func (e *env) startTarget(t *Target, mock *proc, suffix string) (*proc, error) {
	switch t.Kind {
	case "mock":
		return mock, nil
	case "caddy":
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		admin, err := freePort()
		if err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(expand(t.Caddyfile, port, mock.port), "{{ADMIN}}", strconv.Itoa(admin))
		var db *pgDB
		if strings.Contains(text, "{{PG}}") {
			if db, err = e.pgFor(t.Name + suffix); err != nil {
				return nil, err
			}
			text = strings.ReplaceAll(text, "{{PG}}", strconv.Quote(db.dsn))
		}
		cfg := filepath.Join(e.tmp, t.Name+suffix+".Caddyfile")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			return nil, err
		}
		// Each process has its own data directory (the default accounting
		// database is a SQLite file in it).
		xdg := filepath.Join(e.tmp, "xdg-"+t.Name+suffix)
		env := append([]string{"XDG_CONFIG_HOME=" + xdg, "XDG_DATA_HOME=" + xdg}, t.Env...)
		p, err := startProc(t.Name, port, filepath.Join(e.tmp, t.Name+suffix+".log"), env, 20*time.Second,
			e.caddyBin, "run", "--config", cfg, "--adapter", "caddyfile")
		if p != nil {
			p.pg, p.admin = db, admin
		}
		return p, err
	case "portkey":
		if e.portkeyJS == "" {
			return nil, errors.New("portkey not installed")
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		return startProc(t.Name, port, filepath.Join(e.tmp, t.Name+suffix+".log"), []string{"NODE_ENV=production"}, 40*time.Second,
			e.node, e.portkeyJS, fmt.Sprintf("--port=%d", port), "--headless")
	}
	return nil, fmt.Errorf("unknown target kind %q", t.Kind)
}

// procStatus reads VmRSS and VmHWM (KiB) from /proc/PID/status.
func procStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for key, dst := range map[string]*int64{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if v, ok := strings.CutPrefix(line, key); ok {
				fs := strings.Fields(v)
				if len(fs) > 0 {
					*dst, _ = strconv.ParseInt(fs[0], 10, 64)
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}

var clkTck = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}()

// statFields are the fields of /proc/PID/stat after the command name:
// [0] is the state (field 3 of proc(5)), [1] the parent pid, [11] utime,
// [12] stime, [13] cutime, [14] cstime.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// cpuTime is the user+system CPU time the process has used so far.
func cpuTime(pid int) time.Duration {
	fs := statFields(pid)
	if len(fs) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fs[11], 64)
	st, _ := strconv.ParseFloat(fs[12], 64)
	return time.Duration((ut + st) / clkTck * float64(time.Second))
}

// selfCPU is this process's user+system CPU time (the Go load generator).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time all processes have used so far (/proc/stat):
// user, nice, system and steal. Interrupt and softirq time are left out: the
// loopback traffic of the benchmark itself lands there without being charged
// to any of its processes.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fs := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fs) < 9 || fs[0] != "cpu" {
		return 0
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 8} {
		v, _ := strconv.ParseFloat(fs[i], 64)
		ticks += v
	}
	return time.Duration(ticks / clkTck * float64(time.Second))
}

func runCmd(ctx context.Context, dir string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
