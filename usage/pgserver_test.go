package usage

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// ownPostgres starts a PostgreSQL server of the test's own, in a temporary
// cluster, so that the test can stop and restart the server itself (the
// shared server of POLYGATE_TEST_POSTGRES serves other tests meanwhile). It
// needs initdb and pg_ctl (on PATH or in /usr/lib/postgresql/*/bin, as
// .ci/postgres.sh installs them) and, as root, the postgres user. It skips
// where PostgreSQL tests are off.
func ownPostgres(t *testing.T) breaker {
	t.Helper()
	if os.Getenv("POLYGATE_TEST_POSTGRES") == "" {
		t.Skip("POLYGATE_TEST_POSTGRES not set (eval \"$(bash .ci/postgres.sh)\")")
	}
	bin := postgresBinDir()
	if bin == "" {
		t.Skip("initdb and pg_ctl not found")
	}
	dir, err := os.MkdirTemp("", "polygate-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// asOwner runs a PostgreSQL program as the cluster's owner: postgres
	// when we are root (PostgreSQL refuses to run as root).
	asOwner := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
		return exec.Command(filepath.Join(bin, name), args...)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	run := func(cmd *exec.Cmd) {
		t.Helper()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out.String())
		}
	}
	run(asOwner("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"))
	port := freeTCPPort(t)
	start := func() {
		run(asOwner("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
			"-o", "-p "+strconv.Itoa(port)+" -k "+dir+" -c listen_addresses=127.0.0.1 -c fsync=off", "start"))
	}
	stop := func() { run(asOwner("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")) }
	start()
	t.Cleanup(func() { _ = asOwner("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run() })
	dsn := "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable&connect_timeout=2"
	return breaker{db: dsn, cut: stop, restore: start}
}

// postgresBinDir finds the directory of initdb and pg_ctl.
func postgresBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "pg_ctl")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
