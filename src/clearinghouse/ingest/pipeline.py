"""The OSV import pipeline: read -> parse -> enrich -> store -> link, one bad record never stopping a run.

This process reads the input and hands it, in chunks, to worker processes. Each worker parses, validates,
scores and stores its chunk in one transaction of its own, so that nothing but raw input and a short result
crosses between processes; record writers are serialised by the store (`RecordStore.write`), so the newer
record wins whatever order chunks are written in. Results are taken in input order, so a run's report does not
depend on the number of workers.

A chunk is either fully stored (each record with its identifiers and affected packages) or not at all. If a
chunk fails in the database, its records are retried one by one so that only the offending record is reported
and skipped.
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

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats import osv
from clearinghouse.ingest.readers import Item, Limits, RawDocument, ReadCounts, read_path
from clearinghouse.records.grouping import provisional_group
from clearinghouse.records.model import OsvRecord, Provenance, RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.records.severity import compute_scores
from clearinghouse.records.sources import source_of
from clearinghouse.store.db import create_engine, in_memory
from clearinghouse.store.jobs import enqueue_many
from clearinghouse.store.records import ImportRun, PreparedRecord, RecordStore, UpsertOutcome

MATCH_RECORDS = "partners.match_records"  # the job kind partners' matching runs under (see workers.py)
MATCH_JOB_RECORDS = 2000

MAX_KEPT_ERRORS = 1000  # errors beyond this are counted, not kept in memory
COLLECT_EVERY = 50_000  # records between garbage collections during an import (see _collections_paused)
BATCH_SIZE = 500  # records per piece of work handed to a worker, stored in one transaction
MAX_WORKERS = 2  # writes are serialised: beyond two workers, one would mostly wait for the others' writes

ProgressCallback = Callable[[int], None]
BytesCallback = Callable[[int], None]  # bytes of the input files read so far (compressed, as stored)


@dataclass
class ImportReport:
    read: int = 0
    failed: int = 0
    outcome: UpsertOutcome = field(default_factory=UpsertOutcome)
    errors: list[InvalidRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    known_exploited: int = 0  # records in the store that CISA KEV lists
    alias_conflicts: int = 0  # alias links refused among the records this import regrouped
    blank_lines: int = 0  # blank or whitespace-only lines skipped in JSON Lines inputs
    repaired: int = 0  # records stored without the ranges they could not keep (see `osv.parse_repairing`)
    warnings: list[InvalidRecord] = field(default_factory=list)  # what was dropped, the first MAX_KEPT_ERRORS

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def fail(self, error: InvalidRecord) -> None:
        self.failed += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    def warn(self, warning: InvalidRecord) -> None:
        if len(self.warnings) < MAX_KEPT_ERRORS:
            self.warnings.append(warning)


@contextmanager
def _collections_paused() -> Iterator[None]:
    """Pause automatic garbage collection for the run; `_run` collects every `COLLECT_EVERY` records.

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
    """A record that did not validate or could not be stored, as it travels back from a worker (exceptions lose
    fields in a pickle)."""

    reason: str
    location: Location

    def error(self) -> InvalidRecord:
        return InvalidRecord(self.reason, self.location)


_Document = tuple[str | None, int | None, bytes]  # file, line, data: a `RawDocument`, cheap to pickle


class _ChunkResult(NamedTuple):
    invalid: list[tuple[int, _Failure]]  # (position in the chunk's documents, why) for each record that failed
    refused: list[_Failure]  # valid records the database would not take
    repairs: list[tuple[int, list[_Failure]]]  # (position, what was dropped) for each record kept with repairs
    outcome: UpsertOutcome
    parse_seconds: float
    enrich_seconds: float
    store_seconds: float


