"""`clearinghouse report`: submit, the queue, one report and lifecycle changes, through the same service and
access rules as the API.

With `--token` (or `CLEARINGHOUSE_TOKEN`) a command acts as that token's user, exactly as the API would: the
token's scopes and role decide, and a reporter sees only its organisation's reports. Without a token the command
acts as the operator of this store (whoever can open the database file already holds everything in it);
submitting always needs a token, since a report belongs to an organisation and a user.
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import InputTooLarge, InvalidRecord, Location, MalformedJson, Unauthenticated
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.submission import Origin, validate_submission
from clearinghouse.intake.views import ReportView
from clearinghouse.policy import Actor, Operator, rules
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.pages import DEFAULT_LIMIT, MAX_LIMIT

report_app = typer.Typer(help="Report intake: submit, the queue, one report, lifecycle changes.", no_args_is_help=True)
console = render.console()

Token = Annotated[
    str | None,
    typer.Option(
        envvar="CLEARINGHOUSE_TOKEN",
        help="Act as this API token's user (its scopes and role apply, as in the API); without it, as the operator",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _services(settings: Settings) -> tuple[ReportService, IdentityStore]:
    engine = open_engine(settings)
    return ReportService(engine), IdentityStore(engine)


def _acting(identity: IdentityStore, token: str | None) -> Actor:
    """The token's user (the service applies the same policy as for the API), or the store's operator."""
    if token is None:
        return Operator(f"cli:{getpass.getuser()}")
    return identity.authenticate(token.strip())


def _kind_of(document: dict[str, Any]) -> str:
    if "runs" in document and "version" in document:
        return "sarif"
    if "id" in document and "modified" in document:
        return "osv"
    return "structured"


def read_submission(path: Path, max_bytes: int, provenance: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The API body for FILE: either a whole body (`kind`, `provenance` and the document) or a bare structured
    report, OSV record or SARIF log, wrapped with the provenance given on the command line."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputTooLarge(f"{size:,} bytes is over the {max_bytes:,}-byte limit", Location(file=str(path)))
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidRecord(f"cannot read it: {exc.strerror}", Location(file=str(path))) from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise InvalidRecord("expected a JSON object", Location(file=str(path)))
    if "kind" in document and "provenance" in document:
        return document, raw
    kind = _kind_of(document)
    field = {"structured": "report", "osv": "osv", "sarif": "sarif"}[kind]
    return {"kind": kind, "provenance": provenance, field: document}, raw


@report_app.command("submit")
def submit(
    file: Annotated[
        Path, typer.Argument(help="A structured report, OSV record or SARIF log (JSON), or a whole API body")
    ],
    token: Token = None,
    origin: Annotated[Origin, typer.Option(help="Who found it (for a bare document)")] = Origin.HUMAN,
    model: Annotated[str | None, typer.Option(help="The AI model that found it")] = None,
    tool: Annotated[str | None, typer.Option(help="The tool that found it")] = None,
    run_id: Annotated[str | None, typer.Option(help="The tool's run id")] = None,
    verified: Annotated[bool, typer.Option(help="A person verified an AI finding")] = False,
    product: Annotated[str | None, typer.Option(help="SARIF: the scanned code's purl, if the log lacks it")] = None,
    product_version: Annotated[list[str] | None, typer.Option(help="SARIF: the scanned version (repeatable)")] = None,
    as_json: AsJson = False,
) -> None:
    """Submit a report (one per SARIF result) as the token's user; it is queued for the intake pipeline."""
    settings = Settings.from_env()
    reports, identity = _services(settings)
    if token is None:
        raise Unauthenticated("submitting needs --token (or CLEARINGHOUSE_TOKEN): a report belongs to a user")
    principal = rules.require_report_submitter(identity.authenticate(token.strip()))
    provenance = {"origin": origin.value, "model": model, "tool": tool, "run_id": run_id, "human_verified": verified}
    body, raw = read_submission(file, settings.max_body_bytes, provenance)
    if product is not None and body["kind"] == "sarif":
        body = {**body, "product": {"purl": product, "versions": product_version or []}}
    try:
        submission = validate_submission(body)
    except InvalidRecord as exc:
        raise exc.at(file=str(file)) from None
    accepted = reports.accept(
        principal,
        normalise(submission),
        submission.provenance.model_dump(mode="json"),
        request_hash=hashlib.sha256(raw).hexdigest(),
    )
    if as_json:
        print(orjson.dumps({"report_ids": accepted.report_ids, "state": ReportState.RECEIVED.value}).decode())
        return
    for report_id in accepted.report_ids:
        console.print(f"received {report_id}", highlight=False)
    console.print(f"{len(accepted.report_ids)} report(s) queued; `clearinghouse worker --until-idle` processes them")


