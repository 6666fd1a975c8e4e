#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer for Maestro; start them when they do not.
#
#   scripts/services.sh up     ensure both services answer (idempotent), writing .env on first use; also ensures
#                              the optional runtime database role (see ensure_runtime_role) where it can
#   scripts/services.sh down   stop the services that `up` started (and only those)
#   scripts/services.sh status print what answers
#   scripts/services.sh browser make sure Chromium is installed for the browser tests (apt-get as root)
#   scripts/services.sh tools  optional test tools, installed with apt-get as root, skipped with a note otherwise (the
#                              tests then fall back to a structural check): promtool (Debian package prometheus)
#                              validates the alert rules, amtool (prometheus-alertmanager) the Alertmanager config,
#                              caddy runs deploy/caddy/Caddyfile in front of a test server
#
# Order of preference:
#   1. DATABASE_URL / REDIS_URL from the environment or .env, when they answer.
#   2. As root: the Debian PostgreSQL cluster (pg_ctlcluster; apt-get installs postgresql if missing) and a
#      redis-server (apt-get installs redis-server if missing), run with a project-local config under .local/.
#   3. As non-root: a project-local PostgreSQL cluster (initdb) and redis-server under .local/.
# Generated credentials (database password, SECRET_KEY) go to .env, which git ignores. As root, the database
# credentials are also kept in ~/.config/maestro/database.env so other checkouts reuse them instead of resetting them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
ENV_FILE="$ROOT/.env"
STARTED="$LOCAL/started"
# As root, the Debian cluster serves every checkout on this machine; its generated credentials are kept here.
SHARED_DB_ENV="${XDG_CONFIG_HOME:-$HOME/.config}/maestro/database.env"
mkdir -p "$LOCAL"

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = "0" ]; }

gen_secret() { python3 -c "import secrets,sys; print(secrets.token_urlsafe(int(sys.argv[1])))" "$1"; }

# Read KEY from .env (without sourcing arbitrary shell).
env_get() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}
env_set() {
  touch "$ENV_FILE"; chmod 600 "$ENV_FILE"
  if grep -q "^$1=" "$ENV_FILE"; then
    python3 - "$ENV_FILE" "$1" "$2" <<'PY'
import sys
path, key, value = sys.argv[1:]
lines = open(path).read().splitlines()
lines = [f"{key}={value}" if line.startswith(key + "=") else line for line in lines]
open(path, "w").write("\n".join(lines) + "\n")
PY
  else
    printf '%s=%s\n' "$1" "$2" >>"$ENV_FILE"
  fi
}

# Split a postgres URL into shell variables PGU_USER PGU_PASS PGU_HOST PGU_PORT PGU_DB.
parse_db_url() {
  eval "$(python3 - "$1" <<'PY'
import shlex, sys
from urllib.parse import urlsplit, unquote
u = urlsplit(sys.argv[1])
vals = {
    "PGU_USER": unquote(u.username or ""), "PGU_PASS": unquote(u.password or ""),
    "PGU_HOST": u.hostname or "127.0.0.1", "PGU_PORT": str(u.port or 5432),
    "PGU_DB": u.path.lstrip("/") or "maestro",
}
for k, v in vals.items():
    print(f"{k}={shlex.quote(v)}")
PY
)"
}

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  command -v postgres >/dev/null 2>&1 && { dirname "$(command -v postgres)"; return 0; }
  return 1
}

db_answers() {
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}
redis_answers() {
  command -v redis-cli >/dev/null 2>&1 || return 1
  [ "$(timeout 3 redis-cli -u "$1" ping 2>/dev/null)" = "PONG" ]
}
mark_started() { grep -qx "$1" "$STARTED" 2>/dev/null || echo "$1" >>"$STARTED"; }

apt_install() {
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "$@" >"$LOCAL/apt.log" 2>&1; then
    apt-get update -qq >>"$LOCAL/apt.log" 2>&1 || true
    apt-get install -y -qq "$@" >>"$LOCAL/apt.log" 2>&1 || die "apt-get install $* failed; see $LOCAL/apt.log"
  fi
}

# ---------------------------------------------------------------- PostgreSQL
ensure_role_and_db_root() {
  # $PGU_* describe the wanted role/database; runs as the postgres OS user over the local socket.
  local port="$1"
  local q_user q_pass
  q_user=$(printf '%s' "$PGU_USER" | sed "s/'/''/g")
  q_pass=$(printf '%s' "$PGU_PASS" | sed "s/'/''/g")
  runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -Atq postgres <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$q_user') THEN
    CREATE ROLE "$PGU_USER" LOGIN CREATEDB PASSWORD '$q_pass';
  ELSE
    ALTER ROLE "$PGU_USER" LOGIN CREATEDB PASSWORD '$q_pass';
  END IF;
END \$\$;
SQL
  if [ -z "$(runuser -u postgres -- psql -p "$port" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$PGU_DB'" postgres)" ]; then
    runuser -u postgres -- createdb -p "$port" -O "$PGU_USER" "$PGU_DB"
  fi
}

