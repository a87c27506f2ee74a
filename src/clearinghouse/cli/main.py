"""`clearinghouse`: import, query and export vulnerability records."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from clearinghouse.cli import render
from clearinghouse.cli.admin import admin_app
from clearinghouse.cli.cases import case_app, vendor_app
from clearinghouse.cli.evals import eval_app
from clearinghouse.cli.feeds import feeds_app
from clearinghouse.cli.frontier import frontier_app
from clearinghouse.cli.notify import notify_app
from clearinghouse.cli.partners import alert_app, asset_app
from clearinghouse.cli.reports import report_app
from clearinghouse.cli.reproduce import reproduce_app
from clearinghouse.config import Settings, freeze_long_lived, tune_garbage_collector
from clearinghouse.data import sample_path
from clearinghouse.errors import ClearinghouseError, InvalidRecord, Location, NotFound, PortInUse
from clearinghouse.formats import kev, osv
from clearinghouse.ingest.pipeline import BATCH_SIZE, ImportPipeline, ImportReport
from clearinghouse.ingest.readers import Limits, input_files
from clearinghouse.policy import Operator, rules
from clearinghouse.records.model import RangeType, Tlp, VulnerabilityRecord, canonical_ecosystem
from clearinghouse.safeparse import json_loads
from clearinghouse.sharing.export import ExportFormat, export_records
from clearinghouse.store.db import open_engine
from clearinghouse.store.records import RecordStore

app = typer.Typer(
    name="clearinghouse",
    help="AI cybersecurity clearinghouse: vulnerability records in, triaged and coordinated, standard formats out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(report_app, name="report")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(frontier_app, name="frontier")
app.add_typer(eval_app, name="eval")
app.add_typer(notify_app, name="notify")
app.add_typer(feeds_app, name="feeds")
app.add_typer(case_app, name="case")
app.add_typer(vendor_app, name="vendor")
app.add_typer(asset_app, name="asset")
app.add_typer(alert_app, name="alert")
app.add_typer(reproduce_app, name="reproduce")

console = render.console()
errors = render.console(stderr=True)

EXIT_INPUT_ERRORS = 1
EXIT_USAGE = 2


def run() -> None:
    """Console-script entry point: every domain error becomes one message on stderr and a non-zero exit."""
    tune_garbage_collector()
    try:
        app()
    except ClearinghouseError as exc:
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        sys.exit(EXIT_USAGE)


def _store(*, create: bool = True) -> RecordStore:
    """The configured store; `create=False` for commands that only read (a missing store is refused)."""
    return RecordStore(open_engine(Settings.from_env(), create=create))


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )


def _import_progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[records]:,} records"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )


def _print_import_report(report: ImportReport, max_shown: int = 20) -> None:
    for warning in report.warnings[:max_shown]:
        errors.print(f"[yellow]repaired[/yellow] {warning.message}", highlight=False, soft_wrap=True)
    for error in report.errors[:max_shown]:
        errors.print(f"[yellow]skipped[/yellow] {error.message}", highlight=False, soft_wrap=True)
    if report.failed > max_shown:
        errors.print(f"... and {report.failed - max_shown:,} more skipped records", highlight=False)
    outcome = report.outcome
    # Known-exploited marks come from a loaded KEV catalog: "0 known exploited" before one is loaded misleads.
    exploited = f"; {report.known_exploited:,} known exploited" if report.known_exploited else ""
    console.print(
        f"read {_plural(report.read, 'record')}: {outcome.inserted:,} new, {outcome.updated:,} updated, "
        f"{outcome.unchanged:,} unchanged (not newer), {report.failed:,} failed{exploited}",
        highlight=False,
        soft_wrap=True,
    )
    if report.repaired:
        console.print(
            f"kept {_plural(report.repaired, 'record')} without the ranges they could not keep (flagged; "
            "`show ID` lists what was dropped)",
            highlight=False,
        )
    if report.blank_lines:
        console.print(f"skipped {_plural(report.blank_lines, 'blank line')}", highlight=False)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="OSV .json files, directories, .jsonl, .jsonl.gz or .zip")],
    max_record_mb: Annotated[float, typer.Option(help="Refuse records larger than this")] = 16.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per transaction")] = BATCH_SIZE,
) -> None:
    """Import OSV records. A record replaces a stored one only if its `modified` is newer.

    Bad records are reported (file, line, record, field) and skipped; the others are kept. Exits 1 if any
    record failed.
    """
    store = _store()
    limits = Limits(max_record_bytes=int(max_record_mb * 1024 * 1024))
    # The record count is not known before reading, the input size is: the bar measures bytes read, which gives
    # a total and a time left; the records read so far are counted beside it.
    total = sum(file.stat().st_size for path in paths if path.exists() for file in input_files(path))
    with _import_progress() as progress:
        task = progress.add_task("Importing", total=total or None, records=0)
        read = 0

        def records_read(count: int) -> None:
            nonlocal read
            read += count
            progress.update(task, records=read)

        pipeline = ImportPipeline(
            store, limits, batch_size, on_progress=records_read, on_bytes=lambda n: progress.update(task, completed=n)
        )
        report = pipeline.run(paths)
    _print_import_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_INPUT_ERRORS)


@app.command("import-kev")
def import_kev(path: Annotated[Path, typer.Argument(help="CISA KEV catalog JSON")]) -> None:
    """Load the CISA Known Exploited Vulnerabilities catalog and mark the records whose CVEs it lists."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRecord(f"cannot read: {exc.strerror}").at(file=str(path)) from None
    catalog = kev.parse(data, str(path))
    marked = _store().replace_kev(catalog)
    console.print(
        f"KEV catalog {catalog.version}: {len(catalog.entries):,} entries; {marked:,} records marked known exploited",
        highlight=False,
    )


