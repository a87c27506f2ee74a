"""Group commit for report intake: one writer thread accepts the submissions that arrived together in one
transaction, so that a burst of AI-generated reports costs one commit, not one commit each.

Submitters wait for their own outcome: a 202 is answered only after the transaction holding the report has
committed, exactly as with one transaction per report. The writer takes what is queued, commits, and comes back;
batches grow while the previous commit is running. Under a steady stream it also lingers up to `LINGER` seconds
for more before committing (issue 16): a commit costs about 1.7 ms of CPU whatever its size (PostgreSQL: ten
statements, the seal, the signed checkpoint) against 0.1 ms a report, and with N API processes sharing the load
each one's commits held 1/N of the reports, mostly one, so the CPU a report cost grew with N. A submission that
arrives after a quiet spell (`BUSY_GAP`) is committed at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future

from clearinghouse.intake.service import Accepted, ReportService, Submitted

log = logging.getLogger("clearinghouse.intake")

MAX_BATCH = 64  # bounds one transaction's size (and the latency it adds to the first submitter in it)
LINGER = 0.004  # seconds a batch waits to fill under a steady stream, at most (added to its first report's latency)
BUSY_GAP = 0.02  # a submission arriving this soon after the previous commit ended means a steady stream

_Pending = tuple[Submitted, "Future[Accepted]"]


class AcceptanceWriter:
    def __init__(self, store: ReportService, max_batch: int = MAX_BATCH, linger: float | None = None) -> None:
        self.store = store
        self.max_batch = max_batch
        # PostgreSQL only, where N API processes split the load; SQLite's one writer was not measured with it.
        self.linger = (LINGER if store.engine.dialect.name == "postgresql" else 0.0) if linger is None else linger
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def accept(self, submission: Submitted) -> Accepted:
        """Accept one submission; returns once it is committed (or raises what refused it)."""
        future: Future[Accepted] = Future()
        self._ensure_running()
        self._queue.put((submission, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_running(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="clearinghouse-accept", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stopping = False
        committed = float("-inf")  # when the previous commit ended
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            started = time.monotonic()
            # Lingering only pays under a steady stream: after a quiet spell the first submitter is not made to wait.
            until = started + (self.linger if started - committed < BUSY_GAP else 0.0)
            while len(batch) < self.max_batch:
                try:
                    left = until - time.monotonic()
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            committed = time.monotonic()

    def _commit(self, batch: list[_Pending]) -> None:
        # A submitter that hung up before its turn is dropped (it was never acknowledged); once running, a future
        # can no longer be cancelled, so every committed report gets its answer.
        batch = [(submission, future) for submission, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            outcomes = self.store.accept_many([submission for submission, _ in batch])
        except Exception as exc:  # the store is down: every submitter in the batch gets the error, none a 202
            log.exception("accepting %d submissions failed", len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
