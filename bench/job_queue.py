"""The job queue under the flood benchmark's load, on PostgreSQL: our table queue against pgqueuer (issue 16).

Usage: python bench/job_queue.py [--database-url URL] [--seconds 10] [--rate 800] [--backlog 20000]
    [--scale 1x1,2x2,4x4] [--work-ms 0.5] [--drain 15] [--queues ours,pgqueuer] [--baseline-ref REF]
(the file is not `queue.py`: run from `bench/`, that name would shadow the standard library's `queue`)

For each (P producers, C consumers) and each queue, alternating, on a fresh schema (`_common.fresh_store_url`)
where `--backlog` jobs already wait (a burst before the flood: claiming from a deep queue is what a flood tests):

* P producer processes offer `--rate` jobs a second between them for `--seconds` (open loop: each send is scheduled
  in time, whatever the answers; a producer that falls behind sends at once, and its latency counts from the
  scheduled moment). Each job is enqueued as `intake/service.py` enqueues a report's: in the transaction that
  inserts the report (a row of `bench_reports`), so both commit or neither does.
* C consumer processes claim and complete jobs, each job costing `--work-ms` of busy CPU:
  - `ours`: `store/jobs.py`'s `JobQueue.claim` in batches of 64 (as `intake/worker.py` does, sleeping its 50 ms
    when nothing is due) and `JobQueue.complete_held` in one transaction per batch (the result transaction);
  - `ours@REF` (`--baseline-ref`): the same with `store/jobs.py` as it was at REF (before/after a change);
  - `pgqueuer`: a `QueueManager` (batch 64, LISTEN/NOTIFY wake-ups, completions buffered by the library).
    Producers enqueue through its `SyncQueries` on the psycopg connection under our SQLAlchemy connection, in a
    `connection.transaction()` block holding the report insert too (pgqueuer insists on an autocommit connection;
    psycopg's transaction block is what makes the pair atomic). A rolled-back enqueue is checked to leave no job.

Printed per round: offered and acknowledged enqueues/s, completed/s (backlog included, from the start to the last
completion), p50/p99 enqueue latency (scheduled -> committed) and enqueue->done latency (committed -> its
completion committed; for pgqueuer, the log row its completion wrote) of the jobs enqueued during the load,
the queue depth at the end of the load and its growth per second over
the load's second half, jobs lost (acknowledged, never completed after a `--drain` second drain) and run twice,
and CPU per job: the consumers' own CPU and the PostgreSQL backends serving this round's connections (from
`/proc/<pid>/stat`, found by `application_name`; background writers and other sessions' backends not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import time
import types
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from queue import Empty
from typing import Any

import sqlalchemy as sa
from _common import fresh_store_url

from clearinghouse.store import jobs as job_store
from clearinghouse.store.db import create_engine, migrate

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
APPLICATION = "bench-queue"
KIND = "bench.work"
BATCH = 64
IDLE_SLEEP = 0.05  # intake/worker.py's Worker.idle_sleep
REPO = Path(__file__).resolve().parents[1]
KEYS_PER_PRODUCER = 10**8  # producer n enqueues keys n * 10**8, ...; the backlog's keys come after the last producer
BACKLOG_KEYS = 10**9


@dataclass
class Round:
    queue: str
    producers: int
    consumers: int
    offered: int = 0
    acked: dict[int, tuple[float, float]] = field(default_factory=dict)  # key -> (scheduled, committed)
    executions: Counter[int] = field(default_factory=Counter)  # key -> handler runs
    done: dict[int, float] = field(default_factory=dict)  # key -> completion committed
    completions: Counter[int] = field(default_factory=Counter)
    depth: list[tuple[float, int]] = field(default_factory=list)
    consumer_cpu: float = 0.0
    producer_cpu: float = 0.0
    db_cpu: float = 0.0
    start: float = 0.0
    backlog: set[int] = field(default_factory=set)  # keys waiting before the clock started
    rollback_left_job: bool = False


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def with_application(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={APPLICATION}"


def libpq(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load_queue_module(ref: str | None) -> types.ModuleType:
    """`store/jobs.py` now, or as it was at `ref` (run against today's tables and helpers)."""
    if ref is None:
        return job_store
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:src/clearinghouse/store/jobs.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader(f"baseline_jobs_{ref}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{ref}:store/jobs.py", "exec"), module.__dict__)
    return module


# -- set-up ----------------------------------------------------------------------------------------------------------