_OPERATOR = Operator("cli")


@app.command()
def show(
    identifier: Annotated[str, typer.Argument(help="A record id or any alias (e.g. a CVE or GHSA id)")],
    json_: Annotated[bool, typer.Option("--json", help="Print the OSV record(s) as JSON")] = False,
) -> None:
    """Show the record(s) with this id or alias, with the other records of the same vulnerability."""
    store = _store(create=False)
    visible = rules.record_visibility(_OPERATOR)  # the shell's user holds the store: the operator
    found = [record for record in store.find(identifier) if visible.admits(record.tlp, record.status)]
    if not found:
        raise NotFound(f"no record has the id or alias {identifier!r}")
    if json_:
        documents = [osv.dump(record.osv) for record in found]
        payload = documents[0] if len(documents) == 1 else documents
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    for record in found:
        console.print(render.record_panel(record, store.group(record)))


@app.command()
def affected(
    ecosystem: Annotated[str, typer.Option("--ecosystem", "-e", help="OSV ecosystem, e.g. PyPI, Go, AlmaLinux:8")],
    package: Annotated[str, typer.Option("--package", "-p", help="Package name as the ecosystem spells it")],
    version: Annotated[str, typer.Option("--version", "-v", help="The version to check")],
    json_: Annotated[bool, typer.Option("--json", help="Print OSV records as JSON lines")] = False,
) -> None:
    """List the records that affect this version of a package, using the ecosystem's version rules."""
    try:
        ecosystem = canonical_ecosystem(ecosystem)
    except ValueError as exc:
        raise ClearinghouseError(str(exc)) from None
    visible = rules.record_visibility(_OPERATOR)
    found = [r for r in _store(create=False).affected(ecosystem, package, version) if visible.admits(r.tlp, r.status)]
    if json_:
        for record in found:
            sys.stdout.write(orjson.dumps(osv.dump(record.osv)).decode() + "\n")
        return
    console.print(render.records_table(found, f"{len(found)} records affect {ecosystem} {package} {version}"))


@app.command()
def stats(json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False) -> None:
    """Counts of records by source and ecosystem; the processing backlog and the intake steps' timings."""
    from clearinghouse.intake.service import ReportService

    store = _store(create=False)
    figures = store.stats()
    processing = ReportService(store.engine).processing_stats()
    if json_:
        document = figures.as_dict() | {"processing": processing.as_dict()}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    render.print_stats(console, figures)
    render.print_processing(console, processing)


