"""Sustained intake over HTTP on loopback: reports/s, latency percentiles, and that none are lost.

Usage: python bench/intake.py [--seconds 10] [--rounds 2] [--concurrency 16] [--database-url URL]
Starts `clearinghouse serve` in a subprocess on a fresh store (SQLite by default), creates a reporter token,
then keeps `concurrency` keep-alive clients (asyncio in one thread, a minimal HTTP/1.1 client, so the load
generator takes little of the CPU it shares with the server) posting structured reports for the given time.
Afterwards it counts the reports in the store and checks every acknowledged (202) id is there.
Rounds alternate rate limits off (the baseline) and on, each
on a fresh store, and the acknowledged rates are printed side by side. Targets: >= 500 reports/s, p99 < 200 ms.
PostgreSQL runs get a fresh schema, dropped afterwards.
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
from dataclasses import dataclass
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


@dataclass
class Round:
    rate_limits: bool
    wall: float
    latencies: list[float]
    acknowledged: list[str]
    failures: int
    lost: int
    processed: int
    waiting: int
    own_cpu: float
    server_cpu: float
    api_cpu: float

    @property
    def rate(self) -> float:
        return len(self.acknowledged) / self.wall


def run_round(options: argparse.Namespace, rate_limits: bool) -> Round:
    """One load on a fresh store and server, with the rate limits on (never reached: every request still
    passes through them and draws on the shared buckets) or off (the baseline)."""
    with tempfile.TemporaryDirectory() as home, fresh_store_url(options.database_url) as database_url:
        env = dict(
            os.environ,
            CLEARINGHOUSE_HOME=home,
            CLEARINGHOUSE_RATE_LIMITS="on" if rate_limits else "off",
            # Limits far above the load, so they cost what checking them costs and refuse nothing.
            CLEARINGHOUSE_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_RATE_BURST="100000",
            CLEARINGHOUSE_ADDRESS_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_ADDRESS_RATE_BURST="100000",
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
        lost = sum(1 for i in acknowledged if i not in stored)
    return Round(
        rate_limits,
        wall,
        latencies,
        acknowledged,
        failures,
        lost,
        len(stored) - waiting,
        waiting,
        own_cpu,
        server_cpu,
        api_cpu,
    )


def print_round(options: argparse.Namespace, result: Round) -> None:
    wall, rate = result.wall, result.rate
    quantiles = statistics.quantiles(result.latencies, n=100)
    limits = "rate limits ON (shared buckets)" if result.rate_limits else "rate limits OFF (baseline)"
    print(
        f"-- {limits}; store: {options.database_url or 'SQLite (embedded default)'}; "
        f"{options.concurrency} clients, {wall:.1f} s"
    )
    print(
        f"acknowledged {len(result.acknowledged):,} reports ({rate:,.0f}/s), {result.failures} non-202 answers, "
        f"{result.lost} acknowledged reports missing from the store"
    )
    p50, p95, p99 = quantiles[49], quantiles[94], quantiles[98]
    print(
        f"processed (checked, de-duplicated, triaged) by the job worker meanwhile: {result.processed:,} "
        f"({result.processed / wall:,.0f}/s); {result.waiting:,} still queued when the load stopped"
    )
    print(f"latency ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {max(result.latencies):.1f}")
    print(
        f"CPU over the run: load generator {result.own_cpu:.1f} s ({result.own_cpu / wall:.0%} of a core), "
        f"server (all its processes) {result.server_cpu:.1f} s ({result.server_cpu / wall:.0%} of a core), of "
        f"which the API process {result.api_cpu:.1f} s "
        f"({result.api_cpu * 1000 / max(1, len(result.acknowledged)):.2f} ms per report); {os.cpu_count()} cores"
    )
    print(
        f"rate target >= {TARGET_RATE:.0f}/s: {'MET' if rate >= TARGET_RATE else 'NOT MET'}; "
        f"p99 target < {TARGET_P99_MS:.0f} ms: {'MET' if p99 < TARGET_P99_MS else 'NOT MET'}; "
        f"lost: {'none' if not result.lost else result.lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per setting, alternating off/on")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    results = [run_round(options, rate_limits=bool(n % 2)) for n in range(2 * options.rounds)]
    for result in results:
        print_round(options, result)
    on = [r.rate for r in results if r.rate_limits]
    off = [r.rate for r in results if not r.rate_limits]
    print(
        f"== acknowledged/s, same run: rate limits OFF {', '.join(f'{r:,.0f}' for r in off)} "
        f"(mean {statistics.mean(off):,.0f}) | ON {', '.join(f'{r:,.0f}' for r in on)} "
        f"(mean {statistics.mean(on):,.0f}): {statistics.mean(on) / statistics.mean(off):.0%} of the baseline"
    )


if __name__ == "__main__":
    main()
