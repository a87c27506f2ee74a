"""Determinations: three-valued logic over the criteria, observed values, thresholds and run ids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.frontier.criteria import load_file, parse
from clearinghouse.frontier.determination import (
    Coverage,
    Designation,
    EvaluationResult,
    ModelFacts,
    Outcome,
    combine_all,
    combine_any,
    determine,
)

CRITERIA = load_file(Path(__file__).resolve().parents[2] / "examples" / "frontier" / "criteria.yaml")
AT = datetime(2026, 11, 23, tzinfo=UTC)
CYBER = "clearinghouse-cyber"


def facts(flop: float | None = None, solve_rate: float | None = None, **changes: object) -> ModelFacts:
    evaluations = (
        {} if solve_rate is None else {CYBER: EvaluationResult(CYBER, "run-7", {"ctf_solve_rate": solve_rate})}
    )
    base = ModelFacts("Meridian", "4.0", "Northwind AI", "text", flop, evaluations)
    return ModelFacts(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def result(determination_results: object, name: str) -> dict[str, object]:
    for r in determination_results:  # type: ignore[attr-defined]
        if r.name == name:
            return r.as_json()  # type: ignore[no-any-return]
    raise KeyError(name)


def test_compute_above_the_threshold_covers_the_model() -> None:
    d = determine(CRITERIA, facts(flop=2e26, solve_rate=0.1), "dev", AT)
    assert d.coverage is Coverage.COVERED
    compute = result(d.results, "large_training_run")
    assert compute["outcome"] == "met" and compute["observed"] == 2e26 and compute["threshold"] == 1e26


def test_the_cyber_benchmark_alone_covers_it_and_cites_the_run() -> None:
    d = determine(CRITERIA, facts(flop=1e24, solve_rate=0.62), "dev", AT)
    assert d.coverage is Coverage.COVERED
    cyber = result(d.results, "offensive_cyber_capability")
    assert (cyber["outcome"], cyber["observed"], cyber["threshold"], cyber["run_id"]) == ("met", 0.62, 0.5, "run-7")
    assert d.decided_by == "dev" and d.decided_at == AT
    assert d.as_json()["gates_release"] is False


def test_under_every_threshold_is_not_covered() -> None:
    d = determine(CRITERIA, facts(flop=1e24, solve_rate=0.49), "dev", AT)
    assert d.coverage is Coverage.NOT_COVERED
    assert result(d.results, "covered")["outcome"] == "not_met"


def test_a_missing_benchmark_result_needs_evaluation_and_says_what_is_missing() -> None:
    d = determine(CRITERIA, facts(flop=1e24), "dev", AT)
    assert d.coverage is Coverage.NEEDS_EVALUATION
    assert any("clearinghouse-cyber ctf_solve_rate" in m for m in d.missing)
    assert result(d.results, "offensive_cyber_capability")["outcome"] == "unknown"


def test_a_missing_fact_does_not_matter_when_another_criterion_settles_it() -> None:
    assert determine(CRITERIA, facts(flop=5e26), "dev", AT).coverage is Coverage.COVERED


def test_the_nsa_designation_covers_and_a_pending_review_is_unknown() -> None:
    designated = facts(
        flop=1e24, solve_rate=0.1, designations=frozenset({Designation("NSA", "covered-frontier-model")})
    )
    assert determine(CRITERIA, designated, "nsa", AT).coverage is Coverage.COVERED
    pending = facts(flop=1e24, solve_rate=0.1, pending_reviews=frozenset({"NSA"}))
    d = determine(CRITERIA, pending, "dev", AT)
    assert d.coverage is Coverage.NEEDS_EVALUATION
    assert result(d.results, "nsa_designation")["observed"] == "review pending"


def test_all_needs_every_part_and_lower_is_better_comparisons_work() -> None:
    text = """\
id: strict
version: 1
title: Both needed
issuing_agencies: [NIST]
effective_date: 2026-09-01
status: draft
rule: both
criteria:
  both:
    all:
      - training_compute: {min_flop: 1e25}
      - benchmark: {suite: clearinghouse-cyber, metric: time_to_exploit_hours, comparison: "<", threshold: 4}
"""
    criteria = parse(text, "strict.yaml")
    fast = ModelFacts("m", "1", "d", "text", 2e25, {CYBER: EvaluationResult(CYBER, "r", {"time_to_exploit_hours": 2})})
    slow = ModelFacts("m", "1", "d", "text", 2e25, {CYBER: EvaluationResult(CYBER, "r", {"time_to_exploit_hours": 9})})
    assert determine(criteria, fast, "x", AT).coverage is Coverage.COVERED
    d = determine(criteria, slow, "x", AT)
    assert d.coverage is Coverage.NOT_COVERED
    assert result(d.results, "both.all[1]")["outcome"] == "not_met"


outcomes = st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=6)


@given(outcomes)
def test_any_and_all_follow_three_valued_logic(values: list[Outcome]) -> None:
    known = [v for v in values if v is not Outcome.UNKNOWN]
    if Outcome.MET in values:
        assert combine_any(values) is Outcome.MET
    elif len(known) == len(values):
        assert combine_any(values) is Outcome.NOT_MET
    else:
        assert combine_any(values) is Outcome.UNKNOWN
    if Outcome.NOT_MET in values:
        assert combine_all(values) is Outcome.NOT_MET
    elif all(v is Outcome.MET for v in values):
        assert combine_all(values) is Outcome.MET
    else:
        assert combine_all(values) is Outcome.UNKNOWN


@given(st.floats(min_value=1e20, max_value=1e30), st.floats(min_value=0, max_value=1))
def test_coverage_matches_the_thresholds(flop: float, rate: float) -> None:
    d = determine(CRITERIA, facts(flop=flop, solve_rate=rate), "dev", AT)
    expected = flop >= 1e26 or rate >= 0.5
    assert (d.coverage is Coverage.COVERED) == expected


@pytest.mark.parametrize("rate", [0.5, 0.5000001])
def test_the_threshold_itself_is_met(rate: float) -> None:
    assert determine(CRITERIA, facts(flop=1e20, solve_rate=rate), "dev", AT).coverage is Coverage.COVERED