@app.command()
def export(
    export_format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write one file per record into")],
    ids: Annotated[list[str] | None, typer.Argument(help="Record ids or aliases (default: every record)")] = None,
    max_tlp: Annotated[Tlp, typer.Option(help="Withhold records marked above this TLP label")] = Tlp.CLEAR,
) -> None:
    """Export records as OSV, CSAF 2.0 or CVE JSON 5.1.1, one file per record."""
    store = _store(create=False)

    def selected() -> Iterator[VulnerabilityRecord]:
        if not ids:
            yield from store.iter_records()
            return
        for identifier in ids:
            found = store.find(identifier)
            if not found:
                raise NotFound(f"no record has the id or alias {identifier!r}")
            yield from found

    with _progress() as progress:
        task = progress.add_task(f"Exporting {export_format.value}", total=None)
        visibility = rules.export_visibility(_OPERATOR, max_tlp)
        report = export_records(selected(), export_format, out, visibility, lambda: progress.advance(task))
    written = _plural(len(report.written), f"{export_format.value} file")
    console.print(f"wrote {written} to {out}", highlight=False)
    if report.withheld:
        withheld = _plural(len(report.withheld), "record")
        console.print(f"withheld {withheld} marked above TLP:{max_tlp.value} or not yet released", highlight=False)
    if report.unsupported:
        if ids:
            for problem in report.unsupported:
                errors.print(f"[yellow]not exported[/yellow] {problem.message}", highlight=False)
            raise typer.Exit(EXIT_INPUT_ERRORS)
        errors.print(
            f"skipped {_plural(len(report.unsupported), 'record')} that {export_format.value} cannot express, e.g. "
            f"{report.unsupported[0].message}",
            highlight=False,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    processes: Annotated[int, typer.Option(min=1, max=64, help="API processes sharing the port")] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0, max=64, help="Job worker processes [default: 1, or 0 with CLEARINGHOUSE_EMBEDDED_WORKER=0]"
        ),
    ] = None,
) -> None:
    """Run the web interface (sign in at /) and the HTTP API (OpenAPI at /openapi.json, docs at /docs, offline).

    Queued report processing runs in job worker processes of its own (`--workers`; one by default, none with
    CLEARINGHOUSE_EMBEDDED_WORKER=0, which leaves it to `clearinghouse worker` processes elsewhere): the API process
    is bound to about one core by the GIL, so a worker uses another instead of competing with intake for it.
    `--processes N` runs N API processes on one port (on PostgreSQL: run this on several machines behind a load
    balancer, all with the same CLEARINGHOUSE_DATABASE_URL).
    """
    import subprocess

    import uvicorn  # the server is only needed here; keep the other commands' start-up lean

    from clearinghouse.web.app import create_app

    settings = Settings.from_env()
    check_port_free(host, port)  # before the workers start and anything is printed
    open_engine(settings).dispose()  # migrate once, before the workers start
    count = workers if workers is not None else int(settings.embedded_worker)
    # At lower priority (nice 10) a worker starved under a flood: 1 report processed in 20 s against 58/s at the
    # same priority, while intake stayed above 600/s either way (bench/intake.py).
    job_workers = [
        subprocess.Popen([sys.executable, "-m", "clearinghouse", "worker"], preexec_fn=die_with_parent)
        for _ in range(count)
    ]
    console.print(
        f"Clearinghouse on http://{host}:{port}/ (sign in there), API docs on http://{host}:{port}/docs "
        f"({_plural(processes, 'API process')}, {_plural(count, 'job worker')})",
        highlight=False,
    )
    try:
        if processes == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        else:  # uvicorn's supervisor: each process builds the app from the same environment
            uvicorn.run(
                "clearinghouse.web.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=processes,
                log_level="info",
            )
    finally:
        for job_worker in job_workers:
            job_worker.send_signal(signal.SIGINT)  # finishes its batch, then stops
        for job_worker in job_workers:
            try:
                job_worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                job_worker.kill()
                job_worker.wait()


