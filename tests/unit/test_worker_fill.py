"""A worker keeping pace lets its next batch fill instead of claiming again at once (each batch has a fixed cost)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from clearinghouse.intake.worker import Worker
from clearinghouse.store.jobs import Job


class TrickleQueue:
    """One job per claim, as a queue fed slowly; records when each claim came."""

    def __init__(self) -> None:
        self.engine = sa.create_engine("sqlite://")
        self.claims: list[float] = []
        self.done = 0

    def claim(self, worker: str, limit: int = 1, lease: timedelta = timedelta(seconds=30)) -> list[Job]:
        self.claims.append(time.monotonic())
        return [Job(len(self.claims), "work", {}, 1)]

    def complete(self, job: Job) -> None:
        self.done += 1

    def requeue_orphans(self, host: str) -> int:
        return 0

    def requeue_stale(self) -> int:
        return 0


def run_for(worker: Worker, seconds: float) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=10)


def test_after_a_partial_batch_the_worker_waits_for_the_next_to_fill(monkeypatch: Any) -> None:
    queue = TrickleQueue()
    handled: list[dict[str, Any]] = []
    worker = Worker(queue, {"work": handled.append}, fill_wait=0.2)  # type: ignore[arg-type]
    monkeypatch.setattr(worker.audit, "seal", lambda: 0)
    run_for(worker, 1.0)
    # Claiming again at once would have made hundreds of one-job batches in a second.
    assert 3 <= len(queue.claims) <= 7 and queue.done == len(handled) == len(queue.claims)
    gaps = [later - earlier for earlier, later in zip(queue.claims, queue.claims[1:], strict=False)]
    assert min(gaps) >= 0.19
