"""`clearinghouse case demo`: one case from report to publication on the default store, with fictional
organisations (a reporter, two vendors, a hospital named for early warning), through the same services as the API.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from clearinghouse.cases.routing import DeclarationKind
from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus, VexJustification
from clearinghouse.cases.service import CaseService
from clearinghouse.cli import render
from clearinghouse.cli.frontier import _principal
from clearinghouse.errors import CaseConflict, PublicationRefused
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.submission import validate_submission
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.policy.rules import export_visibility
from clearinghouse.records.model import Tlp
from clearinghouse.sharing.export import ExportFormat, export_records
from clearinghouse.store.identity import IdentityStore

console = render.console()
OPERATOR = Operator("case-demo")
VENDORS = {"Pallets (demo)": "pkg:pypi/demo-templates", "Beta Systems (demo)": "pkg:maven/org.beta.demo/*"}


def _step(name: str, text: str) -> None:
    console.print(f"[bold]{name}[/bold]: {text}", highlight=False, soft_wrap=True)


def _report(service: CaseService) -> str:
    """A validated AI-found report naming both vendors' packages and one nobody declared."""
    identity = IdentityStore(service.engine)
    reporter = _principal(identity, "Reporter Org (demo)", OrgKind.REPORTER, Role.REPORTER, None)
    body: dict[str, Any] = {
        "kind": "structured",
        "provenance": {"origin": "ai", "model": "example-model-1", "tool": "bughunter", "human_verified": True},
        "report": {
            # A fresh title each run, so the demo can run again on the same store (no exact duplicate).
            "title": f"Template sandbox escape in demo-templates ({uuid.uuid4().hex[:6]})",
            "description": "A crafted template reaches the interpreter's builtins through the sandbox's attribute "
            "filter and runs arbitrary code.",
            "affected": [
                {"purl": "pkg:pypi/demo-templates", "versions": ["3.1.0", "3.1.1"]},
                {"purl": "pkg:maven/org.beta.demo/beta-render", "versions": ["2.0"]},
                {"purl": "pkg:npm/demo-unclaimed", "versions": ["0.1.0"]},
            ],
            "cwe": "CWE-1336",
        },
    }
    submission = validate_submission(body)
    reports = ReportService(service.engine)
    accepted = reports.accept(reporter, normalise(submission), submission.provenance.model_dump(mode="json"))
    report_id = accepted.report_ids[0]
    for target in (ReportState.TRIAGED, ReportState.VALIDATED):
        reports.change_state(OPERATOR, report_id, target, "reproduced by the demo analyst")
    _step("validated report", report_id)
    return report_id


def _declare(service: CaseService) -> None:
    identity = IdentityStore(service.engine)
    _principal(identity, "Mercy Hospital (demo)", OrgKind.CRITICAL_INFRASTRUCTURE, Role.PARTNER, "energy")
    for vendor, pattern in VENDORS.items():
        _principal(identity, vendor, OrgKind.VENDOR, Role.VENDOR, None)
        with contextlib.suppress(CaseConflict):  # declared by an earlier run
            service.declare(OPERATOR, DeclarationKind.PURL, pattern, vendor)
        _step("declaration", f"{vendor} owns {pattern}")


def run_demo(service: CaseService, out: Path) -> None:
    _declare(service)
    case = service.open_case(OPERATOR, [_report(service)], cve_id="CVE-2099-1301")
    _step("case opened", f"{case.id} (TLP:{case.tlp}); advisory {case.advisory_id} is embargoed")
    proposal = service.propose(OPERATOR, case.id)
    for match in proposal.matches:
        _step("proposed vendor", f"{match.organisation} for {match.subject} ({match.rule})")
        service.add_participant(OPERATOR, case.id, match.organisation_id, CaseRole.VENDOR, match.rule)
    for subject in proposal.no_vendor_on_file:
        _step("no vendor on file", subject)
    service.add_participant(OPERATOR, case.id, "Mercy Hospital (demo)", CaseRole.EARLY_WARNING, "runs it")
    case = service.move(OPERATOR, case.id, CaseState.VENDORS_NOTIFIED, "vendors confirmed")
    if case.embargo is not None:
        shown = service.view(OPERATOR, case.id, "America/New_York").embargo
        local = shown.in_viewer_zone if shown else ""
        _step("embargo", f"public on {case.embargo.public_at_utc.isoformat()} (UTC), {local} in New York")
    service.post_message(OPERATOR, case.id, "Which releases ship the sandbox?", to_vendor="Pallets (demo)")
    not_affected = VendorStatement(VendorStatus.NOT_AFFECTED, VexJustification.VULNERABLE_CODE_NOT_PRESENT)
    service.state_status(OPERATOR, case.id, not_affected, "Beta Systems (demo)")
    service.state_status(OPERATOR, case.id, VendorStatement(VendorStatus.AFFECTED), "Pallets (demo)")
    try:
        service.publish(OPERATOR, case.id)
    except PublicationRefused as refused:
        _step("early publication", refused.message)
    wrong = VendorStatement(VendorStatus.FIXED, fixed_versions=("3.1.1",))
    for flag in service.state_status(OPERATOR, case.id, wrong, "Pallets (demo)").flags:
        _step("patch tracking", f"flagged: {flag.reason}")
    fixed = VendorStatement(VendorStatus.FIXED, fixed_versions=("3.1.2",), fix_commits=("a1b2c3d",))
    service.state_status(OPERATOR, case.id, fixed, "Pallets (demo)")
    published = service.publish(OPERATOR, case.id)
    _step("published", f"{published.record_id} at TLP:{published.tlp} ({published.reason})")
    record = service.records.get(published.record_id)
    for export_format in ExportFormat:
        written = export_records(
            [record], export_format, out / export_format.value, export_visibility(OPERATOR, Tlp.CLEAR)
        )
        for path in written.written:
            _step(f"{export_format.value} file", str(path))
