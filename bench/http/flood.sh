#!/usr/bin/env bash
# A registration flood against the bounded password-hashing queue.
#
# wrk with CONNECTIONS (400) connections posts registrations, each with a
# username of its own, for DURATION (20) seconds. Meanwhile two light probes
# (curl, about ten requests a second each) call GET /health/live and
# GET /auth/protected. It prints the flood's answers per status (503 is
# `overloaded`), its latency percentiles and worst latency, the probes'
# statuses and latencies, and the server's peak RSS.
#
# usage: bench/http/flood.sh      (env: CONNECTIONS, THREADS, DURATION,
#                                  MAX_WAITING, GATEHOUSE_BIN)
. "$(dirname "$0")/common.sh"

CONNECTIONS="${CONNECTIONS:-400}"
THREADS="${THREADS:-2}"
DURATION="${DURATION:-20}"
MAX_WAITING="${MAX_WAITING:-64}"

url="$(start_server flood GATEHOUSE__PASSWORD__MAX_WAITING="$MAX_WAITING" ${EXTRA_ENV:-})"
server_pid="$(cat "$WORK/flood/pid")"
access_token="$(token "$url" probe_user)"

# probe PATH OUT [TOKEN]: one request every 0.1 s until the flood ends,
# one "status seconds" line per answer.
probe() {
  local path="$1" out="$2" auth=()
  [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  local until=$((SECONDS + DURATION - 2))
  while [ "$SECONDS" -lt "$until" ]; do
    curl -s -o /dev/null -m 10 "${auth[@]}" -w '%{http_code} %{time_total}\n' \
      "$url$path" >>"$out" || echo "000 10" >>"$out"
    sleep 0.1
  done
}

summarize() {
  python3 - "$1" "$2" <<'PY'
import collections, sys
name, path = sys.argv[1], sys.argv[2]
rows = [line.split() for line in open(path) if line.strip()]
statuses = collections.Counter(status for status, _ in rows)
times = sorted(float(t) * 1000 for _, t in rows)
pct = lambda p: times[min(len(times) - 1, int(len(times) * p))]
print(f"{name}: {len(rows)} requests, statuses "
      + " ".join(f"{s}={n}" for s, n in sorted(statuses.items()))
      + f", latency_ms p50={pct(0.5):.1f} p99={pct(0.99):.1f} max={times[-1]:.1f}")
PY
}

echo "flood: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s POST /auth/register," \
  "password.max_waiting=$MAX_WAITING, $(nproc) cores"
RUN_ID="flood$$" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s \
  -s "$HERE/register.lua" "$url" >"$WORK/flood.out" &
wrk_pid=$!
sleep 1
probe /health/live "$WORK/live.txt" &
live_pid=$!
probe /auth/protected "$WORK/protected.txt" "$access_token" &
protected_pid=$!
wait "$wrk_pid" "$live_pid" "$protected_pid"

grep -E '^(statuses|latency_ms|errors|Requests/sec)' "$WORK/flood.out" | sed 's/^/register: /'
summarize "GET /health/live" "$WORK/live.txt"
summarize "GET /auth/protected" "$WORK/protected.txt"
echo "server peak RSS: $(peak_rss_mib "$server_pid") MiB"