def prepare(queue: str, url: str, backlog: int) -> tuple[bool, list[tuple[int, int | None]]]:
    """The schema for `queue`, then `backlog` jobs already waiting (a burst that came before the flood); whether a
    rolled-back enqueue left a job behind (it must not) and the backlog's (key, pgqueuer job id)."""
    keys = list(range(BACKLOG_KEYS, BACKLOG_KEYS + backlog))
    waiting: list[tuple[int, int | None]] = []
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_reports (key bigint PRIMARY KEY, body text NOT NULL)"))
    if queue.startswith("ours"):
        migrate(engine)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO bench_reports VALUES (-1, 'rolled back')"))
                job_store.enqueue(conn, KIND, {"key": -1})
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        with engine.connect() as conn:
            left = conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one()
        for chunk in range(0, backlog, 1000):
            with engine.begin() as conn:
                job_store.enqueue_many(conn, KIND, [{"key": key} for key in keys[chunk : chunk + 1000]])
        waiting = [(key, None) for key in keys]
    else:
        import psycopg
        from pgqueuer.db import PsycopgDriver, SyncPsycopgDriver
        from pgqueuer.queries import Queries, SyncQueries

        async def install() -> None:
            connection = await psycopg.AsyncConnection.connect(libpq(url), autocommit=True)
            await Queries(PsycopgDriver(connection)).install(create_schema=False)
            await connection.close()

        asyncio.run(install())
        with psycopg.connect(libpq(url), autocommit=True) as connection:
            queries = SyncQueries(SyncPsycopgDriver(connection))
            try:
                with connection.transaction():
                    connection.execute("INSERT INTO bench_reports VALUES (-1, 'rolled back')")
                    queries.enqueue(KIND, b"-1")
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            row = connection.execute("SELECT count(*) FROM pgqueuer").fetchone()
            left = row[0] if row else 0
            for chunk in range(0, backlog, 1000):
                part = keys[chunk : chunk + 1000]
                ids = queries.enqueue([KIND] * len(part), [str(key).encode() for key in part], [0] * len(part))
                waiting.extend((key, int(job_id)) for key, job_id in zip(part, ids, strict=True))
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return bool(left), waiting


# -- producers -------------------------------------------------------------------------------------------------------


def produce(queue: str, url: str, index: int, rate: float, seconds: float, start: Any, results: Any) -> None:
    """Offer `rate` jobs/s from `start` for `seconds`; send (key, scheduled, committed) tuples back."""
    keys = range(index * KEYS_PER_PRODUCER, (index + 1) * KEYS_PER_PRODUCER)
    engine = create_engine(with_application(url))
    acked: list[tuple[int, float, float, int | None]] = []
    report = sa.text("INSERT INTO bench_reports (key, body) VALUES (:key, 'a report')")
    with engine.connect() as warm:  # the connection is open before the clock starts
        warm.execute(sa.text("SELECT 1"))
    enqueue_pgqueuer = None
    if queue == "pgqueuer":
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        engine = create_engine(with_application(url)).execution_options(isolation_level="AUTOCOMMIT")
        sa_connection = engine.connect()
        raw = sa_connection.connection.driver_connection
        assert raw is not None
        queries = SyncQueries(SyncPsycopgDriver(raw))

        def enqueue_pgqueuer(key: int) -> int:
            with raw.transaction():  # the report and its job commit together or not at all
                sa_connection.execute(report, {"key": key})
                (job_id,) = queries.enqueue(KIND, str(key).encode())
            return int(job_id)

    while not start.value:  # the parent sets the start once every process is connected
        time.sleep(0.001)
    t0 = start.value
    while time.time() < t0:
        time.sleep(0.001)
    cpu = time.process_time()
    for n, key in enumerate(keys):
        scheduled = t0 + n / rate
        if scheduled >= t0 + seconds:
            break
        delay = scheduled - time.time()
        if delay > 0:
            time.sleep(delay)
        job_id = None
        if enqueue_pgqueuer is not None:
            job_id = enqueue_pgqueuer(key)
        else:
            with engine.begin() as conn:
                conn.execute(report, {"key": key})
                job_store.enqueue(conn, KIND, {"key": key})
        acked.append((key, scheduled, time.time(), job_id))
    results.put(("producer", acked, time.process_time() - cpu))


# -- consumers -------------------------------------------------------------------------------------------------------


def consume_ours(ref: str | None, url: str, work: float, ready: Any, stop: Any, results: Any) -> None:
    module = load_queue_module(ref)
    engine = create_engine(with_application(url))
    queue = module.JobQueue(engine)
    name = f"bench:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    executions: list[int] = []
    done: list[tuple[int, float]] = []
    with engine.connect() as warm:
        warm.execute(sa.text("SELECT 1"))
    ready.release()
    cpu = time.process_time()
    while not stop.is_set():
        claimed = queue.claim(name, BATCH)
        if not claimed:
            time.sleep(IDLE_SLEEP)
            continue
        keys = {}
        for job in claimed:
            busy(work)
            executions.append(job.payload["key"])
            keys[job.id] = job.payload["key"]
        with engine.begin() as conn:
            completed = module.JobQueue.complete_held(conn, name, list(keys))
        now = time.time()
        done.extend((keys[job_id], now) for job_id in completed)
    results.put(("consumer", executions, done, time.process_time() - cpu))


