"""De-duplication benchmark: cluster the dev set with ids removed, scored against the id links it had.

Usage: python bench/dedup.py [FILE] [--threshold T]. Ground truth: two records from different databases (id
prefix) that share a CVE or GHSA id through their id or aliases describe the same vulnerability. The engine
then sees the records with opaque ids, no aliases, and no ids quoted in their text, summary or references, and
clusters them with `dedup_file`. A predicted pair is two records in one cluster; precision, recall and F1 are
counted over cross-database pairs only. Two baselines run on the same input: identical details text, and
same package name. Targets: F1 >= 0.9, >= 2,000 records/s.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from _common import dataset

from clearinghouse.errors import InvalidRecord
from clearinghouse.formats import osv
from clearinghouse.intake.batch_dedup import DEFAULT_THRESHOLD, dedup_file
from clearinghouse.intake.dedup import strip_identifiers
from clearinghouse.records.sources import source_of

TARGET_F1 = 0.9
TARGET_RATE = 2000.0
_LINK_ID = re.compile(r"^(CVE-\d{4}-\d+|GHSA(-[0-9a-z]{4}){3})$", re.IGNORECASE)

Pair = tuple[int, int]


def load(path: Path) -> list[dict[str, Any]]:
    """The documents that parse as OSV (the engine would reject the others anyway)."""
    opener = gzip.open if path.suffix == ".gz" else open
    documents: list[dict[str, Any]] = []
    skipped = 0
    with opener(path, "rb") as stream:
        for line in stream:
            if not line.strip():
                continue
            try:
                osv.parse(line)
            except InvalidRecord:
                skipped += 1
                continue
            documents.append(orjson.loads(line))
    print(f"loaded {len(documents):,} records ({skipped} skipped: do not parse)")
    return documents


def database(document: dict[str, Any]) -> str:
    return source_of(document["id"]).name


def truth(documents: list[dict[str, Any]]) -> set[Pair]:
    by_link: dict[str, set[int]] = defaultdict(set)
    for n, document in enumerate(documents):
        for identifier in [document["id"], *(document.get("aliases") or ())]:
            if _LINK_ID.match(identifier):
                by_link[identifier.upper()].add(n)
    return {
        (a, b)
        for members in by_link.values()
        for a, b in itertools.combinations(sorted(members), 2)
        if database(documents[a]) != database(documents[b])
    }


def anonymise(document: dict[str, Any], n: int) -> dict[str, Any]:
    """The record as the engine may see it: opaque id, no aliases or related ids, no ids in text or links."""
    clean = {k: v for k, v in document.items() if k not in ("aliases", "related", "upstream", "database_specific")}
    clean["id"] = f"REC-{n:06d}"
    for key in ("summary", "details"):
        if isinstance(clean.get(key), str):
            clean[key] = strip_identifiers(clean[key])
    # References and database_specific carry the ids (NVD, GHSA, pkg.go.dev/vuln/GO-... URLs): dropped.
    clean.pop("references", None)
    return clean


def cross_pairs(clusters: Iterable[list[int]], documents: list[dict[str, Any]]) -> set[Pair]:
    return {
        (a, b)
        for members in clusters
        for a, b in itertools.combinations(sorted(members), 2)
        if database(documents[a]) != database(documents[b])
    }


def scores(predicted: set[Pair], expected: set[Pair]) -> tuple[float, float, float]:
    hits = len(predicted & expected)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def baseline(documents: list[dict[str, Any]], key: str) -> list[list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for n, document in enumerate(documents):
        if key == "text":
            text = " ".join((document.get("details") or "").lower().split())
            if text:
                groups[text].append(n)
        else:
            names = {
                (a.get("package") or {}).get("name", "").lower().split("/")[-1] for a in document.get("affected") or ()
            }
            for name in sorted(names)[:1]:
                groups[name].append(n)
    return list(groups.values())


def run_engine(documents: list[dict[str, Any]], threshold: float | None) -> tuple[list[list[int]], float, str]:
    with tempfile.TemporaryDirectory() as home:
        source, out = Path(home) / "in.jsonl.gz", Path(home) / "clusters.jsonl"
        with gzip.open(source, "wb", compresslevel=1) as stream:
            for n, document in enumerate(documents):
                stream.write(orjson.dumps(anonymise(document, n)) + b"\n")
        started = time.perf_counter()
        summary = dedup_file(source, out, threshold)
        elapsed = time.perf_counter() - started
        groups: dict[str, list[int]] = defaultdict(list)
        for line in out.read_bytes().splitlines():
            row = orjson.loads(line)
            groups[row["cluster"]].append(int(row["id"].removeprefix("REC-")))
    return list(groups.values()), elapsed, str(summary)


def report(name: str, predicted: set[Pair], expected: set[Pair]) -> float:
    precision, recall, f1 = scores(predicted, expected)
    print(
        f"{name:<34} precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  "
        f"({len(predicted & expected):,} of {len(predicted):,} predicted pairs right)"
    )
    return f1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # `dataset()` reads a file argument itself; it has been parsed here
    path = Path(args.file) if args.file else dataset()
    documents = load(path)
    expected = truth(documents)
    print(f"ground truth: {len(expected):,} cross-database duplicate pairs (shared CVE/GHSA id)")
    report("baseline: identical details", cross_pairs(baseline(documents, "text"), documents), expected)
    report("baseline: same package name", cross_pairs(baseline(documents, "package"), documents), expected)
    runs = [run_engine(documents, args.threshold) for _ in range(args.runs)]
    clusters, seconds, summary = min(runs, key=lambda run: run[1])
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    f1 = report(f"engine (threshold {threshold})", cross_pairs(clusters, documents), expected)
    rate = len(documents) / seconds
    print(
        f"engine (best of {len(runs)}): {seconds:.2f} s, {rate:,.0f} records/s"
        " (read, parse, fingerprint, cluster, write)"
    )
    print("  " + summary.replace("\n", "\n  "))
    print(f"F1    {f1:.3f}  target >= {TARGET_F1}: {'MET' if f1 >= TARGET_F1 else 'NOT MET'}")
    print(f"rate  {rate:,.0f} records/s  target >= {TARGET_RATE:,.0f}: {'MET' if rate >= TARGET_RATE else 'NOT MET'}")


if __name__ == "__main__":
    main()