@dataclass(frozen=True)
class _ChunkImporter:
    """Parse, validate, enrich and store a chunk of documents; runs in a worker or in-process."""

    tlp: Tlp
    imported_at: datetime

    def __call__(self, store: RecordStore, documents: list[_Document]) -> _ChunkResult:
        plans = store.row_plans
        prepared: list[PreparedRecord] = []
        invalid: list[tuple[int, _Failure]] = []
        repairs: list[tuple[int, list[_Failure]]] = []
        parsing = enriching = 0.0
        for position, (file, line, data) in enumerate(documents):
            location = Location(file, line)
            started = time.perf_counter()
            try:
                record, warnings = osv.parse_repairing(data, location)
            except InvalidRecord as error:
                invalid.append((position, _Failure(error.reason, error.location)))
                continue
            finally:
                parsing += time.perf_counter() - started
            started = time.perf_counter()
            if warnings:
                repairs.append((position, [_Failure(w.reason, w.location) for w in warnings]))
                # The repaired document is stored, not the input text: the dropped range must not come back.
                enriched = self.enrich(record, str(location), tuple(w.message for w in warnings))
                prepared.append(plans.prepare(enriched))
            else:
                prepared.append(plans.prepare(self.enrich(record, str(location)), data))
            enriching += time.perf_counter() - started
        started = time.perf_counter()
        outcome, refused = _store(store, prepared)
        return _ChunkResult(invalid, refused, repairs, outcome, parsing, enriching, time.perf_counter() - started)

    def enrich(self, record: OsvRecord, origin: str, repairs: tuple[str, ...] = ()) -> VulnerabilityRecord:
        source = source_of(record.id)
        return VulnerabilityRecord(
            osv=record,
            provenance=Provenance(source.name, record.id, source.licence, self.imported_at, origin),
            tlp=self.tlp,
            status=RecordStatus.WITHDRAWN if record.withdrawn else RecordStatus.PUBLISHED,
            scores=compute_scores(record.all_severities()),
            group_id=provisional_group(record.id, record.aliases or ()),
            repairs=repairs,
        )


def _queue_matching(conn: sa.Connection, written: list[str]) -> None:
    """Partners' assets are matched against the records written by a `partners.match_records` job (named, not
    imported: the partners layer is above this one), in jobs of at most MATCH_JOB_RECORDS ids, queued in the
    transaction that writes the records (queued after it, a crash in between lost the matching)."""
    step = MATCH_JOB_RECORDS
    enqueue_many(conn, MATCH_RECORDS, [{"record_ids": written[i : i + step]} for i in range(0, len(written), step)])


def _store(store: RecordStore, batch: list[PreparedRecord]) -> tuple[UpsertOutcome, list[_Failure]]:
    """Write one batch in one transaction, with the matching of what it wrote; if the batch fails, retry record
    by record."""
    try:
        return store.write(batch, _queue_matching), []
    except SQLAlchemyError:
        pass
    outcome, refused = UpsertOutcome(), []
    for record in batch:
        try:
            outcome.add(store.write([record], _queue_matching))
        except SQLAlchemyError as exc:
            reason = f"could not be stored: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}"
            refused.append(_Failure(reason, Location(file=record.origin, record=record.id)))
    return outcome, refused


_worker_state: tuple[_ChunkImporter, RecordStore] | None = None  # set in each worker process by `_start_worker`


def _start_worker(importer: _ChunkImporter, database_url: str) -> None:
    global _worker_state
    # A connection of its own: the importing process's connections are not to be used across a fork.
    _worker_state = (importer, RecordStore(create_engine(database_url)))
    # Ctrl-C is the importing process's to handle: it stops the pool, which lets workers end quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # As in the importing process (see _collections_paused); freezing keeps the heap inherited through fork out
    # of the collections `_import_in_worker` makes (scanning it would also copy its pages).
    gc.disable()
    gc.freeze()


def _import_in_worker(documents: list[_Document]) -> _ChunkResult:
    assert _worker_state is not None, "worker started without _start_worker"
    importer, store = _worker_state
    result = importer(store, documents)
    if gc.get_count()[0] > COLLECT_EVERY:  # tracked objects outliving their chunk: rare, but cycles happen
        gc.collect()
    return result


