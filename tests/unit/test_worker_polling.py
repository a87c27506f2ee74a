"""How often a job worker claims (issue 16): an idle worker backs off (N idle workers each claiming 20 times a
second cost CPU that grew with N), and one that found work claims again at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from clearinghouse.intake.worker import MAX_IDLE_SLEEP, Worker
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.jobs import LEASE, Job, JobQueue

RUN = 1.0  # seconds each worker runs


class CountingQueue(JobQueue):
    """Hands out `per_claim` jobs of a kind with a batch handler at each claim, and counts the claims."""

    def __init__(self, path: Path, per_claim: int) -> None:
        engine = create_engine(f"sqlite:///{path / 'store.db'}")
        migrate(engine)
        super().__init__(engine)
        self.per_claim = per_claim
        self.claims = 0

    def claim(self, worker: str, limit: int = 1, lease: timedelta = LEASE) -> list[Job]:
        self.claims += 1
        return [Job(self.claims * 100 + n, "batched", {}, 1) for n in range(min(limit, self.per_claim))]


def claims_in(queue: CountingQueue) -> int:
    def nothing_refused(jobs: Sequence[Job], complete: object) -> dict[int, str]:
        return {}

    worker = Worker(queue, {}, batch_handlers={"batched": nothing_refused})
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    time.sleep(RUN)
    stop.set()
    thread.join(5)
    queue.engine.dispose()
    return queue.claims


def test_an_idle_worker_claims_less_and_less_often(tmp_path: Path) -> None:
    # 0.05 + 0.1 + 0.2 + 0.4 + ... : 5 or 6 claims in a second, where claiming every 0.05 s made 20.
    assert MAX_IDLE_SLEEP >= 0.2
    assert claims_in(CountingQueue(tmp_path, 0)) <= 8


def test_a_worker_that_found_a_full_batch_claims_again_at_once(tmp_path: Path) -> None:
    assert claims_in(CountingQueue(tmp_path, 64)) > 40  # a full batch: more may be waiting
