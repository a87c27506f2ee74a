"""Public pages: a published advisory with its OSV, CSAF and CVE JSON 5 downloads, and the report form."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.cases.service import CaseService
from clearinghouse.errors import InvalidRecord, Location, NotFound, UnsupportedExport
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.submission import validate_submission
from clearinghouse.policy import Actor, rules
from clearinghouse.records.model import Tlp, VulnerabilityRecord
from clearinghouse.sharing.export import ExportFormat, dump_record, file_name
from clearinghouse.store.records import RecordStore
from clearinghouse.web.forms import Form
from clearinghouse.web.session import CheckedForm, CurrentViewer
from clearinghouse.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
DOWNLOADS = {"osv": ExportFormat.OSV, "csaf": ExportFormat.CSAF, "cve5": ExportFormat.CVE5}


def _records(request: Request) -> RecordStore:
    found: RecordStore = request.app.state.records
    return found


def _visible_records(request: Request, actor: Actor, identifier: str) -> list[VulnerabilityRecord]:
    """The records with this id or alias the viewer may read (the API's rule: TLP, release, and an embargoed
    advisory for its case's participants only); 404 alike for none and hidden."""
    cases: CaseService = request.app.state.cases
    found = cases.visible_records(actor, _records(request).find(identifier))
    if not found:
        raise NotFound(f"no advisory has the id or alias {identifier!r}")
    return found


@router.get("/advisories")
def advisory_search(
    request: Request, current: CurrentViewer, id: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    if id.strip():
        return redirect(f"/advisories/{id.strip()}")
    return render(request, current, "advisory_search.html", {})


@router.get("/advisories/{identifier}")
def advisory(request: Request, current: CurrentViewer, identifier: str) -> Response:
    records = _visible_records(request, current.actor, identifier)
    exportable = rules.export_visibility(current.actor, Tlp.CLEAR)
    context = {
        "identifier": identifier,
        "records": records,
        "downloadable": {r.id for r in records if exportable.admits(r.tlp, r.status)},
        "downloads": DOWNLOADS,
    }
    return render(request, current, "advisory.html", context)


@router.get("/advisories/{identifier}/{fmt}.json")
def advisory_download(request: Request, current: CurrentViewer, identifier: str, fmt: str) -> Response:
    """One released TLP:CLEAR record as an OSV, CSAF 2.0 or CVE JSON 5 file (the export's rules)."""
    export_format = DOWNLOADS.get(fmt)
    if export_format is None:
        raise NotFound(f"no download format {fmt!r} (osv, csaf or cve5)")
    exportable = rules.export_visibility(current.actor, Tlp.CLEAR)
    records = [r for r in _visible_records(request, current.actor, identifier) if r.id == identifier]
    if not records or not exportable.admits(records[0].tlp, records[0].status):
        raise NotFound(f"no advisory has the id {identifier!r}")
    try:
        body = dump_record(export_format, records[0])
    except UnsupportedExport as refused:
        raise NotFound(refused.message) from None
    name = file_name(export_format, records[0], body)
    return Response(
        orjson.dumps(body, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/submit")
def submit_page(request: Request, current: CurrentViewer) -> Response:
    if current.session is None:
        return redirect("/sign-in?next=/submit")
    rules.require_report_submitter(current.actor)
    return render(request, current, "submit.html", {"form": {}, "error": None})


def _submission(form: Form) -> dict[str, object]:
    """The form as the API's structured submission (the same validation follows)."""
    origin = form.get("origin")
    versions = [v.strip() for v in form.get("versions").split(",") if v.strip()]
    product: dict[str, object] = {"ecosystem": form.get("ecosystem") or None, "name": form.get("package") or None}
    if versions:
        product["versions"] = versions
    report: dict[str, object] = {
        "title": form.get("title").strip(),
        "description": form.get("description").strip(),
        "affected": [product],
    }
    for name in ("cwe", "cvss_vector", "proof_of_concept", "contact"):
        if form.get(name).strip():
            report[name] = form.get(name).strip()
    provenance: dict[str, object] = {"origin": origin, "human_verified": form.get("human_verified") == "yes"}
    for name in ("model", "tool"):
        if form.get(name).strip():
            provenance[name] = form.get(name).strip()
    return {"kind": "structured", "provenance": provenance, "report": report}


@router.post("/submit")
async def submit(request: Request, current: CurrentViewer, form: CheckedForm) -> Response:
    principal = rules.require_report_submitter(current.actor)
    if form.get("origin") not in ("human", "ai"):
        raise InvalidRecord("say whether a person or an AI system found this", Location(field="origin"))
    try:
        submission = validate_submission(_submission(form))
    except InvalidRecord as refused:
        context = {"form": form.fields, "error": refused.message}
        return render(request, current, "submit.html", context, status=refused.status)
    service: ReportService = request.app.state.reports
    accepted = await run_in_threadpool(
        service.accept, principal, normalise(submission), submission.provenance.model_dump(mode="json")
    )
    return redirect(f"/reports/{accepted.report_ids[0]}")