start_postgres_root() {
  if ! pg_bin >/dev/null; then
    apt_install postgresql
  fi
  command -v pg_lsclusters >/dev/null || die "pg_lsclusters not found: install the Debian package postgresql-common"
  local line ver name port status
  line=$(pg_lsclusters --no-header 2>/dev/null | head -n 1 || true)
  if [ -z "$line" ]; then
    ver=$(basename "$(dirname "$(pg_bin)")")
    say "creating PostgreSQL cluster $ver/main"
    pg_createcluster "$ver" main >/dev/null
    line=$(pg_lsclusters --no-header | head -n 1)
  fi
  read -r ver name port status _ <<<"$line"
  if [ "$status" != "online" ]; then
    say "starting PostgreSQL cluster $ver/$name on port $port"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start \
      || die "could not start PostgreSQL $ver/$name; see /var/log/postgresql/postgresql-$ver-$name.log"
    mark_started "pgcluster $ver $name"
  fi
  PGU_PORT="$port"
  ensure_role_and_db_root "$port"
}

start_postgres_local() {
  local bin
  bin=$(pg_bin) || die "no PostgreSQL server binaries found. Install them (Debian/Ubuntu: sudo apt-get install postgresql) or set DATABASE_URL to a running server."
  local data="$LOCAL/pg/data" run="$LOCAL/pg/run"
  mkdir -p "$run"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "initialising a project-local PostgreSQL cluster in $data"
    local pwfile="$LOCAL/pg/pw"
    printf '%s\n' "$PGU_PASS" >"$pwfile"
    "$bin/initdb" -D "$data" -U "$PGU_USER" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 >"$LOCAL/pg/initdb.log" 2>&1 \
      || die "initdb failed; see $LOCAL/pg/initdb.log"
    rm -f "$pwfile"
  fi
  if ! "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "starting project-local PostgreSQL on 127.0.0.1:$PGU_PORT"
    "$bin/pg_ctl" -D "$data" -l "$LOCAL/pg/server.log" -w -t 30 \
      -o "-p $PGU_PORT -k $run -c listen_addresses=127.0.0.1" start >/dev/null \
      || die "could not start PostgreSQL; see $LOCAL/pg/server.log"
    mark_started "pglocal $data"
  fi
  PGPASSWORD="$PGU_PASS" psql -h 127.0.0.1 -p "$PGU_PORT" -U "$PGU_USER" -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$PGU_DB'" postgres | grep -q 1 \
    || PGPASSWORD="$PGU_PASS" "$bin/createdb" -h 127.0.0.1 -p "$PGU_PORT" -U "$PGU_USER" "$PGU_DB"
}

ensure_postgres() {
  local url="${DATABASE_URL:-$(env_get DATABASE_URL)}"
  if [ -n "$url" ] && db_answers "$url"; then
    say "PostgreSQL answers at ${url##*@}"
    return 0
  fi
  if [ -z "$url" ]; then
    if is_root && [ -f "$SHARED_DB_ENV" ]; then
      # The machine's PostgreSQL cluster is shared by every checkout: reuse the credentials generated first.
      url=$(sed -n 's/^DATABASE_URL=//p' "$SHARED_DB_ENV" | tail -n 1)
    fi
    if [ -z "$url" ]; then
      local port=5432
      is_root || port=54329
      url="postgres://maestro:$(gen_secret 18)@127.0.0.1:$port/maestro"
      if is_root; then
        mkdir -p "$(dirname "$SHARED_DB_ENV")"
        (umask 077; printf 'DATABASE_URL=%s\n' "$url" >"$SHARED_DB_ENV")
      fi
    fi
    env_set DATABASE_URL "$url"
  fi
  parse_db_url "$url"
  case "$PGU_HOST" in
    127.0.0.1|localhost|::1) ;;
    *) die "DATABASE_URL points at $PGU_HOST:$PGU_PORT, which does not answer. Start that server or unset DATABASE_URL." ;;
  esac
  [ -n "$PGU_USER" ] && [ -n "$PGU_PASS" ] || die "DATABASE_URL must carry a user and a password"
  if is_root; then start_postgres_root; else start_postgres_local; fi
  local final="postgres://$PGU_USER:$PGU_PASS@127.0.0.1:$PGU_PORT/$PGU_DB"
  if [ "$final" != "$url" ] && [ -z "${DATABASE_URL:-}" ]; then env_set DATABASE_URL "$final"; url="$final"; fi
  db_answers "$url" || die "PostgreSQL was started but $PGU_USER@127.0.0.1:$PGU_PORT/$PGU_DB does not answer; see $LOCAL/"
  say "PostgreSQL ready on 127.0.0.1:$PGU_PORT (database $PGU_DB)"
}

