"""Matching reports to known records (issue 12 item 9): reports built from dev-set records, matched to the store.

Usage: python bench/known_records.py [FILE] [--reports N]. 2N records are drawn (seeded) among those naming a
package and a version their own ranges or list hold; each becomes a structured report as a reporter would write
it: no ids or URLs, the summary and details rewritten (sentences in another order, common words replaced, cut to
600 characters), the package and one affected version. The dev set is imported into a fresh SQLite store without
the second N ("novel": their records, and every record sharing a CVE/GHSA id with them, are left out, so these
reports are of vulnerabilities the store does not know). Each report goes through the intake's de-duplication
and known-record steps (`DuplicateFinder.find`, `KnownRecordMatcher.match`), as the job worker runs them.

Scores for the first N, per half (`tune`: the matching constants were set on it; `held-out`):
* linked: the source record is among the report's known records (its ranges hold the version, or its text is a
  near duplicate);
* published as: the source record is named as the report's vulnerability (`published_as`);
* unrelated: `published_as` names a record that shares no CVE/GHSA id (id, aliases, related, upstream) with the
  source, i.e. the reporter would be told "already published as X" wrongly.
And for the novel N: the share told "already published" (any `published_as`), all wrongly.
The baseline is the matching before this change, by shared identifiers only (the reports carry none).
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from _common import dataset

from clearinghouse.errors import InvalidRecord
from clearinghouse.formats import osv as osv_format
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.intake import known_records
from clearinghouse.intake.dedup import strip_identifiers
from clearinghouse.intake.dedup_service import DuplicateFinder
from clearinghouse.intake.findings import Finding, PackageRef
from clearinghouse.intake.known_records import (
    KnownRecord,
    KnownRecordMatcher,
    decide,
    published_as,
    similar_records,
)
from clearinghouse.intake.service import ReportService
from clearinghouse.records.model import OsvRecord
from clearinghouse.records.versions import InvalidVersion, UnknownEcosystem, affects
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore

_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
_LINK = re.compile(r"^(CVE-\d{4}-\d+|GHSA(-[0-9a-z]{4}){3})$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# A reporter's words for an advisory's: enough to make the text not a copy, not enough to hide what it says.
_REWORDS = {
    "vulnerability": "flaw",
    "vulnerable": "exposed",
    "attacker": "adversary",
    "attackers": "adversaries",
    "allows": "lets",
    "allow": "let",
    "remote": "network",
    "arbitrary": "any",
    "execute": "run",
    "crafted": "malicious",
    "issue": "problem",
    "discovered": "found",
    "affected": "impacted",
    "versions": "releases",
    "could": "can",
    "via": "through",
    "before": "prior to",
    "user": "person",
    "users": "people",
}
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class Case:
    source: OsvRecord
    finding: Finding


def rewrite(text: str) -> str:
    sentences = [s for s in _SENTENCE.split(" ".join(strip_identifiers(text).split())) if s]
    reordered = sentences[1:] + sentences[:1] if len(sentences) > 1 else sentences
    reworded = " ".join(reordered)
    return _WORD.sub(lambda m: _REWORDS.get(m.group().lower(), m.group()), reworded)[:600]


def reported_version(record: OsvRecord) -> tuple[str, str, str] | None:
    """(ecosystem, name, version) of a version the record's own entry holds, or None."""
    for entry in record.affected or ():
        if entry.package is None:
            continue
        candidates = list(entry.versions or ())[len(entry.versions or ()) // 2 :][:1]
        candidates += [e.introduced for r in entry.ranges or () for e in r.events if e.introduced not in (None, "0")]
        for version in candidates:
            if version is None:
                continue
            try:
                if affects(entry, version):
                    return entry.package.ecosystem, entry.package.name, version
            except (InvalidVersion, UnknownEcosystem):
                continue
    return None


def cases(records: Iterable[OsvRecord], count: int) -> list[Case]:
    """`count` reports, each from a different record, in a seeded order."""
    eligible: list[tuple[OsvRecord, tuple[str, str, str]]] = []
    for record in records:
        if record.withdrawn or not (record.summary or record.details):
            continue
        if (found := reported_version(record)) is not None:
            eligible.append((record, found))
    random.Random(20261206).shuffle(eligible)
    built: list[Case] = []
    for record, (ecosystem, name, version) in eligible[:count]:
        details = record.details or record.summary or ""
        title = rewrite(record.summary or details.split(". ")[0])[:120]
        finding = Finding(
            kind="structured",
            title=title,
            description=rewrite(details),
            packages=(PackageRef(ecosystem, name, None, (version,)),),
        )
        built.append(Case(record, finding))
    return built


def link_ids(record: OsvRecord) -> set[str]:
    found = [record.id, *(record.aliases or ()), *(record.related or ()), *(record.upstream or ())]
    return {i.upper() for i in found if _LINK.match(i)}


@dataclass
class Tally:
    reports: int = 0
    linked: int = 0
    published: int = 0
    unrelated: int = 0
    known: int = 0
    baseline_linked: int = 0

    def line(self, name: str) -> str:
        n = max(self.reports, 1)
        return (
            f"{name:<9} {self.reports:>4} reports | linked to source {self.linked / n:.3f} "
            f"(baseline {self.baseline_linked / n:.3f}) | published as source {self.published / n:.3f} | "
            f"published as an unrelated record {self.unrelated / n:.3f} | known records per report {self.known / n:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--reports", type=int, default=300)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]
    path = Path(args.file) if args.file else dataset()
    every = [osv_format.parse(line) for line in _lines(path)]
    drawn = cases(every, 2 * args.reports)
    known_cases, novel_cases = drawn[: args.reports], drawn[args.reports :]
    novel_ids = set().union(*(link_ids(c.source) for c in novel_cases)) if novel_cases else set()
    left_out = {c.source.id for c in novel_cases} | {r.id for r in every if not link_ids(r).isdisjoint(novel_ids)}
    with tempfile.TemporaryDirectory() as home:
        stored = Path(home) / "stored.jsonl"
        with stored.open("wb") as stream:
            for line in _lines(path):
                if osv_format.parse(line).id not in left_out:
                    stream.write(line.rstrip(b"\n") + b"\n")
        engine = create_engine(f"sqlite:///{home}/bench.db")
        migrate(engine)
        records = RecordStore(engine)
        ImportPipeline(records).run([stored])
        duplicates = DuplicateFinder(records, ReportService(engine))
        started = time.perf_counter()
        duplicates.warm()
        print(
            f"{len(known_cases):,} reports of stored records, {len(novel_cases):,} of {len(left_out):,} records left "
            f"out; duplicate index built in {time.perf_counter() - started:.1f} s"
        )
        matcher = KnownRecordMatcher(records)
        outcomes: list[tuple[Case, list[KnownRecord], list[str]]] = []
        started = time.perf_counter()
        for n, case in enumerate(drawn):
            finding = case.finding
            found = duplicates.find(f"bench-{n}", finding)
            named = records.records_naming(list(finding.identifiers))
            known = matcher.match(
                finding, similar_records(found), named, lambda ids, f=finding: duplicates.text_similarity(f, ids)
            )
            outcomes.append((case, known, named))
        elapsed = time.perf_counter() - started
        engine.dispose()
    print(f"{len(drawn):,} reports matched in {elapsed:.1f} s ({len(drawn) / elapsed:,.0f} reports/s)")
    ids_of = {record.id: link_ids(record) for record in every}
    for threshold in sorted({*_THRESHOLDS, known_records.SAME_VULNERABILITY}):
        chosen = " (the default)" if threshold == known_records.SAME_VULNERABILITY else ""
        print(f"closest covering record counts from text similarity {threshold}{chosen}:")
        tallies = {"tune": Tally(), "held-out": Tally()}
        told_known = 0
        for n, (case, known, named) in enumerate(outcomes):
            decide(known, threshold)
            published = {str(p["id"]) for p in published_as(known)}
            if n >= len(known_cases):
                told_known += bool(published)
                continue
            source = case.source
            tally = tallies["tune" if n % 2 == 0 else "held-out"]
            tally.reports += 1
            tally.known += len(known)
            tally.baseline_linked += source.id in named
            tally.linked += source.id in {k.record_id for k in known}
            tally.published += source.id in published
            source_ids = ids_of[source.id]
            tally.unrelated += any(o != source.id and ids_of[o].isdisjoint(source_ids) for o in published)
        for name, tally in tallies.items():
            print("  " + tally.line(name))
        share = told_known / max(len(novel_cases), 1)
        print(
            f"  novel     {len(novel_cases):>4} reports | told already published (wrongly) {share:.3f} (baseline 0.000)"
        )


def _lines(path: Path) -> Iterable[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        for line in stream:
            if line.strip():
                try:
                    osv_format.parse(line)
                except InvalidRecord:
                    continue
                yield line


if __name__ == "__main__":
    main()
