"""The reproductions service: access checks, transactions, audit entries, the clock and the run itself.

An analyst (or the pipeline) asks for a reproduction of a report: the request is checked and stored `queued`
with a `reproduce.report` job in one transaction. The job hands it to the reproduction pool (its own threads
and concurrency limit, so a slow reproduction never holds up intake's jobs); the run builds the vulnerable and
the fixed environment, runs the PoC against each in the sandbox and stores the verdict, its evidence and the
package hashes, sets the report's latest verdict and queues the report's pipeline again, which turns the
verdict into a credibility check and SSVC's Exploitation point. Nothing is ever closed by a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa

from clearinghouse.cases import repository as case_repository
from clearinghouse.errors import ClearinghouseError, EnvironmentBuildFailed, InvalidReproduction, NotFound
from clearinghouse.intake.locking import updating_reports
from clearinghouse.intake.service import PROCESS_REPORT
from clearinghouse.policy import Actor, actor_name
from clearinghouse.policy.reproductions import reproduction_scope, require_reproducer
from clearinghouse.reproduce.environments import BuiltEnvironment, EnvironmentBuilder
from clearinghouse.reproduce.repository import ReproductionRepository
from clearinghouse.reproduce.rules import (
    RUN_LIFECYCLE,
    Ecosystem,
    Outcome,
    Request,
    RunState,
    Step,
    Target,
    Verdict,
    failure,
    judge,
    parse_request,
)
from clearinghouse.reproduce.runner import RunnerLimits, run_once
from clearinghouse.reproduce.views import ReproductionList, ReproductionView
from clearinghouse.store import jobs as job_queue
from clearinghouse.store.audit import AuditLog

log = logging.getLogger("clearinghouse.reproduce")

REPRODUCE_REPORT = "reproduce.report"
VERIFY_FIX = "reproduce.verify_fix"
PIPELINE_ACTOR = "clearinghouse-reproduction"
# a running reproduction older than this has lost its worker (the longest run is two 60 s budgets plus builds)
STALE_AFTER = timedelta(minutes=30)
# Reproduction threads, and the builds and sandboxes they start, yield the CPU to intake (bench/reproduce.py)
REPRODUCTION_NICENESS = 10


def lower_priority() -> None:
    """Lower this thread's CPU priority (Linux keeps niceness per thread; its children inherit it)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REPRODUCTION_NICENESS)


