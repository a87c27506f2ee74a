"""A durable job queue kept in the store: nothing extra to run on SQLite, SKIP LOCKED on PostgreSQL.

Jobs are rows, so an acknowledged piece of work survives a crash or restart. A worker claims a job by moving it
to `running` with a lease (`lease_until`), renewed while it works; a running job whose lease ran out (its worker
died, was SIGKILLed or lost its host) is due again and the next `claim` anywhere takes it, on both databases. No
sweep or liveness check is needed for that: `requeue_orphans` only saves waiting out the lease after a local crash.
A job whose worker dies `MAX_ATTEMPTS` times is marked failed instead of taking down worker after worker.

Why a table of our own and not a PostgreSQL queue library (issue 16, measured with `bench/job_queue.py` against
pgqueuer 1.6, chosen over procrastinate 3.10 because it can enqueue on the caller's psycopg connection and dequeues
in batches; procrastinate defers through its own connection pool, one job a fetch): under the flood (400 jobs/s
offered for 10 s over a 20,000-job backlog, 0.5 ms of CPU a job, 1, 2 and 4 producers and consumers, alternating in
each run, three runs on a loaded 2-core machine) both completed 600-1,800 jobs/s, ours ahead in four of the nine
pairs and pgqueuer in five (one by 1 %; the consumers' CPU bounds that figure, 545-657 us a job on both, 500 of them
the work), none lost or run twice; PostgreSQL spent 27-43 us a job on ours and 55-119 us on pgqueuer's (its enqueue
also writes a log row and fires a NOTIFY, its completion deletes and logs). At 100 jobs/s and no backlog ours
finished a job 22-31 ms (p50) after its enqueue committed, pgqueuer 69-80 ms (it buffers completions). What decided
it is what a switch would cost: pgqueuer is PostgreSQL-only (the embedded SQLite store would keep this queue beside
it), needs its own schema installed and upgraded with its releases, runs its consumers on asyncio, wants an
autocommit connection (enqueueing in our transaction means a psycopg transaction block under SQLAlchemy's back) and
marks a job done from its own connection after the handler returns, in buffered batches, where `complete_held` marks
it done in the transaction that writes its results: with pgqueuer a crash between the two runs a job again, and the
results of a job taken over after a lost heartbeat can be written twice.

On PostgreSQL `claim` is one statement; see `_claim_postgresql` for why queued and expired jobs are picked apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from clearinghouse.store.db import sqlite_immediate
from clearinghouse.store.tables import jobs

MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=30)  # a report's pipeline takes milliseconds; workers renew at a third of this
DIED_EACH_TIME = "its worker died each time"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def enqueue(conn: sa.Connection, kind: str, payload: dict[str, Any], delay: timedelta = timedelta(0)) -> None:
    """Add a job inside the caller's transaction, so the job exists exactly when the work it is for does."""
    enqueue_many(conn, kind, [payload], delay)


def enqueue_many(
    conn: sa.Connection, kind: str, payloads: list[dict[str, Any]], delay: timedelta = timedelta(0)
) -> None:
    """`enqueue` for several jobs of one kind, in one statement."""
    now = datetime.now(UTC)
    conn.execute(
        jobs.insert(),
        [
            dict(kind=kind, payload=payload, status="queued", attempts=0, run_after=now + delay, created_at=now)
            for payload in payloads
        ],
    )


