"""Whether a model is a covered frontier model under one criteria version: pure logic, no I/O.

Each criterion evaluates to met, not met or unknown (a needed fact, such as a benchmark result, is missing);
`all` and `any` combine them in three-valued logic, so one missing fact makes the answer `needs_evaluation`
only when it could change it. A determination is advice to the developer and the government: it never
licenses or blocks a release (the order bars any pre-clearance requirement).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from clearinghouse.frontier.criteria import (
    AllOf,
    AnyOf,
    BenchmarkThreshold,
    CriteriaSet,
    Criterion,
    ExpertDesignation,
    Ref,
    TrainingCompute,
)


class Coverage(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"
    NEEDS_EVALUATION = "needs_evaluation"


class Outcome(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class EvaluationResult:
    """The metrics one evaluation run produced for one suite (the run id is cited in every determination)."""

    suite: str
    run_id: str
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Designation:
    authority: str
    designation: str


@dataclass(frozen=True)
class ModelFacts:
    name: str
    version: str
    developer: str
    modality: str
    training_compute_flop: float | None
    evaluations: Mapping[str, EvaluationResult] = field(default_factory=dict)
    designations: frozenset[Designation] = frozenset()
    # Authorities with an expert review under way (e.g. the NSA's classified review): the outcome is not known yet.
    pending_reviews: frozenset[str] = frozenset()
    # Whether whoever asks may know of classified reviews (`policy.rules.sees_classified_reviews`). If not, a
    # criterion marked `classified: true` says only whether a designation exists, never that a review is open.
    classified_reviews_visible: bool = True


@dataclass(frozen=True)
class CriterionResult:
    name: str
    kind: str
    outcome: Outcome
    observed: float | str | None
    threshold: float | str | None
    comparison: str | None
    run_id: str | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "outcome": self.outcome.value,
            "observed": self.observed,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "run_id": self.run_id,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Determination:
    model: str
    criteria: str  # ID@VERSION
    rule: str
    coverage: Coverage
    results: tuple[CriterionResult, ...]
    decided_by: str
    decided_at: datetime

    @property
    def missing(self) -> list[str]:
        return [r.reason for r in self.results if r.outcome is Outcome.UNKNOWN and r.kind not in {"all", "any"}]

    def reasons(self) -> list[str]:
        return [f"{r.name}: {r.outcome.value}: {r.reason}" for r in self.results]

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "criteria": self.criteria,
            "rule": self.rule,
            "coverage": self.coverage.value,
            "results": [r.as_json() for r in self.results],
            "missing": self.missing,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat(),
            "gates_release": False,
        }


def determine(criteria: CriteriaSet, facts: ModelFacts, decided_by: str, decided_at: datetime) -> Determination:
    """Evaluate every named criterion (the rule's outcome decides coverage) and explain each one."""
    evaluator = _Evaluator(criteria.criteria, facts)
    outcome = evaluator.named(criteria.rule)
    for name in criteria.criteria:
        evaluator.named(name)
    coverage = {
        Outcome.MET: Coverage.COVERED,
        Outcome.NOT_MET: Coverage.NOT_COVERED,
        Outcome.UNKNOWN: Coverage.NEEDS_EVALUATION,
    }[outcome]
    return Determination(
        model=f"{facts.name} {facts.version}",
        criteria=criteria.key,
        rule=criteria.rule,
        coverage=coverage,
        results=tuple(evaluator.results),
        decided_by=decided_by,
        decided_at=decided_at,
    )


def combine_all(outcomes: list[Outcome]) -> Outcome:
    if Outcome.NOT_MET in outcomes:
        return Outcome.NOT_MET
    return Outcome.MET if all(o is Outcome.MET for o in outcomes) else Outcome.UNKNOWN


def combine_any(outcomes: list[Outcome]) -> Outcome:
    if Outcome.MET in outcomes:
        return Outcome.MET
    return Outcome.NOT_MET if all(o is Outcome.NOT_MET for o in outcomes) else Outcome.UNKNOWN


class _Evaluator:
    def __init__(self, criteria: Mapping[str, Criterion], facts: ModelFacts) -> None:
        self.criteria = criteria
        self.facts = facts
        self.outcomes: dict[str, Outcome] = {}
        self.results: list[CriterionResult] = []

    def named(self, name: str) -> Outcome:
        # Criteria were checked for cycles when loaded, so this recursion ends.
        if name not in self.outcomes:
            self.outcomes[name] = self.node(self.criteria[name], name)
        return self.outcomes[name]

    def node(self, criterion: Criterion, label: str) -> Outcome:
        if isinstance(criterion, Ref):
            return self.named(criterion.name)
        if isinstance(criterion, AllOf | AnyOf):
            return self.combination(criterion, label)
        result = leaf_result(criterion, label, self.facts)
        self.results.append(result)
        return result.outcome

    def combination(self, criterion: AllOf | AnyOf, label: str) -> Outcome:
        kind = "all" if isinstance(criterion, AllOf) else "any"
        outcomes = [self.node(part, _part_label(label, kind, i, part)) for i, part in enumerate(criterion.parts)]
        outcome = combine_all(outcomes) if kind == "all" else combine_any(outcomes)
        met = sum(o is Outcome.MET for o in outcomes)
        unknown = sum(o is Outcome.UNKNOWN for o in outcomes)
        need = "all" if kind == "all" else "at least one"
        reason = f"{met} of {len(outcomes)} met, {unknown} unknown; {need} must be met"
        self.results.append(CriterionResult(label, kind, outcome, f"{met}/{len(outcomes)}", None, kind, None, reason))
        return outcome


def _part_label(label: str, kind: str, index: int, part: Criterion) -> str:
    return part.name if isinstance(part, Ref) else f"{label}.{kind}[{index}]"


def leaf_result(criterion: Criterion, label: str, facts: ModelFacts) -> CriterionResult:
    if isinstance(criterion, TrainingCompute):
        return _compute(criterion, label, facts)
    if isinstance(criterion, BenchmarkThreshold):
        return _benchmark(criterion, label, facts)
    if isinstance(criterion, ExpertDesignation):
        return _designation(criterion, label, facts)
    raise TypeError(f"not a leaf criterion: {criterion!r}")


def _compute(criterion: TrainingCompute, label: str, facts: ModelFacts) -> CriterionResult:
    observed = facts.training_compute_flop
    if observed is None:
        reason = "training compute (FLOP) not reported"
        return CriterionResult(label, "training_compute", Outcome.UNKNOWN, None, criterion.min_flop, ">=", None, reason)
    met = observed >= criterion.min_flop
    reason = f"trained with {observed:.3g} FLOP, threshold {criterion.min_flop:.3g}"
    outcome = Outcome.MET if met else Outcome.NOT_MET
    return CriterionResult(label, "training_compute", outcome, observed, criterion.min_flop, ">=", None, reason)


def _benchmark(criterion: BenchmarkThreshold, label: str, facts: ModelFacts) -> CriterionResult:
    run = facts.evaluations.get(criterion.suite)
    value = run.metrics.get(criterion.metric) if run is not None else None
    what = f"{criterion.suite} {criterion.metric}"
    if run is None or value is None:
        reason = f"needs a {what} result (no evaluation run recorded)"
        return CriterionResult(
            label, "benchmark", Outcome.UNKNOWN, None, criterion.threshold, criterion.comparison, None, reason
        )
    met = _COMPARE[criterion.comparison](value, criterion.threshold)
    reason = f"{what} = {value:g} in run {run.run_id}, threshold {criterion.comparison} {criterion.threshold:g}"
    outcome = Outcome.MET if met else Outcome.NOT_MET
    return CriterionResult(
        label, "benchmark", outcome, value, criterion.threshold, criterion.comparison, run.run_id, reason
    )


def _designation(criterion: ExpertDesignation, label: str, facts: ModelFacts) -> CriterionResult:
    wanted = Designation(criterion.authority, criterion.designation)
    # Only the fact of a designation is used: a classified review's content never enters the system.
    if wanted in facts.designations:
        outcome, observed, reason = Outcome.MET, "designated", f"{criterion.authority} designated it"
    elif criterion.authority in facts.pending_reviews and (
        facts.classified_reviews_visible or not criterion.classified
    ):
        outcome, observed, reason = Outcome.UNKNOWN, "review pending", f"a {criterion.authority} review is open"
    else:
        outcome, observed, reason = Outcome.NOT_MET, "not designated", f"no {criterion.authority} designation"
    return CriterionResult(
        label, "expert_designated", outcome, observed, criterion.designation, "designated", None, reason
    )
