"""Triage, as pure functions: the credibility score from the checks' signals, the CISA SSVC decision with each
decision point's value and where it came from, and the key that orders the analysts' priority queue.

The SSVC table is CISA's Coordinator decision tree 2.0.3 (as published in CERT/CC's SSVC repository,
data/csv/cisa/cisa_coordinator_2_0_3.csv); Technical Impact from a CVSS vector follows the same repository's
cvssv4_to_technical_impact mapping. Nothing here closes a report: a low score only lowers its place in the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Signal:
    """One check's outcome: passed (True), failed (False) or not applicable (None), with why."""

    name: str
    passed: bool | None
    weight: float
    explanation: str


# One passed check out of one must not look like certainty: the score starts from an even prior.
_PRIOR, _PRIOR_WEIGHT = 0.5, 2.0


def credibility(signals: Sequence[Signal]) -> float:
    """Weighted share of passed checks among those that applied, pulled towards 0.5 when few applied."""
    decided = [s for s in signals if s.passed is not None]
    passed = sum(s.weight for s in decided if s.passed)
    total = sum(s.weight for s in decided)
    return round((passed + _PRIOR * _PRIOR_WEIGHT) / (total + _PRIOR_WEIGHT), 3)


class Exploitation(StrEnum):
    NONE = "none"
    PUBLIC_POC = "public poc"
    ACTIVE = "active"


class Automatable(StrEnum):
    NO = "no"
    YES = "yes"


class TechnicalImpact(StrEnum):
    PARTIAL = "partial"
    TOTAL = "total"


