package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver, to create schemas and count usage rows
)

// PostgreSQL for ai_gateway_pg and the writer: found once per run, and every
// user (a target, the direct writer) gets a fresh schema, dropped at the end,
// so concurrent test suites on the same cluster neither see nor disturb the
// rows counted here.

type pgState struct {
	once       sync.Once
	flag       string // -postgres
	base       string // server URL
	err        error  // why there is none
	postmaster int    // server pid when it runs on this machine, for its CPU time
	admin      *sql.DB

	mu  sync.Mutex
	dbs map[string]*pgDB
}

// pgDB is one schema of the server.
type pgDB struct {
	schema     string
	dsn        string // the server URL with search_path=schema
	db         *sql.DB
	postmaster int
}

var psExport = regexp.MustCompile(`export POLYGATE_TEST_POSTGRES='([^']+)'`)

// postgres returns the server URL: -postgres, $POLYGATE_TEST_POSTGRES, or
// the cluster .ci/postgres.sh starts (or finds running).
func (e *env) postgres() (string, error) {
	ps := &e.pg
	ps.once.Do(func() {
		ps.base, ps.err = findPostgres(e, ps.flag)
		if ps.err != nil {
			e.note("no PostgreSQL (%v): ai_gateway_pg and the PostgreSQL writer are n/a", ps.err)
			return
		}
		ps.admin, ps.err = sql.Open("postgres", ps.base)
		if ps.err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ps.err = ps.admin.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&ps.postmaster)
			cancel()
		}
		if ps.err != nil {
			ps.err = fmt.Errorf("connecting to %s: %v", redactURL(ps.base), ps.err)
			e.note("%v: ai_gateway_pg and the PostgreSQL writer are n/a", ps.err)
			return
		}
		// The backend's parent is the postmaster, when the server is local.
		ps.postmaster = parentPID(ps.postmaster)
		where := "its CPU time is counted as the benchmark's own during ai_gateway_pg runs"
		if ps.postmaster <= 1 {
			ps.postmaster = 0
			where = "not on this machine as far as /proc shows: its CPU time is not accounted"
		}
		e.note("PostgreSQL: %s (%s; one fresh schema per target, dropped at the end)", redactURL(ps.base), where)
	})
	return ps.base, ps.err
}

func findPostgres(e *env, flagURL string) (string, error) {
	if flagURL != "" {
		return flagURL, nil
	}
	if v := os.Getenv("POLYGATE_TEST_POSTGRES"); v != "" {
		return v, nil
	}
	logf("starting PostgreSQL: bash .ci/postgres.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := runCmd(ctx, e.root, "bash", ".ci/postgres.sh")
	m := psExport.FindStringSubmatch(out)
	if m == nil {
		if err == nil {
			err = errors.New("no export line")
		}
		return "", fmt.Errorf("bash .ci/postgres.sh: %v: %s", err, shorten(out, 200))
	}
	return m[1], nil
}

// pgFor returns the schema of user (a target name or "writer"), created on
// first use.
func (e *env) pgFor(user string) (*pgDB, error) {
	base, err := e.postgres()
	if err != nil {
		return nil, err
	}
	ps := &e.pg
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if d := ps.dbs[user]; d != nil {
		return d, nil
	}
	schema := fmt.Sprintf("bench_%s_%06x", regexp.MustCompile(`[^a-z0-9_]`).ReplaceAllString(strings.ToLower(user), "_"), rand.Uint32()&0xffffff)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("PostgreSQL must be given as a postgres:// URL, not %q", redactURL(base))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if _, err := ps.admin.Exec("CREATE SCHEMA " + schema); err != nil {
		return nil, fmt.Errorf("creating schema %s: %v", schema, err)
	}
	d := &pgDB{schema: schema, dsn: u.String(), postmaster: ps.postmaster}
	if d.db, err = sql.Open("postgres", d.dsn); err != nil {
		return nil, err
	}
	d.db.SetMaxOpenConns(1)
	if ps.dbs == nil {
		ps.dbs = map[string]*pgDB{}
	}
	ps.dbs[user] = d
	return d, nil
}

// dropSchemas drops every schema this run created (the targets using them
// are stopped by then).
func (e *env) dropSchemas() {
	ps := &e.pg
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for user, d := range ps.dbs {
		d.db.Close()
		if _, err := ps.admin.Exec("DROP SCHEMA IF EXISTS " + d.schema + " CASCADE"); err != nil {
			logf("dropping schema %s: %v", d.schema, err)
		}
		delete(ps.dbs, user)
	}
}

// count is the number of usage rows in the schema (0 before the gateway
// has migrated it).
func (d *pgDB) count() (int64, error) {
	var n int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM polygate_usage").Scan(&n)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return 0, nil
	}
	return n, err
}