# ---------------------------------------------------------------- runtime database role (optional)
# The production split (docs/operations.md): web and workers connect as <owner>_app, which owns nothing and may
# only SELECT/INSERT the audit trail; `manage.py grant_runtime_role` gives it its privileges after migrations. Local
# runs keep using the owner (the platform admin creates and drops tenant schemas, which needs it); the role exists so
# the split can be tried (DATABASE_URL=$DATABASE_RUNTIME_URL) and so the tests can check the grants. The owner is
# made a member of the runtime role (it may SET ROLE to it, never the reverse). Created as the postgres superuser when
# root, or by the owner when it may create roles; otherwise skipped with a note.
ensure_runtime_role() {
  local url="${DATABASE_URL:-$(env_get DATABASE_URL)}"
  parse_db_url "$url"
  local role="${PGU_USER}_app" runtime_url pass=""
  runtime_url="${DATABASE_RUNTIME_URL:-$(env_get DATABASE_RUNTIME_URL)}"
  if [ -z "$runtime_url" ] && is_root && [ -f "$SHARED_DB_ENV" ]; then
    runtime_url=$(sed -n 's/^DATABASE_RUNTIME_URL=//p' "$SHARED_DB_ENV" | tail -n 1)
  fi
  if [ -n "$runtime_url" ]; then
    pass=$(python3 -c "import sys; from urllib.parse import urlsplit, unquote; print(unquote(urlsplit(sys.argv[1]).password or ''))" "$runtime_url")
  fi
  [ -n "$pass" ] || pass=$(gen_secret 18)
  local q_pass
  q_pass=$(printf '%s' "$pass" | sed "s/'/''/g")
  local sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE \"$role\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$q_pass';
  ELSE
    ALTER ROLE \"$role\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$q_pass';
  END IF;
END \$\$;
GRANT \"$role\" TO \"$PGU_USER\";"
  if is_root && runuser -u postgres -- psql -p "$PGU_PORT" -Atqc 'select 1' postgres >/dev/null 2>&1; then
    runuser -u postgres -- psql -p "$PGU_PORT" -v ON_ERROR_STOP=1 -Atq postgres <<<"$sql" >/dev/null
  elif [ "$(psql "$url" -Atqc "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user" 2>/dev/null)" = "t" ]; then
    psql "$url" -v ON_ERROR_STOP=1 -Atq <<<"$sql" >/dev/null
  else
    say "NOTE: no runtime database role ($PGU_USER may not create roles); the role-split tests will be skipped"
    return 0
  fi
  runtime_url="postgres://$role:$pass@$PGU_HOST:$PGU_PORT/$PGU_DB"
  if is_root && [ -f "$SHARED_DB_ENV" ] && ! grep -q '^DATABASE_RUNTIME_URL=' "$SHARED_DB_ENV"; then
    (umask 077; printf 'DATABASE_RUNTIME_URL=%s\n' "$runtime_url" >>"$SHARED_DB_ENV")
  fi
  [ "$(env_get DATABASE_RUNTIME_URL)" = "$runtime_url" ] || env_set DATABASE_RUNTIME_URL "$runtime_url"
  [ "$(env_get DATABASE_RUNTIME_ROLE)" = "$role" ] || env_set DATABASE_RUNTIME_ROLE "$role"
  say "runtime database role $role ready (grants: manage.py grant_runtime_role, after migrations)"
}

# ---------------------------------------------------------------- Redis
ensure_redis() {
  local url="${REDIS_URL:-$(env_get REDIS_URL)}"
  url="${url:-redis://127.0.0.1:6379/0}"
  if redis_answers "$url"; then
    say "Redis answers at $url"
    [ -n "$(env_get REDIS_URL)" ] || [ -n "${REDIS_URL:-}" ] || env_set REDIS_URL "$url"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    if is_root; then apt_install redis-server; else
      die "redis-server not found. Install it (Debian/Ubuntu: sudo apt-get install redis-server) or set REDIS_URL to a running server."
    fi
  fi
  local port
  port=$(python3 -c "import sys; from urllib.parse import urlsplit; print(urlsplit(sys.argv[1]).port or 6379)" "$url")
  mkdir -p "$LOCAL/redis"
  say "starting redis-server on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$LOCAL/redis" \
    --pidfile "$LOCAL/redis/redis.pid" --logfile "$LOCAL/redis/redis.log" --save "" --appendonly no \
    || die "redis-server failed to start; see $LOCAL/redis/redis.log"
  mark_started "redis $LOCAL/redis/redis.pid"
  local i
  for i in $(seq 1 50); do redis_answers "$url" && break; sleep 0.1; done
  redis_answers "$url" || die "redis-server started but $url does not answer; see $LOCAL/redis/redis.log"
  [ -n "$(env_get REDIS_URL)" ] || [ -n "${REDIS_URL:-}" ] || env_set REDIS_URL "$url"
  say "Redis ready at $url"
}

