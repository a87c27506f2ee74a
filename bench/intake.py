"""Sustained intake over HTTP on loopback: reports/s, latency percentiles, and that none are lost.

Usage: python bench/intake.py [--seconds 20] [--concurrency 16] [--database-url URL]
Starts `clearinghouse serve` in a subprocess on a fresh store (SQLite by default), creates a reporter token,
then keeps `concurrency` clients posting structured reports for the given time. Afterwards it counts the
reports in the store and checks every acknowledged (202) id is there. Targets: >= 500 reports/s, p99 < 200 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

TARGET_RATE = 500.0
TARGET_P99_MS = 200.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "clearinghouse", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def report(n: int) -> dict[str, object]:
    words = random.Random(n).sample(
        [
            "parser",
            "overflow",
            "crafted",
            "header",
            "remote",
            "heap",
            "token",
            "cookie",
            "path",
            "traversal",
            "template",
            "race",
        ],
        6,
    )
    return {
        "kind": "structured",
        "provenance": {"origin": "ai", "model": "bench-model", "tool": "bench", "run_id": f"run-{n}"},
        "report": {
            "title": f"Finding {n}: {' '.join(words[:3])}",
            "description": f"Report {n}. A {' '.join(words)} issue lets a remote attacker corrupt memory.",
            "affected": [{"purl": "pkg:pypi/jinja2", "versions": ["2.10"]}],
            "cwe": "CWE-79",
            "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            "proof_of_concept": "curl -d '{{7*7}}' http://localhost/render",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(
            os.environ,
            CLEARINGHOUSE_HOME=home,
            CLEARINGHOUSE_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_RATE_BURST="100000",
        )
        if options.database_url:
            env["CLEARINGHOUSE_DATABASE_URL"] = options.database_url
        cli(env, "db", "upgrade")
        cli(env, "admin", "create-org", "Bench Reporter", "--kind", "reporter")
        token = (
            cli(env, "admin", "create-token", "--org", "Bench Reporter", "--user", "bench", "--role", "reporter")
            .strip()
            .splitlines()[-1]
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "clearinghouse", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            latencies: list[float] = []
            acknowledged: list[str] = []
            failures = 0
            lock = threading.Lock()
            deadline = time.monotonic() + options.seconds
            counter = iter(range(10**9))

            def client() -> None:
                nonlocal failures
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
                    while time.monotonic() < deadline:
                        started = time.perf_counter()
                        response = http.post("/api/v1/reports", json=report(next(counter)))
                        elapsed = (time.perf_counter() - started) * 1000
                        with lock:
                            latencies.append(elapsed)
                            if response.status_code == 202:
                                acknowledged.extend(response.json()["report_ids"])
                            else:
                                failures += 1

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(options.concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        import sqlalchemy as sa

        from clearinghouse.config import Settings
        from clearinghouse.store.db import create_engine
        from clearinghouse.store.tables import reports

        engine = create_engine(Settings.from_env(env).database_url)
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(reports.c.id)).scalars())
        lost = [i for i in acknowledged if i not in stored]
    rate = len(acknowledged) / wall
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"store: {options.database_url or 'SQLite (embedded default)'}; {options.concurrency} clients, {wall:.1f} s")
    print(
        f"acknowledged {len(acknowledged):,} reports ({rate:,.0f}/s), {failures} non-202 answers, "
        f"{len(lost)} acknowledged reports missing from the store"
    )
    p50, p95, p99 = quantiles[49], quantiles[94], quantiles[98]
    print(f"latency ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {max(latencies):.1f}")
    print(
        f"rate target >= {TARGET_RATE:.0f}/s: {'MET' if rate >= TARGET_RATE else 'NOT MET'}; "
        f"p99 target < {TARGET_P99_MS:.0f} ms: {'MET' if quantiles[98] < TARGET_P99_MS else 'NOT MET'}; "
        f"lost: {'none' if not lost else len(lost)}"
    )


if __name__ == "__main__":
    main()