def check_port_free(host: str, port: int) -> None:
    """Refuse, with one message, an address another process listens on (uvicorn would log and exit later)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, protocol, _name, address = addresses[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is already in use (another server, or an earlier `clearinghouse serve` "
                    "or `demo --serve`?): stop it, or choose another port with --port"
                ) from None
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@app.command()
def worker(
    until_idle: Annotated[bool, typer.Option(help="Exit when no job is due instead of waiting for more")] = False,
) -> None:
    """Run queued jobs (report processing) outside the API server, e.g. several processes on PostgreSQL."""
    import threading

    from clearinghouse.workers import build_worker

    engine = open_engine(Settings.from_env(), create=False)
    pipeline, runner = build_worker(engine)
    # Index the store's records and reports now (about 10 s for the 16k-record dev set), not on the first report.
    pipeline.duplicates.warm()
    if until_idle:
        console.print(f"ran {runner.run_until_idle():,} jobs")
        return
    freeze_long_lived()  # what `warm` built lives as long as this process
    stop = threading.Event()
    # Ctrl-C or SIGTERM (from `serve` as it stops) lets the job in hand finish: none is left half-done.
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, lambda *_: stop.set())
    runner.run_forever(stop)


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A signed checkpoint kept elsewhere (from `audit checkpoint` or the API): checked too"),
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="A head hash recorded earlier: it must still be in the chain")
    ] = None,
) -> None:
    """Check the audit log: every link and HMAC (edits, deletions, reorders, forged entries), the latest signed
    checkpoint kept in the home (truncation), and the append-only triggers."""
    from clearinghouse.store.audit import AuditLog
    from clearinghouse.store.audit_chain import Checkpoint

    kept = None
    if checkpoint is not None:
        try:
            kept = Checkpoint.from_json(json_loads(checkpoint.read_bytes(), Location(file=str(checkpoint))))
        except (OSError, ValueError) as exc:
            raise InvalidRecord(f"not a checkpoint: {exc}", Location(file=str(checkpoint))) from None
    audit = AuditLog(open_engine(Settings.from_env(), create=False))
    report = audit.verify(head, kept)
    missing = audit.missing_triggers()
    if missing:
        errors.print(
            f"[red]append-only triggers missing[/red] on audit_log: {', '.join(missing)} "
            "(someone dropped them; `clearinghouse db upgrade` restores them)",
            highlight=False,
        )
    if not report.ok:
        where = ""
        if report.first_bad_seq is not None:
            where = f" at entry {report.first_bad_seq}"
        elif report.first_bad_link is not None:
            where = f" at link {report.first_bad_link}"
        errors.print(f"[red]audit log BROKEN[/red]{where}: {report.reason}", highlight=False)
    if missing or not report.ok:
        raise typer.Exit(EXIT_INPUT_ERRORS)
    console.print(
        f"audit log intact: {report.checked:,} entries, HMAC chain and signed checkpoint verified; "
        f"{report.links:,} links sealing {report.leaves:,} leaves, {report.pending:,} pending "
        "(committed, HMAC checked, not sealed yet)",
        highlight=False,
    )
    console.print(f"head: {report.head or '(empty)'}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the latest signed checkpoint and the public key as JSON, for an outside party to keep."""
    from clearinghouse.store.audit import AuditLog

    audit = AuditLog(open_engine(Settings.from_env()))
    document = {"checkpoint": audit.checkpoint().as_json(), "public_key": audit.keys.public_key_base64()}
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