def consume_pgqueuer(url: str, work: float, ready: Any, stop: Any, results: Any) -> None:
    import psycopg
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries

    executions: list[int] = []

    async def main() -> float:
        connection = await psycopg.AsyncConnection.connect(libpq(url), autocommit=True, application_name=APPLICATION)
        manager = QueueManager(Queries(PsycopgDriver(connection)))

        @manager.entrypoint(KIND)
        async def run(job: Job) -> None:
            busy(work)
            executions.append(int(job.payload or b"0"))

        ready.release()
        cpu = time.process_time()
        task = asyncio.create_task(
            manager.run(batch_size=BATCH, log_aggregation_interval=timedelta(0), dequeue_timeout=timedelta(seconds=1))
        )
        while not stop.is_set():
            await asyncio.sleep(0.05)
        manager.shutdown.set()
        await task
        spent = time.process_time() - cpu
        await connection.close()
        return spent

    spent = asyncio.run(main())
    results.put(("consumer", executions, [], spent))


# -- one round -------------------------------------------------------------------------------------------------------


def backend_cpu(admin: sa.Engine) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this bench's connections."""
    with admin.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": APPLICATION}
        ).scalars()
        ticks = os.sysconf("SC_CLK_TCK")
        spent = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # another host, or not ours to read
                continue
            spent[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return spent


def collect(results: Any, children: list[Any]) -> Any:
    """The next child's report; stops the bench, rather than waiting for ever, if a child died without one."""
    while True:
        try:
            return results.get(timeout=1.0)
        except Empty:
            collect_failure(children)


def collect_failure(children: list[Any]) -> None:
    failed = [child for child in children if child.exitcode not in (None, 0)]
    if failed:
        for child in children:
            child.kill()
        sys.exit(f"bench child {failed[0].pid} died with exit code {failed[0].exitcode}")


def depth(conn: sa.Connection, queue: str) -> int:
    if queue.startswith("ours"):
        query = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
    else:
        query = "SELECT count(*) FROM pgqueuer"
    return int(conn.execute(sa.text(query)).scalar_one())


def run_round(args: argparse.Namespace, queue: str, producers: int, consumers: int) -> Round:
    result = Round(queue, producers, consumers)
    ref = queue.split("@", 1)[1] if "@" in queue else None
    context = multiprocessing.get_context("spawn")
    with fresh_store_url(args.database_url) as url:
        assert url is not None
        result.rollback_left_job, waiting = prepare(queue, url, args.backlog)
        prefilled = time.time()
        results = context.Queue()
        ready = context.Semaphore(0)
        stop = context.Event()
        start = context.Value("d", 0.0)
        work = args.work_ms / 1000
        children = []
        for _ in range(consumers):
            if queue == "pgqueuer":
                target, targs = consume_pgqueuer, (url, work, ready, stop, results)
            else:
                target, targs = consume_ours, (ref, url, work, ready, stop, results)  # type: ignore[assignment]
            children.append(context.Process(target=target, args=targs))
        for index in range(producers):
            children.append(
                context.Process(
                    target=produce,
                    args=(queue, url, index, args.rate / producers, args.seconds, start, results),
                )
            )
        for child in children:
            child.start()
        for _ in range(consumers):
            while not ready.acquire(timeout=1.0):
                collect_failure(children)
        admin = create_engine(url)
        time.sleep(1.0)  # producers connect
        before = backend_cpu(admin)
        t0 = time.time() + 0.2
        start.value = t0
        with admin.connect() as conn:
            while time.time() < t0 + args.seconds:
                time.sleep(max(0.0, t0 + len(result.depth) + 1 - time.time()))
                result.depth.append((time.time() - t0, depth(conn, queue)))
                conn.commit()
            reports = [collect(results, children) for _ in range(producers)]  # the producers are done
            drain_until = time.time() + args.drain
            while time.time() < drain_until and depth(conn, queue) > 0:
                conn.commit()
                time.sleep(0.1)
            time.sleep(0.3)  # pgqueuer's buffered completions reach the table
        after = backend_cpu(admin)
        result.db_cpu = sum(spent - before.get(pid, 0.0) for pid, spent in after.items())
        result.start = t0
        stop.set()
        reports.extend(collect(results, children) for _ in range(consumers))
        for child in children:
            child.join(60)
        job_keys = {job_id: key for key, job_id in waiting if job_id is not None}
        result.backlog = {key for key, _ in waiting}
        result.acked.update({key: (prefilled, prefilled) for key, _ in waiting})
        for report in reports:
            if report[0] == "producer":
                _, acked, cpu = report
                result.producer_cpu += cpu
                for key, scheduled, committed, job_id in acked:
                    result.acked[key] = (scheduled, committed)
                    if job_id is not None:
                        job_keys[job_id] = key
            else:
                _, executions, done, cpu = report
                result.consumer_cpu += cpu
                result.executions.update(executions)
                for key, when in done:
                    result.completions[key] += 1
                    result.done[key] = when
        if queue == "pgqueuer":
            read_pgqueuer_completions(admin, result, job_keys)
        result.offered = int(args.rate * args.seconds)
        admin.dispose()
    return result


def read_pgqueuer_completions(admin: sa.Engine, result: Round, job_keys: dict[int, int]) -> None:
    """pgqueuer marks a job done by deleting it and logging `successful`: the log row's time is its completion."""
    with admin.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT job_id, extract(epoch FROM created) FROM pgqueuer_log WHERE status = 'successful'")
        ).all()
    for job_id, when in rows:
        key = job_keys.get(job_id)
        if key is not None:
            result.completions[key] += 1
            result.done[key] = float(when)


