#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the running-Airflow test (its metadata DB), from the
# Debian packages scripts/test-tools.sh installs (postgresql: initdb, pg_ctl).
#
#   scripts/postgres.sh start    # initdb once, start on RECLAKE_PG_PORT, create the database, wait until ready
#   scripts/postgres.sh status   # running or not
#   scripts/postgres.sh stop     # stop what `start` started (pg_ctl stop -m fast), wait until gone
#
# State lives in $RECLAKE_PG_DIR (default ./.postgres, git-ignored): the cluster's data, its socket and log.
# PostgreSQL refuses to run as root: as root, the cluster is owned by and runs as $RECLAKE_PG_USER
# (default nobody), in a folder of its own under /tmp (the path in $RECLAKE_PG_DIR/datadir), since a
# root-only test folder cannot be entered by that user. Trust authentication on loopback only: a test DB.
# The database is $RECLAKE_PG_DB (default airflow), user postgres: postgresql://postgres@127.0.0.1:PORT/DB.
set -euo pipefail

state="${RECLAKE_PG_DIR:-.postgres}"
port="${RECLAKE_PG_PORT:-5432}"
db="${RECLAKE_PG_DB:-airflow}"
run_as="${RECLAKE_PG_USER:-nobody}"
timeout_s="${RECLAKE_PG_TIMEOUT:-60}"
bin="${RECLAKE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

die() { echo "postgres: $*" >&2; exit 1; }

# Runs a PostgreSQL tool as the cluster's owner (as root, $run_as; else whoever runs this).
as_owner() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --clear-groups "$@"; else "$@"; fi
}

data_dir() {
  if [ -f "$state/datadir" ]; then cat "$state/datadir"; return; fi
  local dir
  if [ "$(id -u)" = 0 ]; then
    dir="$(mktemp -d /tmp/reclake-postgres.XXXXXX)" && chown "$run_as" "$dir"
  else
    dir="$(cd "$state" && pwd)/data" && mkdir -p "$dir"
  fi
  echo "$dir" >"$state/datadir"
  echo "$dir"
}

alive() { [ -f "$state/datadir" ] && as_owner "$bin/pg_ctl" status -D "$(cat "$state/datadir")/pg" >/dev/null 2>&1; }

start() {
  [ -x "$bin/initdb" ] || die "no PostgreSQL server found (/usr/lib/postgresql/*/bin): run scripts/test-tools.sh"
  mkdir -p "$state"
  local data
  data="$(data_dir)"
  if alive; then
    echo "postgres: already running on 127.0.0.1:$port ($data)" >&2
    return
  fi
  if [ ! -f "$data/pg/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$data/pg" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$data/initdb.log" 2>&1 \
      || die "initdb failed; see $data/initdb.log"
  fi
  # fsync off: a throwaway test DB, whose durability nothing relies on. Its socket in its own folder.
  as_owner "$bin/pg_ctl" start -D "$data/pg" -l "$data/postgres.log" -w -t "$timeout_s" \
    -o "-h 127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || die "did not start; see $data/postgres.log"
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres \
    | grep -q 1 || "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db" || die "could not create database $db"
  echo "postgres: 127.0.0.1:$port up, database $db ($data)" >&2
}

stop() {
  if [ -f "$state/datadir" ]; then
    local data
    data="$(cat "$state/datadir")"
    alive && as_owner "$bin/pg_ctl" stop -D "$data/pg" -m fast -w -t 30 >/dev/null 2>&1 || true
    [ "$(id -u)" = 0 ] && rm -rf "$data"
    rm -f "$state/datadir"
  fi
  echo "postgres: stopped" >&2
}

status() {
  if alive; then echo "postgres: running on 127.0.0.1:$port"; else echo "postgres: not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
