"""Group commit for report intake: one writer thread accepts the submissions that arrived together in one
transaction, so that a burst of AI-generated reports costs one commit, not one commit each.

Submitters wait for their own outcome: a 202 is answered only after the transaction holding the report has
committed, exactly as with one transaction per report. Nothing waits for a batch to fill: the writer takes what
is queued, commits, and comes back; batches grow only while the previous commit is running.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from clearinghouse.intake.service import Accepted, ReportService, Submitted

log = logging.getLogger("clearinghouse.intake")

MAX_BATCH = 64  # bounds one transaction's size (and the latency it adds to the first submitter in it)

_Pending = tuple[Submitted, "Future[Accepted]"]


class AcceptanceWriter:
    def __init__(self, store: ReportService, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
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
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

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