class JobQueue:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def claim(self, worker: str, limit: int = 1, lease: timedelta = LEASE) -> list[Job]:
        """Claim up to `limit` due jobs, oldest first (one transaction for all: claiming cost more than a job).

        Due: queued and past its back-off, or running under a lease that has run out (its worker is gone).
        """
        if self.engine.dialect.name == "postgresql":
            return self._claim_postgresql(worker, limit, lease)
        now = datetime.now(UTC)
        queued = sa.and_(jobs.c.status == "queued", jobs.c.run_after <= now)
        expired = sa.and_(jobs.c.status == "running", jobs.c.lease_until < now)
        # Each kind of due job by its own ordered scan of the (status, run_after) index, stopping after `limit`
        # rows, as on PostgreSQL: picked together (`queued ... OR running ...`) SQLite read and sorted the whole
        # backlog on every claim.
        picks = [
            sa.select(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.run_after)
            .where(kind)
            .order_by(jobs.c.run_after, jobs.c.id)
            .limit(limit)
            for kind in (queued, expired)
        ]
        # BEGIN IMMEDIATE: with the API server committing reports all the time, a deferred SELECT-then-UPDATE
        # would often fail on SQLite (its snapshot gone stale before its first write).
        with sqlite_immediate(self.engine) as conn:
            found = [row for pick in picks for row in conn.execute(pick)]
            candidates = sorted(found, key=lambda row: (row.run_after, row.id))[:limit]
            # A job that has killed MAX_ATTEMPTS workers is not handed to another one.
            dead = [row.id for row in candidates if row.status == "running" and row.attempts >= MAX_ATTEMPTS]
            if dead:
                conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.id.in_(dead))
                    .values(status="failed", locked_by=None, lease_until=None, last_error=DIED_EACH_TIME)
                )
            job_ids = [row.id for row in candidates if row.id not in dead]
            if not job_ids:
                return []
            # The condition repeats what is due: only one writer at a time on SQLite, but a claim must never take a
            # job that stopped being due.
            rows = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id.in_(job_ids), sa.or_(queued, expired))
                .values(
                    status="running",
                    locked_by=worker,
                    locked_at=now,
                    lease_until=now + lease,
                    attempts=jobs.c.attempts + 1,
                )
                .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.run_after)
            ).all()
        claimed = sorted(rows, key=lambda row: (row.run_after, row.id))
        return [Job(row.id, row.kind, row.payload, row.attempts) for row in claimed]

    def _claim_postgresql(self, worker: str, limit: int, lease: timedelta) -> list[Job]:
        """`claim` in one statement: pick with SKIP LOCKED, then claim (or fail, if dead) and return the rows.

        The two kinds of due job are picked apart, each by an ordered scan of the (status, run_after) index that
        stops after `limit` rows. Picked together (`queued ... OR running ...`, as SQLite still does) PostgreSQL
        read and sorted every due job to find the oldest: 9.9 ms a claim of 64 on a 20,000-job backlog against
        0.15 ms for the two scans (EXPLAIN ANALYZE), so the deeper the backlog the slower every claim. Under
        `bench/job_queue.py`'s flood PostgreSQL now spends 27-43 us a job claimed and completed, against 184-322 us
        for the select-update-select claim this replaced, in the same runs.
        """
        now = datetime.now(UTC)
        order = (jobs.c.run_after, jobs.c.id)
        expired = (
            sa.select(jobs.c.id, jobs.c.run_after)
            .where(jobs.c.status == "running", jobs.c.lease_until < now)
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("expired")
        )
        queued = (
            sa.select(jobs.c.id, jobs.c.run_after)
            .where(jobs.c.status == "queued", jobs.c.run_after <= now)
            .order_by(*order)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("queued")
        )
        candidates = sa.union_all(sa.select(expired), sa.select(queued)).subquery()
        picked = sa.select(candidates.c.id).order_by(candidates.c.run_after, candidates.c.id).limit(limit).cte("picked")
        # A job that has killed MAX_ATTEMPTS workers is not handed to another one (the SET reads the old row).
        dead = sa.and_(jobs.c.status == "running", jobs.c.attempts >= MAX_ATTEMPTS)
        statement = (
            sa.update(jobs)
            .where(jobs.c.id == picked.c.id)
            .values(
                status=sa.case((dead, "failed"), else_="running"),
                locked_by=sa.case((dead, None), else_=worker),
                locked_at=sa.case((dead, jobs.c.locked_at), else_=now),
                lease_until=sa.case((dead, None), else_=now + lease),
                attempts=sa.case((dead, jobs.c.attempts), else_=jobs.c.attempts + 1),
                last_error=sa.case((dead, DIED_EACH_TIME), else_=jobs.c.last_error),
            )
            .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.status, jobs.c.run_after)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(statement).all()
        claimed = sorted((row for row in rows if row.status == "running"), key=lambda row: (row.run_after, row.id))
        return [Job(row.id, row.kind, row.payload, row.attempts) for row in claimed]

    def renew(self, worker: str, job_ids: list[int], lease: timedelta = LEASE) -> None:
        """Extend the lease on jobs this worker still holds (one statement, however many)."""
        if not job_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id.in_(job_ids), jobs.c.status == "running", jobs.c.locked_by == worker)
                .values(lease_until=datetime.now(UTC) + lease)
            )

    def complete(self, job: Job) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs).where(jobs.c.id == job.id).values(status="done", last_error=None, lease_until=None)
            )

    @staticmethod
    def complete_held(conn: sa.Connection, worker: str, job_ids: Sequence[int]) -> set[int]:
        """Mark done, inside the caller's transaction, the jobs this worker still holds; their ids.

        Called in the transaction that writes the jobs' results, so a result is written exactly when its job is
        done: a job whose lease ran out and that another worker claimed meanwhile is not this worker's any more,
        and this worker's results for it are not written (the other worker's are).
        """
        if not job_ids:
            return set()
        # One statement, so the check and the change cannot be told apart by a worker claiming meanwhile.
        done = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(list(job_ids)), jobs.c.status == "running", jobs.c.locked_by == worker)
            .values(status="done", last_error=None, lease_until=None)
            .returning(jobs.c.id)
        )
        return set(done.scalars())

    def fail(self, job: Job, error: str) -> None:
        """Retry later with exponential back-off, or give up (status `failed`) after MAX_ATTEMPTS."""
        status = "failed" if job.attempts >= MAX_ATTEMPTS else "queued"
        retry_at = datetime.now(UTC) + timedelta(seconds=2**job.attempts)
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job.id)
                .values(status=status, run_after=retry_at, last_error=error[:2000], locked_by=None, lease_until=None)
            )

    def requeue_stale(self) -> int:
        """Queue again the running jobs whose lease ran out (`claim` takes them anyway; this shows them queued)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(jobs)
                .where(jobs.c.status == "running", jobs.c.lease_until < datetime.now(UTC))
                .values(status="queued", locked_by=None, lease_until=None)
            )
        return int(result.rowcount)

    def requeue_orphans(self, host: str) -> int:
        """Queue again, at once, running jobs claimed on this host by a process that no longer exists.

        Saves waiting out the lease after a crash or SIGKILL; jobs of live processes (or other hosts) are left
        to the lease.
        """
        with self.engine.begin() as conn:
            running = conn.execute(
                sa.select(jobs.c.id, jobs.c.locked_by).where(
                    jobs.c.status == "running", jobs.c.locked_by.like(f"{host}:%")
                )
            ).all()
            orphans = [row.id for row in running if not _alive(row.locked_by.split(":")[1])]
            if orphans:
                conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.id.in_(orphans))
                    .values(status="queued", locked_by=None, lease_until=None)
                )
        return len(orphans)

    def backlog(self, kind: str) -> tuple[int, datetime | None]:
        """How many jobs of `kind` wait or run, and when the oldest of them was queued."""
        waiting = sa.and_(jobs.c.kind == kind, jobs.c.status.in_(("queued", "running")))
        query = sa.select(sa.func.count(), sa.func.min(jobs.c.created_at)).where(waiting)
        with self.engine.connect() as conn:
            depth, oldest = conn.execute(query).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite gives naive UTC back
            oldest = oldest.replace(tzinfo=UTC)
        return int(depth), oldest

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        return {status: int(n) for status, n in rows}


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:  # a killed worker whose parent died too stays a zombie where PID 1 does not reap (containers)
        if Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0] == b"Z":
            return False
    except OSError:
        pass
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
