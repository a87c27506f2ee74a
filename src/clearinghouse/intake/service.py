"""The reports service: durable acceptance (report, attachments, job, idempotency key and audit entry in one
transaction), visibility by organisation and role, the analyst queue, lifecycle changes and duplicate clusters.

SQL lives in `intake.repository`; this module holds the access checks, the transactions, the audit entries and
the clock (injected, so a test can fix time).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from clearinghouse.errors import ClearinghouseError, IdempotencyConflict, InvalidCursor, InvalidRecord, NotFound
from clearinghouse.identity.model import Principal
from clearinghouse.intake.findings import Finding, PackageRef
from clearinghouse.intake.lifecycle import ReportState, transition
from clearinghouse.intake.locking import updating_reports
from clearinghouse.intake.metrics import ProcessingStats, StepTotals
from clearinghouse.intake.repository import ReportRepository
from clearinghouse.intake.views import ClusterPage, QueueFilter, ReportPage, ReportView
from clearinghouse.policy import Actor, actor_name, rules
from clearinghouse.safeparse import NUL, refuse_characters
from clearinghouse.store import jobs as job_queue
from clearinghouse.store.audit import AuditEvent, AuditLog
from clearinghouse.store.pages import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor

PROCESS_REPORT = "process-report"
_QUEUE = "reports"
_CLUSTER = "cluster"


@dataclass(frozen=True)
class Submitted:
    """One submission to accept: what `POST /reports` received, normalised into findings."""

    principal: Principal
    findings: list[Finding]
    provenance: dict[str, Any]
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class Accepted:
    report_ids: list[str]
    replayed: bool


@dataclass(frozen=True)
class PipelineRun:
    """One report's pipeline run, to be stored: each step's outcome, the columns they set and, if triage decided,
    the reason for the move from received to triaged."""

    report_id: str
    steps: dict[str, dict[str, Any]]
    columns: dict[str, Any]
    triaged: str | None
    fingerprint: bytes | None = None  # for the other workers' duplicate indexes (`dedup_service.shared_form`)


def finding_from_json(data: dict[str, Any]) -> Finding:
    packages = tuple(
        PackageRef(p["ecosystem"], p["name"], p.get("purl"), tuple(p.get("versions") or ())) for p in data["packages"]
    )
    fields = {k: v for k, v in data.items() if k != "packages"}
    for key in ("cwes", "cvss_vectors", "locations", "identifiers", "attachments"):
        fields[key] = tuple(fields.get(key) or ())
    return Finding(packages=packages, **fields)


class ReportService:
    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.repository = ReportRepository(engine)
        self.clock = clock or (lambda: datetime.now(UTC))

    def accept(
        self,
        principal: Principal,
        findings: list[Finding],
        provenance: dict[str, Any],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Accepted:
        """Store findings as received reports and queue their processing, atomically."""
        outcome = self.accept_many([Submitted(principal, findings, provenance, idempotency_key, request_hash)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def accept_many(self, submissions: Sequence[Submitted], seal: bool = True) -> list[Accepted | Exception]:
        """Accept several submissions in one transaction (group commit), each as if alone.

        One commit (and, on a durable store, one flush to disk) then serves many submitters. A submission that is
        refused (an Idempotency-Key reused with another body) gets its error and the others go on; if the
        transaction itself fails (another process took the same key a moment ago), each is retried alone, so
        one submission never costs another its acknowledgement. Errors are returned in place, not raised.
        `seal=False`: on PostgreSQL the audit entries are left for a later `seal_audit` (`AuditLog.writing`).
        """
        try:
            return self._accept_together(submissions, seal)
        except Exception:
            if len(submissions) == 1:
                raise
        outcomes: list[Accepted | Exception] = []
        for submission in submissions:
            try:
                outcomes.extend(self._accept_together([submission], seal))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def seal_audit(self) -> None:
        """Seal the audit entries committed and not sealed yet (PostgreSQL; see `accept_many`)."""
        self.audit.seal()

    def _accept_together(self, submissions: Sequence[Submitted], seal: bool) -> list[Accepted | Exception]:
        now = self.clock()
        outcomes: list[Accepted | Exception] = []
        report_rows: list[dict[str, Any]] = []
        attachment_rows: list[dict[str, Any]] = []
        job_payloads: list[dict[str, Any]] = []
        events: list[AuditEvent] = []
        key_rows: list[dict[str, Any]] = []
        # The chain's lock only for the audit append, last: on PostgreSQL API processes insert their batches side
        # by side. Two processes taking one Idempotency-Key at once: the key's primary key fails one transaction,
        # and `accept_many` retries its submissions one by one (then the key is found and replayed).
        with self.audit.writing(late=True, seal=seal) as conn:
            keys_in_batch: dict[tuple[str, str], tuple[str, list[str]]] = {}
            for submission in submissions:
                if submission.idempotency_key is not None:
                    key = (submission.principal.organisation.id, submission.idempotency_key)
                    earlier = keys_in_batch.get(key) or self.repository.stored_key(conn, *key)
                    if earlier is not None:
                        outcomes.append(_replay(submission, *earlier))
                        continue
                try:
                    rows = _rows_for(submission, now)
                except Exception as refused:
                    outcomes.append(refused)
                    continue
                report_rows.extend(rows.reports)
                attachment_rows.extend(rows.attachments)
                job_payloads.extend({"report_id": report_id} for report_id in rows.report_ids)
                events.extend(rows.events)
                if submission.idempotency_key is not None:
                    keys_in_batch[(submission.principal.organisation.id, submission.idempotency_key)] = (
                        submission.request_hash or "",
                        rows.report_ids,
                    )
                    key_rows.append(
                        dict(
                            organisation_id=submission.principal.organisation.id,
                            key=submission.idempotency_key,
                            request_hash=submission.request_hash or "",
                            response={"report_ids": rows.report_ids},
                            created_at=now,
                        )
                    )
                outcomes.append(Accepted(rows.report_ids, replayed=False))
            if report_rows:
                self.repository.insert(conn, report_rows, attachment_rows)
                job_queue.enqueue_many(conn, PROCESS_REPORT, job_payloads)
            if key_rows:
                self.repository.insert_idempotency_keys(conn, key_rows)
            self.audit.append_many(conn, events)
        return outcomes

    def get(self, report_id: str, actor: Actor) -> ReportView:
        """One report as the actor may see it; `NotFound` for a report it may not see (no existence oracle)."""
        scope = rules.report_scope(actor)
        row = self.repository.row(report_id)
        if row is None or not scope.admits(row.organisation_id):
            raise NotFound(f"no report with id {report_id!r}")
        return self._visible(actor, [row])[0]

    def list_for(
        self,
        actor: Actor,
        limit: int = DEFAULT_LIMIT,
        state: ReportState | None = None,
        cursor: str | None = None,
        narrowing: QueueFilter | None = None,
    ) -> ReportPage:
        """Reports the actor may see (the policy's filter), a page at a time: staff get the priority queue of
        every organisation; `narrowing` searches and filters it (the web inbox)."""
        after: tuple[float | None, datetime, str] | None = None
        if cursor is not None:
            priority, received_at, report_id = decode_cursor(_QUEUE, cursor, 3)
            after = (_cursor_float(priority), _cursor_time(received_at), _cursor_str(report_id))
        rows, total = self.repository.page(rules.report_scope(actor), state, min(limit, MAX_LIMIT), after, narrowing)
        views = self._visible(actor, rows)
        last = views[-1] if len(views) == limit else None
        next_cursor = (
            None if last is None else encode_cursor(_QUEUE, [last.priority, last.received_at.isoformat(), last.id])
        )
        return ReportPage(reports=views, total=total, next_cursor=next_cursor)

    def _visible(self, actor: Actor, rows: Sequence[Any]) -> list[ReportView]:
        """Reports as the actor sees them: duplicate evidence naming another organisation's report is shown to staff
        only; anyone else learns only that an earlier report may describe the same issue (no id, score or evidence,
        and no cluster id, which is the id of the cluster's first report)."""
        if rules.sees_other_organisations_duplicates(actor):
            return [ReportView.from_row(row) for row in rows]
        named = {
            str(candidate["id"]).removeprefix("report:")
            for row in rows
            for candidate in (row.duplicates or {}).get("candidates", ())
            if str(candidate.get("id", "")).startswith("report:")
        }
        named |= {row.cluster_id for row in rows if row.cluster_id}
        owners = self.repository.owners(sorted(named)) if named else {}
        # Near-duplicate records too: an embargoed advisory (or an AMBER record) is not the reporter's to learn of.
        records = {
            str(candidate["id"]).removeprefix("record:")
            for row in rows
            for candidate in (row.duplicates or {}).get("candidates", ())
            if str(candidate.get("id", "")).startswith("record:")
        }
        public = self.repository.public_records(sorted(records)) if records else set()
        return [ReportView.from_row(row, _duplicates_for_reporter(row, owners, public)) for row in rows]

    def for_processing(self, report_id: str) -> tuple[Finding, dict[str, Any], dict[str, Any] | None]:
        """What the pipeline needs of a report, in one query: its finding, provenance and latest reproduction."""
        submission, provenance, reproduction = self.repository.submission(report_id)
        return finding_from_json(submission), provenance, reproduction

    def for_processing_many(
        self, report_ids: Sequence[str]
    ) -> dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]]:
        """`for_processing` for a batch, in one query: each stored report's submission, provenance and latest
        reproduction verdict (a report that does not exist is left out)."""
        return self.repository.submissions(report_ids)

    def processed_findings(self) -> Iterator[tuple[str, Finding]]:
        """Every report that went through de-duplication, oldest first (to rebuild the duplicate index)."""
        for report_id, submission in self.repository.deduplicated():
            yield report_id, finding_from_json(submission)

    def processing_stats(self) -> ProcessingStats:
        """The backlog and every pipeline step's counters (operators and `/metrics`; no per-report detail)."""
        queued, oldest = job_queue.JobQueue(self.engine).backlog(PROCESS_REPORT)
        steps = [StepTotals(*totals) for totals in self.repository.step_totals()]
        return ProcessingStats(queued, oldest, self.clock(), steps)

    def backlog(self) -> int:
        """How many reports wait to be processed (back-pressure reads this)."""
        return job_queue.JobQueue(self.engine).backlog(PROCESS_REPORT)[0]

    def credibility_record(self, organisation_id: str) -> tuple[int, float | None]:
        """How many of an organisation's reports were checked and their mean credibility (its standing)."""
        return self.repository.credibility_record(organisation_id)

    def audit_position(self) -> int:
        """The audit log's last link: `triaged_since` it finds the reports triaged after this moment."""
        return self.repository.audit_head()

    def triaged_since(self, position: int) -> tuple[list[str], int]:
        """The reports any process moved to triaged in audit entries sealed after link `position` (commit order),
        and the new position."""
        return self.repository.triaged_after(position)

    def findings(self, report_ids: Sequence[str]) -> dict[str, Finding]:
        """The findings of these reports, as submitted, by id (reports no longer stored are left out)."""
        submissions = self.repository.submissions(report_ids)
        return {i: finding_from_json(submissions[i][0]) for i in report_ids if i in submissions}

    def shared_fingerprints(self, report_ids: Sequence[str]) -> dict[str, bytes]:
        """What the workers that de-duplicated these reports stored for the others (`PipelineRun.fingerprint`)."""
        return self.repository.fingerprints(report_ids)

    def record_pipeline(
        self,
        report_id: str,
        steps: dict[str, dict[str, Any]],
        columns: dict[str, Any],
        actor: str,
        triaged: str | None,
    ) -> None:
        """Store one pipeline run at once: each step's outcome, the columns they set and, if `triaged` gives the
        reason, the move from received to triaged. A run that stops half-way leaves nothing half-written."""
        written = self.record_pipelines([PipelineRun(report_id, steps, columns, triaged)], actor)
        if not written:
            raise NotFound(f"no report with id {report_id!r}")

    def record_pipelines(
        self,
        runs: Sequence[PipelineRun],
        actor: str,
        finish: Callable[[sa.Connection], Collection[str]] | None = None,
    ) -> list[str]:
        """Store a batch of pipeline runs in one transaction (one commit, one audit append); the ids written.

        `finish`, called first inside the transaction, says which reports' runs may be written (the worker marks
        the jobs it still holds done there, so a run is stored exactly when its job completes). A report that no
        longer exists is skipped.
        """
        # The runs' own columns are written before the chain's lock is taken (on PostgreSQL, other workers and the
        # API write theirs meanwhile); the state moves, their audit entries and the shared step counters after it.
        # The reports' rows are locked first, in id order, as every writer of reports does (`intake.locking`).
        with self.audit.writing(late=True) as conn:
            allowed = None if finish is None else set(finish(conn))
            kept = [run for run in runs if allowed is None or run.report_id in allowed]
            now = self.clock()
            self.repository.lock_rows(conn, [run.report_id for run in kept])
            self.repository.update_many(
                conn, [(run.report_id, {"pipeline": run.steps, "updated_at": now, **run.columns}) for run in kept]
            )
            self.repository.write_fingerprints(
                conn, [(run.report_id, run.fingerprint) for run in kept if run.fingerprint is not None]
            )
            self.audit.lock(conn)
            states = self.repository.states(conn, [run.report_id for run in kept])
            events: list[AuditEvent] = []
            moves: list[tuple[str, dict[str, Any]]] = []
            for run in kept:
                current = states.get(run.report_id)
                if run.triaged is not None and current is ReportState.RECEIVED:
                    moved, event = _move_event(run.report_id, current, ReportState.TRIAGED, actor, run.triaged, now)
                    moves.append((run.report_id, moved))
                    events.append(event)
            self.audit.append_many(conn, events)
            self.repository.update_many(conn, moves)
            self.repository.add_step_totals(conn, _step_totals([run for run in kept if run.report_id in states]))
        return [run.report_id for run in kept if run.report_id in states]

    def change_state(self, actor: Actor, report_id: str, target: ReportState, reason: str) -> ReportState:
        rules.require_triage(actor)
        with updating_reports(self.audit, [report_id]) as (conn, _):
            now = self.clock()
            current = self.repository.state(conn, report_id)
            values = self._move(conn, report_id, current, target, actor_name(actor), reason, now)
            self.repository.update(conn, report_id, values)
        return target

    def _move(
        self,
        conn: sa.Connection,
        report_id: str,
        current: ReportState,
        target: ReportState,
        actor: str,
        reason: str,
        now: datetime,
    ) -> dict[str, Any]:
        """Check a lifecycle move against the transition table and audit it; the column values that make it."""
        values, event = _move_event(report_id, current, target, actor, reason, now)
        self.audit.append_many(conn, [event])
        return values

    def reprocess(self, actor: Actor, report_id: str) -> None:
        rules.require_triage(actor)
        with self.audit.writing() as conn:
            self.repository.require(conn, report_id)
            job_queue.enqueue(conn, PROCESS_REPORT, {"report_id": report_id})
            self.audit.append(conn, actor_name(actor), "report.reprocess", "report", report_id, {})

    def cluster(
        self, actor: Actor, cluster_id: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> ClusterPage:
        """The reports of one duplicate cluster, oldest first, a page at a time (clusters span organisations:
        staff only)."""
        rules.require_triage(actor)
        after: tuple[datetime, str] | None = None
        if cursor is not None:
            received_at, report_id = decode_cursor(_CLUSTER, cursor, 2)
            after = (_cursor_time(received_at), _cursor_str(report_id))
        rows, total = self.repository.cluster_page(cluster_id, min(limit, MAX_LIMIT), after)
        if total == 0:
            raise NotFound(f"no duplicate cluster {cluster_id!r}")
        views = self._visible(actor, rows)
        last = views[-1] if len(views) == limit else None
        next_cursor = None if last is None else encode_cursor(_CLUSTER, [last.received_at.isoformat(), last.id])
        return ClusterPage(cluster_id=cluster_id, reports=views, total=total, next_cursor=next_cursor)

    def clusters_of(self, report_ids: Collection[str]) -> dict[str, str | None]:
        return self.repository.clusters_of(report_ids)

    def confirm_cluster(self, actor: Actor, report_id: str, reason: str) -> str:
        """An analyst agrees the report belongs to its cluster; returns the cluster id."""
        rules.require_triage(actor)
        with self.audit.writing() as conn:
            cluster_id = self.repository.cluster_of_locked(conn, report_id)
            self.audit.append(
                conn,
                actor_name(actor),
                "cluster.confirm",
                "report",
                report_id,
                {"cluster": cluster_id, "reason": reason},
            )
        return cluster_id

    def split_cluster(self, actor: Actor, report_id: str, reason: str) -> str:
        """Take the report out of its cluster: it starts a cluster of its own (and of any report that pointed at it)."""
        rules.require_triage(actor)
        members = self.repository.cluster_members  # those it may lead: given the next-oldest one as leader
        with updating_reports(self.audit, lambda conn: [report_id, *members(conn, report_id)]) as (conn, locked):
            old = self.repository.cluster_of_locked(conn, report_id)
            self.repository.split_out(conn, report_id, old, locked)
            self.audit.append(
                conn,
                actor_name(actor),
                "cluster.split",
                "report",
                report_id,
                {"from": old, "to": report_id, "reason": reason},
            )
        return report_id

    def merge_clusters(self, actor: Actor, report_id: str, into_cluster: str, reason: str) -> str:
        """Move every report of this report's cluster into another cluster."""
        rules.require_triage(actor)

        def members(conn: sa.Connection) -> list[str]:  # and the report itself, so that its cluster stays put
            cluster = self.repository.cluster_of_locked(conn, report_id)
            return [report_id, *self.repository.cluster_members(conn, cluster)]

        with updating_reports(self.audit, members) as (conn, locked):
            source = self.repository.cluster_of_locked(conn, report_id)
            moved = self.repository.move_cluster(conn, source, into_cluster, locked)
            self.audit.append(
                conn,
                actor_name(actor),
                "cluster.merge",
                "report",
                report_id,
                {"from": source, "to": into_cluster, "reports": moved, "reason": reason},
            )
        return into_cluster


def _step_totals(runs: Sequence[PipelineRun]) -> dict[str, tuple[int, int, float]]:
    """Each step's (runs, failures, seconds) over a batch's runs."""
    totals: dict[str, tuple[int, int, float]] = {}
    for run in runs:
        for step, outcome in run.steps.items():
            count, failed, seconds = totals.get(step, (0, 0, 0.0))
            totals[step] = (count + 1, failed + (not outcome.get("ok")), seconds + float(outcome.get("ms", 0)) / 1000)
    return totals


def _move_event(
    report_id: str, current: ReportState, target: ReportState, actor: str, reason: str, now: datetime
) -> tuple[dict[str, Any], AuditEvent]:
    """Check a lifecycle move against the transition table: the column values that make it and its audit event."""
    change = transition(current, target, actor, reason, now)
    details = {"from": change.source.value, "to": change.target.value, "reason": reason}
    return {"state": target.value, "updated_at": now}, AuditEvent(actor, "report.state", "report", report_id, details)


def _replay(submission: Submitted, request_hash: str, report_ids: list[str]) -> Accepted | ClearinghouseError:
    """The first answer again for a retry with the same key and body; a conflict for another body."""
    if request_hash != (submission.request_hash or ""):
        return IdempotencyConflict(
            f"Idempotency-Key {submission.idempotency_key!r} was used before with a different request body"
        )
    return Accepted(report_ids, replayed=True)


@dataclass(frozen=True)
class _Rows:
    """One submission's rows, built before any is added to the batch, so a bad one fails alone."""

    report_ids: list[str]
    reports: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    events: list[AuditEvent]


def _rows_for(submission: Submitted, now: datetime) -> _Rows:
    principal = submission.principal
    rows = _Rows([], [], [], [])
    for finding in submission.findings:
        report_id = str(uuid.uuid4())
        rows.report_ids.append(report_id)
        document = _without_attachment_content(finding.as_json())
        _storable(document, submission.provenance)
        rows.reports.append(
            dict(
                id=report_id,
                received_at=now,
                updated_at=now,
                organisation_id=principal.organisation.id,
                submitted_by=principal.user,
                kind=finding.kind,
                title=finding.title[:300],
                submission=document,
                provenance=submission.provenance,
                content_hash=finding.content_hash,
                state=ReportState.RECEIVED.value,
                tlp="AMBER",  # unvetted vulnerability reports are need-to-know until triaged
                pipeline={},
            )
        )
        for attachment in finding.attachments:
            content = base64.b64decode(attachment["content_base64"])
            rows.attachments.append(
                dict(
                    report_id=report_id,
                    name=attachment["name"],
                    media_type=attachment["media_type"],
                    sha256=hashlib.sha256(content).hexdigest(),
                    content=content,
                )
            )
        details = {
            "kind": finding.kind,
            "origin": submission.provenance.get("origin"),
            "content_hash": finding.content_hash,
        }
        rows.events.append(
            AuditEvent(_actor(principal), "report.received", "report", report_id, details, principal.token_id)
        )
    return rows


def _storable(*documents: dict[str, Any]) -> None:
    """Serialise as the store will (orjson refuses nesting past 255), and refuse NUL, which PostgreSQL cannot
    store: found here, it fails this submission alone instead of the whole group-commit transaction."""
    for document in documents:
        try:
            text = orjson.dumps(document)
        except orjson.JSONEncodeError as exc:
            raise InvalidRecord(f"the submission cannot be stored: {exc}") from None
        if b"\\u0000" in text:
            refuse_characters(document, NUL)


def _actor(principal: Principal) -> str:
    return actor_name(principal)


def _duplicates_for_reporter(
    row: Any, owners: dict[str, str], public_records: set[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """A report's duplicates and cluster id with every trace of other organisations' reports, and of records not
    public, taken out."""

    def own(report_id: str | None) -> bool:
        return report_id is not None and owners.get(report_id) == row.organisation_id

    cluster_id = row.cluster_id if own(row.cluster_id) else None
    if not row.duplicates:
        return row.duplicates, cluster_id
    kept: list[dict[str, Any]] = []
    others = 0
    for candidate in row.duplicates.get("candidates", ()):
        identifier = str(candidate.get("id", ""))
        if identifier.startswith("report:") and not own(identifier.removeprefix("report:")):
            others += 1
        elif identifier.startswith("record:") and identifier.removeprefix("record:") not in public_records:
            continue  # nothing says it exists
        else:
            kept.append(candidate)
    exact = row.duplicates.get("exact_duplicate_of")
    duplicates = {
        "candidates": kept,
        "cluster_id": cluster_id,
        "exact_duplicate_of": exact if own(exact) else None,
        "earlier_report_may_describe_same_issue": others > 0,
    }
    return duplicates, cluster_id


def _without_attachment_content(finding: dict[str, Any]) -> dict[str, Any]:
    # Attachment bytes live in report_attachments; the finding keeps their names and types.
    attachments = [{k: v for k, v in a.items() if k != "content_base64"} for a in finding.get("attachments", ())]
    return {**finding, "attachments": attachments}


def _cursor_float(value: Any) -> float | None:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return None if value is None else float(value)
    raise InvalidCursor("the cursor is not one this server handed out")


def _cursor_str(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidCursor("the cursor is not one this server handed out")
    return value


def _cursor_time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(_cursor_str(value))
    except ValueError:
        raise InvalidCursor("the cursor is not one this server handed out") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
