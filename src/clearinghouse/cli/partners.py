"""`clearinghouse asset` and `clearinghouse alert`: partners' SBOMs, their matches and VEX, and alerts, on the local
store as the operator (the API serves partners their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import orjson
import typer
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import InputTooLarge, InvalidRecord, Location
from clearinghouse.formats.sbom import MAX_SBOM_BYTES
from clearinghouse.partners.rules import AlertState
from clearinghouse.partners.service import AssetService
from clearinghouse.policy import Operator
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore

asset_app = typer.Typer(help="Critical-infrastructure partners' SBOMs (assets), matches and VEX.", no_args_is_help=True)
alert_app = typer.Typer(help="Alerts raised when a record affects a partner's asset.", no_args_is_help=True)
console = render.console()
OPERATOR = Operator("cli")


def _service() -> AssetService:
    return AssetService(open_engine(Settings.from_env()))


def _json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@asset_app.command("upload")
def upload(
    sbom: Annotated[Path, typer.Argument(help="CycloneDX (JSON, XML) or SPDX 2.3 (JSON, tag-value) file")],
    org: Annotated[str, typer.Option("--org", help="The partner organisation's name")],
    name: Annotated[str | None, typer.Option("--name", help="The asset's name (default: the SBOM's)")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Upload an SBOM for a partner: keeps every good component, names each bad one, matches and alerts."""
    size = sbom.stat().st_size
    if size > MAX_SBOM_BYTES:
        raise InputTooLarge(f"{size:,} bytes, over the {MAX_SBOM_BYTES:,}-byte limit", Location(file=str(sbom)))
    service = _service()
    organisation = IdentityStore(service.engine).organisation(org)
    try:
        uploaded = service.upload(OPERATOR, sbom.read_bytes(), name, organisation)
    except InvalidRecord as exc:
        raise exc.at(file=str(sbom)) from None
    if json_:
        _json(uploaded)
        return
    asset = uploaded["asset"]
    console.print(
        f"asset {asset['id']} ({asset['format']}): {uploaded['kept']:,} components kept, "
        f"{uploaded['problem_count']:,} problems, {uploaded['matches']:,} matches, {uploaded['alerts']:,} alerts",
        highlight=False,
    )
    for problem in uploaded["problems"]:
        console.print(
            f"  {sbom}: component {problem['ref']}, field {problem['field']}: {problem['reason']}", highlight=False
        )


@asset_app.command("list")
def list_assets(json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False) -> None:
    """Every partner's assets, newest first."""
    found = _service().list_assets(OPERATOR)
    if json_:
        _json(found)
        return
    table = Table("id", "name", "format", "components", "problems", "uploaded")
    for asset in found:
        table.add_row(
            asset["id"],
            asset["name"],
            asset["format"],
            str(asset["components"]),
            str(asset["problems"]),
            asset["uploaded_at"],
        )
    console.print(table)


@asset_app.command("matches")
def matches(
    asset_id: Annotated[str, typer.Argument(help="The asset's id")],
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """The records affecting each component of an asset, and why."""
    found = _service().matches(OPERATOR, asset_id)
    if json_:
        _json(found)
        return
    if not found:
        console.print("no matches")
    for match in found:
        component = match["component"]
        console.print(
            f"{match['record_id']} [TLP:{match['tlp']}] {component['name']} {component['version'] or ''}: "
            + "; ".join(match["reasons"]),
            highlight=False,
            soft_wrap=True,
        )


@asset_app.command("vex")
def vex(
    asset_id: Annotated[str, typer.Argument(help="The asset's id")],
    format_: Annotated[
        str, typer.Option("--format", help="cyclonedx (CycloneDX 1.6) or csaf (CSAF 2.0 VEX)")
    ] = "cyclonedx",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output")] = None,
) -> None:
    """The asset's VEX document."""
    if format_ not in ("cyclonedx", "csaf"):
        raise InvalidRecord(f"--format must be cyclonedx or csaf, not {format_!r}", Location(field="--format"))
    chosen: Literal["cyclonedx", "csaf"] = "csaf" if format_ == "csaf" else "cyclonedx"
    document = _service().vex(OPERATOR, asset_id, chosen).model_dump()
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", "utf-8")
    console.print(f"wrote {out}", highlight=False)


@alert_app.command("list")
def list_alerts(
    state: Annotated[AlertState | None, typer.Option("--state", help="open or acknowledged")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Alerts raised for partners' assets, newest first."""
    found = _service().alerts(OPERATOR, state)
    if json_:
        _json(found)
        return
    if not found:
        console.print("no alerts")
    for alert in found:
        console.print(
            f"{alert['id']} {alert['state']:<12} {alert['record_id']} [TLP:{alert['tlp']}] asset {alert['asset_id']} "
            f"({len(alert['components'])} components)",
            highlight=False,
        )


@alert_app.command("ack")
def acknowledge(
    alert_id: Annotated[str, typer.Argument(help="The alert's id")],
    note: Annotated[str, typer.Option("--note", help="Why (kept in the audit log)")] = "acknowledged",
) -> None:
    """Acknowledge an alert."""
    alert = _service().acknowledge(OPERATOR, alert_id, note)
    console.print(f"{alert['id']}: {alert['state']}", highlight=False)
