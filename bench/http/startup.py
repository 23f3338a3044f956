#!/usr/bin/env python3
"""Start to ready: how long the release binary takes from exec until
GET /health/ready answers 200, on SQLite, five times in a fresh folder
(keys generated, migrations run) and five times again in that folder
(database and keys there). Standard library only.

usage: bench/http/startup.py [BINARY]   (default target/release/gatehouse)
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "gatehouse")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once(folder):
    port = free_port()
    env = dict(os.environ, GATEHOUSE__SERVER__PORT=str(port), GATEHOUSE__LOG__LEVEL="warn")
    started = time.perf_counter()
    server = subprocess.Popen([BIN], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=0.5).read()
                return (time.perf_counter() - started) * 1000
            except OSError:
                time.sleep(0.002)
    finally:
        server.terminate()
        server.wait()


fresh, again = [], []
for _ in range(5):
    folder = tempfile.mkdtemp()
    try:
        fresh.append(once(folder))
        again.append(once(folder))
    finally:
        shutil.rmtree(folder)
for label, values in (("fresh folder (keys generated, migrations run)", fresh), ("existing database and keys", again)):
    runs = ", ".join(f"{v:.0f}" for v in values)
    print(f"{label}: {runs} ms, median {statistics.median(values):.0f} ms")
