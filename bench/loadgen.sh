#!/usr/bin/env bash
# Runs the shared wrk load scenarios (../shared/loadgen) against a Gatehouse
# binary on a fresh SQLite database in a temporary folder.
#
#   bench/loadgen.sh [BINARY] [SCENARIOS]
#   bench/loadgen.sh target/release/gatehouse "protected login"
#
# BINARY defaults to target/release/gatehouse (build it with
# `cargo build --release`). Results land in bench/results/<label>-<time>/.
# The password hash runs at the production defaults (argon2id 19 MiB, t=2,
# p=1), so login and register figures are dominated by it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release/gatehouse}"
SCENARIOS="${2:-protected login}"
LOADGEN="${LOADGEN:-../shared/loadgen/loadgen.sh}"
PORT="${PORT:-18099}"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

GATEHOUSE__SERVER__PORT=$PORT \
GATEHOUSE__DATABASE__URL="sqlite://$work/gatehouse.db?mode=rwc" \
GATEHOUSE__JWT__KEY_FILE="$work/jwt.pem" \
GATEHOUSE__JWT__REFRESH_SECRET_FILE="$work/refresh.key" \
GATEHOUSE__RATE_LIMIT__LOGIN_FAILURES=0 \
GATEHOUSE__LOG__LEVEL=warn \
  "$BIN" serve &
pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done

LABEL="${LABEL:-$(basename "$BIN")}" SERVER_PID=$pid SCENARIOS="$SCENARIOS" \
OUTDIR="bench/results/${LABEL:-$(basename "$BIN")}-$(date +%Y%m%d-%H%M%S)" \
  "$LOADGEN" "http://127.0.0.1:$PORT" /auth
