"""`clearinghouse reproduce`: run a report's proof of concept in the sandbox (queued for the workers, or here and
now with `--now`) and read its reproductions, through the same service and access rules as the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.cli.reports import AsJson, Token, _acting
from clearinghouse.config import Settings
from clearinghouse.errors import InvalidReproduction, Location
from clearinghouse.reproduce.jobs import reproduction_service
from clearinghouse.reproduce.views import ReproductionView
from clearinghouse.safeparse import json_loads
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore

reproduce_app = typer.Typer(help="Reproductions of reports' proofs of concept in the sandbox.", no_args_is_help=True)
console = render.console()
MAX_REQUEST_BYTES = 5 * 1024 * 1024


def _request_body(path: Path | None, oracle: str | None, fixed: str | None, exception: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if path is not None:
        if path.stat().st_size > MAX_REQUEST_BYTES:
            raise InvalidReproduction(f"{path}: over the {MAX_REQUEST_BYTES:,}-byte limit")
        loaded = json_loads(path.read_bytes(), Location(file=str(path)))
        if not isinstance(loaded, dict):
            raise InvalidReproduction(f"{path}: a JSON object with target, poc and oracle is required")
        body = loaded
    if oracle is not None:
        body["oracle"] = {"kind": oracle, **({"exception": exception} if exception else {})}
    if fixed is not None:
        body["target"] = {**(body.get("target") or {}), "fixed": fixed}
    return body


@reproduce_app.command("run")
def run(
    report_id: Annotated[str, typer.Argument(help="The report id")],
    request: Annotated[
        Path | None, typer.Option(help="JSON with target, poc and oracle (what it leaves out comes from the report)")
    ] = None,
    oracle: Annotated[str | None, typer.Option(help="The oracle: secret, file_write, command, crash, ...")] = None,
    exception: Annotated[str | None, typer.Option(help="The exception type, for the exception oracle")] = None,
    fixed: Annotated[str | None, typer.Option(help="The first fixed version (default: the newest)")] = None,
    now: Annotated[bool, typer.Option("--now", help="Run it in this process instead of queueing it")] = False,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Reproduce a report (or re-run its reproduction): staff with reports:triage, or the store's operator."""
    settings = Settings.from_env()
    engine = open_engine(settings)
    service = reproduction_service(engine, settings)
    actor = _acting(IdentityStore(engine), token)
    view = service.request(actor, report_id, _request_body(request, oracle, fixed, exception))
    if now:
        view = service.run(view.id) or view
    _show([view], as_json)


@reproduce_app.command("list")
def list_reproductions(
    report_id: Annotated[str, typer.Argument(help="The report id")], token: Token = None, as_json: AsJson = False
) -> None:
    """A report's reproductions, newest first, with verdicts and where the oracle fired."""
    settings = Settings.from_env()
    engine = open_engine(settings)
    views = reproduction_service(engine, settings).list_for(_acting(IdentityStore(engine), token), report_id)
    _show(views.reproductions, as_json)


def _show(views: list[ReproductionView], as_json: bool) -> None:
    if as_json:
        print("[" + ",".join(v.model_dump_json() for v in views) + "]")
        return
    table = Table("id", "state", "verdict", "oracle", "versions", "reason")
    for view in views:
        versions = ", ".join(f"{o.version}: {'fired' if o.fired else 'no'}" for o in view.observations)
        table.add_row(
            view.id, view.state, view.verdict or "-", str(view.request["oracle"]["kind"]), versions, view.reason or ""
        )
    console.print(table)
