"""`clearinghouse case` and `clearinghouse vendor`: coordination cases and vendor declarations, through the same
service and policy as the API.

With `--token` (or `CLEARINGHOUSE_TOKEN`) a command acts as that token's user; without one, as the operator of
this store (clearinghouse staff).
"""

from __future__ import annotations

import base64
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from clearinghouse.cases.routing import DeclarationKind
from clearinghouse.cases.rules import CaseState, VendorStatement, VendorStatus, VexJustification
from clearinghouse.cases.service import MAX_ATTACHMENT_BYTES, CaseService, NewAttachment
from clearinghouse.cases.views import CaseView
from clearinghouse.cli import render
from clearinghouse.cli.reports import AsJson, Token, _acting
from clearinghouse.config import Settings
from clearinghouse.errors import CaseAttachmentTooLarge, InvalidRecord, Location
from clearinghouse.policy import Actor
from clearinghouse.policy.cases import CaseRole
from clearinghouse.policy.rules import export_visibility
from clearinghouse.records.model import Tlp
from clearinghouse.sharing.export import ExportFormat, export_records
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore

case_app = typer.Typer(help="Coordination cases: open, route to vendors, embargo, publish.", no_args_is_help=True)
vendor_app = typer.Typer(
    help="Vendor declarations: the packages, CPEs and repositories a vendor owns.", no_args_is_help=True
)
console = render.console()

Reason = Annotated[str, typer.Option(help="Why (kept in the case's timeline and the audit log)")]


def _service(token: str | None) -> tuple[CaseService, Actor]:
    engine = open_engine(Settings.from_env())
    return CaseService(engine), _acting(IdentityStore(engine), token)


def _print_case(case: CaseView, as_json: bool) -> None:
    if as_json:
        print(case.model_dump_json())
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("Case", f"{case.id}  {case.title}")
    facts.add_row("State", f"{case.state}   TLP:{case.tlp}   advisory {case.advisory_id}")
    if case.embargo is not None:
        e = case.embargo
        facts.add_row("Public date", f"{e.public_at_utc.isoformat()} (UTC); {e.in_viewer_zone} ({e.viewer_zone})")
    for p in case.participants:
        facts.add_row("Participant", f"{p.organisation} ({p.role})" + (f": {p.rule}" if p.rule else ""))
    for s in case.vendor_statuses:
        flags = f"  FLAGGED: {'; '.join(f.reason for f in s.flags)}" if s.flags else ""
        facts.add_row("Vendor status", f"{s.organisation}: {s.status}{flags}")
    if case.gate is not None:
        facts.add_row("Publication gate", ("open: " if case.gate.open else "closed: ") + case.gate.reason)
    facts.add_row("Messages", f"{case.messages_total}")
    console.print(facts)


