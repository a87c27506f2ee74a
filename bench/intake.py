"""The flood benchmark (issue 16): intake and processing under a sustained offered load, over HTTP on loopback.

Usage: python bench/intake.py [DEV_SET] [--seconds 20] [--rate 500] [--records 3000] [--baseline-ref REF]
    [--database-url URL] [--scale 1,2,4 [--scale-baseline REF]]

Each round starts `clearinghouse serve` (its job worker included) on a fresh store holding `--records` records of
the dev set, waits until the worker has indexed them (a probe report is processed), then offers `--rate` reports
a second for `--seconds` (open loop: the sends are scheduled in time, not paced by the answers, so a slow server
meets a growing queue as it would in a real flood) and samples the backlog (reports still `received`) every
second. Two loads:

* realistic: each report is built from a different dev-set record (its summary, details, package, versions, CWE
  and CVSS vector), half of them records the store holds (known vulnerabilities reported again), half not;
* near-duplicate flood: 20 records, each reported over and over with a few words changed (a tool re-running).

Both run twice in the same run, on this code and on `--baseline-ref` (default: the commit before issue 16's
batching), checked out with `git archive` into a temporary directory and run from there. Printed per round:
acknowledged/s, processed/s while the load ran, the backlog at each quarter of the run and its growth over the
second half, acceptance latency percentiles, CPU per report of the API and the worker, and acknowledged reports
missing from the store. Targets (SQLite, 2 cores): processing >= 500 reports/s with the backlog not growing at
500/s offered; p99 acceptance < 50 ms; nothing lost.

`--scale 1,2,4` (for PostgreSQL, with `--database-url`) instead runs the realistic load with `serve --processes N
--workers N` for each N and prints a table, with the CPU each report costs the API, the workers and PostgreSQL.
With `--scale-baseline REF` each N runs on REF's code, then on this code, back to back: the host's speed drifts
within minutes, so the two are compared only at one N. The host's speed (`_common.host_speed`) is printed at the
start and the end of every run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _common import dataset, fresh_store_url, host_speed

TARGET_RATE = 500.0
TARGET_P99_MS = 50.0
BASELINE_REF = "99487ce"  # main before issue 16: one report per transaction, no batches
FLOOD_SOURCES = 20
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- reports built from dev-set records ----------------------------------------------------------------------------


def _cvss(record: dict[str, Any]) -> str | None:
    for severity in record.get("severity") or ():
        score = str(severity.get("score", ""))
        if score.startswith("CVSS:3"):
            return score
    return None


def _versions(affected: dict[str, Any]) -> list[str]:
    listed = [str(v) for v in affected.get("versions") or ()][:5]
    if listed:
        return listed
    events = [e for r in affected.get("ranges") or () for e in r.get("events", ())]
    return [str(e["introduced"]) for e in events if e.get("introduced") not in (None, "0")][:3]


def report_from_record(record: dict[str, Any], n: int) -> dict[str, Any] | None:
    """A structured report telling what `record` tells, as a reporter would (no ids quoted)."""
    affected = [a for a in record.get("affected") or () if a.get("package", {}).get("name")][:3]
    summary = str(record.get("summary") or "").strip()
    details = str(record.get("details") or "").strip()
    if not affected or len(details) < 20:
        return None
    title = (summary or details.split(". ")[0])[:290]
    if len(title) < 5:
        return None
    cwes = [c for c in (record.get("database_specific") or {}).get("cwe_ids") or () if str(c).startswith("CWE-")]
    report: dict[str, Any] = {
        "title": title,
        "description": details[:20_000],
        "affected": [
            {
                "ecosystem": a["package"]["ecosystem"].split(":")[0],
                "name": a["package"]["name"],
                "versions": _versions(a),
            }
            for a in affected
        ],
    }
    if cwes:
        report["cwe"] = cwes[0]
    if (vector := _cvss(record)) is not None:
        report["cvss_vector"] = vector
    return {
        "kind": "structured",
        "provenance": {"origin": "ai", "model": "bench-model", "tool": "bench", "run_id": f"run-{n}"},
        "report": report,
    }


def near_copy(report: dict[str, Any], rng: random.Random, n: int) -> dict[str, Any]:
    """The same report with a few words changed, as a tool re-running on one finding sends it."""
    words = report["report"]["description"].split()
    for _ in range(3):
        if words:
            words[rng.randrange(len(words))] = rng.choice(["crafted", "remote", "malicious", "untrusted", "attacker"])
    body = {**report["report"], "description": " ".join(words)}
    return {**report, "report": body, "provenance": {**report["provenance"], "run_id": f"run-{n}"}}


@dataclass
class Corpus:
    stored: list[dict[str, Any]]  # records imported into each round's store
    realistic: list[dict[str, Any]]  # report bodies, each from a different record
    flood_sources: list[dict[str, Any]]


def build_corpus(path: Path, records: int, reports: int) -> Corpus:
    rng = random.Random(16)
    with gzip.open(path, "rt") as lines:
        documents = [json.loads(line) for line in lines if line.strip()]
    rng.shuffle(documents)
    stored = documents[:records]
    # Half from records the store holds, half from others.
    pool = stored[: reports // 2] + documents[records : records + reports]
    realistic = [r for n, d in enumerate(pool) if (r := report_from_record(d, n)) is not None][:reports]
    rng.shuffle(realistic)
    return Corpus(stored, realistic, realistic[:FLOOD_SOURCES])


def flood_reports(corpus: Corpus, load: str, count: int) -> Iterator[bytes]:
    rng = random.Random(7)
    for n in range(count):
        if load == "realistic":
            body = corpus.realistic[n % len(corpus.realistic)]
            if n >= len(corpus.realistic):  # more than the corpus holds: a rerun, told slightly differently
                body = near_copy(body, rng, n)
        else:
            body = near_copy(corpus.flood_sources[n % FLOOD_SOURCES], rng, n)
        yield json.dumps(body).encode()


# -- load ----------------------------------------------------------------------------------------------------------


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: far lighter than httpx, so the load generator
    takes less of the CPU it shares with the server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        if self.reader is None:
            raise ConnectionError("not connected")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readuntil(b"\r\n")).split()[1])
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


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0  # 503 and other non-202 answers
    statuses: Counter[int] = field(default_factory=Counter)  # every answer's status
    failures: int = 0  # connection errors
    late: int = 0  # sends that left more than 50 ms after their scheduled time (the generator fell behind)


async def offer(port: int, token: str, bodies: list[bytes], rate: float, connections: int) -> Load:
    """Send `bodies` at `rate` a second, each at its scheduled time, over up to `connections` connections."""
    load = Load()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(_Connection("127.0.0.1", port, token))
    started = time.perf_counter()

    async def send(body: bytes, due: float) -> None:
        connection = await idle.get()
        sent = time.perf_counter()
        if sent - due > 0.05:
            load.late += 1
        try:
            status, data = await connection.post("/api/v1/reports", body)
        except (OSError, asyncio.IncompleteReadError):
            connection.close()
            load.failures += 1
            return
        finally:
            idle.put_nowait(connection)
        load.latencies.append((time.perf_counter() - sent) * 1000)
        load.statuses[status] += 1
        if status == 202:
            load.acknowledged.extend(json.loads(data)["report_ids"])
        else:
            load.refused += 1

    tasks = []
    for n, body in enumerate(bodies):
        due = started + n / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(send(body, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return load


# -- rounds --------------------------------------------------------------------------------------------------------


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def _database_cpu() -> float:
    """CPU seconds the local PostgreSQL server has used: its processes' own, and what the postmaster collected from
    backends that ended (so a delta over a round counts both). NaN without a local server."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command = Path(stat.parent, "cmdline").read_bytes()
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        postmaster = command.startswith(b"/usr/lib/postgresql/")
        if postmaster or command.startswith(b"postgres: "):
            found = True
            total += sum(int(f) for f in fields[11 : 15 if postmaster else 13])  # utime, stime (, cutime, cstime)
    return total / os.sysconf("SC_CLK_TCK") if found else float("nan")


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            children = [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            children = []
        found.extend(children)
        pending.extend(children)
    return found


def _workers(pid: int) -> list[int]:
    """The job worker processes among a server's descendants (the others serve the API)."""
    found = []
    for child in _descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in command:
            found.append(child)
    return found


@dataclass
class Round:
    code: str
    load: str
    wall: float
    offered: int
    result: Load
    backlog: list[tuple[float, int]]  # (seconds since the load began, reports still received)
    processed: int  # while the load ran
    lost: int
    api_cpu: float
    worker_cpu: float
    database_cpu: float  # the local PostgreSQL server's (NaN on SQLite)
    drained_in: float | None  # seconds after the load until the backlog was empty (None: not within the wait)

    @property
    def growth(self) -> float:
        """Backlog growth over the second half of the load, reports/s (least squares)."""
        half = [(t, b) for t, b in self.backlog if t >= self.wall / 2] or self.backlog
        if len(half) < 2:
            return 0.0
        mean_t = statistics.mean(t for t, _ in half)
        mean_b = statistics.mean(b for _, b in half)
        spread = sum((t - mean_t) ** 2 for t, _ in half)
        return sum((t - mean_t) * (b - mean_b) for t, b in half) / spread if spread else 0.0


@contextmanager
def code_tree(ref: str | None) -> Iterator[str | None]:
    """PYTHONPATH for the code under test: None for this checkout, else `ref` exported into a temporary tree."""
    if ref is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
        yield str(Path(tree) / "src")


def run_round(
    options: argparse.Namespace,
    corpus: Corpus,
    code: str,
    pythonpath: str | None,
    load: str,
    processes: int | None = None,
) -> Round:
    with tempfile.TemporaryDirectory() as home, fresh_store_url(options.database_url) as database_url:
        env = dict(
            os.environ,
            CLEARINGHOUSE_HOME=home,
            # Rate limits far above the load: checked on every request (as deployed), refusing nothing.
            CLEARINGHOUSE_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_RATE_BURST="100000",
            CLEARINGHOUSE_ADDRESS_RATE_PER_SECOND="100000",
            CLEARINGHOUSE_ADDRESS_RATE_BURST="100000",
        )
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        if database_url:
            env["CLEARINGHOUSE_DATABASE_URL"] = database_url

        def cli(*args: str) -> str:
            return subprocess.run(
                [sys.executable, "-m", "clearinghouse", *args], env=env, check=True, capture_output=True, text=True
            ).stdout

        cli("db", "upgrade")
        records = Path(home) / "records.jsonl"
        records.write_text("".join(json.dumps(d) + "\n" for d in corpus.stored))
        cli("import", str(records))
        cli("admin", "create-org", "Bench Reporter", "--kind", "reporter")
        token = cli("admin", "create-token", "--org", "Bench Reporter", "--user", "bench", "--role", "reporter")
        token = token.strip().splitlines()[-1]
        engine = sa.create_engine(database_url or f"sqlite:///{Path(home) / 'clearinghouse.db'}")
        port = free_port()
        scale = [] if processes is None else ["--processes", str(processes), "--workers", str(processes)]
        server = subprocess.Popen(
            [sys.executable, "-m", "clearinghouse", "serve", "--port", str(port), *scale],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, token, engine)
            _wait_settled(server.pid, 1 if processes is None else processes)
            bodies = list(flood_reports(corpus, load, int(options.rate * options.seconds)))
            workers = _workers(server.pid)
            apis = [server.pid, *(p for p in _descendants(server.pid) if p not in workers)]
            api0, worker0 = sum(_process_cpu(p) for p in apis), sum(_process_cpu(p) for p in workers)
            database0 = _database_cpu() if database_url else float("nan")
            processed0 = _processed(engine)
            backlog: list[tuple[float, int]] = []
            started = time.monotonic()
            result = asyncio.run(_offer_and_sample(port, token, bodies, options, engine, backlog, started))
            wall = time.monotonic() - started
            processed = _processed(engine) - processed0
            api_cpu = sum(_process_cpu(p) for p in apis) - api0
            worker_cpu = sum(_process_cpu(p) for p in workers) - worker0
            database_cpu = _database_cpu() - database0 if database_url else float("nan")
            drained_in = _wait_drained(engine, options.drain_wait)
        finally:
            server.terminate()
            server.wait(timeout=30)
        with engine.connect() as conn:
            stored = set(conn.execute(sa.text("SELECT id FROM reports")).scalars())
        engine.dispose()
    lost = sum(1 for i in result.acknowledged if i not in stored)
    return Round(
        code, load, wall, len(bodies), result, backlog, processed, lost, api_cpu, worker_cpu, database_cpu, drained_in
    )


def _received(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM reports WHERE state = 'received'")).scalar_one())


def _processed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM reports WHERE state <> 'received'")).scalar_one())


def _wait_ready(port: int, token: str, engine: sa.Engine) -> None:
    """Until the server answers and its worker has processed a probe report (its index is built)."""
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    probe = report_from_record(
        {
            "summary": "Probe",
            "details": "A probe report that warms the worker up.",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "bench-probe"}}],
        },
        0,
    )
    answer = httpx.post(f"{base}/api/v1/reports", json=probe, headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    deadline = time.monotonic() + 300
    while _received(engine) and time.monotonic() < deadline:
        time.sleep(0.2)


def _wait_settled(server: int, workers: int) -> None:
    """Until the server has its `workers` job workers and none of its processes is still starting. One worker
    processing the probe (`_wait_ready`) left the others and the other API processes importing and building their
    indexes during the load, and counted their start-up as processing (with 4 of each, several CPU seconds inside a
    20 s round)."""
    wait_idle(lambda: [server, *_descendants(server)] if len(_workers(server)) >= workers else [])


def wait_idle(processes: Callable[[], list[int]], patience: float = 300.0) -> None:
    """Until the same processes (none yet: an empty list) each used under 0.15 s of CPU over the last second: started,
    indexes built, idle."""
    deadline = time.monotonic() + patience
    last: dict[int, float] = {}
    while time.monotonic() < deadline:
        now = {pid: _process_cpu(pid) for pid in processes()}
        if now and last.keys() == now.keys() and all(now[pid] - last[pid] < 0.15 for pid in now):
            return
        last = now
        time.sleep(1.0)


async def _offer_and_sample(
    port: int,
    token: str,
    bodies: list[bytes],
    options: argparse.Namespace,
    engine: sa.Engine,
    backlog: list[tuple[float, int]],
    started: float,
) -> Load:
    sending = asyncio.create_task(offer(port, token, bodies, options.rate, options.connections))
    while not sending.done():
        backlog.append((time.monotonic() - started, await asyncio.to_thread(_received, engine)))
        await asyncio.wait([sending], timeout=1.0)
    backlog.append((time.monotonic() - started, _received(engine)))
    return sending.result()


def _wait_drained(engine: sa.Engine, seconds: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not _received(engine):
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def print_round(r: Round) -> None:
    q = statistics.quantiles(r.result.latencies, n=100) if len(r.result.latencies) > 1 else [0.0] * 99
    acked = len(r.result.acknowledged)
    quarters = [min(r.backlog, key=lambda s: abs(s[0] - r.wall * k / 4))[1] for k in (1, 2, 3, 4)]
    drained = "not within the wait" if r.drained_in is None else f"{r.drained_in:.1f} s"
    print(f"-- {r.code}, {r.load} load: {r.offered:,} offered in {r.wall:.1f} s ({r.offered / r.wall:,.0f}/s)")
    print(
        f"   acknowledged {acked:,} ({acked / r.wall:,.0f}/s), {r.result.refused} refused "
        f"({dict(sorted(r.result.statuses.items()))}), {r.result.failures} connection errors, {r.result.late} sends "
        f"late; lost: {r.lost}"
    )
    print(
        f"   processed while loaded {r.processed:,} ({r.processed / r.wall:,.0f}/s); backlog at each quarter "
        f"{', '.join(f'{b:,}' for b in quarters)}; growth over the 2nd half {r.growth:+,.0f}/s; "
        f"drained after the load in {drained}"
    )
    print(
        f"   acceptance latency ms: p50 {q[49]:.1f}, p95 {q[94]:.1f}, p99 {q[98]:.1f}, max "
        f"{max(r.result.latencies, default=0):.1f}; CPU ms per report: API {r.api_cpu * 1000 / max(1, acked):.2f}, "
        f"worker {r.worker_cpu * 1000 / max(1, r.processed):.2f}"
        + ("" if math.isnan(r.database_cpu) else f", PostgreSQL {r.database_cpu * 1000 / max(1, acked):.2f}")
    )


def verdict(r: Round, rate: float) -> str:
    q = statistics.quantiles(r.result.latencies, n=100)[98] if len(r.result.latencies) > 1 else 0.0
    keeps_pace = r.processed / r.wall >= min(rate, TARGET_RATE) * 0.95 and r.growth < 0.05 * rate
    return (
        f"{r.code:>8} {r.load:>14}: processing {r.processed / r.wall:6,.0f}/s "
        f"{'keeps pace' if keeps_pace else 'FALLS BEHIND'}, p99 {q:5.1f} ms "
        f"{'MET' if q < TARGET_P99_MS else 'NOT MET'}, lost {r.lost}"
    )


def scale_table(options: argparse.Namespace, corpus: Corpus, counts: list[int]) -> None:
    """N API processes and N workers for each N, this code and (`--scale-baseline`) a baseline's, run back to back
    at each N so that the host's drift falls on both alike."""
    codes = [("baseline", options.scale_baseline)] if options.scale_baseline else []
    codes.append(("current", None))
    rows: list[tuple[int, str, Round]] = []
    with contextlib.ExitStack() as trees:
        paths = {code: trees.enter_context(code_tree(ref)) for code, ref in codes}
        for n in counts:
            for code, _ in codes:
                result = run_round(options, corpus, f"{code} {n}+{n}", paths[code], "realistic", processes=n)
                print_round(result)
                rows.append((n, code, result))
    print(f"== API processes + workers, realistic load, {options.rate:,.0f}/s offered for {options.seconds:.0f} s:")
    print(
        "   N | code     | acknowledged/s | processed/s | p99 ms | API CPU ms/report | worker CPU ms/report "
        "| PostgreSQL CPU ms/report"
    )
    for n, code, r in rows:
        acked = len(r.result.acknowledged)
        p99 = statistics.quantiles(r.result.latencies, n=100)[98] if len(r.result.latencies) > 1 else 0.0
        print(
            f"  {n:>2} | {code:<8} | {acked / r.wall:14,.0f} | {r.processed / r.wall:11,.0f} | {p99:6.1f} | "
            f"{r.api_cpu * 1000 / max(1, acked):17.2f} | {r.worker_cpu * 1000 / max(1, r.processed):20.2f} "
            + (f"| {'-':>24}" if math.isnan(r.database_cpu) else f"| {r.database_cpu * 1000 / max(1, acked):24.2f}")
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="reports offered per second")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--records", type=int, default=3000, help="dev-set records in each round's store")
    parser.add_argument("--drain-wait", type=float, default=30.0, help="seconds to wait for the backlog to empty")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the baseline code; '' for none")
    parser.add_argument("--loads", default="realistic,flood")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--scale", default="", help="e.g. 1,2,4: realistic load, N API processes and N workers each")
    parser.add_argument(
        "--scale-baseline",
        default="",
        help="with --scale: a git ref run beside this code at each N (one with `serve --processes`, issue 16's)",
    )
    options = parser.parse_args()
    corpus = build_corpus(dataset(options.dataset), options.records, int(options.rate * options.seconds))
    print(
        f"{len(corpus.stored):,} records in each store; {len(corpus.realistic):,} distinct realistic reports; "
        f"store: {options.database_url or 'SQLite (embedded default)'}; {os.cpu_count()} cores"
    )
    print(host_speed())
    if options.scale:
        scale_table(options, corpus, [int(n) for n in options.scale.split(",")])
        print(host_speed())
        return
    rounds: list[Round] = []
    codes = [("baseline", options.baseline_ref)] if options.baseline_ref else []
    for code, ref in [*codes, ("current", None)]:
        with code_tree(ref) as pythonpath:
            for load in options.loads.split(","):
                rounds.append(run_round(options, corpus, code, pythonpath, load))
                print_round(rounds[-1])
    print(f"== same run, {options.rate:,.0f} reports/s offered for {options.seconds:.0f} s:")
    for r in rounds:
        print(verdict(r, options.rate))
    print(host_speed())


if __name__ == "__main__":
    main()
