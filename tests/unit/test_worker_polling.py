"""How often a job worker claims (issue 16): an idle worker backs off (N idle workers each claiming 20 times a
second cost CPU that grew with N), one that found a full batch claims again at once, and one that found a partial
batch lets the next one fill (each batch has a fixed cost), however small its share of the stream."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from clearinghouse.intake.worker import FILL_TARGET, MAX_IDLE_SLEEP, Worker
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
        self.claimed_at: list[float] = []

    def claim(self, worker: str, limit: int = 1, lease: timedelta = LEASE) -> list[Job]:
        self.claims += 1
        self.claimed_at.append(time.monotonic())
        return [Job(self.claims * 100 + n, "batched", {}, 1) for n in range(min(limit, self.per_claim))]


class StreamQueue(CountingQueue):
    """Jobs arrive at `rate` a second; a claim takes those that arrived since the last (up to its limit)."""

    def __init__(self, path: Path, rate: float) -> None:
        super().__init__(path, 0)
        self.rate = rate
        self.started = time.monotonic()
        self.handed = 0
        self.sizes: list[int] = []

    def claim(self, worker: str, limit: int = 1, lease: timedelta = LEASE) -> list[Job]:
        self.claims += 1
        arrived = int((time.monotonic() - self.started) * self.rate)
        size = min(limit, arrived - self.handed)
        self.handed += size
        self.sizes.append(size)
        return [Job(self.handed * 100 + n, "batched", {}, 1) for n in range(size)]


def claims_in(queue: CountingQueue, fill_wait: float = 0.1, max_fill_wait: float = 0.5, run: float = RUN) -> int:
    def nothing_refused(jobs: Sequence[Job], complete: object) -> dict[int, str]:
        return {}

    worker = Worker(
        queue, {}, batch_handlers={"batched": nothing_refused}, fill_wait=fill_wait, max_fill_wait=max_fill_wait
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    time.sleep(run)
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


def test_after_a_partial_batch_the_worker_waits_for_the_next_to_fill(tmp_path: Path) -> None:
    queue = CountingQueue(tmp_path, 1)
    claims = claims_in(queue, fill_wait=0.2, max_fill_wait=0.2)
    # Claiming again at once would have made thousands of one-job batches in a second.
    assert 3 <= claims <= 7
    gaps = [later - earlier for earlier, later in zip(queue.claimed_at, queue.claimed_at[1:], strict=False)]
    assert min(gaps) >= 0.19


def test_a_worker_seeing_a_small_share_of_the_stream_waits_for_batches_of_its_fill_target(tmp_path: Path) -> None:
    # 100 jobs a second, as one of 5 workers sharing 500 a second sees them: with the minimum wait alone (0.05 s)
    # every batch would hold 5 jobs and pay a batch's fixed cost for 5 reports.
    queue = StreamQueue(tmp_path, 100.0)
    claims_in(queue, fill_wait=0.05, max_fill_wait=1.0, run=3.0)
    settled = [size for size in queue.sizes[2:] if size]  # the first claims estimate the rate from nothing
    # The median: one wake-up delayed on a loaded machine makes one batch larger, not the typical one.
    assert settled and FILL_TARGET * 0.75 <= statistics.median(settled) <= FILL_TARGET * 1.5


def test_the_wait_for_a_batch_to_fill_is_bounded(tmp_path: Path) -> None:
    worker = Worker(CountingQueue(tmp_path, 0), {}, fill_wait=0.1, max_fill_wait=0.5)
    assert worker.fill_time(50, 0.1) == 0.1  # the stream fills batches quickly: the minimum
    assert abs(worker.fill_time(12, 0.1) - FILL_TARGET * 0.1 / 12) < 1e-9  # a share of it: time for FILL_TARGET
    assert worker.fill_time(1, 0.4) == 0.5  # a trickle: a report waits at most max_fill_wait