// settle polls the row count until it has not changed for quiet (longer
// than the writer's flush interval, 1 s) and returns it with the time it
// was first seen: when the last row became visible, to the poll's
// resolution (20 ms).
func (d *pgDB) settle(quiet time.Duration) (int64, time.Time, error) {
	n, err := d.count()
	seen := time.Now()
	for limit := time.Now().Add(60 * time.Second); err == nil && time.Since(seen) < quiet; {
		if time.Now().After(limit) {
			return n, seen, fmt.Errorf("usage rows still growing after 60 s (%d)", n)
		}
		time.Sleep(20 * time.Millisecond)
		var m int64
		if m, err = d.count(); err == nil && m != n {
			n, seen = m, time.Now()
		}
	}
	return n, seen, err
}

// dbCPU is the CPU time the PostgreSQL server of the process's schema has
// used so far (0 for processes without one, or a server elsewhere).
func (p *proc) dbCPU() time.Duration {
	if p == nil || p.pg == nil || p.pg.postmaster == 0 {
		return 0
	}
	return treeCPU(p.pg.postmaster)
}

// treeCPU is the CPU time of pid, its children that it has reaped, and its
// live children: for the postmaster, the whole server (backends come and
// go; an exited one's time moves into the postmaster's cutime/cstime).
func treeCPU(pid int) time.Duration {
	fs := statFields(pid)
	if len(fs) < 15 {
		return 0
	}
	ticks := 0.0
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseFloat(fs[i], 64)
		ticks += v
	}
	ents, _ := os.ReadDir("/proc")
	want := strconv.Itoa(pid)
	for _, ent := range ents {
		child, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if cf := statFields(child); len(cf) > 12 && cf[1] == want {
			ut, _ := strconv.ParseFloat(cf[11], 64)
			st, _ := strconv.ParseFloat(cf[12], 64)
			ticks += ut + st
		}
	}
	return time.Duration(ticks / clkTck * float64(time.Second))
}

func parentPID(pid int) int {
	fs := statFields(pid)
	if len(fs) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fs[1])
	return ppid
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return s
}

