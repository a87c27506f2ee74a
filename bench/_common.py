"""Shared set-up for the benchmarks: which dataset to read."""

from __future__ import annotations

import sys
import timeit
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from clearinghouse.data import sample_path

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "advisories-dev.jsonl.gz"


def dataset(given: str | None = None) -> Path:
    """`given`, else the first argument, else the full dev set when it is there (the team's machines), else the
    bundled sample, said out loud."""
    if given:
        return Path(given)
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        return Path(sys.argv[1])
    if DEV_SET.is_file():
        return DEV_SET
    print(f"note: {DEV_SET} not found; using the bundled 63-record sample (figures will not be comparable)")
    return sample_path("osv-sample.jsonl")


def host_speed() -> str:
    """The time of a fixed pure-Python loop on one core, best of five, to print at the start and the end of a bench:
    the shared 2-core host's speed drifts (the same de-duplication run took 7.25 CPU s at 06:34 and 13.27 at 05:53
    one morning), so figures are compared only within a run, and this flags a drift during one. It sees one core
    only: at 07:28 it read faster than an hour before while that run still cost 11.10 CPU s."""
    seconds = min(timeit.repeat("sum(i * i for i in r)", "r = range(1000)", number=2000, repeat=5)) / 2000
    return f"host speed: {seconds * 1e6:.1f} us for a fixed loop (lower is faster)"


@contextmanager
def fresh_store_url(url: str | None) -> Iterator[str | None]:
    """For a PostgreSQL URL, a fresh schema for the run (dropped afterwards), so a bench never touches other
    tables; any other URL as it is."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