@report_app.command("list")
def list_reports(
    token: Token = None,
    state: Annotated[ReportState | None, typer.Option(help="Only reports in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="Reports per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, typer.Option(help="The next-page cursor a previous list printed")] = None,
    as_json: AsJson = False,
) -> None:
    """The queue (SSVC decision, then CVSS, then credibility); a token's user sees what the API would show it."""
    reports, identity = _services(Settings.from_env())
    page = reports.list_for(_acting(identity, token), limit, state, cursor)
    if as_json:
        print(page.model_dump_json())
        return
    table = Table(title=f"{page.total} report(s)" + (f" in state {state.value}" if state else ""))
    for column in ("id", "state", "ssvc", "priority", "credibility", "kind", "title", "received"):
        table.add_column(column, overflow="fold")
    for report in page.reports:
        table.add_row(
            report.id,
            report.state.value,
            report.ssvc or "-",
            "-" if report.priority is None else f"{report.priority:.1f}",
            "-" if report.credibility is None else f"{report.credibility:.2f}",
            report.kind,
            report.title,
            f"{report.received_at:%Y-%m-%d %H:%M}Z",
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


@report_app.command("show")
def show(
    report_id: Annotated[str, typer.Argument(help="The report id")],
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """One report with its checks, duplicates and triage."""
    reports, identity = _services(Settings.from_env())
    report = reports.get(report_id, _acting(identity, token))
    if as_json:
        print(report.model_dump_json())
        return
    console.print(_report_panel(report))


@report_app.command("state")
def change_state(
    report_id: Annotated[str, typer.Argument(help="The report id")],
    target: Annotated[ReportState, typer.Argument(help="The state to move it to")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")],
    token: Token = None,
) -> None:
    """Move a report through its lifecycle (clearinghouse staff; the reason goes to the audit log)."""
    reports, identity = _services(Settings.from_env())
    actor = _acting(identity, token)
    if len(reason.strip()) < 3:
        raise InvalidRecord("a reason of at least 3 characters is needed", Location(field="--reason"))
    reports.change_state(actor, report_id, target, reason)
    console.print(f"{report_id} is now {target.value}", highlight=False)


def _report_panel(report: ReportView) -> Table:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("Report", report.id)
    facts.add_row("Title", report.title)
    facts.add_row("State", report.state.value)
    facts.add_row("Kind", report.kind)
    facts.add_row("Received", report.received_at.isoformat())
    facts.add_row("Submitted by", report.submitted_by)
    facts.add_row("Origin", str(report.provenance.get("origin", "-")))
    facts.add_row("TLP", report.tlp)
    facts.add_row("SSVC", report.ssvc or "-")
    facts.add_row("Credibility", "-" if report.credibility is None else f"{report.credibility:.2f}")
    for check in report.checks or ():
        mark = "n/a" if check.passed is None else "pass" if check.passed else "FAIL"
        facts.add_row("", f"{mark:4} {check.name}: {check.explanation}")
    duplicates = report.duplicates or {}
    facts.add_row("Cluster", report.cluster_id or "-")
    facts.add_row("Duplicate of", str(duplicates.get("exact_duplicate_of") or "-"))
    failed = [step for step, outcome in report.pipeline.items() if not outcome.get("ok", True)]
    facts.add_row("Pipeline", ", ".join(report.pipeline) + (f" (failed: {', '.join(failed)})" if failed else ""))
    return facts