class ReproductionService:
    def __init__(
        self,
        engine: sa.Engine,
        builders: Mapping[Ecosystem, EnvironmentBuilder],
        clock: Callable[[], datetime] | None = None,
        limits: RunnerLimits | None = None,
    ) -> None:
        self.engine = engine
        self.builders = dict(builders)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.limits = limits or RunnerLimits()
        self.audit = AuditLog(engine)
        self.repository = ReproductionRepository(engine)

    # -- requests ------------------------------------------------------------------------------------------

    def request(self, actor: Actor, report_id: str, body: Mapping[str, Any] | None = None) -> ReproductionView:
        """Queue a reproduction of a report (an analyst's run or re-run); the body may name the target, the PoC
        and must name the oracle unless the report's earlier reproduction did."""
        require_reproducer(actor)
        self._visible_report(actor, report_id)
        with self.audit.writing() as conn:
            report = self.repository.report(conn, report_id)
            request = request_for_report(report.submission, body or {}, self._earlier(report_id))
            reproduction_id = str(uuid.uuid4())
            self._queue(conn, reproduction_id, report_id, None, "report", request, actor_name(actor))
            job_queue.enqueue(conn, REPRODUCE_REPORT, {"reproduction_id": reproduction_id})
            details = {"oracle": request.oracle.kind.value, "package": request.target.package}
            self.audit.append(conn, actor_name(actor), "reproduction.requested", "report", report_id, details)
            row = self.repository.row(conn, reproduction_id)
        return ReproductionView.from_row(row)

    def list_for(self, actor: Actor, report_id: str) -> ReproductionList:
        self._visible_report(actor, report_id)
        return ReproductionList(
            reproductions=[ReproductionView.from_row(row) for row in self.repository.for_report(report_id)]
        )

    def _visible_report(self, actor: Actor, report_id: str) -> None:
        owner = self.repository.report_owner(report_id)
        if owner is None or not reproduction_scope(actor).admits(owner):
            raise NotFound(f"no report with id {report_id!r}")

    def _earlier(self, report_id: str) -> Mapping[str, Any] | None:
        rows = self.repository.for_report(report_id)
        return rows[0].request if rows else None

    def _queue(
        self,
        conn: sa.Connection,
        reproduction_id: str,
        report_id: str,
        case_id: str | None,
        purpose: str,
        request: Request,
        actor: str,
        vendor_id: str | None = None,
    ) -> None:
        self.repository.insert(
            conn,
            dict(
                id=reproduction_id,
                report_id=report_id,
                case_id=case_id,
                purpose=purpose,
                # a fix verification remembers whose fixed version it checks, to flag that vendor's status
                request=request.to_json() | ({"vendor_id": vendor_id} if vendor_id else {}),
                state=RunState.QUEUED.value,
                requested_by=actor,
                requested_at=self.clock(),
            ),
        )

    def verify_fix(
        self, case_id: str, vendor_id: str, report_ids: list[str], fixed_version: str, actor: str
    ) -> list[str]:
        """Queue a fix verification for each report of the case that reproduced: its PoC against the version the
        vendor says is fixed (a verification that still fires flags the vendor's status). Returns the ids queued."""
        queued: list[str] = []
        with self.audit.writing() as conn:
            for earlier in self.repository.latest_reproduced(report_ids):
                base = parse_request(earlier.request)
                target = Target(
                    base.target.ecosystem,
                    base.target.package,
                    fixed_version,
                    None,
                    base.target.modules,
                    base.target.extras,
                )
                request = Request(target, base.poc, base.oracle)
                reproduction_id = str(uuid.uuid4())
                self._queue(
                    conn, reproduction_id, earlier.report_id, case_id, "fix_verification", request, actor, vendor_id
                )
                job_queue.enqueue(conn, REPRODUCE_REPORT, {"reproduction_id": reproduction_id})
                queued.append(reproduction_id)
            if queued:
                details = {"version": fixed_version, "reproductions": queued}
                self.audit.append(conn, actor, "reproduction.fix_verification", "case", case_id, details)
        return queued

    def for_case(self, case_id: str) -> list[ReproductionView]:
        return [ReproductionView.from_row(row) for row in self.repository.for_case(case_id)]

    # -- running -------------------------------------------------------------------------------------------

    def run(self, reproduction_id: str) -> ReproductionView | None:
        """Run a queued reproduction to its verdict; None when another worker has it."""
        with self.engine.begin() as conn:
            row = self.repository.row(conn, reproduction_id)
            if row.state != RunState.QUEUED.value or not self.repository.claim(conn, reproduction_id, self.clock()):
                return None  # another worker has it, or it is done (a re-run is a new reproduction)
            RUN_LIFECYCLE.transition(RunState.QUEUED, RunState.RUNNING, PIPELINE_ACTOR, "started", self.clock())
        outcome = self.execute(parse_request(row.request), fix_only=row.purpose == "fix_verification")
        summarised = [row.report_id] if row.purpose == "report" else []  # the report takes the latest verdict
        with updating_reports(self.audit, summarised) as (conn, _):
            finished = self.clock()
            self.repository.finish(
                conn,
                reproduction_id,
                dict(
                    state=RunState.DONE.value,
                    verdict=outcome.verdict.value,
                    reason=outcome.reason[:4000],
                    step=outcome.step.value if outcome.step else None,
                    observations=[o.to_json() for o in outcome.observations],
                    packages=dict(outcome.packages),
                    finished_at=finished,
                ),
            )
            details = {"verdict": outcome.verdict.value, "purpose": row.purpose, "case": row.case_id}
            self.audit.append(conn, PIPELINE_ACTOR, "reproduction.finished", "report", row.report_id, details)
            if row.purpose == "fix_verification" and outcome.verdict is Verdict.REPRODUCED_NOT_FIXED:
                version = row.request["target"]["vulnerable"]
                reason = (
                    f"the proof of concept of report {row.report_id} still triggers on {version} ({reproduction_id})"
                )
                case_repository.flag_unfixed(conn, row.case_id, row.request.get("vendor_id", ""), version, reason)
            if row.purpose == "report":
                summary = summarise(reproduction_id, row.request, outcome, finished)
                self.repository.set_report_summary(conn, row.report_id, summary)
                # the pipeline turns the verdict into the credibility check and SSVC's Exploitation point
                job_queue.enqueue(conn, PROCESS_REPORT, {"report_id": row.report_id})
            done = self.repository.row(conn, reproduction_id)
        return ReproductionView.from_row(done)

    def execute(self, request: Request, fix_only: bool = False) -> Outcome:
        """Build the environments and run the PoC against each: vulnerable and fixed (the newest version when no
        fix is known), or, for a fix verification, only the version said to be fixed."""
        return asyncio.run(self.execute_async(request, fix_only))

    async def execute_async(self, request: Request, fix_only: bool = False) -> Outcome:
        """`execute` for callers already in an event loop (the evaluation scorer); builds run in a thread."""
        builder = self.builders.get(request.target.ecosystem)
        if builder is None:
            return failure(Step.ENVIRONMENT, f"no environment builder for {request.target.ecosystem.value}")
        target = request.target
        try:
            vulnerable = await anyio.to_thread.run_sync(builder.build, target.package, target.vulnerable, target.extras)
            fixed = (
                None
                if fix_only
                else await anyio.to_thread.run_sync(builder.build, target.package, target.fixed or "", target.extras)
            )
        except EnvironmentBuildFailed as exc:
            return failure(Step.ENVIRONMENT, exc.message)
        versions = [(vulnerable, target.vulnerable)]
        if fixed is not None:
            versions.append((fixed, target.fixed or installed_version(fixed, target.package)))
        packages = {version: [a.to_json() for a in env.artifacts] for env, version in versions}
        try:
            observations = await self._runs(request, versions)
        except ClearinghouseError as exc:
            return failure(Step.SANDBOX, exc.message)
        outcome = judge(observations[0], observations[1] if len(observations) > 1 else None)
        return Outcome(outcome.verdict, outcome.reason, outcome.step, outcome.observations, packages)

    async def _runs(self, request: Request, versions: list[tuple[BuiltEnvironment, str]]) -> list[Any]:
        # one after another: each run already has its own share of the machine
        return [await run_once(request, env, version, self.limits) for env, version in versions]


