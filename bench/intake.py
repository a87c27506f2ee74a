"""Sustained intake over HTTP on loopback: reports/s, latency percentiles, and that none are lost.

Usage: python bench/intake.py [--seconds 20] [--concurrency 16] [--database-url URL]
Starts `clearinghouse serve` in a subprocess on a fresh store (SQLite by default), creates a reporter token,
then keeps `concurrency` keep-alive clients (asyncio in one thread, a minimal HTTP/1.1 client, so the load
generator takes little of the CPU it shares with the server) posting structured reports for the given time.
Afterwards it counts the reports in the store and checks every acknowledged (202) id is there.
Targets: >= 500 reports/s, p99 < 200 ms. PostgreSQL runs get a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import fresh_store_url

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


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: far lighter than httpx, so the load generator
    takes less of the CPU it shares with the server (its CPU use is printed with the results)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (server workers, the job worker)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += _process_cpu(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            pending.extend(int(c) for c in children.split())
        except OSError:
            pass
    return total


async def _load(port: int, token: str, seconds: float, concurrency: int) -> tuple[list[float], list[str], int]:
    latencies: list[float] = []
    acknowledged: list[str] = []
    failures = 0
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        nonlocal failures
        connection = _Connection("127.0.0.1", port, token)
        try:
            while time.monotonic() < deadline:
                body = json.dumps(report(next(counter))).encode()
                started = time.perf_counter()
                try:
                    status, data = await connection.post("/api/v1/reports", body)
                except (OSError, asyncio.IncompleteReadError):
                    connection.close()
                    failures += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if status == 202:
                    acknowledged.extend(json.loads(data)["report_ids"])
                else:
                    failures += 1
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, acknowledged, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, fresh_store_url(options.database_url) as database_url:
        env = dict(
            os.environ,
            CLEARINGHOUSE_HOME=home,
            CLEARINGHOUSE_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_RATE_BURST="100000",
        )
        if database_url:
            env["CLEARINGHOUSE_DATABASE_URL"] = database_url
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
            api_cpu0, server_cpu0, own_cpu0 = _process_cpu(server.pid), _tree_cpu(server.pid), time.process_time()
            started = time.monotonic()
            latencies, acknowledged, failures = asyncio.run(_load(port, token, options.seconds, options.concurrency))
            wall = time.monotonic() - started
            server_cpu, own_cpu = _tree_cpu(server.pid) - server_cpu0, time.process_time() - own_cpu0
            api_cpu = _process_cpu(server.pid) - api_cpu0
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
            waiting = conn.execute(sa.select(sa.func.count()).where(reports.c.state == "received")).scalar_one()
        engine.dispose()
        lost = [i for i in acknowledged if i not in stored]
    rate = len(acknowledged) / wall
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"store: {options.database_url or 'SQLite (embedded default)'}; {options.concurrency} clients, {wall:.1f} s")
    print(
        f"acknowledged {len(acknowledged):,} reports ({rate:,.0f}/s), {failures} non-202 answers, "
        f"{len(lost)} acknowledged reports missing from the store"
    )
    p50, p95, p99 = quantiles[49], quantiles[94], quantiles[98]
    processed = len(stored) - waiting
    print(
        f"processed (checked, de-duplicated, triaged) by the job worker meanwhile: {processed:,} "
        f"({processed / wall:,.0f}/s); {waiting:,} still queued when the load stopped"
    )
    print(f"latency ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {max(latencies):.1f}")
    print(
        f"CPU over the run: load generator {own_cpu:.1f} s ({own_cpu / wall:.0%} of a core), "
        f"server (all its processes) {server_cpu:.1f} s ({server_cpu / wall:.0%} of a core), of which the API "
        f"process {api_cpu:.1f} s ({api_cpu * 1000 / max(1, len(acknowledged)):.2f} ms per report); "
        f"{os.cpu_count()} cores"
    )
    print(
        f"rate target >= {TARGET_RATE:.0f}/s: {'MET' if rate >= TARGET_RATE else 'NOT MET'}; "
        f"p99 target < {TARGET_P99_MS:.0f} ms: {'MET' if quantiles[98] < TARGET_P99_MS else 'NOT MET'}; "
        f"lost: {'none' if not lost else len(lost)}"
    )


if __name__ == "__main__":
    main()
