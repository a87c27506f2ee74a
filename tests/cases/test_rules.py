"""The pure rules of a case: lifecycle, embargo, publication gate, vendor statements and patch tracking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clearinghouse.cases.rules import (
    CASE_LIFECYCLE,
    CaseState,
    EmbargoPolicy,
    PublicationGate,
    PublicDate,
    VendorStatement,
    VendorStatus,
    VexJustification,
    patch_flags,
    public_date,
)
from clearinghouse.errors import EmbargoRefused, IllegalTransition, PublicationRefused, VendorStatementRefused
from clearinghouse.records.model import Affected

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_lifecycle_moves_only_along_its_table() -> None:
    change = CASE_LIFECYCLE.transition(CaseState.OPEN, CaseState.VENDORS_NOTIFIED, "analyst", "vendors confirmed", NOW)
    assert change.target is CaseState.VENDORS_NOTIFIED
    with pytest.raises(IllegalTransition, match="allowed from 'open'"):
        CASE_LIFECYCLE.transition(CaseState.OPEN, CaseState.PUBLISHED, "analyst", "skip ahead", NOW)
    with pytest.raises(IllegalTransition, match="needs a reason"):
        CASE_LIFECYCLE.transition(CaseState.OPEN, CaseState.DISPUTED, "analyst", " ", NOW)


def test_a_public_date_is_kept_in_utc_with_its_zone_and_shown_in_any_zone() -> None:
    date = public_date(datetime(2027, 3, 1, 9, 0), "America/New_York", NOW)
    assert date.at == datetime(2027, 3, 1, 14, 0, tzinfo=UTC)
    assert date.zone == "America/New_York"
    assert date.shown_in("Europe/Berlin") == "2027-03-01T15:00:00+01:00"
    assert date.shown_in("UTC") == "2027-03-01T14:00:00+00:00"


@pytest.mark.parametrize(
    ("local", "zone", "message"),
    [
        (datetime(2026, 12, 1, 9, 0), "UTC", "not in the future"),
        (datetime(2027, 3, 1, 9, 0), "Mars/Olympus_Mons", "unknown time zone"),
        (datetime(2027, 3, 1, 9, 0), "../../etc/passwd", "unknown time zone"),
        (datetime(2031, 3, 1, 9, 0), "UTC", "more than 1095 days away"),
        (datetime(9999, 12, 31, 23, 0), "America/Adak", "out of range"),
    ],
)
def test_a_past_date_or_an_unknown_zone_is_refused(local: datetime, zone: str, message: str) -> None:
    with pytest.raises(EmbargoRefused, match=message):
        public_date(local, zone, NOW)


def test_the_default_embargo_is_90_days_from_first_notification_and_configurable() -> None:
    assert EmbargoPolicy().default_date(NOW).at == NOW + timedelta(days=90)
    assert EmbargoPolicy(default_days=45).default_date(NOW).at == NOW + timedelta(days=45)


def test_an_extension_needs_a_reason_who_agreed_and_a_later_date() -> None:
    policy = EmbargoPolicy()
    current = PublicDate(NOW + timedelta(days=10), "UTC")
    later = PublicDate(NOW + timedelta(days=20), "UTC")
    assert policy.extend(current, later, "the vendor needs a release", ["Acme Software"]) == later
    with pytest.raises(EmbargoRefused, match="needs a reason"):
        policy.extend(current, later, "", ["Acme Software"])
    with pytest.raises(EmbargoRefused, match="who agreed"):
        policy.extend(current, later, "late fix", [" "])
    with pytest.raises(EmbargoRefused, match="later than"):
        policy.extend(current, PublicDate(NOW + timedelta(days=5), "UTC"), "earlier", ["Acme Software"])


def test_the_gate_opens_on_the_date_on_every_fix_or_on_an_admin_override() -> None:
    date = PublicDate(NOW + timedelta(days=10), "UTC")
    waiting = PublicationGate(date, {"Acme": VendorStatus.FIXED, "Beta": VendorStatus.UNDER_INVESTIGATION})
    closed = waiting.decide(NOW)
    assert not closed.open and closed.opens_at == date.at and "Beta" in closed.reason
    with pytest.raises(PublicationRefused, match="gate is closed until the public date"):
        waiting.require_open(NOW)
    assert waiting.decide(date.at).open
    assert PublicationGate(date, {"Acme": VendorStatus.FIXED, "Beta": VendorStatus.NOT_AFFECTED}).decide(NOW).open
    assert waiting.decide(NOW, "actively exploited", admin=True).open
    assert not waiting.decide(NOW, "actively exploited", admin=False).open
    assert not waiting.decide(NOW, "  ", admin=True).open
    assert not PublicationGate(date, {"Acme": VendorStatus.NOT_AFFECTED}).decide(NOW).open  # nothing fixed


def test_vendor_statements_need_their_evidence() -> None:
    VendorStatement(VendorStatus.NOT_AFFECTED, VexJustification.CODE_NOT_REACHABLE).check()
    VendorStatement(VendorStatus.FIXED, fixed_versions=("2.0",)).check()
    with pytest.raises(VendorStatementRefused, match="VEX justification"):
        VendorStatement(VendorStatus.NOT_AFFECTED).check()
    with pytest.raises(VendorStatementRefused, match="only to a 'not_affected'"):
        VendorStatement(VendorStatus.AFFECTED, VexJustification.COMPONENT_NOT_PRESENT).check()
    with pytest.raises(VendorStatementRefused, match="fixed versions or the fix commits"):
        VendorStatement(VendorStatus.FIXED).check()
    with pytest.raises(VendorStatementRefused, match="https"):
        VendorStatement(VendorStatus.FIXED, fix_commits=("abc",), advisory_url="http://x").check()


def test_a_fixed_version_still_inside_an_affected_range_is_flagged() -> None:
    entry = Affected.model_validate(
        {
            "package": {"ecosystem": "PyPI", "name": "jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.11.3"}]}],
        }
    )
    assert patch_flags(["2.11.3", "3.0"], [entry]) == []
    # PEP 440: 2.11.3rc1 sorts before 2.11.3 (a string comparison would not say so).
    flags = patch_flags(["2.11.3rc1", "2.10"], [entry])
    assert [f.version for f in flags] == ["2.11.3rc1", "2.10"]
    assert "inside an affected range of PyPI/jinja2" in flags[0].reason
    listed = Affected.model_validate({"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0.0"]})
    assert [f.version for f in patch_flags(["1.0.0", "1.0.1"], [listed])] == ["1.0.0"]
