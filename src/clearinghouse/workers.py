"""Every kind of queued job and the function that runs it: the one place where domains' job handlers are wired.

The API app (which keeps a worker so that tests and operators can run due jobs in-process) and `clearinghouse
worker` processes both build their worker here, so a job kind added by one domain is run by every worker.
"""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.worker import BatchHandler, Handler, Worker, report_processing
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.records import RecordStore


def build_worker(engine: sa.Engine) -> tuple[ReportPipeline, Worker]:
    """The report pipeline and a worker that runs every job kind."""
    pipeline, report_handlers, report_batches = report_processing(RecordStore(engine), ReportService(engine))
    handlers: dict[str, Handler] = {**report_handlers}
    batch_handlers: dict[str, BatchHandler] = {**report_batches}
    # Each domain's job kinds join here, e.g. `handlers |= notify.job_handlers(engine)`.
    return pipeline, Worker(JobQueue(engine), handlers, batch_handlers=batch_handlers)
