"""Two or more reports of a duplicate cluster side by side: what they share and how their texts differ (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearinghouse.intake.views import ReportView

MAX_DIFF_CHARS = 20_000  # difflib is quadratic in the worst case; long descriptions are compared by their start


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "removed" (only in the first report), "added" (only in the other)
    text: str


@dataclass(frozen=True)
class Comparison:
    shared_packages: list[str]
    shared_versions: list[str]
    shared_locations: list[str]
    shared_identifiers: list[str]
    diff: list[DiffLine]
    evidence: list[dict[str, Any]]  # the duplicate candidates the pipeline scored for the other report


def _packages(report: ReportView) -> set[str]:
    return {f"{p.get('ecosystem') or '?'}/{p.get('name')}" for p in report.finding.get("packages", [])}


def _versions(report: ReportView) -> set[str]:
    return {f"{p.get('name')}@{v}" for p in report.finding.get("packages", []) for v in (p.get("versions") or ()) if v}


def _strings(report: ReportView, key: str) -> set[str]:
    return {str(v) for v in report.finding.get(key) or ()}


def compare(first: ReportView, other: ReportView) -> Comparison:
    left = str(first.finding.get("description", ""))[:MAX_DIFF_CHARS].splitlines()
    right = str(other.finding.get("description", ""))[:MAX_DIFF_CHARS].splitlines()
    diff: list[DiffLine] = []
    for line in difflib.ndiff(left, right):
        tag, text = line[:2], line[2:]
        if tag == "  ":
            diff.append(DiffLine("same", text))
        elif tag == "- ":
            diff.append(DiffLine("removed", text))
        elif tag == "+ ":
            diff.append(DiffLine("added", text))
    candidates: Sequence[dict[str, Any]] = (other.duplicates or {}).get("candidates", [])
    evidence = [c for c in candidates if str(c.get("id", "")).removeprefix("report:") == first.id]
    return Comparison(
        shared_packages=sorted(_packages(first) & _packages(other)),
        shared_versions=sorted(_versions(first) & _versions(other)),
        shared_locations=sorted(_strings(first, "locations") & _strings(other, "locations")),
        shared_identifiers=sorted(_strings(first, "identifiers") & _strings(other, "identifiers")),
        diff=diff,
        evidence=evidence,
    )