@case_app.command("open")
def open_case(
    report_ids: Annotated[list[str], typer.Argument(help="Validated report ids")],
    title: Annotated[str | None, typer.Option(help="The case's title (default: the first report's)")] = None,
    cluster: Annotated[str | None, typer.Option(help="Open from this duplicate cluster as well")] = None,
    tlp: Annotated[Tlp, typer.Option(help="TLP label until publication")] = Tlp.AMBER,
    cve: Annotated[str | None, typer.Option(help="The CVE id, if one is assigned")] = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Open a case from validated reports (clearinghouse staff)."""
    service, actor = _service(token)
    _print_case(service.open_case(actor, report_ids, cluster, title, tlp, cve), as_json)


@case_app.command("add-report")
def add_report(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    report_ids: Annotated[list[str], typer.Argument(help="Validated report ids")],
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Link more validated reports to a case (its advisory is drafted again from all of them)."""
    service, actor = _service(token)
    _print_case(service.add_reports(actor, case_id, report_ids), as_json)


@case_app.command("list")
def list_cases(token: Token = None, as_json: AsJson = False) -> None:
    """The cases you may see."""
    service, actor = _service(token)
    found = service.list_cases(actor)
    if as_json:
        print(found.model_dump_json())
        return
    for case in found.cases:
        console.print(f"{case.id}  {case.state:<18} TLP:{case.tlp:<6} {case.title}", highlight=False)


@case_app.command("show")
def show(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    zone: Annotated[str, typer.Option(help="Show times in this IANA zone too")] = "UTC",
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """One case as you may see it."""
    service, actor = _service(token)
    _print_case(service.view(actor, case_id, zone), as_json)


@case_app.command("propose")
def propose(
    case_id: Annotated[str, typer.Argument(help="The case id")], token: Token = None, as_json: AsJson = False
) -> None:
    """Vendors proposed from the case's package URLs, CPEs and repositories, with the rule that matched."""
    service, actor = _service(token)
    proposal = service.propose(actor, case_id)
    if as_json:
        print(proposal.model_dump_json())
        return
    for match in proposal.matches:
        on_case = " (on the case)" if match.on_case else ""
        console.print(f"{match.organisation}{on_case}: {match.subject} by {match.rule}", highlight=False)
    for subject in proposal.no_vendor_on_file:
        console.print(f"no vendor on file: {subject}", highlight=False)


@case_app.command("participant")
def participant(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    organisation: Annotated[str, typer.Argument(help="Organisation name or id")],
    reason: Reason,
    role: Annotated[CaseRole, typer.Option(help="Role in the case")] = CaseRole.VENDOR,
    remove: Annotated[bool, typer.Option("--remove", help="Remove instead of add")] = False,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Confirm or add a vendor (or an early-warning partner); --remove takes one off."""
    service, actor = _service(token)
    change = service.remove_participant if remove else service.add_participant
    _print_case(change(actor, case_id, organisation, role, reason), as_json)


@case_app.command("move")
def move(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    target: Annotated[CaseState, typer.Argument(help="The state to move it to")],
    reason: Reason,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Move a case along its lifecycle (vendors_notified starts the default embargo)."""
    service, actor = _service(token)
    _print_case(service.move(actor, case_id, target, reason), as_json)


@case_app.command("embargo")
def embargo(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    public_at: Annotated[str, typer.Argument(help="Wall-clock time in --zone, e.g. 2027-03-01T09:00")],
    zone: Annotated[str, typer.Option(help="IANA time zone of PUBLIC_AT")],
    reason: Annotated[str, typer.Option(help="Why (needed for an extension)")] = "",
    agreed_by: Annotated[list[str] | None, typer.Option(help="Who agreed (needed for an extension)")] = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Set the public date, or extend it (with a reason and who agreed)."""
    try:
        local = datetime.fromisoformat(public_at)
    except ValueError:
        raise InvalidRecord(f"{public_at!r} is not an ISO 8601 date and time", Location(field="PUBLIC_AT")) from None
    service, actor = _service(token)
    _print_case(service.set_embargo(actor, case_id, local, zone, reason, agreed_by or []), as_json)


@case_app.command("status")
def status(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    value: Annotated[VendorStatus, typer.Argument(help="The vendor's status")],
    vendor: Annotated[str | None, typer.Option(help="The vendor (staff stating it for one)")] = None,
    justification: Annotated[VexJustification | None, typer.Option(help="VEX justification (not_affected)")] = None,
    fixed_version: Annotated[list[str] | None, typer.Option(help="A fixed version (fixed)")] = None,
    fix_commit: Annotated[list[str] | None, typer.Option(help="A fix commit (fixed)")] = None,
    advisory_url: Annotated[str | None, typer.Option(help="The vendor's advisory (https)")] = None,
    package: Annotated[list[str] | None, typer.Option(help="A purl the statement is about")] = None,
    note: Annotated[str, typer.Option(help="A note")] = "",
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """State a vendor's status; a fixed version still inside an affected range is flagged."""
    service, actor = _service(token)
    statement = VendorStatement(
        value,
        justification,
        tuple(fixed_version or ()),
        tuple(fix_commit or ()),
        advisory_url,
        note,
        tuple(package or ()),
    )
    stated = service.state_status(actor, case_id, statement, vendor)
    if as_json:
        print(stated.model_dump_json())
        return
    console.print(f"{stated.organisation}: {stated.status}", highlight=False)
    for flag in stated.flags:
        console.print(f"[yellow]flagged[/yellow] {flag.reason}", highlight=False)


@case_app.command("message")
def message(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    text: Annotated[str, typer.Argument(help="Plain text")],
    to: Annotated[str | None, typer.Option(help="A vendor's private thread (default: everyone)")] = None,
    attach: Annotated[list[Path] | None, typer.Option(help="A file to attach (size-capped)")] = None,
    token: Token = None,
) -> None:
    """Post a message to everyone on the case or to one vendor's thread."""
    files = []
    for path in attach or ():
        if path.stat().st_size > MAX_ATTACHMENT_BYTES:
            raise CaseAttachmentTooLarge(f"{path}: over the {MAX_ATTACHMENT_BYTES:,}-byte attachment limit")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append(NewAttachment(path.name, media_type, base64.b64encode(path.read_bytes()).decode()))
    service, actor = _service(token)
    posted = service.post_message(actor, case_id, text, to, files)
    console.print(f"message {posted.id} posted to {posted.to}", highlight=False)


@case_app.command("attachments")
def attachments(
    message_id: Annotated[int, typer.Argument(help="The message id")],
    out: Annotated[Path, typer.Option(help="Directory to save them in")],
    token: Token = None,
) -> None:
    """Save a message's attachments (if you may read the message)."""
    service, actor = _service(token)
    found = service.attachments(actor, message_id)
    out.mkdir(parents=True, exist_ok=True)
    for item in found.attachments:
        target = out / Path(item.name).name  # names are plain file names (checked when posted)
        target.write_bytes(base64.b64decode(item.content_base64))
        console.print(f"wrote {target} ({item.media_type}, sha256 {item.sha256})", highlight=False)


@case_app.command("publish")
def publish(
    case_id: Annotated[str, typer.Argument(help="The case id")],
    out: Annotated[Path | None, typer.Option(help="Write the OSV, CSAF and CVE 5 files here")] = None,
    override: Annotated[str | None, typer.Option(help="Admin override of the gate, with the reason")] = None,
    cve: Annotated[str | None, typer.Option(help="The CVE id, if not given when the case opened")] = None,
    token: Token = None,
) -> None:
    """Publish through the gate: the advisory becomes TLP:CLEAR and is exported as OSV, CSAF 2.0 and CVE 5."""
    service, actor = _service(token)
    published = service.publish(actor, case_id, override, cve)
    console.print(
        f"{case_id} published as {published.record_id} (TLP:{published.tlp}): {published.reason}", highlight=False
    )
    for export_format, why in published.not_exported.items():
        console.print(f"[yellow]not exported as {export_format}[/yellow]: {why}", highlight=False)
    if out is None:
        return
    record = service.records.get(published.record_id)
    for export_format in ExportFormat:
        if export_format.value in published.documents:
            report = export_records(
                [record], export_format, out / export_format.value, export_visibility(actor, Tlp.CLEAR)
            )
            for path in report.written:
                console.print(f"wrote {path}", highlight=False)


@vendor_app.command("declare")
def declare(
    kind: Annotated[DeclarationKind, typer.Argument(help="purl, cpe or repository")],
    pattern: Annotated[str, typer.Argument(help="e.g. pkg:maven/org.apache.logging.log4j/*")],
    organisation: Annotated[str | None, typer.Option("--org", help="The vendor (staff declaring for one)")] = None,
    token: Token = None,
) -> None:
    """Declare a purl pattern, CPE vendor:product or repository URL a vendor owns."""
    service, actor = _service(token)
    made = service.declare(actor, kind, pattern, organisation)
    console.print(f"{made.organisation} declares {made.kind} {made.pattern}", highlight=False)


@vendor_app.command("list")
def list_declarations(
    organisation: Annotated[str | None, typer.Option("--org", help="Only this organisation's")] = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Vendor declarations (your organisation's; staff any)."""
    service, actor = _service(token)
    found = service.declarations(actor, organisation)
    if as_json:
        print(orjson.dumps(found.model_dump(mode="json")).decode())
        return
    for item in found.declarations:
        console.print(f"{item.organisation}: {item.kind} {item.pattern}", highlight=False)


@case_app.command("demo")
def demo(
    out: Annotated[
        Path | None, typer.Option(help="Where to write the published files (default: HOME/case-demo)")
    ] = None,
) -> None:
    """One case from report to publication on the default store, with fictional organisations."""
    from clearinghouse.cli.case_demo import run_demo

    engine = open_engine(Settings.from_env())
    run_demo(CaseService(engine), out or Settings.from_env().home / "case-demo")
