"""Fix verification: a vendor marks a case fixed with a version, the case's reproduced proofs of concept run
against that version, and a fix that still triggers is flagged on the vendor's status."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from clearinghouse.cases.rules import VendorStatement, VendorStatus
from clearinghouse.cases.service import VERIFY_FIX_JOB, CaseService
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.submission import validate_submission
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.reproduce.environments import EnvironmentBuilder
from clearinghouse.reproduce.jobs import job_handlers
from clearinghouse.reproduce.rules import Ecosystem
from clearinghouse.reproduce.service import ReproductionService
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import case_vendor_status, jobs

# 1.0 recurses without end, 1.1 refuses deep input with ValueError: an Exception escapes the package on both, so
# a "fix" in 1.1 still triggers this PoC
POC = 'import chvuln\nchvuln.parse("[" * 5000)'


def test_a_fix_that_still_triggers_is_flagged_on_the_case(
    engine: sa.Engine,
    builders: dict[Ecosystem, EnvironmentBuilder],
    local_index: Path,
    reproduce_root: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity = IdentityStore(engine)
    for name, kind in (
        ("Clearinghouse", OrgKind.CLEARINGHOUSE),
        ("Finder", OrgKind.REPORTER),
        ("Acme", OrgKind.VENDOR),
    ):
        identity.create_organisation(name, kind)
    analyst = identity.authenticate(identity.create_token("Clearinghouse", "ana", Role.ANALYST).plaintext)
    reporter = identity.authenticate(identity.create_token("Finder", "fin", Role.REPORTER).plaintext)
    vendor = identity.authenticate(identity.create_token("Acme", "psirt", Role.VENDOR).plaintext)
    body = {
        "kind": "structured",
        "provenance": {"origin": "human"},
        "report": {
            "title": "Unbounded recursion in chvuln.parse",
            "description": "Deeply nested input makes the parser recurse until the interpreter gives up.",
            "affected": [{"purl": "pkg:pypi/chvuln", "versions": ["1.0"]}],
            "proof_of_concept": POC,
        },
    }
    reports = ReportService(engine)
    report_id = reports.accept(reporter, normalise(validate_submission(body)), {"origin": "human"}).report_ids[0]
    for target in (ReportState.TRIAGED, ReportState.VALIDATED):
        reports.change_state(Operator("test"), report_id, target, "reproduced")
    reproductions = ReproductionService(engine, builders)
    oracle = {"oracle": {"kind": "exception", "exception": "Exception"}, "target": {"fixed": "1.1"}}
    first = reproductions.run(reproductions.request(analyst, report_id, oracle).id)
    assert first is not None and first.verdict == "reproduced_not_fixed"

    cases = CaseService(engine)
    case = cases.open_case(analyst, [report_id])
    cases.add_participant(analyst, case.id, "Acme", CaseRole.VENDOR, "maintains chvuln")
    cases.state_status(vendor, case.id, VendorStatement(VendorStatus.FIXED, fixed_versions=("1.1",)))
    with engine.connect() as conn:
        (payload,) = conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == VERIFY_FIX_JOB)).scalars()
    assert payload["case_id"] == case.id and payload["version"] == "1.1" and payload["report_ids"] == [report_id]

    # the job runs through the wired handler; the reproductions it queues run here
    monkeypatch.setenv("CLEARINGHOUSE_REPRODUCE_OFFLINE", "1")
    monkeypatch.setenv("CLEARINGHOUSE_REPRODUCE_INDEX", str(local_index))
    settings = Settings(home=reproduce_root / "fix-home", database_url=database_url)
    (queued,) = job_handlers(engine, settings)[VERIFY_FIX_JOB](payload)  # type: ignore[misc]
    verified = reproductions.run(queued)
    assert verified is not None and verified.purpose == "fix_verification" and verified.case_id == case.id
    assert verified.verdict == "reproduced_not_fixed" and [o.version for o in verified.observations] == ["1.1"]
    assert [v.id for v in reproductions.for_case(case.id)] == [queued]
    with engine.connect() as conn:
        flags = conn.execute(
            sa.select(case_vendor_status.c.flags).where(case_vendor_status.c.case_id == case.id)
        ).scalar_one()
    assert [f["version"] for f in flags] == ["1.1"] and "still triggers on 1.1" in flags[0]["reason"]