# -- report ----------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(result: Round, seconds: float) -> str:
    flood = {key: times for key, times in result.acked.items() if key not in result.backlog}
    acked = len(flood)
    enqueue_ms = [(committed - scheduled) * 1000 for scheduled, committed in flood.values()]
    done_ms = [(result.done[key] - committed) * 1000 for key, (_, committed) in flood.items() if key in result.done]
    lost = sum(1 for key in result.acked if key not in result.done)
    twice = sum(1 for count in result.executions.values() if count > 1) + sum(
        1 for count in result.completions.values() if count > 1
    )
    end_of_load = result.depth[-1][1] if result.depth else 0
    half = [d for t, d in result.depth if t >= seconds / 2]
    growth = (half[-1] - half[0]) / max(1.0, result.depth[-1][0] - seconds / 2) if len(half) > 1 else 0.0
    completed = len(result.done)
    # over the load and as much of the drain as it took: up to the last completion
    span = max([when for when in result.done.values()], default=0.0) - result.start
    per_job = 1e6 / max(1, completed)
    return (
        f"{result.producers}x{result.consumers} {result.queue:<14} {result.offered / seconds:7.0f}"
        f" {acked / seconds:7.0f}"
        f" {completed / max(span, seconds):7.0f} {percentile(enqueue_ms, 0.5):7.1f} {percentile(enqueue_ms, 0.99):7.1f}"
        f" {percentile(done_ms, 0.5):8.1f} {percentile(done_ms, 0.99):8.1f} {end_of_load:6d} {growth:7.1f}"
        f" {lost:5d} {twice:5d} {result.consumer_cpu * per_job:7.0f} {result.producer_cpu * per_job:7.0f}"
        f" {result.db_cpu * per_job:7.0f}{'  ROLLED-BACK JOB LEFT' if result.rollback_left_job else ''}"
    )


HEADER = (
    "PxC queue          offer/s   ack/s  done/s enq p50 enq p99 done p50 done p99  depth  grow/s  lost twice"
    " cons us prod us   db us\n"
    "                                          ms      ms       ms       ms  @end\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=800.0, help="jobs offered per second, all producers together")
    parser.add_argument("--drain", type=float, default=15.0)
    parser.add_argument("--work-ms", type=float, default=0.5)
    parser.add_argument("--backlog", type=int, default=20000, help="jobs already waiting when the flood starts")
    parser.add_argument("--scale", default="1x1,2x2,4x4")
    parser.add_argument("--queues", default="ours,pgqueuer")
    parser.add_argument("--baseline-ref", help="also run store/jobs.py as it was at this commit (ours@REF)")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        sys.exit("bench/job_queue.py compares queues on PostgreSQL: give --database-url postgresql+psycopg://...")
    queues = args.queues.split(",")
    if args.baseline_ref:
        queues.insert(1, f"ours@{args.baseline_ref}")
    print(
        f"{args.rate:.0f} jobs/s offered for {args.seconds:.0f} s over a backlog of {args.backlog},"
        f" {args.work_ms} ms CPU per job, batches of {BATCH};"
        f" CPU columns are microseconds per completed job ({os.cpu_count()} cores, shared)"
    )
    print(HEADER, end="")
    for scale in args.scale.split(","):
        producers, consumers = (int(n) for n in scale.split("x"))
        for queue in queues:
            print(row(run_round(args, queue, producers, consumers), args.seconds), flush=True)


if __name__ == "__main__":
    main()