ensure_secret_key() {
  [ -n "${SECRET_KEY:-}" ] || [ -n "$(env_get SECRET_KEY)" ] || env_set SECRET_KEY "$(gen_secret 48)"
  # A Fernet key for secrets kept encrypted at rest (SSO client secrets; maestro/encryption.py).
  [ -n "${MAESTRO_ENCRYPTION_KEYS:-}" ] || [ -n "$(env_get MAESTRO_ENCRYPTION_KEYS)" ] || env_set MAESTRO_ENCRYPTION_KEYS \
    "$(python3 -c "import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")"
}

ensure_browser() {
  local bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
  if [ -x "$bin" ]; then say "Chromium: $bin"; return 0; fi
  if is_root; then apt_install chromium; say "Chromium: installed /usr/bin/chromium"; else
    say "WARNING: Chromium not found at $bin; browser tests will be skipped. Install it (sudo apt-get install chromium) or set CHROMIUM_PATH."
  fi
}

ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then say "promtool: $(command -v promtool)"; return 0; fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    # Optional: a failed install only costs the promtool checks, never the test run.
    if (apt_install prometheus) && command -v promtool >/dev/null 2>&1; then
      # The package starts a Prometheus server where init scripts may run; the tests only need promtool.
      if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
        systemctl stop prometheus >/dev/null 2>&1 || true
      fi
      say "promtool: installed $(command -v promtool)"
      return 0
    fi
  fi
  say "NOTE: promtool not available (Debian/Ubuntu: sudo apt-get install prometheus); alert rules get a structural check only."
}

# An optional test tool from a Debian package; the service some packages start (where an init system runs) is stopped.
ensure_tool() {
  local binary="$1" package="$2" purpose="$3"
  if command -v "$binary" >/dev/null 2>&1; then say "$binary: $(command -v "$binary")"; return 0; fi
  if is_root && command -v apt-get >/dev/null 2>&1 && (apt_install "$package") && command -v "$binary" >/dev/null 2>&1; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$package" 2>/dev/null; then
      systemctl stop "$package" >/dev/null 2>&1 || true
    fi
    say "$binary: installed $(command -v "$binary")"
    return 0
  fi
  say "NOTE: $binary not available (Debian/Ubuntu: sudo apt-get install $package); $purpose"
}

down() {
  [ -f "$STARTED" ] || { say "nothing was started by this project"; return 0; }
  local kind a b
  while read -r kind a b; do
    case "$kind" in
      redis) if [ -f "$a" ]; then kill "$(cat "$a")" 2>/dev/null && say "stopped redis-server"; fi ;;
      pgcluster) pg_ctlcluster --skip-systemctl-redirect "$a" "$b" stop && say "stopped PostgreSQL $a/$b" ;;
      pglocal) "$(pg_bin)/pg_ctl" -D "$a" -m fast stop >/dev/null && say "stopped project-local PostgreSQL" ;;
    esac
  done <"$STARTED"
  rm -f "$STARTED"
}

case "${1:-up}" in
  up)
    ensure_secret_key
    ensure_postgres
    ensure_runtime_role
    ensure_redis
    ;;
  browser) ensure_browser ;;
  tools)
    ensure_promtool
    ensure_tool amtool prometheus-alertmanager "the Alertmanager config gets a structural check only."
    ensure_tool caddy caddy "the Caddyfile is not run in front of a test server."
    ;;
  down) down ;;
  status)
    url="${DATABASE_URL:-$(env_get DATABASE_URL)}"
    if [ -n "$url" ] && db_answers "$url"; then say "PostgreSQL: up"; else say "PostgreSQL: down"; fi
    url="${REDIS_URL:-$(env_get REDIS_URL)}"
    if redis_answers "${url:-redis://127.0.0.1:6379/0}"; then say "Redis: up"; else say "Redis: down"; fi
    ;;
  *) die "usage: $0 up|down|status|browser|tools" ;;
esac
