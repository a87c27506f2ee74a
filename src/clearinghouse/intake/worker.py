"""Runs queued jobs in `clearinghouse worker` processes (`serve` starts one of its own).

Jobs are claimed in batches. A kind with a batch handler (report processing) gets the batch's jobs of its kind at
once and marks them done in the transaction that writes their results (`Completion`); any other kind runs job by
job and is marked done after its handler returns.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from clearinghouse.intake.dedup_service import DuplicateFinder
from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import PROCESS_REPORT, ReportService
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.jobs import LEASE, Job, JobQueue
from clearinghouse.store.rate_limits import RateLimitStore
from clearinghouse.store.records import RecordStore

log = logging.getLogger("clearinghouse.worker")

Handler = Callable[[dict[str, Any]], object]  # the result is not used: failures are recorded by the handler
# Inside the transaction that writes a batch's results: mark done those of the jobs this worker still holds.
Completion = Callable[[sa.Connection, Sequence[Job]], set[int]]
# Runs a batch; returns the jobs it refused (job id -> why), which fail alone (retried with back-off).
BatchHandler = Callable[[Sequence[Job], Completion], dict[int, str]]
# Seal audit leaves whose writers found another process sealing (PostgreSQL; see `store.audit`): bounds how long a
# committed entry can stay unsealed (only its HMAC guards it meanwhile).
SEAL_EVERY = 1.0
BATCH = 64  # jobs claimed at once; a crash leaves at most this many to the lease (or the orphan sweep)
# After a batch smaller than BATCH the worker waits before claiming again, so that the next batch has had time to
# fill. A batch costs about 12 ms of CPU whatever its size (claiming, the batch's reads, one write transaction, its
# seal and checkpoint; PostgreSQL, 10 connection checkouts and 30 statements): claiming as soon as one batch was done,
# a worker keeping pace with 500 reports/s took about 18 at a time and spent a third of its time on those costs. The
# wait is long enough for FILL_TARGET jobs at the rate the last claim found them arriving, between FILL_WAIT and
# MAX_FILL_WAIT: N workers sharing one stream each see a N-th of it, and a fixed wait gave each a N-th of the batch
# (4 workers at 500/s: 12 a batch, 1 ms of fixed cost a report). A report waits at most MAX_FILL_WAIT longer. Three
# quarters of a batch rather than half: a third fewer batches (and syncs with the other workers' commits) for a
# worker that keeps pace, each report waiting about a quarter of the fill time more (at 125/s, 0.38 s at most).
FILL_TARGET = BATCH * 3 // 4
FILL_WAIT = 0.1
MAX_FILL_WAIT = 0.5
# An idle worker claims every `idle_sleep` seconds, twice as long after each claim that found nothing, up to this:
# N idle workers each claiming 20 times a second cost 155 ms of CPU a second between them (PostgreSQL, 4 workers;
# 10 ms with this and the claim statement built once), and PostgreSQL a write transaction each. The first job after
# a long quiet spell waits this long at most.
MAX_IDLE_SLEEP = 0.4


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, Handler],
        idle_sleep: float = 0.05,
        batch: int = BATCH,
        batch_handlers: dict[str, BatchHandler] | None = None,
        fill_wait: float = FILL_WAIT,
        max_fill_wait: float = MAX_FILL_WAIT,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.batch_handlers = batch_handlers or {}
        self.idle_sleep = idle_sleep
        self.batch = batch
        self.fill_wait = fill_wait
        self.max_fill_wait = max(fill_wait, max_fill_wait)
        # Unique per worker (several may share a process and a thread): its claims and completions are its own.
        self.audit = AuditLog(queue.engine)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def run_once(self, limit: int | None = None) -> int:
        """Claim and run up to `batch` (or `limit`) due jobs; how many ran (0 when none was due)."""
        claimed = self.queue.claim(self.name, min(self.batch, limit or self.batch))
        batched: dict[str, list[Job]] = {}
        single: list[Job] = []
        for job in claimed:
            (batched.setdefault(job.kind, []) if job.kind in self.batch_handlers else single).append(job)
        for kind, jobs in batched.items():
            self._run_batch(kind, jobs)
        renewed = time.monotonic()
        for index, job in enumerate(single):
            if time.monotonic() - renewed > LEASE.total_seconds() / 3:  # keep the rest of the batch ours
                self.queue.renew(self.name, [later.id for later in single[index:]])
                renewed = time.monotonic()
            self._run(job)
        return len(claimed)

    def run_until_idle(self, limit: int = 100_000) -> int:
        done = 0
        while done < limit and (ran := self.run_once(limit - done)):
            done += ran
        self.audit.seal()  # leaves whose writers found another process sealing
        return done

    def run_forever(self, stop: threading.Event) -> None:
        self.queue.requeue_orphans(socket.gethostname())
        self.queue.requeue_stale()
        last_sweep = last_seal = time.monotonic()
        idle = self.idle_sleep
        claimed_at = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            since_last_claim, claimed_at = now - claimed_at, now
            try:
                ran = self.run_once()
                if time.monotonic() - last_seal >= SEAL_EVERY:
                    self.audit.seal()
                    last_seal = time.monotonic()
            except Exception:  # the database went away for a moment: wait and carry on
                log.exception("job queue unavailable")
                ran = 0
            if time.monotonic() - last_sweep > 60:
                last_sweep = time.monotonic()
                try:
                    self.queue.requeue_stale()
                    RateLimitStore(self.queue.engine).prune(time.time())
                except Exception:  # as for the jobs: a moment without the database does not end the worker
                    log.exception("periodic sweep failed")
            if ran == 0:
                stop.wait(idle)
                idle = min(idle * 2, max(MAX_IDLE_SLEEP, self.idle_sleep))
                continue
            idle = self.idle_sleep
            if ran < self.batch:  # the queue is keeping up: let the next batch fill
                stop.wait(max(0.0, claimed_at + self.fill_time(ran, since_last_claim) - time.monotonic()))

    def fill_time(self, claimed: int, since_last_claim: float) -> float:
        """How long after a claim that found `claimed` jobs (fewer than a batch), `since_last_claim` seconds after
        the one before, to claim again: time for FILL_TARGET jobs to arrive at the rate they did."""
        wanted = min(FILL_TARGET, self.batch) * since_last_claim / max(1, claimed)
        return min(self.max_fill_wait, max(self.fill_wait, wanted))

    def _run_batch(self, kind: str, jobs: list[Job]) -> None:
        started = time.perf_counter()
        try:
            refused = self.batch_handlers[kind](jobs, self._complete)
        except Exception as exc:  # the whole batch is retried with back-off, never lost
            log.exception("batch of %d %s jobs failed", len(jobs), kind)
            for job in jobs:
                self.queue.fail(job, f"{exc.__class__.__name__}: {exc}")
            return
        for job in jobs:
            if job.id in refused:
                self.queue.fail(job, refused[job.id])
        log.info("%d %s jobs done in %.1f ms", len(jobs), kind, (time.perf_counter() - started) * 1000)

    def _complete(self, conn: sa.Connection, jobs: Sequence[Job]) -> set[int]:
        return self.queue.complete_held(conn, self.name, [job.id for job in jobs])

    def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            self.queue.fail(job, f"no handler for job kind {job.kind!r}")
            return
        started = time.perf_counter()
        try:
            handler(job.payload)
        except Exception as exc:  # a failing job is retried with back-off, never lost
            log.exception("job %s (%s) failed", job.id, job.kind)
            self.queue.fail(job, f"{exc.__class__.__name__}: {exc}")
            return
        self.queue.complete(job)
        log.info("job %s (%s) done in %.1f ms", job.id, job.kind, (time.perf_counter() - started) * 1000)


def report_processing(records: RecordStore, reports: ReportService) -> tuple[ReportPipeline, dict[str, Handler]]:
    """The report pipeline and the handler running it for one queued report (wired in `clearinghouse.workers`;
    workers use `report_batches` for the same jobs)."""
    pipeline = ReportPipeline(records, reports, DuplicateFinder(records, reports))
    return pipeline, {PROCESS_REPORT: lambda payload: pipeline.process(payload["report_id"])}


def report_batches(pipeline: ReportPipeline) -> dict[str, BatchHandler]:
    """The batch handler running `pipeline` for the report jobs a worker claimed together."""

    def process_reports(jobs: Sequence[Job], complete: Completion) -> dict[int, str]:
        by_report: dict[str, list[int]] = {}
        refused: dict[int, str] = {}
        for job in jobs:
            report_id = job.payload.get("report_id")
            if isinstance(report_id, str):
                by_report.setdefault(report_id, []).append(job.id)
            else:  # fails alone, not the batch
                refused[job.id] = f"a {PROCESS_REPORT} job needs a report_id string, not {report_id!r}"
        valid = [job for job in jobs if job.id not in refused]

        def finish(conn: sa.Connection) -> set[str]:
            done = complete(conn, valid)
            return {report_id for report_id, ids in by_report.items() if done.intersection(ids)}

        if valid:
            pipeline.process_batch(list(by_report), finish)
        return refused

    return {PROCESS_REPORT: process_reports}
