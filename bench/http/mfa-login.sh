#!/usr/bin/env bash
# What the second step of a login costs: starts a release build on a fresh
# SQLite database (production argon2id costs, throttling off) and runs
# mfa-login.py against it. env: USERS (default 40), GATEHOUSE_BIN.
. "$(dirname "$0")/common.sh"

url="$(start_server mfa-login)"
USERS="${USERS:-40}" python3 "$HERE/mfa-login.py" "$url"
