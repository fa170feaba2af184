#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and prints the line that
# points them at it:
#
#	eval "$(bash .ci/postgres.sh)"
#	go test ./usage/...
#
# It installs PostgreSQL with apt-get when initdb is missing, creates the
# cluster in $POLYGATE_PG_DIR (default /tmp/polygate-pg) as the postgres user
# when run as root, and starts it on 127.0.0.1 at the first free port from
# $POLYGATE_PG_PORT (default 54329) with fsync off. Running it again while the
# cluster is up only prints the line again. `bash .ci/postgres.sh stop` stops
# the cluster. Everything except the export line goes to standard error.
set -euo pipefail

PGDIR="${POLYGATE_PG_DIR:-/tmp/polygate-pg}"
PORT="${POLYGATE_PG_PORT:-54329}"
DBNAME=polygate
DATA="$PGDIR/data"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
	local initdb
	if initdb="$(command -v initdb 2>/dev/null)"; then
		dirname "$(readlink -f "$initdb")"
		return 0
	fi
	local dir
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$dir/initdb" ]; then
			echo "$dir"
			return 0
		fi
	done
	return 1
}

if ! BINDIR="$(find_bindir)"; then
	log "initdb not found; installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
	BINDIR="$(find_bindir)"
fi

# as_pg runs a command as the cluster's owner: postgres when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

dsn() { echo "postgres://postgres@127.0.0.1:$1/$DBNAME?sslmode=disable"; }

if [ "${1:-}" = stop ]; then
	if [ -f "$DATA/postmaster.pid" ]; then
		as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >&2 || true
	fi
	exit 0
fi

# Already running: print the line again.
if [ -f "$PGDIR/port" ] && [ -f "$DATA/postmaster.pid" ] &&
	as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
	port="$(cat "$PGDIR/port")"
	if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
		echo "export POLYGATE_TEST_POSTGRES='$(dsn "$port")'"
		exit 0
	fi
fi

mkdir -p "$PGDIR"
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$PGDIR"
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
	rm -rf "$DATA"
	log "creating cluster in $DATA"
	as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 \
		--locale=C --no-sync >/dev/null
fi

# A stale pid file from a killed cluster would stop pg_ctl start.
if [ -f "$DATA/postmaster.pid" ] && ! as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
	rm -f "$DATA/postmaster.pid"
fi

port="$PORT"
for _ in $(seq 1 20); do
	if ! port_busy "$port"; then
		break
	fi
	port=$((port + 1))
done
if port_busy "$port"; then
	log "no free port from $PORT"
	exit 1
fi

log "starting PostgreSQL on 127.0.0.1:$port"
as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 \
	-o "-p $port -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
	start >&2
echo "$port" >"$PGDIR/port"

PSQL="$BINDIR/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql)"
exists="$(as_pg "$PSQL" -h 127.0.0.1 -p "$port" -U postgres -tAc \
	"SELECT 1 FROM pg_database WHERE datname = '$DBNAME'" postgres)"
if [ "$exists" != 1 ]; then
	as_pg "$PSQL" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE $DBNAME" postgres >&2
fi

echo "export POLYGATE_TEST_POSTGRES='$(dsn "$port")'"
