package usage

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "polygate-usage-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testLogger shows warnings and errors on stderr.
var testLogger = zap.New(zapcore.NewCore(
	zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	zapcore.Lock(os.Stderr), zap.WarnLevel))

var allDialects = []string{"sqlite", "postgres"}

// forEachDialect runs fn on a fresh database of each dialect; PostgreSQL
// only when POLYGATE_TEST_POSTGRES is set.
func forEachDialect(t *testing.T, fn func(t *testing.T, db string)) {
	t.Helper()
	for _, d := range allDialects {
		t.Run(d, func(t *testing.T) { fn(t, freshDB(t, d)) })
	}
}

// freshDB returns the Database setting of an empty database: a SQLite file
// in a temp dir, or a new PostgreSQL schema (dropped at the end).
func freshDB(t *testing.T, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return "sqlite://" + filepath.Join(t.TempDir(), "usage.db")
	}
	base := os.Getenv("POLYGATE_TEST_POSTGRES")
	if base == "" {
		t.Skip("POLYGATE_TEST_POSTGRES not set (eval \"$(bash .ci/postgres.sh)\")")
	}
	schema := "test_" + randomID(6)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	return withParam(base, "search_path", schema)
}

func isPostgres(db string) bool {
	return len(db) > 8 && db[:8] == "postgres"
}

func withParam(dsn, key, value string) string {
	if !isPostgres(dsn) {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// variant returns a setting for the same database that is another pool
// key, so that Open creates a second engine: a second instance.
func variant(db, name string) string {
	if isPostgres(db) {
		return withParam(db, "application_name", name)
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return withParam(db, "_pragma", fmt.Sprintf("cache_size(-%d)", 2000+h.Sum32()%1000))
}

// openService opens a Service released at the end of the test.
func openService(t *testing.T, cfg *Config) *Service {
	t.Helper()
	if cfg.SpillDir == "" {
		cfg.SpillDir = t.TempDir()
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.e.logger.Store(testLogger)
	t.Cleanup(func() { s.Release() })
	return s
}

// eventually polls cond until it holds; the deadline only guards against
// hanging, it is not what is tested.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitReady(t *testing.T, s *Service) {
	t.Helper()
	eventually(t, "database ready", s.e.ready.Load)
}

// countRecords counts the stored records, and the distinct request IDs.
func countRecords(t *testing.T, s *Service) (rows, distinct int) {
	t.Helper()
	err := s.e.db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM polygate_usage").Scan(&rows, &distinct)
	if err != nil {
		t.Fatalf("counting records: %v", err)
	}
	return rows, distinct
}

// flushAll writes everything buffered and spilled, retrying while the
// database is still coming back.
func flushAll(t *testing.T, s *Service) {
	t.Helper()
	eventually(t, "all records written", func() bool {
		err := s.Flush(context.Background())
		return err == nil && s.Stats().Buffered == 0 && len(s.e.w.spillFiles()) == 0
	})
}

func setNow(s *Service, t time.Time) { s.e.fixedNow.Store(t.UnixNano()) }

// breaker makes a database unreachable and reachable again: for
// PostgreSQL a TCP proxy in front of it is cut, for SQLite another
// connection holds the write lock.
type breaker struct {
	db      string
	cut     func()
	restore func()
}

func breakable(t *testing.T, dialect string) breaker {
	t.Helper()
	db := freshDB(t, dialect)
	if isPostgres(db) {
		u, _ := url.Parse(db)
		p := newProxy(t, u.Host)
		u.Host = p.addr
		q := u.Query()
		q.Set("connect_timeout", "2")
		u.RawQuery = q.Encode()
		return breaker{db: u.String(), cut: p.cut, restore: p.restore}
	}
	db = withParam(db, "_pragma", "busy_timeout(50)")
	var mu sync.Mutex
	var conn *sql.Conn
	var locker *sql.DB
	t.Cleanup(func() {
		if conn != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
		}
		if locker != nil {
			locker.Close()
		}
	})
	return breaker{
		db: db,
		cut: func() {
			mu.Lock()
			defer mu.Unlock()
			tg, err := parseTarget(db, "")
			if err != nil {
				t.Error(err)
				return
			}
			locker, err = sql.Open("sqlite", tg.dsn)
			if err != nil {
				t.Error(err)
				return
			}
			conn, err = locker.Conn(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			// The writer holds the lock in bursts; keep trying.
			for {
				if _, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err == nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		},
		restore: func() {
			mu.Lock()
			defer mu.Unlock()
			if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
				t.Error(err)
			}
			conn.Close()
			locker.Close()
			conn, locker = nil, nil
		},
	}
}

// proxy forwards TCP connections to a target until cut.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut closes the listener and every connection: the database is gone.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens again on the same address.
func (p *proxy) restore() {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Errorf("restoring proxy: %v", err)
		return
	}
	p.serve(ln)
}
