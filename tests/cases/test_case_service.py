"""The case service's refusals (each a clear error, nothing half-written) and who sees what inside a case."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from clearinghouse.cases.routing import DeclarationKind
from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus
from clearinghouse.cases.service import MAX_ATTACHMENT_BYTES, CaseService, NewAttachment
from clearinghouse.errors import (
    CaseAttachmentTooLarge,
    CaseConflict,
    EmbargoRefused,
    Forbidden,
    InvalidVendorDeclaration,
    NotFound,
    PublicationRefused,
    VendorStatementRefused,
)
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import PipelineRun, ReportService
from clearinghouse.intake.submission import validate_submission
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import case_events, case_messages, cases, records, reports
from tests.store.test_report_locks import race_with_a_batch

OPERATOR = Operator("test")
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@dataclass
class Setting:
    service: CaseService
    engine: sa.Engine
    people: dict[str, Principal]
    report_id: str


def _report(engine: sa.Engine, reporter: Principal, validated: bool = True, purl: str = "pkg:pypi/acme-lib") -> str:
    body = {
        "kind": "structured",
        "provenance": {"origin": "human"},
        "report": {
            "title": "Integer overflow in acme-lib's length check",
            "description": "A length near the type's maximum wraps around and the copy that follows overruns.",
            "affected": [{"purl": purl, "versions": ["1.0"]}],
        },
    }
    submission = validate_submission(body)
    reports = ReportService(engine)
    report_id = reports.accept(reporter, normalise(submission), {"origin": "human"}).report_ids[0]
    for target in (ReportState.TRIAGED, ReportState.VALIDATED) if validated else ():
        reports.change_state(OPERATOR, report_id, target, "reproduced")
    return report_id


@pytest.fixture
def setting(engine: sa.Engine) -> Setting:
    identity = IdentityStore(engine)
    people: dict[str, Principal] = {}
    for key, name, kind, role in (
        ("admin", "Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ADMIN),
        ("analyst", "Clearinghouse", OrgKind.CLEARINGHOUSE, Role.ANALYST),
        ("reporter", "Reporter Org", OrgKind.REPORTER, Role.REPORTER),
        ("acme", "Acme Software", OrgKind.VENDOR, Role.VENDOR),
        ("beta", "Beta Systems", OrgKind.VENDOR, Role.VENDOR),
        ("hospital", "Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER),
    ):
        if key != "analyst":
            identity.create_organisation(name, kind, "energy" if kind is OrgKind.CRITICAL_INFRASTRUCTURE else None)
        people[key] = identity.authenticate(identity.create_token(name, key, role).plaintext)
    service = CaseService(engine, clock=lambda: NOW)
    return Setting(service, engine, people, _report(engine, people["reporter"]))


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _case(s: Setting) -> str:
    case = s.service.open_case(s.people["analyst"], [s.report_id])
    for vendor in ("Acme Software", "Beta Systems"):
        s.service.add_participant(s.people["analyst"], case.id, vendor, CaseRole.VENDOR, "by hand")
    s.service.add_participant(s.people["analyst"], case.id, "Mercy Hospital", CaseRole.EARLY_WARNING, "runs it")
    return case.id


def test_a_case_is_opened_only_from_validated_reports_and_nothing_half_written_stays(setting: Setting) -> None:
    s = setting
    received = _report(s.engine, s.people["reporter"], validated=False)
    with pytest.raises(CaseConflict, match="is received; a case is opened from validated reports"):
        s.service.open_case(s.people["analyst"], [s.report_id, received])
    with pytest.raises(CaseConflict, match="not a CVE id"):
        s.service.open_case(s.people["analyst"], [s.report_id], cve_id="CVE-1")
    with pytest.raises(Forbidden):
        s.service.open_case(s.people["acme"], [s.report_id])
    assert (_count(s.engine, cases), _count(s.engine, records), _count(s.engine, case_events)) == (0, 0, 0)
    s.service.open_case(s.people["analyst"], [s.report_id])
    with pytest.raises(CaseConflict, match="already in case CASE-2026-0001"):
        s.service.open_case(s.people["analyst"], [s.report_id])


def test_embargo_refusals_leave_the_date_as_it_was(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    analyst = s.people["analyst"]
    with pytest.raises(EmbargoRefused, match="not in the future"):
        s.service.set_embargo(analyst, case_id, datetime(2026, 12, 1, 9, 0), "Europe/Berlin", "")
    with pytest.raises(EmbargoRefused, match="unknown time zone"):
        s.service.set_embargo(analyst, case_id, datetime(2027, 3, 1, 9, 0), "Europe/Atlantis", "")
    first = s.service.set_embargo(analyst, case_id, datetime(2027, 3, 1, 9, 0), "Europe/Berlin", "agreed")
    assert first.embargo is not None and first.embargo.public_at_utc == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(EmbargoRefused, match="needs a reason"):
        s.service.set_embargo(analyst, case_id, datetime(2027, 4, 1, 9, 0), "Europe/Berlin", "", ["Acme Software"])
    with pytest.raises(EmbargoRefused, match="who agreed"):
        s.service.set_embargo(analyst, case_id, datetime(2027, 4, 1, 9, 0), "Europe/Berlin", "late fix", [])
    after = s.service.view(analyst, case_id, "Asia/Tokyo")
    assert after.embargo is not None and after.embargo.public_at_utc == first.embargo.public_at_utc
    assert after.embargo.in_viewer_zone == "2027-03-01T17:00:00+09:00"
    extended = s.service.set_embargo(analyst, case_id, datetime(2027, 4, 1, 9, 0), "UTC", "late fix", ["Acme"])
    assert extended.timeline[-1].details["change"] == "extended"
    assert extended.timeline[-1].details["agreed_by"] == ["Acme"]
    # Vendors read the new date and the reason, not who agreed (that may name another vendor).
    acme_sees = s.service.view(s.people["acme"], case_id).timeline[-1].details
    assert acme_sees["reason"] == "late fix" and "agreed_by" not in acme_sees


def test_a_vendor_sees_its_own_thread_and_status_never_another_vendors(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    p = s.people
    s.service.post_message(p["analyst"], case_id, "to Acme only", to_vendor="Acme Software")
    s.service.post_message(p["analyst"], case_id, "to Beta only", to_vendor="Beta Systems")
    s.service.post_message(p["reporter"], case_id, "to everyone")
    s.service.state_status(p["acme"], case_id, VendorStatement(VendorStatus.AFFECTED, note="Acme's secret"))
    acme = s.service.view(p["acme"], case_id)
    assert [m.body for m in acme.messages] == ["to Acme only", "to everyone"]
    assert [v.organisation for v in acme.vendor_statuses] == ["Acme Software"]
    assert "Beta Systems" not in {x.organisation for x in acme.participants}
    beta = s.service.view(p["beta"], case_id)
    assert [m.body for m in beta.messages] == ["to Beta only", "to everyone"]
    assert [(v.organisation, v.note) for v in beta.vendor_statuses] == [("Beta Systems", "")]
    assert all("Acme" not in str(e.details) for e in beta.timeline)
    hospital = s.service.view(p["hospital"], case_id)
    assert (hospital.messages, hospital.vendor_statuses) == ([], [])
    with pytest.raises(Forbidden):
        s.service.post_message(p["acme"], case_id, "sneaking in", to_vendor="Beta Systems")
    with pytest.raises(Forbidden, match="cases:write"):
        s.service.post_message(p["hospital"], case_id, "hello")


def test_a_case_you_are_not_in_is_absent_also_for_posting(setting: Setting) -> None:
    s = setting
    case = s.service.open_case(s.people["analyst"], [s.report_id])
    before = _count(s.engine, case_messages)
    for action in (
        lambda: s.service.view(s.people["acme"], case.id),
        lambda: s.service.post_message(s.people["acme"], case.id, "let me in"),
        lambda: s.service.view(s.people["acme"], "CASE-2026-9999"),
    ):
        with pytest.raises(NotFound, match="no case with id"):
            action()
    assert _count(s.engine, case_messages) == before


def test_statements_need_their_evidence_and_the_vendors_own_packages(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    with pytest.raises(VendorStatementRefused, match="VEX justification"):
        s.service.state_status(s.people["acme"], case_id, VendorStatement(VendorStatus.NOT_AFFECTED))
    s.service.declare(s.people["beta"], DeclarationKind.PURL, "pkg:maven/org.beta/*")
    claim = VendorStatement(VendorStatus.FIXED, fixed_versions=("2.0",), packages=("pkg:pypi/acme-lib",))
    with pytest.raises(VendorStatementRefused, match="has not declared that it owns pkg:pypi/acme-lib"):
        s.service.state_status(s.people["beta"], case_id, claim)
    with pytest.raises(Forbidden):
        s.service.state_status(s.people["beta"], case_id, VendorStatement(VendorStatus.AFFECTED), "Acme Software")
    with pytest.raises(InvalidVendorDeclaration, match="every pypi package"):
        s.service.declare(s.people["acme"], DeclarationKind.PURL, "pkg:pypi/*")


def test_attachments_are_capped(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    too_big = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 1)).decode()
    with pytest.raises(CaseAttachmentTooLarge):
        s.service.post_message(
            s.people["acme"], case_id, "log", attachments=[NewAttachment("a.log", "text/plain", too_big)]
        )
    with pytest.raises(CaseConflict, match="not valid base64"):
        s.service.post_message(
            s.people["acme"], case_id, "log", attachments=[NewAttachment("a.log", "text/plain", "é")]
        )
    fine = NewAttachment("crash.txt", "text/plain", base64.b64encode(b"segfault").decode())
    posted = s.service.post_message(s.people["acme"], case_id, "log", attachments=[fine])
    [message] = [m for m in s.service.view(s.people["acme"], case_id).messages if m.id == posted.id]
    assert [(a.name, a.size) for a in message.attachments] == [("crash.txt", 8)]
    private = s.service.post_message(s.people["analyst"], case_id, "a patch", "Acme Software", [fine])
    [content] = s.service.attachments(s.people["acme"], private.id).attachments
    assert base64.b64decode(content.content_base64) == b"segfault"
    for outsider in ("beta", "hospital"):
        with pytest.raises(NotFound, match=f"no message with id {private.id}"):
            s.service.attachments(s.people[outsider], private.id)


def test_only_an_admin_overrides_the_gate_and_must_say_why(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    s.service.move(s.people["analyst"], case_id, CaseState.VENDORS_NOTIFIED, "told")
    with pytest.raises(PublicationRefused, match="only an administrator"):
        s.service.publish(s.people["analyst"], case_id, override_reason="exploited in the wild")
    with pytest.raises(PublicationRefused, match=str((NOW + timedelta(days=90)).year)):
        s.service.publish(s.people["analyst"], case_id)
    published = s.service.publish(s.people["admin"], case_id, "exploited in the wild", cve_id="CVE-2026-40011")
    assert published.reason == "administrator override: exploited in the wild" and published.tlp == "CLEAR"
    # The CVE id given at publication is an alias the record store answers to.
    [record] = RecordStore(s.engine).find("CVE-2026-40011")
    assert (record.id, record.tlp.value, record.status.value) == (published.record_id, "CLEAR", "published")


def test_a_later_report_joins_the_case_and_its_advisory(setting: Setting) -> None:
    s = setting
    case_id = _case(s)
    identity = IdentityStore(s.engine)
    identity.create_organisation("Second Finder", OrgKind.REPORTER)
    second = identity.authenticate(identity.create_token("Second Finder", "f", Role.REPORTER).plaintext)
    later = _report(s.engine, second, purl="pkg:npm/acme-js")
    view = s.service.add_reports(s.people["analyst"], case_id, [later])
    assert view.reports == sorted([s.report_id, later])
    assert "Second Finder" in {p.organisation for p in view.participants if p.role == "reporter"}
    [advisory] = RecordStore(s.engine).find(view.advisory_id)
    assert sorted(a.package.name for a in advisory.osv.affected or () if a.package) == ["acme-js", "acme-lib"]
    assert advisory.status.value == "embargoed"
    assert [r.id for r in RecordStore(s.engine).affected("npm", "acme-js", "1.0")] == [view.advisory_id]
    with pytest.raises(CaseConflict, match="already in case"):
        s.service.add_reports(s.people["analyst"], case_id, [later])


def test_a_case_opened_while_a_batch_reprocesses_its_report_waits_for_it_and_both_complete(setting: Setting) -> None:
    """On PostgreSQL the case's move of the report and a worker's batch on it used to deadlock (`intake.locking`)."""
    s = setting
    if s.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: two transactions never hold locks the other waits for")
    run = PipelineRun(s.report_id, {"check": {"ok": True, "ms": 1.0}}, {"credibility": 0.75}, None)
    opened: list[str] = []
    race_with_a_batch(
        s.engine, [run], lambda: opened.append(s.service.open_case(s.people["analyst"], [s.report_id]).id)
    )
    with s.engine.connect() as conn:
        row = conn.execute(sa.select(reports).where(reports.c.id == s.report_id)).one()
    assert (row.state, row.credibility, opened) == (ReportState.COORDINATING, 0.75, ["CASE-2026-0001"])
