"""The OSV import pipeline: read -> parse -> enrich -> store -> link, one bad record never stopping a run.

Parsing, validating, scoring and turning records into rows is CPU work that needs no database, so it runs in
worker processes, in chunks, while this process reads the input and writes to the store; results come back in
input order, so a run's outcome does not depend on the number of workers.

Records are written in batches, each in its own transaction, so a record is either fully stored (with its
identifiers and affected packages) or not at all. If a batch fails in the database, its records are retried
one by one so that only the offending record is reported and skipped.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.exc import SQLAlchemyError

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats import osv
from clearinghouse.ingest.readers import Item, Limits, RawDocument, read_path
from clearinghouse.records.grouping import provisional_group
from clearinghouse.records.model import OsvRecord, Provenance, RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.records.severity import compute_scores
from clearinghouse.records.sources import source_of
from clearinghouse.store.records import ImportRun, PreparedRecord, RecordStore, RowPlans, UpsertOutcome

MAX_KEPT_ERRORS = 1000  # errors beyond this are counted, not kept in memory
COLLECT_EVERY = 50_000  # records between garbage collections during an import (see _collections_paused)
CHUNK_SIZE = 250  # records per piece of work handed to a worker process
MAX_WORKERS = 2  # one writer keeps up with about two preparing processes; more only cost memory

ProgressCallback = Callable[[int], None]


@dataclass
class ImportReport:
    read: int = 0
    failed: int = 0
    outcome: UpsertOutcome = field(default_factory=UpsertOutcome)
    errors: list[InvalidRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    known_exploited: int = 0
    alias_conflicts: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def fail(self, error: InvalidRecord) -> None:
        self.failed += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)


@contextmanager
def _collections_paused() -> Iterator[None]:
    """Pause automatic garbage collection for the run; `_store` collects every `COLLECT_EVERY` records.

    Parsing allocates millions of short-lived, acyclic objects; with automatic collection on, the cyclic GC
    re-scans the growing batch again and again and more than triples the parse time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Failure(NamedTuple):
    """A record that did not validate, as it travels back from a worker (exceptions lose fields in a pickle)."""

    reason: str
    location: Location


_Document = tuple[str | None, int | None, bytes]  # file, line, data: a `RawDocument`, cheap to pickle


class _Chunk(NamedTuple):
    results: list[PreparedRecord | _Failure]  # one per document, in order
    parse_seconds: float
    enrich_seconds: float


@dataclass(frozen=True)
class _Preparer:
    """Parse, validate, enrich and prepare rows for a chunk of documents; runs in a worker or in-process."""

    plans: RowPlans
    tlp: Tlp
    imported_at: datetime

    def __call__(self, documents: list[_Document]) -> _Chunk:
        results: list[PreparedRecord | _Failure] = []
        parsing = enriching = 0.0
        for file, line, data in documents:
            location = Location(file, line)
            started = time.perf_counter()
            try:
                record = osv.parse(data, location)
            except InvalidRecord as error:
                results.append(_Failure(error.reason, error.location))
                continue
            finally:
                parsing += time.perf_counter() - started
            started = time.perf_counter()
            results.append(self.plans.prepare(self.enrich(record, str(location))))
            enriching += time.perf_counter() - started
        return _Chunk(results, parsing, enriching)

    def enrich(self, record: OsvRecord, origin: str) -> VulnerabilityRecord:
        source = source_of(record.id)
        return VulnerabilityRecord(
            osv=record,
            provenance=Provenance(source.name, record.id, source.licence, self.imported_at, origin),
            tlp=self.tlp,
            status=RecordStatus.WITHDRAWN if record.withdrawn else RecordStatus.PUBLISHED,
            scores=compute_scores(record.all_severities()),
            group_id=provisional_group(record.id, record.aliases or ()),
        )


_worker_preparer: _Preparer | None = None  # set in each worker process by `_start_worker`


def _start_worker(preparer: _Preparer) -> None:
    global _worker_preparer
    _worker_preparer = preparer
    # Ctrl-C is the importing process's to handle: it stops the pool, which lets workers end quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As in the importing process (see _collections_paused); freezing keeps the heap inherited through fork out
    # of the collections `_prepare_in_worker` makes (scanning it would also copy its pages).
    gc.disable()
    gc.freeze()


def _prepare_in_worker(documents: list[_Document]) -> _Chunk:
    assert _worker_preparer is not None, "worker started without _start_worker"
    chunk = _worker_preparer(documents)
    if gc.get_count()[0] > COLLECT_EVERY:  # tracked objects outliving their chunk: rare, but cycles happen
        gc.collect()
    return chunk


