"""Candidates of a report linked by an id to many earlier reports (issue 16: a flood of copies naming one CVE)."""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.intake.dedup_service import MAX_CANDIDATES, DuplicateFinder
from clearinghouse.intake.findings import Finding, PackageRef
from clearinghouse.intake.service import ReportService
from clearinghouse.store.records import RecordStore

WORDS = [f"{letter}word" for letter in "abcdefghijklmnop"]  # 16 distinct words


def finding(n: int, punctuation: str = "") -> Finding:
    """A report on tensorflow naming CVE-2024-0001, its text its own (three words picked by `n`)."""
    words = " ".join(WORDS[(n * k) % len(WORDS)] for k in (1, 3, 7))
    return Finding(
        kind="structured",
        title=f"Heap overflow {words}{punctuation}",
        description=f"The {words} decoder writes past its buffer when the {words} header is short.",
        packages=(PackageRef("PyPI", "tensorflow"),),
        identifiers=("CVE-2024-0001",),
    )


def test_a_report_linked_by_an_id_to_many_lists_the_first_by_id_and_a_linked_copy_does_not_jump_them(
    engine: sa.Engine,
) -> None:
    finder = DuplicateFinder(RecordStore(engine), ReportService(engine), share=False)
    for n in range(30):
        finder.find(f"R-{n:03d}", finding(n), named=[])
    # The same words as R-025's (its text scores 1.0 against it), punctuated otherwise: not an exact copy.
    found = finder.find("R-100", finding(25, punctuation="!"), named=[])
    listed = [(c["id"], c["score"], c["evidence"]) for c in found["candidates"]]
    expected = [(f"report:R-{n:03d}", 0.95, {"identifier": "CVE-2024-0001"}) for n in range(MAX_CANDIDATES)]
    assert listed == expected and found["cluster_id"] == "R-000"
