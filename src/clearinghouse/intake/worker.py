"""Runs queued jobs in `clearinghouse worker` processes (`serve` starts one of its own)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from clearinghouse.intake.dedup_service import DuplicateFinder
from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import PROCESS_REPORT, ReportService
from clearinghouse.store.jobs import LEASE, Job, JobQueue
from clearinghouse.store.records import RecordStore

log = logging.getLogger("clearinghouse.worker")

Handler = Callable[[dict[str, Any]], object]  # the result is not used: failures are recorded by the handler


class Worker:
    def __init__(self, queue: JobQueue, handlers: dict[str, Handler], idle_sleep: float = 0.05, batch: int = 8) -> None:
        self.queue = queue
        self.handlers = handlers
        self.idle_sleep = idle_sleep
        self.batch = batch  # jobs claimed at once; a crash leaves at most this many to the orphan sweep
        self.name = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

    def run_once(self, limit: int | None = None) -> int:
        """Claim and run up to `batch` (or `limit`) due jobs; how many ran (0 when none was due)."""
        claimed = self.queue.claim(self.name, min(self.batch, limit or self.batch))
        renewed = time.monotonic()
        for index, job in enumerate(claimed):
            if time.monotonic() - renewed > LEASE.total_seconds() / 3:  # keep the rest of the batch ours
                self.queue.renew(self.name, [later.id for later in claimed[index:]])
                renewed = time.monotonic()
            self._run(job)
        return len(claimed)

    def run_until_idle(self, limit: int = 100_000) -> int:
        done = 0
        while done < limit and (ran := self.run_once(limit - done)):
            done += ran
        return done

    def run_forever(self, stop: threading.Event) -> None:
        self.queue.requeue_orphans(socket.gethostname())
        self.queue.requeue_stale()
        last_sweep = time.monotonic()
        while not stop.is_set():
            try:
                worked = self.run_once() > 0
            except Exception:  # the database went away for a moment: wait and carry on
                log.exception("job queue unavailable")
                worked = False
            if time.monotonic() - last_sweep > 60:
                self.queue.requeue_stale()
                last_sweep = time.monotonic()
            if not worked:
                stop.wait(self.idle_sleep)

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
    """The report pipeline and the job handlers running it for queued reports (wired in `clearinghouse.workers`)."""
    pipeline = ReportPipeline(records, reports, DuplicateFinder(records, reports))
    return pipeline, {PROCESS_REPORT: lambda payload: pipeline.process(payload["report_id"])}
