"""Group commit under a steady stream (issue 16): a batch lingers to gather a target size at the rate submissions
arrive, at most a bounded time, and a submission after a quiet spell is committed at once."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, cast

from clearinghouse.intake.group_commit import AcceptanceWriter, linger
from clearinghouse.intake.service import Accepted, ReportService, Submitted


class CountingStore:
    """Stands in for `ReportService.accept_many`: records each batch it is given, and when the audit is sealed."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.seals: list[tuple[float, str]] = []  # (when, "commit" or "alone") of each seal

    def accept_many(self, submissions: Sequence[Any], seal: bool = True) -> list[Accepted]:
        self.batches.append(len(submissions))
        if seal:
            self.seals.append((time.monotonic(), "commit"))
        return [Accepted([f"r{n}"], False) for n, _ in enumerate(submissions)]

    def seal_audit(self) -> None:
        self.seals.append((time.monotonic(), "alone"))


def put(writer: AcceptanceWriter) -> Future[Accepted]:
    """Queue one submission as `accept` does, without an event loop."""
    future: Future[Accepted] = Future()
    writer._ensure_running()
    writer._queue.put((cast(Submitted, object()), future, time.monotonic()))
    return future


def test_the_linger_gathers_a_target_batch_at_the_measured_rate_within_the_cap() -> None:
    assert linger(since_last=0.002, mean_gap=0.002, target=8, max_linger=0.025) == 0.016  # 500/s: 8 gaps
    assert linger(since_last=0.008, mean_gap=0.008, target=8, max_linger=0.025) == 0.025  # 125/s: the cap
    assert linger(since_last=0.03, mean_gap=0.001, target=8, max_linger=0.025) == 0.0  # after a quiet spell


def test_a_slow_steady_stream_is_committed_in_batches_of_the_target_size() -> None:
    """One submission every 80 ms, far slower than a fixed few-millisecond wait could gather (it committed each
    alone): after the first (alone, at once) each commit holds the target 4. The cap is generous so that a test
    thread scheduled late on a loaded machine still counts as part of the stream; the deadline leaves one
    arrival's slack besides."""
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), target_batch=4, max_linger=5.0)
    try:
        pending = []
        for _ in range(13):
            pending.append(put(writer))
            time.sleep(0.08)
        for future in pending:
            future.result(timeout=10)
    finally:
        writer.close()
    assert store.batches == [1, 4, 4, 4]


def test_a_lone_submission_does_not_wait() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), max_linger=0.3)
    try:
        started = time.monotonic()
        put(writer).result(timeout=5)  # the first ever
        first_waited = time.monotonic() - started
        time.sleep(0.4)  # longer than the cap: a quiet spell
        started = time.monotonic()
        put(writer).result(timeout=5)
        waited = time.monotonic() - started
    finally:
        writer.close()
    assert store.batches == [1, 1] and first_waited < 0.25 and waited < 0.25


def test_a_full_batch_does_not_wait_out_the_linger() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), max_batch=4, max_linger=5.0)
    try:
        put(writer).result(timeout=5)
        started = time.monotonic()
        pending = [put(writer) for _ in range(4)]
        for future in pending:
            future.result(timeout=5)
    finally:
        writer.close()
    assert time.monotonic() - started < 1.0 and store.batches == [1, 4]


def test_a_stream_seals_the_audit_at_most_once_a_period_and_the_last_entries_once_it_stops() -> None:
    """Ten submissions 20 ms apart, each committed alone: the first commit seals, the next ones (well within the
    period) leave their entries to a later seal, and once the stream stops the writer seals them by itself."""
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), max_linger=0.0, seal_every=1.0)
    try:
        for _ in range(10):
            put(writer).result(timeout=5)
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while (not store.seals or store.seals[-1][1] != "alone") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        writer.close()
    kinds = [kind for _, kind in store.seals]
    assert len(store.batches) == 10 and kinds[0] == "commit" and kinds[-1] == "alone" and len(kinds) < 10
    times = [when for when, _ in store.seals]
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


def test_closing_the_writer_seals_what_its_commits_left() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), max_linger=0.0, seal_every=60.0)
    put(writer).result(timeout=5)
    put(writer).result(timeout=5)  # within the period: not sealed
    writer.close()
    assert store.batches == [1, 1] and [kind for _, kind in store.seals] == ["commit", "alone"]
