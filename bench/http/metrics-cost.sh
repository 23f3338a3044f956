#!/usr/bin/env bash
# What recording the HTTP metrics costs GET /auth/protected.
#
# Two instances run side by side, one with metrics.enabled = true (the
# default) and one with false, each on its own fresh SQLite database. wrk
# (-t2 -c16, DURATION seconds) loads each in turn, REPEATS times,
# alternating, so that both see the same machine. It prints the requests/s
# of every run and the median of each side.
#
# usage: bench/http/metrics-cost.sh   (env: REPEATS, DURATION, CONNECTIONS,
#                                      GATEHOUSE_BIN)
. "$(dirname "$0")/common.sh"

REPEATS="${REPEATS:-5}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"

on_url="$(start_server metrics-on GATEHOUSE__METRICS__ENABLED=true)"
off_url="$(start_server metrics-off GATEHOUSE__METRICS__ENABLED=false)"
on_token="$(token "$on_url" bench_user)"
off_token="$(token "$off_url" bench_user)"

# Warm both up, then check that the "on" side really records.
TOKEN="$on_token" wrk -t2 -c"$CONNECTIONS" -d2s -s "$HERE/get.lua" "$on_url/auth/protected" >/dev/null
TOKEN="$off_token" wrk -t2 -c"$CONNECTIONS" -d2s -s "$HERE/get.lua" "$off_url/auth/protected" >/dev/null
curl -fs "$on_url/metrics" | grep -q 'route="/auth/protected"' ||
  { echo "the metrics-on instance recorded nothing" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$off_url/metrics")" = 404 ] ||
  { echo "the metrics-off instance still serves /metrics" >&2; exit 1; }

run() {
  TOKEN="$2" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/get.lua" "$1/auth/protected" |
    awk '/^statuses/ { s = $0 } /^requests_per_second/ { r = $2 } /^latency_ms/ { l = $0 }
         END { print r " req/s, " l ", " s }'
}

: >"$WORK/on.txt"; : >"$WORK/off.txt"
for i in $(seq 1 "$REPEATS"); do
  on="$(run "$on_url" "$on_token")"; echo "run $i metrics on:  $on"; echo "$on" | cut -d' ' -f1 >>"$WORK/on.txt"
  off="$(run "$off_url" "$off_token")"; echo "run $i metrics off: $off"; echo "$off" | cut -d' ' -f1 >>"$WORK/off.txt"
done

python3 - "$WORK/on.txt" "$WORK/off.txt" <<'PY'
import statistics, sys
on, off = ([float(x) for x in open(p)] for p in sys.argv[1:3])
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"median: metrics on {m_on:.0f} req/s, off {m_off:.0f} req/s, "
      f"cost {(m_off - m_on) / m_off * 100:.1f}%")
PY
