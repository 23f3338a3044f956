#!/usr/bin/env python3
"""What the second step of a login costs, against a password-only login.

Against a running server (BASE_URL), it registers USERS users without MFA
and USERS users with TOTP, then for each pair, in turn:
  - times POST /auth/login for the password-only user (one argon2id
    verification, a session opened);
  - times POST /auth/login for the TOTP user (the same verification, a
    challenge stored instead of a session) and then POST /auth/login/mfa
    with the current code (no password hashing: a digest, an HMAC, the
    throttle and the challenge, a session opened).
Each TOTP user logs in once per run, so no code is a replay. Prints the
median and p90 of each, in milliseconds. Standard library only.

usage: bench/http/mfa-login.py BASE_URL   (env: USERS, default 40)
"""
import base64
import hashlib
import hmac
import json
import os
import statistics
import struct
import sys
import time
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/")
USERS = int(os.environ.get("USERS", "40"))
PASSWORD = "bench-password-1"


def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    started = time.perf_counter()
    with urllib.request.urlopen(req) as resp:
        payload = resp.read()
    elapsed = (time.perf_counter() - started) * 1000
    return (json.loads(payload) if payload else None), elapsed


def totp(secret, at=None):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[19] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return "%06d" % (value % 1_000_000)


def register(name):
    call("POST", "/auth/register", {"username": name, "password": PASSWORD})


def login(name):
    return call("POST", "/auth/login", {"username": name, "password": PASSWORD})


run = uuid.uuid4().hex[:8]
plain, with_totp = [], []
for i in range(USERS):
    name = f"p{run}{i}"
    register(name)
    plain.append(name)
    name = f"t{run}{i}"
    register(name)
    tokens, _ = login(name)
    enrolment, _ = call("POST", "/auth/mfa/totp", {}, tokens["access_token"])
    call("POST", "/auth/mfa/totp/confirm", {"code": totp(enrolment["secret"])}, tokens["access_token"])
    with_totp.append((name, enrolment["secret"]))

# The enrolment used the current step of each secret: wait for the next.
time.sleep(30 - time.time() % 30 + 0.1)

password_only, first, second, total = [], [], [], []
for name, (mfa_name, secret) in zip(plain, with_totp):
    _, ms = login(name)
    password_only.append(ms)
    pending, ms1 = login(mfa_name)
    assert pending.get("mfa_required"), pending
    _, ms2 = call("POST", "/auth/login/mfa", {"mfa_token": pending["mfa_token"], "code": totp(secret)})
    first.append(ms1)
    second.append(ms2)
    total.append(ms1 + ms2)


def show(label, values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    print(f"{label:<42} median {statistics.median(values):7.2f} ms   p90 {p90:7.2f} ms   (n={len(values)})")


show("password-only login", password_only)
show("MFA login, password step", first)
show("MFA login, second step (TOTP)", second)
show("MFA login, both steps", total)
