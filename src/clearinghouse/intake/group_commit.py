"""Group commit for report intake: one writer thread accepts the submissions that arrived together in one
transaction, so that a burst of AI-generated reports costs one commit, not one commit each.

Submitters wait for their own outcome: a 202 is answered only after the transaction holding the report has
committed, exactly as with one transaction per report. A submission that arrives after a quiet spell is committed
at once. Under a steady stream the writer lingers for the next submissions before committing: on PostgreSQL a
commit costs the API process about 1 ms of CPU whatever its size (its statements, waking the submitters), 2-3 ms
when it also seals the audit leaves into a link (see below), against about 0.2 ms a report in it.
How long it lingers follows the arrival rate it measures (`linger`): time for a batch of TARGET_BATCH at that
rate, at most MAX_LINGER. The fixed 4 ms wait it replaces fitted one rate only: N API processes sharing a stream
each see a N-th of it, and one process offered 125 reports/s (one of 4 at 500/s) committed them 1.1-1.6 at a time
(0.62-0.93 commits a report over several runs; 0.15 at 500/s), so each report cost the API 2.6-3.7 ms of CPU
against 1.1 at 500/s, and its PostgreSQL backends 1.1-1.4 ms against 0.4.

Sealing the audit entries into a link (five statements, signing and publishing the checkpoint) was half of a small
commit's cost on PostgreSQL, where the entries of any number of commits can be sealed together: there the writer
seals in at most one commit every SEAL_EVERY, and the others' entries wait for that seal, or for the writer's own
once no submission came for SEAL_EVERY. (SQLite seals each transaction's own, its one writer at a time.)
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
TARGET_BATCH = 8  # what a batch lingers to gather: past it, a commit's fixed cost is small beside the reports'
# The most the first submitter of a batch waits for others, from its arrival. One `serve --workers 0` process offered
# a steady stream for 10 s (2 cores; old code and each cap in one session, alternating):
# - PostgreSQL, 125 reports/s (one of 4 processes sharing 500/s): the fixed 4 ms wait committed 0.62-0.71 times a
#   report, for 3.2-4.1 ms of API CPU and 1.2-1.4 ms of its PostgreSQL backends' a report; a 10 ms cap 0.51 times,
#   3.1 and 1.0 ms, p99 22 ms (25 before); a 25 ms cap 0.25 times, 1.8-2.2 and 0.55 ms, p99 37-45 ms.
# - SQLite, 500 reports/s (one process): the 4 ms wait 0.23-0.25 commits a report, 1.38-1.50 ms of API CPU, p99
#   26-31 ms; 10 ms: 0.16-0.17, 0.89-0.97 ms, p99 18-19 ms; 25 ms: 0.13, 1.17-1.25 ms, p99 25-28 ms, and with the
#   report worker sharing the cores p99 49 ms under a near-duplicate flood (bench/intake.py), at the 50 ms.
# 10 ms: the least CPU and latency on the embedded default, and part of the multi-process gain.
MAX_LINGER = 0.010
# How long a committed audit entry waits for its seal at most (plus one commit), on PostgreSQL. Until then its own
# HMAC alone guards it (`store.audit`). In one session, 160 reports accepted one a commit on PostgreSQL cost the API
# 1.58-2.21 ms of CPU and PostgreSQL 0.62-1.50 ms each when each commit sealed, 0.92-0.98 and 0.38 when none did;
# eight a commit, 0.34-0.51 and 0.19-0.31 against 0.21-0.31 and 0.06-0.12. Served (one process, 125 reports/s, 2
# a commit): PostgreSQL 1.28 ms a report against 1.54, the API's own CPU unchanged (2.48 against 2.43 ms; its cost
# there is the requests', not the commits').
SEAL_EVERY = 0.1

_Pending = tuple[Submitted, "Future[Accepted]", float]  # with its arrival (time.monotonic())


def linger(since_last: float, mean_gap: float, target: int, max_linger: float) -> float:
    """How long after the first submission of a batch arrived to wait for more: `target` times `mean_gap` (the
    time between arrivals lately), which leaves one arrival's slack for the stream's jitter; at most `max_linger`.
    Nothing when the one before arrived more than `max_linger` earlier (`since_last`): after a quiet spell there
    is no stream to gather, and a lone submission is committed at once."""
    if since_last > max_linger:
        return 0.0
    return min(max_linger, target * mean_gap)


class AcceptanceWriter:
    def __init__(
        self,
        store: ReportService,
        max_batch: int = MAX_BATCH,
        target_batch: int = TARGET_BATCH,
        max_linger: float = MAX_LINGER,
        seal_every: float = SEAL_EVERY,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.target_batch = min(target_batch, max_batch)
        self.max_linger = max_linger
        self.seal_every = seal_every
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def accept(self, submission: Submitted) -> Accepted:
        """Accept one submission; returns once it is committed (or raises what refused it)."""
        future: Future[Accepted] = Future()
        self._ensure_running()
        self._queue.put((submission, future, time.monotonic()))
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
        # The arrival rate, measured as `worker.fill_time` measures its jobs': the submissions of the last batch
        # arrived between its first's arrival and this batch's first's.
        last_first, last_size, last_arrival = float("-inf"), 1, float("-inf")
        sealed_at, unsealed = float("-inf"), False  # the last commit that sealed; whether one since did not
        while not stopping:
            seal_due = max(0.0, sealed_at + self.seal_every - time.monotonic()) if unsealed else None
            try:
                first = self._queue.get(timeout=seal_due)
            except queue.Empty:  # a quiet spell: what the last commits left is sealed now
                self._seal()
                sealed_at, unsealed = time.monotonic(), False
                continue
            if first is None:
                if unsealed:
                    self._seal()
                return
            arrived = first[2]
            mean_gap = (arrived - last_first) / last_size
            deadline = arrived + linger(arrived - last_arrival, mean_gap, self.target_batch, self.max_linger)
            batch, stopping = self._gather(first, deadline)
            last_first, last_size, last_arrival = arrived, len(batch), batch[-1][2]
            seal = time.monotonic() - sealed_at >= self.seal_every or stopping
            self._commit(batch, seal)
            if seal:
                sealed_at, unsealed = time.monotonic(), False
            else:
                unsealed = True

    def _gather(self, first: _Pending, deadline: float) -> tuple[list[_Pending], bool]:
        """The batch `first` opens, and whether the writer was told to stop meanwhile: short of the target batch,
        submissions are waited for until `deadline`; past it, only those already queued are taken."""
        batch = [first]
        while len(batch) < self.max_batch:
            wait = deadline - time.monotonic() if len(batch) < self.target_batch else 0.0
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _seal(self) -> None:
        try:
            self.store.seal_audit()
        except Exception:  # the store is down: a later seal (this writer's next, a worker's) takes the entries
            log.exception("sealing the audit log failed")

    def _commit(self, batch: list[_Pending], seal: bool) -> None:
        # A submitter that hung up before its turn is dropped (it was never acknowledged); once running, a future
        # can no longer be cancelled, so every committed report gets its answer.
        running = [(submission, future) for submission, future, _ in batch if future.set_running_or_notify_cancel()]
        if not running:
            if seal:  # what earlier commits left
                self._seal()
            return
        try:
            outcomes = self.store.accept_many([submission for submission, _ in running], seal=seal)
        except Exception as exc:  # the store is down: every submitter in the batch gets the error, none a 202
            log.exception("accepting %d submissions failed", len(running))
            for _, future in running:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(running, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
