"""How far `affected` agrees with the versions the source databases enumerate.

Usage: python bench/versions_agreement.py [FILE]. Imports the dev set into a fresh SQLite store, then, for every
(record, affected entry, listed version) of every record, asks `affected` for that package and version and counts
the pairs whose record is in the answer. The source databases compute each record's `versions` list from its
ranges, so anything short of 100 % is a version `affected` cannot judge or a record (or range) lost on import.
The same run also answers with what the import did before ranges were repaired and unparseable versions matched
against the lists (strict parse, 422), as the baseline.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import orjson
from _common import dataset

from clearinghouse.errors import InvalidRecord, InvalidVersion, UnknownEcosystem
from clearinghouse.formats import osv
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.records.versions import parse_version
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore

Entries = dict[tuple[str, str], list[tuple[frozenset[str], bool]]]


def listed_pairs(path: Path) -> tuple[dict[tuple[str, str, str], set[str]], Entries]:
    """(ecosystem, package, version) -> the ids of the records listing that version, from the input itself; and
    per package, each entry's listed versions and whether it has ECOSYSTEM ranges (for the baseline)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    pairs: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    entries: Entries = defaultdict(list)
    with opener(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            document = orjson.loads(line)
            for entry in document.get("affected") or ():
                package = entry.get("package")
                if not package:
                    continue
                listed = entry.get("versions") or ()
                ranged = any(r.get("type") == "ECOSYSTEM" for r in entry.get("ranges") or ())
                entries[package["ecosystem"], package["name"]].append((frozenset(listed), ranged))
                for version in listed:
                    pairs[package["ecosystem"], package["name"], version].add(document["id"])
    return pairs, entries


def refused_before(entries: Entries, ecosystem: str, name: str, version: str) -> bool:
    """Whether the query was a 422 before: the version does not parse and some candidate entry had to judge it
    by its ECOSYSTEM ranges (not listing it)."""
    if _parses(ecosystem, version):
        return False
    return any(ranged and version not in listed for listed, ranged in entries[ecosystem, name])


def strictly_refused(path: Path) -> set[str]:
    """Ids of the records that a strict parse (no range repair, the behaviour before) refuses whole."""
    opener = gzip.open if path.name.endswith(".gz") else open
    refused = set()
    with opener(path, "rb") as lines:
        for line in lines:
            if line.strip():
                try:
                    osv.parse(line)
                except InvalidRecord as error:
                    if error.location.record:
                        refused.add(error.location.record)
    return refused


def main() -> None:
    path = dataset()
    pairs, entries = listed_pairs(path)
    total = sum(len(ids) for ids in pairs.values())
    lost_before = strictly_refused(path)
    with tempfile.TemporaryDirectory() as home:
        store = RecordStore(create_engine(f"sqlite:///{home}/bench.db"))
        migrate(store.engine)
        report = ImportPipeline(store).run([path])
        print(f"imported {report.read:,} records: {report.failed} refused, {report.repaired} kept with ranges dropped")
        agreed = agreed_before = refused_queries = 0
        misses: list[str] = []
        started = time.perf_counter()
        for (ecosystem, name, version), ids in pairs.items():
            try:
                found = {record.id for record in store.affected(ecosystem, name, version)}
                refused = False
            except InvalidVersion:
                found, refused = set(), True
                refused_queries += 1
            for record_id in ids:
                if record_id in found:
                    agreed += 1
                    # Before: such a query was a 422 as a whole, and a record with a bad range was not stored.
                    agreed_before += record_id not in lost_before and not refused_before(
                        entries, ecosystem, name, version
                    )
                elif len(misses) < 10:
                    misses.append(f"{record_id} {ecosystem}/{name} {version}{' (422)' if refused else ''}")
        seconds = time.perf_counter() - started
    print(f"{len(pairs):,} queries ({total:,} (record, listed version) pairs) in {seconds:.1f} s")
    print(f"agreement: {agreed:,}/{total:,} = {100 * agreed / total:.3f} %  (target 100 %)")
    print(
        "baseline in the same run (records with a bad range refused whole, unparseable versions a 422): "
        f"{agreed_before:,}/{total:,} = {100 * agreed_before / total:.3f} %"
    )
    for miss in misses:
        print(f"  missed: {miss}")
    sys.exit(0 if agreed == total else 1)


def _parses(ecosystem: str, version: str) -> bool:
    try:
        parse_version(ecosystem, version)
    except InvalidVersion:
        return False
    except UnknownEcosystem:
        return True  # ecosystems without an order answer from the lists alone, before as now
    return True


if __name__ == "__main__":
    main()