class MissionWellbeing(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SsvcOutcome(StrEnum):
    TRACK = "Track"
    TRACK_STAR = "Track*"
    ATTEND = "Attend"
    ACT = "Act"

    @property
    def rank(self) -> int:
        return list(SsvcOutcome).index(self)


@dataclass(frozen=True)
class DecisionPoint:
    name: str
    value: str
    source: str


@dataclass(frozen=True)
class SsvcDecision:
    outcome: SsvcOutcome
    points: list[tuple[str, str, str]]  # (decision point, value, where the value came from)


_T, _TS, _AT, _AC = SsvcOutcome.TRACK, SsvcOutcome.TRACK_STAR, SsvcOutcome.ATTEND, SsvcOutcome.ACT
# Outcomes for Mission and Well-being low / medium / high, keyed by the other three decision points.
_CISA_COORDINATOR: dict[tuple[Exploitation, Automatable, TechnicalImpact], tuple[SsvcOutcome, ...]] = {
    (Exploitation.NONE, Automatable.NO, TechnicalImpact.PARTIAL): (_T, _T, _T),
    (Exploitation.NONE, Automatable.NO, TechnicalImpact.TOTAL): (_T, _T, _TS),
    (Exploitation.NONE, Automatable.YES, TechnicalImpact.PARTIAL): (_T, _T, _AT),
    (Exploitation.NONE, Automatable.YES, TechnicalImpact.TOTAL): (_T, _T, _AT),
    (Exploitation.PUBLIC_POC, Automatable.NO, TechnicalImpact.PARTIAL): (_T, _T, _TS),
    (Exploitation.PUBLIC_POC, Automatable.NO, TechnicalImpact.TOTAL): (_T, _TS, _AT),
    (Exploitation.PUBLIC_POC, Automatable.YES, TechnicalImpact.PARTIAL): (_T, _T, _AT),
    (Exploitation.PUBLIC_POC, Automatable.YES, TechnicalImpact.TOTAL): (_T, _TS, _AT),
    (Exploitation.ACTIVE, Automatable.NO, TechnicalImpact.PARTIAL): (_T, _T, _AT),
    (Exploitation.ACTIVE, Automatable.NO, TechnicalImpact.TOTAL): (_T, _AT, _AC),
    (Exploitation.ACTIVE, Automatable.YES, TechnicalImpact.PARTIAL): (_AT, _AT, _AC),
    (Exploitation.ACTIVE, Automatable.YES, TechnicalImpact.TOTAL): (_AT, _AC, _AC),
}
_MISSION_COLUMN = {MissionWellbeing.LOW: 0, MissionWellbeing.MEDIUM: 1, MissionWellbeing.HIGH: 2}


def ssvc_outcome(
    exploitation: Exploitation, automatable: Automatable, impact: TechnicalImpact, mission: MissionWellbeing
) -> SsvcOutcome:
    return _CISA_COORDINATOR[(exploitation, automatable, impact)][_MISSION_COLUMN[mission]]


def _metrics(vector: str) -> dict[str, str]:
    return dict(part.split(":", 1) for part in vector.split("/")[1:] if ":" in part)


def _usable(vectors: Sequence[str]) -> list[str]:
    """CVSS v4 first, then v3.x; v2 has no UI/PR metrics to judge SSVC's points from."""
    return sorted(
        (v for v in vectors if v.startswith(("CVSS:4.0/", "CVSS:3."))), key=lambda v: not v.startswith("CVSS:4")
    )


def _automatable(vectors: Sequence[str]) -> DecisionPoint:
    for vector in _usable(vectors):
        m = _metrics(vector)
        # Reachable over the network with no privileges, no interaction and no special conditions: the
        # kill chain's first steps can be scripted, which is what SSVC's Automatable asks.
        scriptable = m.get("AV") == "N" and m.get("AC") == "L" and m.get("PR") == "N" and m.get("UI") == "N"
        if vector.startswith("CVSS:4.0/"):
            scriptable = scriptable and m.get("AT") == "N"
        value = Automatable.YES if scriptable else Automatable.NO
        return DecisionPoint("Automatable", value.value, f"CVSS {vector}: AV/AC/PR/UI{'/AT' * ('AT' in m)}")
    return DecisionPoint("Automatable", Automatable.NO.value, "default: no CVSS vector to judge from")


def _technical_impact(vectors: Sequence[str]) -> DecisionPoint:
    for vector in _usable(vectors):
        m = _metrics(vector)
        c, i = (m.get("VC"), m.get("VI")) if vector.startswith("CVSS:4.0/") else (m.get("C"), m.get("I"))
        if c is None or i is None:
            continue
        total = (c == "H" and i == "H") or (m.get("PR") == "N" and {c, i} == {"H", "L"})
        value = TechnicalImpact.TOTAL if total else TechnicalImpact.PARTIAL
        return DecisionPoint("Technical Impact", value.value, f"CVSS {vector}: confidentiality/integrity/privileges")
    return DecisionPoint("Technical Impact", TechnicalImpact.PARTIAL.value, "default: no CVSS vector to judge from")


def derive_decision_points(
    *,
    kev: bool,
    poc_present: bool,
    cvss_vectors: Sequence[str],
    mission_wellbeing: MissionWellbeing | None,
    reproduction: Mapping[str, Any] | None = None,
) -> list[DecisionPoint]:
    verdict = (reproduction or {}).get("verdict")
    if kev:
        exploitation = DecisionPoint("Exploitation", Exploitation.ACTIVE.value, "listed in CISA KEV")
    elif verdict in {"reproduced", "reproduced_not_fixed"}:
        where = (reproduction or {}).get("where") or "the target"
        exploitation = DecisionPoint(
            "Exploitation", Exploitation.PUBLIC_POC.value, f"the proof of concept reproduced in the sandbox ({where})"
        )
    elif poc_present:
        exploitation = DecisionPoint(
            "Exploitation", Exploitation.PUBLIC_POC.value, "the report includes a proof of concept"
        )
    else:
        exploitation = DecisionPoint("Exploitation", Exploitation.NONE.value, "not in KEV and no proof of concept")
    if mission_wellbeing is None:
        mission = DecisionPoint(
            "Mission and Well-being", MissionWellbeing.MEDIUM.value, "default: no deployment context given"
        )
    else:
        mission = DecisionPoint("Mission and Well-being", mission_wellbeing.value, "set by an analyst")
    return [exploitation, _automatable(cvss_vectors), _technical_impact(cvss_vectors), mission]


def decide(points: Sequence[DecisionPoint]) -> SsvcDecision:
    values = {p.name: p.value for p in points}
    outcome = ssvc_outcome(
        Exploitation(values["Exploitation"]),
        Automatable(values["Automatable"]),
        TechnicalImpact(values["Technical Impact"]),
        MissionWellbeing(values["Mission and Well-being"]),
    )
    return SsvcDecision(outcome, [(p.name, p.value, p.source) for p in points])


def priority_key(decision: SsvcDecision, cvss: float, credibility_score: float) -> tuple[int, int, int]:
    """Higher sorts first: the SSVC outcome, then the CVSS base score, then credibility."""
    return decision.outcome.rank, round(cvss * 10), round(credibility_score * 100)