// writerRun is bench/bin/writer's answer.
type writerRun struct {
	Records   int     `json:"records"`
	Written   int64   `json:"written"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	QueueSecs float64 `json:"queue_seconds"`
	Error     string  `json:"error"`
	Rows      int64   `json:"-"` // counted in the database afterwards (PostgreSQL)
}

// runWriter runs bench/bin/writer against database, with its own spill
// directory name (a spill file left by one run must not be replayed into
// another database).
func (e *env) runWriter(name, database string, records int) writerRun {
	if _, err := os.Stat(e.writerBin); err != nil {
		return writerRun{Error: "bench/bin/writer missing"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := runCmd(ctx, e.root, e.writerBin, "-database", database, "-records", strconv.Itoa(records),
		"-spill-dir", filepath.Join(e.tmp, "writer-spill-"+name))
	var w writerRun
	i := strings.Index(out, "BENCHJSON ")
	if i < 0 {
		return writerRun{Error: fmt.Sprintf("writer: %v: %s", err, logTailText(out))}
	}
	line, _, _ := strings.Cut(out[i+len("BENCHJSON "):], "\n")
	if jerr := json.Unmarshal([]byte(line), &w); jerr != nil {
		return writerRun{Error: "writer: bad result " + shorten(line, 200)}
	}
	return w
}

func logTailText(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return shorten(lines[len(lines)-1], 200)
}

// usageCount is what a scenario left in a target's usage table.
type usageCount struct {
	scenario, target string
	prs              []*preparedRow // the scenario's rows on the target (one process, one table)
	before, after    int64
	served0, served  int // requests completed by those rows before, and during, the scenario
	err              string
}

// servedBy is the requests the rows completed so far.
func servedBy(prs []*preparedRow) int {
	n := 0
	for _, pr := range prs {
		n += pr.served
	}
	return n
}

// usageRowsBefore counts the usage rows of the scenario's rows that have a
// PostgreSQL schema, once the writer has flushed everything before.
func (rn *runner) usageRowsBefore(s *Scenario, prs []*preparedRow) []*usageCount {
	var out []*usageCount
	byTarget := map[string]*usageCount{}
	for _, pr := range prs {
		if pr.err != "" || pr.p.pg == nil {
			continue
		}
		if uc := byTarget[pr.Target]; uc != nil {
			uc.prs = append(uc.prs, pr)
			uc.served0 += pr.served
			continue
		}
		n, _, err := pr.p.pg.settle(1500 * time.Millisecond)
		uc := &usageCount{scenario: s.Name, target: pr.Target, prs: []*preparedRow{pr}, before: n, served0: pr.served}
		if err != nil {
			uc.err = err.Error()
		}
		byTarget[pr.Target] = uc
		out = append(out, uc)
	}
	return out
}

// usageRowsAfter counts them again once they stop growing.
func (rn *runner) usageRowsAfter(counts []*usageCount) {
	for _, uc := range counts {
		n, _, err := uc.prs[0].p.pg.settle(1500 * time.Millisecond)
		uc.after, uc.served = n, servedBy(uc.prs)-uc.served0
		if err != nil && uc.err == "" {
			uc.err = err.Error()
		}
		logf("[%s] %s: %d usage rows for %d completed requests", uc.scenario, uc.target, uc.after-uc.before, uc.served)
		rn.rep.usage = append(rn.rep.usage, uc)
	}
}

// writerResult is the writer phase.
type writerResult struct {
	// Through the gateway: rows written while wrk sent requests at c=64 for
	// load, over the time from the first request to the last row visible.
	e2eErr     string
	load       time.Duration
	rows       int64
	served     int
	secs       float64 // first request → last row visible
	tail       float64 // end of the load → last row visible
	gatewayRPS float64
	dbCPU      time.Duration
	// bench/bin/writer on its own.
	pg, sqlite writerRun
}

func (w *writerResult) e2eRate() float64 { return float64(w.rows) / w.secs }

// writerPhase measures usage records per second into PostgreSQL through
// ai_gateway_pg (pr, nil when that target is not selected), then with
// bench/bin/writer alone (PostgreSQL, and SQLite for comparison).
func (rn *runner) writerPhase(pr *preparedRow) *writerResult {
	e, o := rn.e, rn.o
	w := &writerResult{load: time.Duration(max(3, 2*wrkSeconds(o.duration))) * time.Second}
	switch {
	case pr == nil:
		w.e2eErr = "target ai_gateway_pg not selected"
	case pr.err != "":
		w.e2eErr = pr.err
	default:
		db := pr.p.pg
		c0, _, err := db.settle(1500 * time.Millisecond)
		if err != nil {
			w.e2eErr = err.Error()
			break
		}
		served0 := pr.served
		t0 := time.Now()
		m := rn.measure(pr, 64, w.load, false, 0)
		t1 := time.Now()
		if m.Err != "" {
			w.e2eErr = m.Err
			break
		}
		c1, last, err := db.settle(1500 * time.Millisecond)
		if err != nil {
			w.e2eErr = err.Error()
			break
		}
		w.rows, w.served, w.secs, w.tail = c1-c0, pr.served-served0, last.Sub(t0).Seconds(), last.Sub(t1).Seconds()
		w.gatewayRPS, w.dbCPU = m.RPS, m.DBCPU
		logf("[writer] through ai_gateway_pg: %d rows in %.2fs (first request → last row visible, %.2fs after the last): %.0f records/s; gateway %.0f req/s",
			w.rows, w.secs, w.tail, w.e2eRate(), w.gatewayRPS)
	}

	if db, err := e.pgFor(writerPhase); err != nil {
		w.pg.Error = err.Error()
	} else {
		logf("[writer] bench/bin/writer → PostgreSQL, %d records", o.writerRecs)
		w.pg = e.runWriter("postgres", db.dsn, o.writerRecs)
		if w.pg.Error == "" {
			if n, err := db.count(); err != nil {
				w.pg.Error = "counting rows: " + err.Error()
			} else {
				w.pg.Rows = n
			}
		}
		logf("[writer]   %.0f records/s (%s)", w.pg.PerSecond, w.pg.Error)
	}
	logf("[writer] bench/bin/writer → SQLite, %d records", o.writerRecs)
	w.sqlite = e.runWriter("sqlite", "sqlite://"+filepath.Join(e.tmp, "writer-sqlite", "usage.db"), o.writerRecs)
	w.sqlite.Rows = -1
	logf("[writer]   %.0f records/s (%s)", w.sqlite.PerSecond, w.sqlite.Error)
	return w
}
