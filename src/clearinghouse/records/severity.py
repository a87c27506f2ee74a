"""CVSS vectors: checked and scored with the `cvss` library. Scores in input are never trusted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Protocol

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

_PREFIX = {"CVSS_V3": "CVSS:3.", "CVSS_V4": "CVSS:4.0/"}
UBUNTU_PRIORITIES = frozenset({"negligible", "low", "medium", "high", "critical"})


def parse_vector(severity_type: str, vector: str) -> Any:
    """The `cvss` library's object for a vector, or ValueError naming what is wrong."""
    expected = _PREFIX.get(severity_type)
    if expected and not vector.startswith(expected):
        raise ValueError(f"{severity_type} vector must start with {expected!r}, got {vector!r}")
    try:
        if severity_type == "CVSS_V2":
            return CVSS2(vector)
        if severity_type == "CVSS_V3":
            return CVSS3(vector)
        if severity_type == "CVSS_V4":
            return CVSS4(vector)
    except CVSSError as exc:
        raise ValueError(f"invalid {severity_type} vector {vector!r}: {exc}") from None
    raise ValueError(f"{severity_type} has no CVSS vector")


@lru_cache(maxsize=65536)
def check_vector(severity_type: str, score: str) -> None:
    if severity_type == "Ubuntu":
        if score not in UBUNTU_PRIORITIES:
            raise ValueError(f"Ubuntu priority must be one of {sorted(UBUNTU_PRIORITIES)}, got {score!r}")
        return
    parse_vector(severity_type, score)


@lru_cache(maxsize=65536)
def base_score(severity_type: str, vector: str) -> tuple[str, float, str]:
    """(CVSS version, base score, qualitative rating) computed from the vector."""
    parsed = parse_vector(severity_type, vector)
    if isinstance(parsed, CVSS2):
        score = float(parsed.base_score)
        return "2.0", score, _v2_rating(score)
    if isinstance(parsed, CVSS3):
        version = "3.1" if vector.startswith("CVSS:3.1/") else "3.0"
        return version, float(parsed.base_score), str(parsed.severities()[0])
    return "4.0", float(parsed.base_score), str(parsed.severity)


def _v2_rating(score: float) -> str:
    # CVSS v2 has no official qualitative scale; NVD's is the one everyone uses.
    if score >= 7.0:
        return "High"
    return "Medium" if score >= 4.0 else "Low"


@dataclass(frozen=True)
class ComputedScore:
    """A CVSS score computed from a vector by the `cvss` library, never copied from input."""

    version: Literal["2.0", "3.0", "3.1", "4.0"]
    vector: str
    base_score: float
    rating: str


class _HasVector(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def score(self) -> str: ...


def compute_scores(severities: Iterable[_HasVector]) -> list[ComputedScore]:
    """Scores for every CVSS severity entry (top level and per package), one per distinct vector."""
    scores: dict[str, ComputedScore] = {}
    for severity in severities:
        kind = str(severity.type)
        if kind == "Ubuntu" or severity.score in scores:
            continue
        version, score, rating = base_score(kind, severity.score)
        scores[severity.score] = ComputedScore(version, severity.score, score, rating)  # type: ignore[arg-type]
    return list(scores.values())