@app.command()
def dedup(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="OSV records as JSONL (optionally .gz)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write {id, cluster} lines")],
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Near-duplicate score cut-off")] = None,
) -> None:
    """Group a file of OSV records into duplicate clusters (ids may be opaque, aliases absent)."""
    from clearinghouse.intake.batch_dedup import dedup_file

    summary = dedup_file(input_path, out, threshold)
    console.print(str(summary), highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema to the current version."""
    from clearinghouse.store.audit import AuditLog

    settings = Settings.from_env()
    restored = AuditLog(open_engine(settings)).restore_triggers()
    if restored:
        console.print(f"restored the audit log's append-only triggers: {', '.join(restored)}", highlight=False)
    console.print(f"store at {settings.database_url.split('@')[-1]} is up to date", highlight=False)


def _demo_dataset() -> Path:
    # The full development set sits beside the project on the team's machines; elsewhere use the bundled sample.
    for candidate in (
        Path("../shared/data/advisories-dev.jsonl.gz"),
        Path("shared/data/advisories-dev.jsonl.gz"),
    ):
        if candidate.is_file():
            return candidate
    return sample_path("osv-sample.jsonl")


@app.command()
def demo(
    dataset: Annotated[
        Path | None, typer.Option(help="OSV input (default: the dev set if present, else the sample)")
    ] = None,
    kev_catalog: Annotated[Path | None, typer.Option("--kev", help="KEV catalog (default: bundled sample)")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the example exports")] = Path("export"),
    serve_after: Annotated[
        bool,
        typer.Option("--serve", help="Then issue a demo sign-in and analyst token and run the web interface and API"),
    ] = False,
    host: Annotated[str, typer.Option(help="Address the API listens on with --serve")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API with --serve")] = 8000,
) -> None:
    """Import a dataset and the KEV catalog into the default store, then query and export it."""
    if serve_after:
        check_port_free(host, port)  # say so now, not after the import has run and a token was printed
    dataset = dataset or _demo_dataset()
    if kev_catalog is None:
        beside = dataset.parent / "kev.json"
        kev_catalog = beside if beside.is_file() else sample_path("kev-sample.json")
    settings = Settings.from_env()
    console.rule(f"1. Import {dataset} into {settings.database_url}")
    ctx = typer.Context(typer.main.get_command(app))
    try:
        ctx.invoke(import_, paths=[dataset], max_record_mb=16.0, batch_size=BATCH_SIZE)
    except typer.Exit as exit_:
        if exit_.exit_code:  # a few real records fail the OSV schema; they were reported, carry on
            console.print("[yellow]some records were skipped, see above[/yellow]")
    # The catalog after the records, so that its line counts the records it marks (before, it said 0).
    ctx.invoke(import_kev, path=kev_catalog)
    console.rule("2. What is in the store")
    ctx.invoke(stats, json_=False)
    store = _store()
    exploited = next((r for r in store.iter_records() if r.known_exploited and r.osv.aliases), None)
    if exploited is not None:
        console.rule(f"3. A known-exploited vulnerability: clearinghouse show {exploited.id}")
        console.print(render.record_panel(exploited, store.group(exploited)))
    example = _affected_example(store)
    if example:
        ecosystem, package, version = example
        console.rule(f"4. clearinghouse affected -e {ecosystem} -p {package} -v {version}")
        ctx.invoke(affected, ecosystem=ecosystem, package=package, version=version, json_=False)
    chosen = [r.id for r in store.iter_records() if r.known_exploited]
    if not chosen:
        # `export` with no ids exports everything: never hand it an empty selection.
        console.rule("5. No record is known exploited: nothing to export")
    else:
        console.rule(f"5. Export the {_plural(len(chosen), 'known-exploited record')} to {out}/")
    for export_format in ExportFormat if chosen else ():
        # Records without a CVE id cannot be CVE JSON 5: export names them and exits non-zero; carry on.
        with contextlib.suppress(typer.Exit):
            target = out / export_format.value
            ctx.invoke(export, export_format=export_format, out=target, ids=chosen, max_tlp=Tlp.CLEAR)
    if serve_after:
        console.rule("6. The web interface and the API, with a demo user and a demo analyst token")
        _demo_token(host, port)
        _demo_user(host, port)
        ctx.invoke(serve, host=host, port=port)


def _demo_token(host: str, port: int) -> None:
    from clearinghouse.identity.model import SCOPES_BY_ROLE, OrgKind, Role
    from clearinghouse.store.identity import IdentityStore

    identity = IdentityStore(open_engine(Settings.from_env()))
    try:
        identity.organisation(DEMO_ORGANISATION)
    except NotFound:
        identity.create_organisation(DEMO_ORGANISATION, OrgKind.CLEARINGHOUSE)
    grant = identity.create_token(DEMO_ORGANISATION, "demo-analyst", Role.ANALYST)
    scopes = " ".join(sorted(scope.value for scope in SCOPES_BY_ROLE[Role.ANALYST]))
    console.print(
        f"analyst token (shown once): {grant.plaintext}\n"
        f"role {Role.ANALYST.value}, organisation {DEMO_ORGANISATION!r}, scopes: {scopes}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"try: curl -H 'Authorization: Bearer <token>' http://{host}:{port}/api/v1/reports  (docs: /docs)",
        highlight=False,
        soft_wrap=True,
    )


DEMO_ORGANISATION = "Demo Clearinghouse"
DEMO_USER = "demo"


def _demo_user(host: str, port: int) -> None:
    """A staff administrator who signs in to the web interface, with a new random password each demo."""
    import secrets

    from clearinghouse.identity.model import Role
    from clearinghouse.store.web_accounts import WebAccounts

    accounts = WebAccounts(open_engine(Settings.from_env()))
    password = secrets.token_urlsafe(12)
    if any(account.login == DEMO_USER for account in accounts.accounts()):
        accounts.set_password(DEMO_USER, password)
    else:
        accounts.create_user(DEMO_ORGANISATION, DEMO_USER, Role.ADMIN, password)
    console.print(
        f"sign in on http://{host}:{port}/sign-in as user [bold]{DEMO_USER}[/bold], password "
        f"[bold]{password}[/bold] (role admin of {DEMO_ORGANISATION!r}; a new password each demo)",
        highlight=False,
        soft_wrap=True,
    )


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), so `serve`'s job worker never outlives it."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent is already gone
        os.kill(os.getpid(), signal.SIGKILL)


def _affected_example(store: RecordStore) -> tuple[str, str, str] | None:
    """A package and version known to be affected: the `introduced` version of some PyPI range."""
    for record in store.iter_records():
        for entry in record.osv.affected or ():
            # GIT ranges hold commit hashes, not versions `affected` could be asked about.
            for version_range in (r for r in entry.ranges or () if r.type is RangeType.ECOSYSTEM):
                introduced = [e.value for e in version_range.events if e.kind == "introduced" and e.value != "0"]
                if entry.package and entry.package.ecosystem == "PyPI" and introduced:
                    return entry.package.ecosystem, entry.package.name, introduced[0]
    return None
