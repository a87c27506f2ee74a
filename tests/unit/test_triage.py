"""Triage: credibility from signals, the CISA SSVC decision and the queue order."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.intake.triage import (
    Automatable,
    Exploitation,
    MissionWellbeing,
    Signal,
    SsvcOutcome,
    TechnicalImpact,
    credibility,
    decide,
    derive_decision_points,
    priority_key,
    ssvc_outcome,
)

# Rows of CISA's Coordinator tree 2.0.3 as CERT/CC publishes them (data/csv/cisa/cisa_coordinator_2_0_3.csv),
# one per line, so a mistake in the module's table is caught by an independent copy.
CISA_TREE = """none,no,partial,low,track
none,no,partial,high,track
none,no,total,high,track*
none,yes,partial,high,attend
none,yes,total,medium,track
public poc,no,partial,high,track*
public poc,no,total,medium,track*
public poc,no,total,high,attend
public poc,yes,total,medium,track*
active,no,partial,high,attend
active,no,total,medium,attend
active,no,total,high,act
active,yes,partial,low,attend
active,yes,partial,high,act
active,yes,total,low,attend
active,yes,total,medium,act
"""
OUTCOMES = {
    "track": SsvcOutcome.TRACK,
    "track*": SsvcOutcome.TRACK_STAR,
    "attend": SsvcOutcome.ATTEND,
    "act": SsvcOutcome.ACT,
}


@pytest.mark.parametrize("row", list(csv.reader(io.StringIO(CISA_TREE))))
def test_ssvc_table_matches_cisa(row: list[str]) -> None:
    exploitation, automatable, impact, mission, outcome = row
    got = ssvc_outcome(
        Exploitation(exploitation), Automatable(automatable), TechnicalImpact(impact), MissionWellbeing(mission)
    )
    assert got is OUTCOMES[outcome]


def test_outcome_never_drops_when_exploitation_gets_worse() -> None:
    for automatable in Automatable:
        for impact in TechnicalImpact:
            for mission in MissionWellbeing:
                ranks = [ssvc_outcome(e, automatable, impact, mission).rank for e in Exploitation]
                assert ranks == sorted(ranks)


def test_kev_listed_network_rce_is_act_with_sources_shown() -> None:
    points = derive_decision_points(
        kev=True,
        poc_present=False,
        cvss_vectors=["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
        mission_wellbeing=MissionWellbeing.HIGH,
    )
    decision = decide(points)
    assert decision.outcome is SsvcOutcome.ACT
    by_name = {name: (value, source) for name, value, source in decision.points}
    assert by_name["Exploitation"] == ("active", "listed in CISA KEV")
    assert by_name["Automatable"][0] == "yes"
    assert by_name["Technical Impact"][0] == "total"
    assert by_name["Mission and Well-being"] == ("high", "set by an analyst")


def test_defaults_are_declared_not_hidden() -> None:
    decision = decide(derive_decision_points(kev=False, poc_present=False, cvss_vectors=[], mission_wellbeing=None))
    assert decision.outcome is SsvcOutcome.TRACK
    assert all(source for _, _, source in decision.points)
    assert [value for _, value, _ in decision.points] == ["none", "no", "partial", "medium"]
    assert "default" in dict((n, s) for n, _, s in decision.points)["Mission and Well-being"]


@pytest.mark.parametrize(
    ("vector", "automatable", "impact"),
    [
        ("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "no", "total"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", "no", "partial"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N", "yes", "total"),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:L/A:N", "no", "partial"),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "yes", "total"),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", "no", "partial"),
    ],
)
def test_points_from_cvss(vector: str, automatable: str, impact: str) -> None:
    points = {
        p.name: p.value
        for p in derive_decision_points(kev=False, poc_present=True, cvss_vectors=[vector], mission_wellbeing=None)
    }
    assert (points["Automatable"], points["Technical Impact"], points["Exploitation"]) == (
        automatable,
        impact,
        "public poc",
    )


def test_credibility_rewards_passed_checks_and_ignores_inapplicable_ones() -> None:
    good = [Signal("a", True, 2.0, ""), Signal("b", True, 1.0, ""), Signal("c", None, 5.0, "")]
    bad = [Signal("a", False, 2.0, ""), Signal("b", False, 1.0, ""), Signal("c", None, 5.0, "")]
    assert credibility(good) > 0.75 > 0.25 > credibility(bad)
    assert credibility([]) == 0.5
    # One passed check out of one is not certainty.
    assert credibility([Signal("a", True, 1.0, "")]) < 0.7


@given(st.lists(st.tuples(st.sampled_from([True, False, None]), st.floats(0.1, 10)), max_size=12))
def test_credibility_is_a_probability(signals: list[tuple[bool | None, float]]) -> None:
    assert 0.0 <= credibility([Signal(str(i), p, w, "") for i, (p, w) in enumerate(signals)]) <= 1.0


def test_queue_orders_by_decision_then_score_then_credibility() -> None:
    act = decide(
        derive_decision_points(
            kev=True,
            poc_present=True,
            cvss_vectors=["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
            mission_wellbeing=None,
        )
    )
    track = decide(derive_decision_points(kev=False, poc_present=False, cvss_vectors=[], mission_wellbeing=None))
    keys = [
        priority_key(track, 9.8, 1.0),
        priority_key(act, 5.0, 0.2),
        priority_key(track, 9.8, 0.3),
        priority_key(track, 4.0, 1.0),
    ]
    assert sorted(keys, reverse=True) == [keys[1], keys[0], keys[2], keys[3]]
