"""Group commit for report intake: one writer thread accepts the submissions that arrived together in one
transaction, so that a burst of AI-generated reports costs one commit, not one commit each.

Submitters wait for their own outcome: a 202 is answered only after the transaction holding the report has
committed, exactly as with one transaction per report. A submission that arrives while the writer is idle is
committed at once. Under a steady stream the writer lingers a few milliseconds for the next submissions before
committing: each commit costs about a millisecond of CPU whatever its size (sealing the audit leaves into a link,
signing and publishing the checkpoint, the commit itself), and without the wait a stream of 500 reports/s was
committed 1.1 reports at a time, so the commits cost the API process as much CPU as the reports did.
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
# The writer is busy when its last commit ended less than BUSY ago; then a batch waits up to LINGER for more. At
# 500/s offered (bench/intake.py, no worker) 4 ms cut the API's CPU per report from 1.48 to 0.93 ms (4,615 commits
# for 5,000 reports before, 1,371 after); 2 ms saved less, 8 ms little more for twice the added latency.
LINGER = 0.004
BUSY = 0.02

_Pending = tuple[Submitted, "Future[Accepted]"]


class AcceptanceWriter:
    def __init__(
        self, store: ReportService, max_batch: int = MAX_BATCH, linger: float = LINGER, busy: float = BUSY
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.linger = linger
        self.busy = busy
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
        last_commit = float("-inf")
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            now = time.monotonic()
            deadline = now + self.linger if now - last_commit < self.busy else now
            while len(batch) < self.max_batch:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            last_commit = time.monotonic()

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
