"""Group commit under a steady stream (issue 16): a batch lingers to fill, but a submission after a quiet spell
is committed at once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, cast

from clearinghouse.intake.group_commit import AcceptanceWriter
from clearinghouse.intake.service import Accepted, ReportService, Submitted

# Generous, so that a test thread scheduled late on a loaded machine still counts as part of the stream.
STREAM = 1.0


class CountingStore:
    """Stands in for `ReportService.accept_many`: records each batch it is given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def accept_many(self, submissions: Sequence[Any]) -> list[Accepted]:
        self.batches.append(len(submissions))
        return [Accepted([f"r{n}"], False) for n, _ in enumerate(submissions)]


def put(writer: AcceptanceWriter) -> Future[Accepted]:
    """Queue one submission as `accept` does, without an event loop."""
    future: Future[Accepted] = Future()
    writer._ensure_running()
    writer._queue.put((cast(Submitted, object()), future))
    return future


def test_under_a_steady_stream_a_batch_waits_for_the_next_submission() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), linger=0.5, busy=STREAM)
    try:
        put(writer).result(timeout=5)  # the first after a quiet spell: committed alone, at once
        first = put(writer)  # straight after that commit: a stream, so its batch waits for more ...
        time.sleep(0.1)
        second = put(writer)  # ... and takes this one
        first.result(timeout=5), second.result(timeout=5)
    finally:
        writer.close()
    assert store.batches == [1, 2]


def test_after_a_quiet_spell_a_submission_does_not_wait() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), linger=5.0, busy=0.05)
    try:
        put(writer).result(timeout=5)
        time.sleep(0.2)
        started = time.monotonic()
        put(writer).result(timeout=5)
        waited = time.monotonic() - started
    finally:
        writer.close()
    assert store.batches == [1, 1] and waited < 1.0


def test_a_full_batch_does_not_wait_out_the_linger() -> None:
    store = CountingStore()
    writer = AcceptanceWriter(cast(ReportService, store), max_batch=4, linger=5.0, busy=STREAM)
    try:
        put(writer).result(timeout=5)
        started = time.monotonic()
        pending = [put(writer) for _ in range(4)]
        for future in pending:
            future.result(timeout=5)
    finally:
        writer.close()
    assert time.monotonic() - started < 1.0 and store.batches == [1, 4]
