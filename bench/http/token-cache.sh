#!/usr/bin/env bash
# What the verified-token cache gives GET /auth/protected.
#
# Two instances run side by side, one with the cache at its default size
# and one with jwt.verified_token_cache_capacity = 0 (every token verified
# every time), each on its own fresh SQLite database. wrk (-t2 -c16,
# DURATION seconds) loads each in turn, REPEATS times, alternating. It
# prints every run and the median of each side.
#
# usage: bench/http/token-cache.sh   (env: REPEATS, DURATION, GATEHOUSE_BIN)
. "$(dirname "$0")/common.sh"

REPEATS="${REPEATS:-3}"
DURATION="${DURATION:-10}"

on_url="$(start_server cache-on)"
off_url="$(start_server cache-off GATEHOUSE__JWT__VERIFIED_TOKEN_CACHE_CAPACITY=0)"
on_token="$(token "$on_url" bench_user)"
off_token="$(token "$off_url" bench_user)"

run() {
  TOKEN="$2" wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/get.lua" "$1/auth/protected" |
    awk '/^statuses/ { s = $0 } /^requests_per_second/ { r = $2 } /^latency_ms/ { l = $0 }
         END { print r " req/s, " l ", " s }'
}

: >"$WORK/on.txt"; : >"$WORK/off.txt"
for i in $(seq 1 "$REPEATS"); do
  on="$(run "$on_url" "$on_token")"; echo "run $i cache on:  $on"; echo "$on" | cut -d' ' -f1 >>"$WORK/on.txt"
  off="$(run "$off_url" "$off_token")"; echo "run $i cache off: $off"; echo "$off" | cut -d' ' -f1 >>"$WORK/off.txt"
done

python3 - "$WORK/on.txt" "$WORK/off.txt" <<'PY'
import statistics, sys
on, off = ([float(x) for x in open(p)] for p in sys.argv[1:3])
m_on, m_off = statistics.median(on), statistics.median(off)
print(f"median: cache on {m_on:.0f} req/s, off {m_off:.0f} req/s, {m_on / m_off:.2f}x")
PY
