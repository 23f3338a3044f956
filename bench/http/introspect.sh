#!/usr/bin/env bash
# Introspection throughput next to /auth/protected, in one run with one wrk
# shape (-t2 -c16, DURATION seconds, REPEATS alternating runs each), and the
# client-credentials token rate.
#
# One release build on a fresh SQLite database: an admin (made with
# `gatehouse user create`), a user whose access token is introspected, and
# a service account with the introspect scope. Login throttling is off, so
# the token rate measures issuing, not the throttle's refusals.
#
# usage: bench/http/introspect.sh   (env: REPEATS, DURATION, GATEHOUSE_BIN)
. "$(dirname "$0")/common.sh"

REPEATS="${REPEATS:-3}"
DURATION="${DURATION:-10}"

url="$(start_server introspect)"
dir="$WORK/introspect"
echo "bench-password-1" | (cd "$dir" && GATEHOUSE__LOG__LEVEL=warn "$BIN" user create --username bench_admin --role admin --password-stdin >/dev/null)
admin_token="$(curl -fs -H 'Content-Type: application/json' \
  -d '{"username":"bench_admin","password":"bench-password-1"}' "$url/auth/login" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
user_token="$(token "$url" bench_user)"
read -r client_id client_secret < <(curl -fs -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $admin_token" -d '{"name":"bench","scopes":["introspect"]}' \
  "$url/admin/service-accounts" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["client_id"], d["client_secret"])')
basic="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"

active="$(curl -fs -u "$client_id:$client_secret" -d "token=$user_token" "$url/oauth/introspect")"
echo "$active" | grep -q '"active":true' || { echo "introspection is not active: $active" >&2; exit 1; }

summary() { awk '/^requests_per_second/ { r = $2 } /^latency_ms/ { l = $0 } /^statuses/ { s = $0 } END { print r " req/s, " l ", " s }'; }

echo "wrk -t2 -c16 -d${DURATION}s, $(nproc) cores"
for i in $(seq 1 "$REPEATS"); do
  echo "run $i GET /auth/protected:     $(TOKEN="$user_token" wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/get.lua" "$url/auth/protected" | summary)"
  echo "run $i POST /oauth/introspect:  $(BASIC="$basic" BODY="token=$user_token" wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/post.lua" "$url/oauth/introspect" | summary)"
done
echo "token rate POST /oauth/token:   $(BASIC="$basic" BODY="grant_type=client_credentials" wrk -t2 -c16 -d"${DURATION}s" -s "$HERE/post.lua" "$url/oauth/token" | summary)"
