"""Import benchmark: the dev set into a fresh SQLite store, against orjson parsing the same file.

Usage: python bench/import.py [FILE] [--database-url URL]. Prints records/s and the ratio to the parse-only
baseline measured in the same run, and whether the targets (>= 5,000 records/s, <= 5x parse-only) are met. The
store is a fresh SQLite file, or with --database-url postgresql+psycopg://..., a fresh schema there.

The two are measured in alternating rounds and the best of each is compared: on a shared machine the speed of
both drifts by 20 % and more within minutes, and alternating keeps the drift out of the ratio. CPU seconds
(this process and the import's worker processes) are printed too: they drift less than wall-clock time.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import tempfile
import time
from pathlib import Path

import orjson
from _common import dataset, fresh_store_url

from clearinghouse.ingest.pipeline import ImportPipeline, default_workers
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore

TARGET_RATE = 5000.0
TARGET_RATIO = 5.0
ROUNDS = 5


def parse_only(path: Path) -> tuple[int, float]:
    """Decompress, split and orjson-parse every line: the floor any importer stands on."""
    started = time.perf_counter()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        count = sum(1 for line in stream if line.strip() and orjson.loads(line) is not None)
    return count, time.perf_counter() - started


def cpu_seconds() -> float:
    """User and system time of this process and of its finished children (the import's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def import_once(path: Path, database_url: str | None) -> tuple[int, float, float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as home, fresh_store_url(database_url) as url:
        engine = create_engine(url or f"sqlite:///{home}/bench.db")
        migrate(engine)
        cpu = cpu_seconds()
        started = time.perf_counter()
        report = ImportPipeline(RecordStore(engine)).run([path])
        engine.dispose()  # timed too: closing the last connection checkpoints what is left in the WAL
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
    return report.outcome.inserted, elapsed, cpu, report.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default=None)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    path = dataset(options.file)
    parse_runs, import_runs = [], []
    for _ in range(ROUNDS):
        parse_runs.append(parse_only(path))
        import_runs.append(import_once(path, options.database_url))
    records, parse_seconds = parse_runs[0][0], min(s for _, s in parse_runs)
    stored, import_seconds, cpu, steps = min(import_runs, key=lambda run: run[1])
    rate = stored / import_seconds
    ratio = import_seconds / parse_seconds
    spread = sorted(run[1] / parse for run, (_, parse) in zip(import_runs, parse_runs, strict=True))
    print(f"dataset: {path} ({records:,} records); import worker processes: {default_workers()}")
    print(
        f"baseline  orjson parse only (best of {ROUNDS}): {parse_seconds:.3f} s  ({records / parse_seconds:,.0f} "
        "records/s)"
    )
    store = "PostgreSQL" if options.database_url else "SQLite"
    print(
        f"import    into fresh {store} (best of {ROUNDS}): {import_seconds:.3f} s  ({rate:,.0f} records/s, "
        f"{stored:,} stored; {cpu:.2f} CPU s in all processes)"
    )
    print("          steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
    print("          ratio in each round: " + ", ".join(f"{r:.1f}x" for r in spread))
    print(f"rate  {rate:,.0f} records/s  target >= {TARGET_RATE:,.0f}: {'MET' if rate >= TARGET_RATE else 'NOT MET'}")
    print(
        f"ratio {ratio:.1f}x parse-only  target <= {TARGET_RATIO:.0f}x: {'MET' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
