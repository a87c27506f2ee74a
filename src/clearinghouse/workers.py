"""Every kind of queued job and the function that runs it: the one place where domains' job handlers are wired.

A domain exposes its handlers (`{job kind: handler}`) and adds them here; lower layers enqueue jobs by kind name
inside their own transactions, so they never import the layer that runs them. Report processing also has a batch
handler: a worker hands it every claimed report job at once (one read and one write transaction per batch).
"""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.config import Settings
from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.worker import BatchHandler, Handler, Worker, report_batches, report_processing
from clearinghouse.notify.service import job_handlers as notification_handlers
from clearinghouse.partners.service import job_handlers as partner_handlers
from clearinghouse.reproduce.jobs import job_handlers as reproduction_handlers
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.records import RecordStore


def build_worker(engine: sa.Engine, settings: Settings | None = None) -> tuple[ReportPipeline, Worker]:
    """The report pipeline and a worker that runs every job kind."""
    settings = settings or Settings.from_env()
    pipeline, report_handlers = report_processing(RecordStore(engine), ReportService(engine))
    handlers: dict[str, Handler] = {**report_handlers}
    handlers |= notification_handlers(engine, settings)
    handlers |= partner_handlers(engine)
    handlers |= reproduction_handlers(engine, settings)
    batch_handlers: dict[str, BatchHandler] = report_batches(pipeline)
    return pipeline, Worker(JobQueue(engine), handlers, batch_handlers=batch_handlers)
