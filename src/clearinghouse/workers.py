"""Every kind of queued job and its handler, wired in one place for the API app and `clearinghouse worker`.

A domain exposes its handlers (`{job kind: handler}`) and adds them here; lower layers enqueue jobs by kind name
inside their own transactions, so they never import the layer that runs them.
"""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.worker import Handler, Worker, report_processing
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.records import RecordStore


def build_worker(engine: sa.Engine) -> tuple[ReportPipeline, Worker]:
    """The report pipeline (its duplicate index is warmed by `worker`) and a worker running every job kind."""
    pipeline, report_handlers = report_processing(RecordStore(engine), ReportService(engine))
    handlers: dict[str, Handler] = {**report_handlers}
    return pipeline, Worker(JobQueue(engine), handlers)
