"""`affected` query benchmark on a store holding the dev set.

Usage: python bench/affected.py [FILE]. Queries are real (ecosystem, package, version) triples drawn with a fixed
seed from the data: introduced and fixed versions of ranges and listed versions. Prints the median and p95 of
the query service (what `clearinghouse affected` and the API call) against the 5 ms median target, how much of
the time full garbage collections took (they make the p95), and the wall time of the whole CLI process for one
query for comparison.

The queries run twice, each time from cold caches: under CPython's default garbage collector thresholds (the
baseline) and under those every clearinghouse process sets (`tune_garbage_collector`).
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import sqlalchemy as sa
from _common import dataset

from clearinghouse.config import tune_garbage_collector
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore

TARGET_MEDIAN_MS = 5.0
QUERIES = 2000


class GcPauses:
    """Time spent in full (oldest generation) garbage collections: they, not slow queries, make the p95."""

    def __init__(self) -> None:
        self.count, self.seconds, self._started = 0, 0.0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._started


def sample_queries(store: RecordStore, count: int) -> list[tuple[str, str, str]]:
    triples = []
    for record in store.iter_records():
        for entry in record.osv.affected or ():
            if entry.package is None:
                continue
            versions = [e.value for r in entry.ranges or () for e in r.events if e.value != "0" and r.type != "GIT"]
            versions += list(entry.versions or ())[:3]
            triples += [(entry.package.ecosystem, entry.package.name, v) for v in versions]
    return random.Random(2374).sample(triples, min(count, len(triples)))


@dataclass
class Run:
    timings: list[float]
    hits: int
    pauses: GcPauses

    @property
    def median(self) -> float:
        return statistics.median(self.timings)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.timings, n=20)[18]

    def describe(self, label: str) -> str:
        return (
            f"{label}: median {self.median:.2f} ms, p95 {self.p95:.2f} ms, max {max(self.timings):.2f} ms; "
            f"{self.pauses.count} full garbage collections, {self.pauses.seconds * 1000:,.0f} ms of "
            f"{sum(self.timings):,.0f} ms in all"
        )


def run_queries(engine: sa.Engine, queries: list[tuple[str, str, str]]) -> Run:
    store = RecordStore(engine)  # its own, empty, matcher cache
    gc.collect()
    for query in queries[:50]:  # warm caches as a long-running server would be
        store.affected(*query)
    timings, hits, pauses = [], 0, GcPauses()
    gc.callbacks.append(pauses)
    for query in queries:
        started = time.perf_counter()
        hits += len(store.affected(*query))
        timings.append((time.perf_counter() - started) * 1000)
    gc.callbacks.remove(pauses)
    return Run(timings, hits, pauses)


def main() -> None:
    path = dataset()
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/bench.db"
        engine = create_engine(url)
        migrate(engine)
        store = RecordStore(engine)
        ImportPipeline(store).run([path])
        queries = sample_queries(store, QUERIES)
        default = run_queries(engine, queries)
        tune_garbage_collector()
        tuned = run_queries(engine, queries)
        ecosystem, package, version = queries[0]
        env = dict(os.environ, CLEARINGHOUSE_DATABASE_URL=url)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "clearinghouse",
                "affected",
                "-e",
                ecosystem,
                "-p",
                package,
                "-v",
                version,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        cli_ms = (time.perf_counter() - started) * 1000
    print(f"dataset: {path}; {len(queries):,} queries, {tuned.hits:,} matching records in all")
    print(default.describe("baseline, CPython's default collector thresholds"))
    print(tuned.describe("query service, thresholds every clearinghouse process sets"))
    print(f"target median < {TARGET_MEDIAN_MS} ms: {'MET' if tuned.median < TARGET_MEDIAN_MS else 'NOT MET'}")
    print(f"for comparison, one whole CLI process (start-up, migration check, query, print): {cli_ms:.0f} ms")


if __name__ == "__main__":
    main()
