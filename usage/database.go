package usage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver "postgres"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"
)

//go:embed migrations
var migrationsFS embed.FS

// schemaTable is goose's version table; like every table of this package
// it carries the polygate_ prefix so the database can be shared.
const schemaTable = "polygate_schema_version"

// dialect holds what differs between PostgreSQL and SQLite.
type dialect struct {
	name   string // also the migrations directory
	driver string
	goose  goose.Dialect
	bind   int
	// nowMS is the database clock in Unix milliseconds. Counter rows are
	// stamped with it so that instances with skewed clocks agree.
	nowMS string
	// day renders a usage timestamp as YYYY-MM-DD (UTC).
	day string
}

var (
	postgresDialect = &dialect{
		name:   "postgres",
		driver: "postgres",
		goose:  goose.DialectPostgres,
		bind:   sqlx.DOLLAR,
		nowMS:  "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
		day:    "to_char(u.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
	}
	sqliteDialect = &dialect{
		name:   "sqlite",
		driver: "sqlite",
		goose:  goose.DialectSQLite3,
		bind:   sqlx.QUESTION,
		nowMS:  "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
		// Times are stored as "2006-01-02 15:04:05.999999999+00:00".
		day: "substr(u.ts, 1, 10)",
	}
)

// q rewrites a query written with ? placeholders for the dialect.
func (d *dialect) q(query string) string {
	return sqlx.Rebind(d.bind, query)
}

// target is a parsed Config.Database.
type target struct {
	dialect *dialect
	// dsn is what the driver opens; it may hold a password.
	dsn string
	// key identifies the database in the usage pool. It is dsn, never
	// shown anywhere.
	key string
	// name is how logs, errors and the admin API call the database: the
	// URL without its password, or "sqlite:" and the file path.
	name string
	// short is the PostgreSQL database name or the SQLite file path; the
	// admin API accepts it as ?database=.
	short string
	// tag prefixes spill and key-cache files. It does not depend on the
	// password, so a password rotation does not orphan spill files.
	tag string
}

// parseTarget parses a database setting whose placeholders are already
// resolved. dataDir is where the default SQLite file goes.
func parseTarget(raw, dataDir string) (*target, error) {
	raw = strings.TrimSpace(raw)
	lower := strings.ToLower(raw)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return parsePostgres(raw)
	}
	if strings.Contains(lower, "://") && !strings.HasPrefix(lower, "sqlite://") {
		scheme, _, _ := strings.Cut(raw, "://")
		return nil, fmt.Errorf("unsupported database scheme %q (want postgres:// or sqlite://)", scheme)
	}
	path := raw
	if rest, ok := strings.CutPrefix(raw, "sqlite://"); ok {
		path = rest
	} else if rest, ok := strings.CutPrefix(raw, "sqlite:"); ok {
		path = rest
	}
	var query string
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if path == "" {
		path = filepath.Join(dataDir, "polygate", "usage.db")
	}
	if path == ":memory:" {
		return nil, fmt.Errorf("sqlite: an in-memory database cannot hold usage; give a file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolving path %q: %v", path, err)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: parsing options of %q: %v", abs, err)
	}
	hasPragma := func(name string) bool {
		for _, p := range params["_pragma"] {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name) {
				return true
			}
		}
		return false
	}
	if !hasPragma("busy_timeout") && params.Get("_busy_timeout") == "" && params.Get("_timeout") == "" {
		params.Add("_pragma", "busy_timeout(10000)")
	}
	if !hasPragma("journal_mode") {
		params.Add("_pragma", "journal_mode(WAL)")
	}
	if !hasPragma("synchronous") {
		params.Add("_pragma", "synchronous(NORMAL)")
	}
	if params.Get("_time_format") == "" {
		params.Set("_time_format", "sqlite")
	}
	if params.Get("_txlock") == "" {
		params.Set("_txlock", "immediate")
	}
	dsn := abs + "?" + params.Encode()
	return &target{
		dialect: sqliteDialect,
		dsn:     dsn,
		key:     "sqlite:" + dsn,
		name:    "sqlite:" + abs,
		short:   abs,
		tag:     tagOf("sqlite:" + abs),
	}, nil
}

func parsePostgres(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the URL in its error; it may hold a password.
		return nil, errors.New("parsing database URL: not a valid postgres:// URL (not shown: it may hold a password)")
	}
	q := u.Query()
	shown := *u
	if _, ok := u.User.Password(); ok {
		shown.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q.Has("password") {
		sq := u.Query()
		sq.Set("password", "xxxxx")
		shown.RawQuery = sq.Encode()
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = u.User.Username()
	}
	ident := u.User.Username() + "@" + u.Host + "/" + db + "?search_path=" + q.Get("search_path") + "&options=" + q.Get("options")
	return &target{
		dialect: postgresDialect,
		dsn:     raw,
		key:     raw,
		name:    shown.String(),
		short:   db,
		tag:     tagOf("postgres:" + ident),
	}, nil
}

func tagOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// openDB opens a connection pool; it does not connect.
func openDB(t *target) (*sqlx.DB, error) {
	if t.dialect == sqliteDialect {
		// Best effort: a failure shows up, and is retried, when migrating.
		_ = os.MkdirAll(filepath.Dir(t.short), 0o700)
	}
	db, err := sql.Open(t.dialect.driver, t.dsn)
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %v", t.name, err)
	}
	if t.dialect == postgresDialect {
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(4)
	} else {
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return sqlx.NewDb(db, t.dialect.driver), nil
}

// sqliteMigrations serialises migrations of one SQLite file within the
// process; PostgreSQL uses an advisory lock instead, which also covers
// other processes. (Migrations are idempotent, so two processes migrating
// one SQLite file at once at worst fail once and retry.)
var sqliteMigrations sync.Map // path -> *sync.Mutex

// migrate applies the embedded migrations with goose. On PostgreSQL it
// holds a session advisory lock, so instances starting together apply
// each migration once.
func migrate(ctx context.Context, db *sql.DB, t *target) error {
	fsys, err := fs.Sub(migrationsFS, "migrations/"+t.dialect.name)
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{
		goose.WithTableName(schemaTable),
		goose.WithDisableGlobalRegistry(true),
	}
	if t.dialect == postgresDialect {
		h := fnv.New64a()
		h.Write([]byte("polygate/usage migrations"))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 600),
		)
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		mu, _ := sqliteMigrations.LoadOrStore(t.short, new(sync.Mutex))
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
	}
	p, err := goose.NewProvider(t.dialect.goose, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("preparing migrations: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating database %s: %v", t.name, err)
	}
	return nil
}
