# Shared by the HTTP load scripts in this folder: start a release build of
# gatehouse on a fresh SQLite database in a temporary folder, wait until it
# is ready, and stop every server it started on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${GATEHOUSE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse}"
WORK="$(mktemp -d)"
export BENCH_LUA_DIR="$HERE"
PIDS=()

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --locked -p gatehouse-api --bin gatehouse)
fi

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME [ENV=VALUE ...]: starts an instance in its own folder
# under $WORK, with production password costs and login throttling off, and
# prints its base URL once /health/ready answers.
start_server() {
  local name="$1"; shift
  local dir="$WORK/$name" port
  port="$(free_port)"
  mkdir -p "$dir"
  (cd "$dir" && exec env \
    GATEHOUSE__SERVER__HOST=127.0.0.1 \
    GATEHOUSE__SERVER__PORT="$port" \
    GATEHOUSE__RATE_LIMIT__LOGIN_FAILURES=0 \
    GATEHOUSE__LOG__LEVEL=warn \
    "$@" "$BIN" >"$dir/server.log" 2>&1) &
  PIDS+=("$!")
  echo "$!" >"$dir/pid"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fs "$url/health/ready" >/dev/null 2>&1; then
      echo "$url"
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not become ready; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
}

# token URL USERNAME: registers USERNAME and prints an access token for it.
token() {
  local url="$1" user="$2" password="bench-password-1"
  curl -fs -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$password\"}" "$url/auth/register"
  curl -fs -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$password\"}" "$url/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# peak_rss_mib PID: the process's peak resident set (VmHWM) in MiB.
peak_rss_mib() {
  awk '/VmHWM/ { printf "%.0f\n", $2 / 1024 }' "/proc/$1/status"
}