def installed_version(environment: BuiltEnvironment, package: str) -> str:
    wanted = package.lower().replace("_", "-")
    for artifact in environment.artifacts:
        if artifact.name.lower().replace("_", "-") == wanted:
            return artifact.version
    return "newest"


def summarise(reproduction_id: str, request: Mapping[str, Any], outcome: Outcome, at: datetime) -> dict[str, Any]:
    """What the report keeps of its latest reproduction (its pipeline reads the verdict and the reason)."""
    fired = next((o for o in outcome.observations if o.fired), None)
    return {
        "id": reproduction_id,
        "verdict": outcome.verdict.value,
        "reason": outcome.reason[:1000],
        "step": outcome.step.value if outcome.step else None,
        "oracle": request.get("oracle", {}).get("kind"),
        "where": fired.where if fired else None,
        "finished_at": at.isoformat(),
    }


def request_for_report(
    submission: Mapping[str, Any], body: Mapping[str, Any], earlier: Mapping[str, Any] | None
) -> Request:
    """The request from the analyst's body, with what it leaves out taken from the earlier run of this report,
    then from the report itself (its first PyPI or npm package and claimed version, its proof of concept)."""
    base: dict[str, Any] = dict(earlier or {})
    package = next(
        (p for p in submission.get("packages", []) if p.get("ecosystem") in {e.value for e in Ecosystem}), None
    )
    target: dict[str, Any] = dict(base.get("target") or {})
    if package is not None and not target:
        versions = package.get("versions") or []
        target = {"ecosystem": package["ecosystem"], "package": package["name"]}
        if versions:
            target["vulnerable"] = versions[0]
    target.update(body.get("target") or {})
    poc = dict(body.get("poc") or base.get("poc") or {})
    if not poc and submission.get("proof_of_concept"):
        poc = {"kind": "script", "source": submission["proof_of_concept"]}
    oracle = body.get("oracle") or base.get("oracle")
    if oracle is None:
        raise InvalidReproduction("oracle: name the oracle that decides whether the proof of concept worked")
    return parse_request({"target": target, "poc": poc, "oracle": oracle})


class ReproductionPool:
    """Reproductions run on their own threads (`CLEARINGHOUSE_REPRODUCE_CONCURRENCY`, default 1): the job
    handler only hands the reproduction over, so intake's jobs on the same worker never wait for one. The row's
    state is the durable record: queued ones (and running ones whose worker died) are picked up again here."""

    def __init__(self, service: ReproductionService, concurrency: int | None = None) -> None:
        self.service = service
        limit = concurrency or int(os.environ.get("CLEARINGHOUSE_REPRODUCE_CONCURRENCY", "1"))
        self.executor = ThreadPoolExecutor(max(1, limit), thread_name_prefix="reproduce", initializer=lower_priority)
        self._recovered = False

    def submit(self, reproduction_id: str) -> None:
        if not self._recovered:
            self._recovered = True
            for earlier in self.service.repository.unfinished(self.service.clock() - STALE_AFTER):
                if earlier != reproduction_id:
                    self.executor.submit(self._run, earlier)
        self.executor.submit(self._run, reproduction_id)

    def _run(self, reproduction_id: str) -> None:
        try:
            self.service.run(reproduction_id)
        except Exception:  # recorded in the log; the row stays running and is picked up again after STALE_AFTER
            log.exception("reproduction %s failed", reproduction_id)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
