#!/usr/bin/env bash
# The project-local PostGIS cluster under var/pg: its own port and socket, run as the
# `postgres` OS user with runuser. No systemd, nothing under /etc.
#   scripts/pg.sh start | stop | status | psql [args]
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(pwd)/var/pg
DATA=$ROOT/data
RUN=$ROOT/run
LOG=$ROOT/postgres.log
PORT=${NONGDI_PG_PORT:-54329}
DB=${NONGDI_PG_DB:-nongdi}
ROLE=${NONGDI_PG_USER:-nongdi}

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

case "${1:-start}" in
  start)
    mkdir -p "$ROOT" "$RUN"
    if [ "$(id -u)" -eq 0 ]; then
      chown -R postgres:postgres "$ROOT"
      # The postgres user must be able to reach var/pg: a clone under a private home
      # (e.g. /root, mode 700) gets search permission (o+x, not read) on its parents.
      dir=$(dirname "$ROOT")
      while [ "$dir" != "/" ]; do
        if ! runuser -u postgres -- test -x "$dir"; then
          echo "pg: granting search permission on $dir to reach the cluster"
          chmod o+x "$dir"
        fi
        dir=$(dirname "$dir")
      done
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      echo "pg: initialising cluster in $DATA"
      # Loopback and socket only, trust auth: a developer's local cluster, never a server.
      as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PORT -k $RUN -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=512MB -c work_mem=64MB -c maintenance_work_mem=256MB -c max_wal_size=4GB" \
        start >/dev/null
    fi
    PSQL=/usr/bin/psql
    q() { as_pg env PGOPTIONS="-c client_min_messages=warning" "$PSQL" -h "$RUN" -p "$PORT" -U postgres -d "${2:-postgres}" -v ON_ERROR_STOP=1 -qtAc "$1"; }
    if [ "$(q "SELECT 1 FROM pg_roles WHERE rolname='$ROLE'")" != 1 ]; then
      # Superuser so that the test runner can create test databases with the postgis extension.
      q "CREATE ROLE $ROLE LOGIN SUPERUSER" >/dev/null
    fi
    if [ "$(q "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
      q "CREATE DATABASE $DB OWNER $ROLE" >/dev/null
    fi
    q "CREATE EXTENSION IF NOT EXISTS postgis" "$DB" >/dev/null
    ;;
  stop)
    if [ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
      echo "pg: stopped"
    else
      echo "pg: not running"
    fi
    ;;
  status)
    as_pg "$PGBIN/pg_ctl" -D "$DATA" status
    ;;
  psql)
    shift
    exec /usr/bin/psql -h "$RUN" -p "$PORT" -U "$ROLE" -d "$DB" "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|psql" >&2
    exit 2
    ;;
esac
