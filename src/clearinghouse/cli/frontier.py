"""`clearinghouse frontier`: offline self-assessment, reminders, final reports and the end-to-end demo."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import ClearinghouseError, NotFound
from clearinghouse.frontier import criteria as criteria_mod
from clearinghouse.frontier.determination import Determination, determine
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.modelfile import load_model_file
from clearinghouse.frontier.service import AccessOffer, FrontierService, ModelRegistration
from clearinghouse.frontier.window import Milestone
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.policy import Operator
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore

frontier_app = typer.Typer(
    help="Frontier-model pre-release review (voluntary; never blocks a release).", no_args_is_help=True
)
console = render.console()

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "frontier"
# The shell's user holds the store: local reports and reminders are the operator's, restricted parts included.
OPERATOR = Operator("cli")
NOT_A_LICENCE = "Advice only: the order creates no licence or pre-clearance; nothing here blocks a release."


def _service() -> FrontierService:
    return FrontierService(open_engine(Settings.from_env()))


def _print_determination(determination: Determination) -> None:
    console.print(
        f"{determination.model}: [bold]{determination.coverage.value.upper()}[/bold] under "
        f"{determination.criteria} (rule: {determination.rule})",
        highlight=False,
    )
    for result in determination.results:
        console.print(f"  {result.name:<30} {result.outcome.value:<8} {result.reason}", highlight=False, soft_wrap=True)
    for missing in determination.missing:
        console.print(f"  needed: {missing}", highlight=False, soft_wrap=True)
    console.print(NOT_A_LICENCE, highlight=False)


@frontier_app.command()
def assess(
    criteria: Annotated[Path, typer.Option("--criteria", help="Criteria YAML (see examples/frontier/)")],
    model: Annotated[Path, typer.Option("--model", help="Model YAML: compute, evaluations, designations")],
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Self-assess a model against a criteria file, offline (no database): covered, not covered or needs evaluation."""
    criteria_set = criteria_mod.load_file(criteria)
    description = load_model_file(model)
    determination = determine(
        criteria_set, description.facts(), f"self-assessment by {description.developer}", datetime.now(UTC)
    )
    if json_:
        typer.echo(orjson.dumps(determination.as_json(), option=orjson.OPT_INDENT_2).decode())
        return
    _print_determination(determination)