def default_workers() -> int:
    """Worker processes for an import: one per available core, up to `MAX_WORKERS`, none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_WORKERS)


@contextmanager
def _worker_pool(workers: int, preparer: _Preparer) -> Iterator[ProcessPoolExecutor]:
    # On Linux, fork starts a worker in milliseconds with everything imported (workers touch no inherited
    # connection or lock). Elsewhere the platform's default (spawn) re-imports the package in each worker, about
    # a second, and hands it the preparer by pickle.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(preparer,))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Stored:
    count: int
    outcome: UpsertOutcome = field(default_factory=UpsertOutcome)
    errors: list[InvalidRecord] = field(default_factory=list)
    seconds: float = 0.0


class _Timer:
    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def add(self, step: str, started: float) -> None:
        self.add_seconds(step, time.perf_counter() - started)

    def add_seconds(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds


class ImportPipeline:
    """Import OSV files into a store.

    `report.seconds` times each step. parse (JSON and validation) and enrich (scores, provenance and the rows to
    write) are summed over the workers, which run alongside reading and storing; `wait` is the time this process
    spent waiting for them.
    """

    steps = ("read", "parse", "enrich", "wait", "store", "link")

    def __init__(
        self,
        store: RecordStore,
        limits: Limits | None = None,
        batch_size: int = 2000,
        on_progress: ProgressCallback | None = None,
        tlp: Tlp = Tlp.CLEAR,
        workers: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.store = store
        self.limits = limits or Limits()
        self.batch_size = batch_size
        self.on_progress = on_progress or (lambda _n: None)
        self.tlp = tlp
        self.workers = default_workers() if workers is None else workers
        self.chunk_size = chunk_size
        self._stored_since_collect = 0

    def run(self, paths: Iterable[Path]) -> ImportReport:
        with _collections_paused():
            return self._run(list(paths))

    def _run(self, paths: list[Path]) -> ImportReport:
        report = ImportReport()
        timer = _Timer(report.seconds)
        started_at = datetime.now(UTC)
        preparer = _Preparer(self.store.row_plans, self.tlp, started_at)
        batch: list[PreparedRecord] = []
        for items, chunk in self._prepared(self._chunks(paths, timer), preparer, timer):
            timer.add_seconds("parse", chunk.parse_seconds)
            timer.add_seconds("enrich", chunk.enrich_seconds)
            results = iter(chunk.results)
            for item in items:
                report.read += 1
                result = item if isinstance(item, InvalidRecord) else next(results)
                if isinstance(result, InvalidRecord):
                    report.fail(result)
                elif isinstance(result, _Failure):
                    report.fail(InvalidRecord(result.reason, result.location))
                else:
                    batch.append(result)
                    if len(batch) >= self.batch_size:
                        self._merge(self._store(batch), report)
                        batch = []
            self.on_progress(len(items))
        self._merge(self._store(batch), report)
        started = time.perf_counter()
        report.alias_conflicts = len(self.store.regroup().conflicts)
        report.known_exploited = self.store.mark_known_exploited()
        timer.add("link", started)
        self.store.record_run(
            ImportRun(
                "osv",
                started_at,
                datetime.now(UTC),
                [str(p) for p in paths],
                report.read,
                report.outcome,
                report.failed,
            )
        )
        return report

    def _chunks(self, paths: list[Path], timer: _Timer) -> Iterator[list[Item]]:
        chunk: list[Item] = []
        for path in paths:
            items = iter(read_path(path, self.limits))
            while True:
                started = time.perf_counter()
                item = next(items, None)
                timer.add("read", started)
                if item is None:
                    break
                chunk.append(item)
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def _prepared(
        self, chunks: Iterator[list[Item]], preparer: _Preparer, timer: _Timer
    ) -> Iterator[tuple[list[Item], _Chunk]]:
        """Each chunk with its prepared records, in input order, from worker processes when there is work enough."""
        head = list(islice(chunks, 2))
        if self.workers == 0 or len(head) < 2:
            # Starting processes costs more than preparing one chunk (a single file, a small feed) takes.
            for items in chain(head, chunks):
                yield items, preparer(_documents(items))
            return
        pending: deque[tuple[list[Item], Future[_Chunk]]] = deque()
        window = 4 * self.workers  # chunks in flight: enough to keep workers busy while a batch is written
        with _worker_pool(self.workers, preparer) as pool:
            for items in chain(head, chunks):
                pending.append((items, pool.submit(_prepare_in_worker, _documents(items))))
                if len(pending) >= window:
                    yield self._next(pending, timer)
            while pending:
                yield self._next(pending, timer)

    @staticmethod
    def _next(pending: deque[tuple[list[Item], Future[_Chunk]]], timer: _Timer) -> tuple[list[Item], _Chunk]:
        items, future = pending.popleft()
        started = time.perf_counter()
        chunk = future.result()
        timer.add("wait", started)
        return items, chunk

    def _store(self, batch: list[PreparedRecord]) -> _Stored:
        """Write one batch in one transaction; if the batch fails, retry record by record."""
        started = time.perf_counter()
        stored = _Stored(count=len(batch))
        try:
            stored.outcome.add(self.store.write(batch))
        except SQLAlchemyError:
            for record in batch:
                try:
                    stored.outcome.add(self.store.write([record]))
                except SQLAlchemyError as exc:
                    stored.errors.append(
                        InvalidRecord(
                            f"could not be stored: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
                        ).at(file=record.origin, record=record.id)
                    )
        stored.seconds = time.perf_counter() - started
        return stored

    def _merge(self, stored: _Stored, report: ImportReport) -> None:
        report.outcome.add(stored.outcome)
        for error in stored.errors:
            report.fail(error)
        report.seconds["store"] = report.seconds.get("store", 0.0) + stored.seconds
        self._stored_since_collect += stored.count
        if self._stored_since_collect >= COLLECT_EVERY:
            gc.collect()
            self._stored_since_collect = 0


def _documents(items: list[Item]) -> list[_Document]:
    return [(item.location.file, item.location.line, item.data) for item in items if isinstance(item, RawDocument)]
