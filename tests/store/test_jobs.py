"""The job queue in the store: claimed once, oldest first, retried with back-off, recovered after a crash."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from clearinghouse.store import jobs
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.tables import jobs as jobs_table


def enqueue(engine: sa.Engine, count: int) -> None:
    with engine.begin() as conn:
        for n in range(count):
            jobs.enqueue(conn, "work", {"n": n})


def test_each_job_is_claimed_once_oldest_first(engine: sa.Engine) -> None:
    enqueue(engine, 5)
    queue = jobs.JobQueue(engine)
    first = queue.claim("host:1:a", limit=3)
    second = queue.claim("host:1:b", limit=3)
    assert [job.payload["n"] for job in first] == [0, 1, 2]
    assert [job.payload["n"] for job in second] == [3, 4]
    assert queue.claim("host:1:c", limit=3) == []
    for job in first + second:
        queue.complete(job)
    assert queue.counts() == {"done": 5}


def test_a_failed_job_waits_its_back_off_then_gives_up(engine: sa.Engine) -> None:
    enqueue(engine, 1)
    queue = jobs.JobQueue(engine)
    (job,) = queue.claim("host:1:a")
    queue.fail(job, "boom")
    assert queue.claim("host:1:a") == []  # not before its back-off
    with engine.begin() as conn:
        conn.execute(sa.update(jobs_table).values(run_after=sa.func.current_timestamp(), attempts=jobs.MAX_ATTEMPTS))
    (again,) = queue.claim("host:1:a")
    queue.fail(again, "boom again")
    assert queue.counts() == {"failed": 1}


def test_jobs_of_a_dead_worker_are_queued_again(engine: sa.Engine) -> None:
    enqueue(engine, 2)
    queue = jobs.JobQueue(engine)
    assert len(queue.claim("host:999999999:a", limit=2)) == 2  # no such process
    assert queue.requeue_orphans("host") == 2
    (job, _) = queue.claim("host:1:b", limit=2, lease=timedelta(0))
    assert queue.requeue_stale() == 2
    assert job.attempts == 2


def test_a_job_whose_worker_died_is_claimed_again_once_its_lease_runs_out(engine: sa.Engine) -> None:
    enqueue(engine, 2)
    queue = jobs.JobQueue(engine)
    # A worker on another host (no liveness check can reach it) claims both and dies.
    assert len(queue.claim("elsewhere:42:a", limit=2, lease=timedelta(milliseconds=1))) == 2
    with engine.begin() as conn:  # its lease ran out a moment ago
        conn.execute(sa.update(jobs_table).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    again = queue.claim("host:1:b", limit=5)
    assert [job.payload["n"] for job in again] == [0, 1] and all(job.attempts == 2 for job in again)
    # A live lease is respected, and renewing keeps it.
    enqueue(engine, 1)
    (held,) = queue.claim("host:1:c", limit=5)
    queue.renew("host:1:c", [held.id])
    assert queue.claim("host:1:d", limit=5) == []


def test_a_job_that_kills_every_worker_is_failed_not_retried_forever(engine: sa.Engine) -> None:
    enqueue(engine, 1)
    queue = jobs.JobQueue(engine)
    for attempt in range(jobs.MAX_ATTEMPTS):
        assert len(queue.claim(f"elsewhere:{attempt}:a", lease=timedelta(0))) == 1
        with engine.begin() as conn:
            conn.execute(sa.update(jobs_table).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert queue.claim("host:1:z") == []
    assert queue.counts() == {"failed": 1}


def test_queued_jobs_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    engine = create_engine(url)
    migrate(engine)
    enqueue(engine, 3)
    engine.dispose()
    reopened = create_engine(url)
    assert len(jobs.JobQueue(reopened).claim("host:1:a", limit=10)) == 3


def test_concurrent_claims_take_every_due_job_once_whether_queued_or_left_by_a_dead_worker(
    database_url: str, engine: sa.Engine
) -> None:
    """The claim picks queued jobs and jobs whose lease ran out apart (an index scan each on PostgreSQL) and
    merges them: under concurrent claimers neither kind is handed out twice, oldest first, and a job that killed
    MAX_ATTEMPTS workers is failed, never handed out."""
    enqueue(engine, 150)
    queue = jobs.JobQueue(engine)
    assert len(queue.claim("elsewhere:1:dead", limit=60)) == 60  # jobs 0-59: their worker dies
    past = datetime.now(UTC) - timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(sa.update(jobs_table).where(jobs_table.c.status == "running").values(lease_until=past))
        killers = sa.select(jobs_table.c.id).where(jobs_table.c.status == "running").order_by(jobs_table.c.id)
        killer_ids = list(conn.execute(killers.limit(5)).scalars())  # jobs 0-4 killed every worker they met
        conn.execute(sa.update(jobs_table).where(jobs_table.c.id.in_(killer_ids)).values(attempts=jobs.MAX_ATTEMPTS))
    # The six oldest: five are failed, the sixth is handed out (a dead worker's job, older than any queued one).
    (oldest,) = jobs.JobQueue(engine).claim("host:1:first", limit=6)
    assert oldest.payload["n"] == 5 and oldest.attempts == 2
    claimers = 6
    engines = [create_engine(database_url) for _ in range(claimers)]
    start = threading.Barrier(claimers)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def claim_until_none(index: int) -> None:
        own = jobs.JobQueue(engines[index])
        worker = f"host:1:w{index}"
        start.wait()
        while batch := own.claim(worker, limit=7):
            with lock:
                claimed.extend((worker, job.payload["n"]) for job in batch)

    threads = [threading.Thread(target=claim_until_none, args=(index,)) for index in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for own in engines:
        own.dispose()

    numbers = Counter(n for _, n in claimed)
    assert sorted(numbers) == list(range(6, 150)) and set(numbers.values()) == {1}
    assert len({worker for worker, _ in claimed}) > 1  # they did run side by side
    with engine.connect() as conn:
        statuses = Counter(conn.execute(sa.select(jobs_table.c.status)).scalars())
        held = Counter(
            conn.execute(sa.select(jobs_table.c.locked_by).where(jobs_table.c.status == "running")).scalars()
        )
    assert statuses == {"running": 145, "failed": 5}
    assert held == Counter(worker for worker, _ in claimed) + Counter({"host:1:first": 1})