@frontier_app.command()
def reminders(
    on: Annotated[str | None, typer.Option(help="Compute reminders as of this day (YYYY-MM-DD); default today")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """Milestones of open review windows that are due soon or overdue."""
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise ClearinghouseError(f"--on needs a date as YYYY-MM-DD, not {on!r}") from None
    due = _service().reminders(OPERATOR, day)
    if json_:
        typer.echo(orjson.dumps(due, option=orjson.OPT_INDENT_2).decode())
        return
    if not due:
        console.print("no milestones due")
    for reminder in due:
        console.print(f"{reminder['model']}: {reminder['message']}", highlight=False)


@frontier_app.command()
def report(
    model_id: Annotated[str, typer.Argument(help="The frontier model's id")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .pdf for PDF, anything else HTML")],
) -> None:
    """Write the final review report (determination, results, findings, timeline) as HTML or PDF."""
    from clearinghouse.frontier.report import render_html, render_pdf  # fpdf2 takes ~1 s to import: only here

    data = _service().report_data(OPERATOR, model_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".pdf":
        out.write_bytes(render_pdf(data))
    else:
        out.write_text(render_html(data), "utf-8")
    console.print(f"wrote {out}", highlight=False)


@frontier_app.command()
def demo() -> None:
    """The end-to-end scenario on the default store: a fictional developer's model from registration to report."""
    if not (EXAMPLES / "criteria.yaml").is_file():
        raise NotFound(f"the demo reads {EXAMPLES / 'criteria.yaml'}; run it from a source checkout")
    service = _service()
    cast = _DemoCast.create(IdentityStore(service.engine))
    _step("publish criteria", service.publish_criteria(cast.evaluator, (EXAMPLES / "criteria.yaml").read_text("utf-8")))
    release = service.today() + timedelta(days=20)
    model_id = _demo_registration(service, cast, release)
    submission_id = _demo_window(service, cast, model_id, release)
    service.add_finding(
        cast.evaluator,
        model_id,
        "high",
        "vulnerability-exploitation",
        "Writes working exploits for known CVEs",
        "Solved 62% of CTF challenges.",
    )
    service.complete_milestone(cast.evaluator, submission_id, Milestone.FINAL_REPORT, "final report delivered")
    data = service.report_data(OPERATOR, model_id)
    from clearinghouse.frontier.report import render_html, render_pdf

    out = Settings.from_env().home / "frontier-demo"
    out.mkdir(parents=True, exist_ok=True)
    (out / "final-report.html").write_text(render_html(data), "utf-8")
    (out / "final-report.pdf").write_bytes(render_pdf(data))
    _step("final report", f"{out / 'final-report.html'} and {out / 'final-report.pdf'}")
    console.print(NOT_A_LICENCE, highlight=False)


@dataclass(frozen=True)
class _DemoCast:
    developer: Principal
    evaluator: Principal
    hospital: Principal

    @classmethod
    def create(cls, identity: IdentityStore) -> _DemoCast:
        return cls(
            _principal(identity, "Northwind AI (demo)", OrgKind.AI_DEVELOPER, Role.VENDOR, None),
            _principal(identity, "DHS Evaluation (demo)", OrgKind.GOVERNMENT_EVALUATOR, Role.EVALUATOR, None),
            _principal(
                identity,
                "Mercy Hospital (demo)",
                OrgKind.CRITICAL_INFRASTRUCTURE,
                Role.PARTNER,
                "healthcare-and-public-health",
            ),
        )


def _demo_registration(service: FrontierService, cast: _DemoCast, release: date) -> str:
    """Register, self-assess (needs evaluation), attach a cyber run, and let the government decide (covered)."""
    # A fresh version each run, so the demo can run again on the same store.
    registration = ModelRegistration("Meridian", f"4.0-demo-{uuid.uuid4().hex[:6]}", "text+code", 3.2e25, release)
    model = service.register_model(cast.developer, registration)
    _step("register model", model)
    criteria = "eo-covered-frontier-models"
    _step("self-assessment", service.determine(cast.developer, model["id"], criteria)["coverage"])
    metrics = {"ctf_solve_rate": {"value": 0.62, "ci_low": 0.55, "ci_high": 0.69}}
    service.record_evaluation_run(
        Operator("ctf-harness"), model["id"], "clearinghouse-cyber", "ctf-demo-run-1", metrics
    )
    _step("government determination", service.determine(cast.evaluator, model["id"], criteria)["coverage"])
    return str(model["id"])


def _demo_window(service: FrontierService, cast: _DemoCast, model_id: str, release: date) -> str:
    """Offer access, move the release earlier, confirm access, grant a hospital early access and use it."""
    offer = AccessOffer(
        release,
        "https://api.northwind.example/v1/meridian-preview",
        secret_ref="vault://northwind/preview-key",  # noqa: S106 (a reference, not a secret)
    )
    submission = service.offer(cast.developer, model_id, offer)
    _step("access offered", submission["window"])
    moved = service.move_release(cast.developer, submission["id"], release - timedelta(days=5), "launch moved up")
    _step("release moved earlier", moved["plan_changes"][-1])
    service.complete_milestone(cast.evaluator, submission["id"], Milestone.ACCESS_CONFIRMED, "API key works")
    opens = date.fromisoformat(moved["window"]["opens_on"])
    grant = service.nominate(
        cast.evaluator,
        submission["id"],
        "Mercy Hospital (demo)",
        "patient-safety systems",
        opens,
        opens + timedelta(10),
    )
    service.decide_grant(cast.developer, grant["id"], GrantState.APPROVED, "approved for hospital IT")
    _step("early-access grant", service.grant(cast.developer, grant["id"]))
    _step(
        "partner uses its grant", service.use_grant(cast.hospital, grant["id"], "validate patches on hospital systems")
    )
    service.complete_milestone(cast.evaluator, submission["id"], Milestone.EVALUATION_PLAN_AGREED, "CTF + red team")
    return str(submission["id"])


def _principal(identity: IdentityStore, org: str, kind: OrgKind, role: Role, sector: str | None) -> Principal:
    try:
        identity.organisation(org)
    except NotFound:
        identity.create_organisation(org, kind, sector)
    return identity.authenticate(identity.create_token(org, f"demo-{role.value}", role).plaintext)


def _step(name: str, value: Any) -> None:
    shown = value if isinstance(value, str) else orjson.dumps(value).decode()
    console.print(f"[bold]{name}[/bold]: {shown}", highlight=False, soft_wrap=True)