def default_workers() -> int:
    """Worker processes for an import: one per available core, up to `MAX_WORKERS`, none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_WORKERS)


@contextmanager
def _worker_pool(workers: int, importer: _ChunkImporter, database_url: str) -> Iterator[ProcessPoolExecutor]:
    # On Linux, fork starts a worker in milliseconds with everything imported (workers touch no inherited
    # connection or lock). Elsewhere the platform's default (spawn) re-imports the package in each worker, about
    # a second, and hands it the importer by pickle.
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(importer, database_url)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Timer:
    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def add(self, step: str, started: float) -> None:
        self.add_seconds(step, time.perf_counter() - started)

    def add_seconds(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds


class ImportPipeline:
    """Import OSV files into a store.

    `report.seconds` times each step. parse (JSON and validation), enrich (scores, provenance and the rows to
    write) and store are summed over the workers, which run alongside reading; `wait` is the time this process
    spent waiting for them.
    """

    steps = ("read", "parse", "enrich", "store", "wait", "link")

    def __init__(
        self,
        store: RecordStore,
        limits: Limits | None = None,
        batch_size: int = BATCH_SIZE,
        on_progress: ProgressCallback | None = None,
        tlp: Tlp = Tlp.CLEAR,
        workers: int | None = None,
        on_bytes: BytesCallback | None = None,
    ) -> None:
        self.store = store
        self.on_bytes = on_bytes or (lambda _n: None)
        self.limits = limits or Limits()
        self.batch_size = batch_size
        self.on_progress = on_progress or (lambda _n: None)
        self.tlp = tlp
        self.workers = default_workers() if workers is None else workers
        if in_memory(store.engine):
            self.workers = 0  # a private database: other processes cannot reach it

    def run(self, paths: Iterable[Path]) -> ImportReport:
        with _collections_paused():
            return self._run(list(paths))

    def _run(self, paths: list[Path]) -> ImportReport:
        report = ImportReport()
        timer = _Timer(report.seconds)
        started_at = datetime.now(UTC)
        importer = _ChunkImporter(self.tlp, started_at)
        read_since_collect = 0
        counts = ReadCounts()
        for items, result in self._imported(self._chunks(paths, timer, counts), importer, timer):
            timer.add_seconds("parse", result.parse_seconds)
            timer.add_seconds("enrich", result.enrich_seconds)
            timer.add_seconds("store", result.store_seconds)
            invalid = dict(result.invalid)
            position = 0
            for item in items:
                if isinstance(item, InvalidRecord):
                    report.fail(item)
                    continue
                failure = invalid.get(position)
                position += 1
                if failure is not None:
                    report.fail(failure.error())
            for failure in result.refused:
                report.fail(failure.error())
            for _position, dropped in result.repairs:
                report.repaired += 1
                for warning in dropped:
                    report.warn(warning.error())
            report.read += len(items)
            report.outcome.add(result.outcome)
            self.on_progress(len(items))
            self.on_bytes(counts.bytes_read)
            read_since_collect += len(items)
            if read_since_collect >= COLLECT_EVERY:
                gc.collect()
                read_since_collect = 0
        report.blank_lines = counts.blank_lines
        started = time.perf_counter()
        written = report.outcome.written
        if written:
            report.alias_conflicts = len(self.store.regroup(written, report.outcome.earlier_groups).conflicts)
        report.known_exploited = self.store.mark_known_exploited(written)
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

    def _chunks(self, paths: list[Path], timer: _Timer, counts: ReadCounts) -> Iterator[list[Item]]:
        chunk: list[Item] = []
        for path in paths:
            items = iter(read_path(path, self.limits, counts))
            while True:
                started = time.perf_counter()
                item = next(items, None)
                timer.add("read", started)
                if item is None:
                    break
                chunk.append(item)
                if len(chunk) >= self.batch_size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def _imported(
        self, chunks: Iterator[list[Item]], importer: _ChunkImporter, timer: _Timer
    ) -> Iterator[tuple[list[Item], _ChunkResult]]:
        """Each chunk with its result, in input order, from worker processes when there is work enough."""
        head = list(islice(chunks, 2))
        if self.workers == 0 or len(head) < 2:
            # Starting processes costs more than importing one chunk (a single file, a small feed) takes.
            for items in chain(head, chunks):
                yield items, importer(self.store, _documents(items))
            return
        pending: deque[tuple[list[Item], Future[_ChunkResult]]] = deque()
        window = 4 * self.workers  # chunks in flight: enough to keep every worker busy
        database_url = self.store.engine.url.render_as_string(hide_password=False)
        with _worker_pool(self.workers, importer, database_url) as pool:
            for items in chain(head, chunks):
                pending.append((items, pool.submit(_import_in_worker, _documents(items))))
                if len(pending) >= window:
                    yield self._next(pending, timer)
            while pending:
                yield self._next(pending, timer)

    @staticmethod
    def _next(
        pending: deque[tuple[list[Item], Future[_ChunkResult]]], timer: _Timer
    ) -> tuple[list[Item], _ChunkResult]:
        items, future = pending.popleft()
        started = time.perf_counter()
        result = future.result()
        timer.add("wait", started)
        return items, result


def _documents(items: list[Item]) -> list[_Document]:
    return [(item.location.file, item.location.line, item.data) for item in items if isinstance(item, RawDocument)]
