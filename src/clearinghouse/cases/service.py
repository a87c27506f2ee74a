"""Coordination cases: open from validated reports, route to vendors, track their statuses and fixes, talk in
threads, hold an embargo and publish through the gate.

Every check is the policy's (`clearinghouse.policy.cases`); a case the caller may not see is `NotFound`, also when
posting to it. Every change is one transaction with its audit entry, its timeline event and its notifications
(queued through `clearinghouse.notify` in the same transaction, so nothing half-written is ever announced).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from packageurl import PackageURL

from clearinghouse.cases import advisory
from clearinghouse.cases import repository as repo
from clearinghouse.cases.notices import Announcement, announce
from clearinghouse.cases.routing import (
    Declaration,
    DeclarationKind,
    VendorIndex,
    candidate_keys,
    declaration,
    from_match_key,
    package_key,
)
from clearinghouse.cases.rules import (
    CASE_LIFECYCLE,
    PUBLISHABLE,
    CaseState,
    EmbargoPolicy,
    PublicationGate,
    PublicDate,
    VendorStatement,
    VendorStatus,
    patch_flags,
    public_date,
    same_package,
    zone_named,
)
from clearinghouse.cases.viewing import build_case_view
from clearinghouse.cases.views import (
    AttachmentContent,
    AttachmentList,
    CaseList,
    CaseSummary,
    CaseView,
    DeclarationList,
    DeclarationView,
    GateView,
    MatchView,
    MessagePosted,
    ProposalView,
    PublicationView,
    VendorStatusView,
)
from clearinghouse.errors import (
    CaseAttachmentTooLarge,
    CaseConflict,
    ClearinghouseError,
    Forbidden,
    NotFound,
    VendorStatementRefused,
)
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.ingest.pipeline import MATCH_RECORDS
from clearinghouse.intake.findings import PURL_ECOSYSTEMS
from clearinghouse.intake.lifecycle import REPORT_TRANSITIONS, ReportState
from clearinghouse.intake.lifecycle import transition as report_transition
from clearinghouse.intake.locking import updating_reports
from clearinghouse.policy import Actor, Operator, actor_name
from clearinghouse.policy import cases as policy
from clearinghouse.policy.cases import CaseRole, Participation
from clearinghouse.policy.rules import is_staff, record_visibility
from clearinghouse.records.model import Affected, Provenance, RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.sharing.export import ExportFormat, dump_record
from clearinghouse.store import jobs as job_queue
from clearinghouse.store.audit import AuditLog
from clearinghouse.store.jobs import enqueue
from clearinghouse.store.records import RecordStore

SUBJECT = "case"
MAX_MESSAGE_CHARS = 20_000
MAX_ATTACHMENT_BYTES = 1_000_000
MAX_ATTACHMENTS = 5
CASE_SOURCE = "clearinghouse-case"
# Reports a case may be opened from: validated ones (and those already coordinating in another case's cluster).
OPENABLE_REPORT_STATES = frozenset({"validated", "coordinating"})


# Any participation: the repository has matched the organisation to the record's case.
_IN_ITS_CASE = Participation(frozenset({CaseRole.REPORTER}))

# The reproduction layer verifies a vendor's fix (issue 17); enqueued by kind, it is never imported here.
VERIFY_FIX_JOB = "reproduce.verify_fix"


@dataclass(frozen=True)
class NewAttachment:
    name: str
    media_type: str
    content_base64: str


@dataclass(frozen=True)
class _Case:
    row: Any
    participation: Participation


class CaseService:
    def __init__(
        self,
        engine: sa.Engine,
        clock: Callable[[], datetime] | None = None,
        embargo: EmbargoPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.records = RecordStore(engine)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.embargo = embargo or EmbargoPolicy()

    # Reading -------------------------------------------------------------------------------------------------

    def _participation(self, conn: sa.Connection, actor: Actor, case_id: str) -> Participation:
        organisation = policy.organisation_of(actor)
        if organisation is None:
            return policy.NOT_PARTICIPATING
        return Participation(frozenset(CaseRole(r) for r in repo.roles_of(conn, case_id, organisation)))

    def _case(self, conn: sa.Connection, actor: Actor, case_id: str) -> _Case:
        """The case if the actor may see it; `NotFound` (as for a missing id) otherwise."""
        policy.require_case_reader(actor)
        row = repo.case_row(conn, case_id)
        participation = self._participation(conn, actor, case_id)
        if row is None or not policy.case_visible(actor, participation):
            raise NotFound(f"no case with id {case_id!r}")
        return _Case(row, participation)

    def view(self, actor: Actor, case_id: str, zone: str = "UTC", message_limit: int = 100) -> CaseView:
        """The case as the actor may see it, times shown in UTC and in `zone`."""
        zone_named(zone)
        with self.engine.connect() as conn:
            case = self._case(conn, actor, case_id)
            gate = self._gate(conn, case.row) if is_staff(actor) else None
            return build_case_view(conn, actor, case.row, case.participation, zone, message_limit, gate, self.clock())

    def list_cases(self, actor: Actor) -> CaseList:
        policy.require_case_reader(actor)
        organisation = None if is_staff(actor) else policy.organisation_of(actor)
        with self.engine.connect() as conn:
            ids = repo.case_ids_for(conn, organisation) if organisation or is_staff(actor) else []
            rows = repo.case_rows(conn, ids)
        return CaseList(
            cases=[
                CaseSummary(id=r.id, title=r.title, state=r.state, tlp=r.tlp, public_at_utc=_utc(r.public_at))
                for r in rows
            ]
        )

    def visible_records(self, actor: Actor, found: Sequence[VulnerabilityRecord]) -> list[VulnerabilityRecord]:
        """The records the actor may read: those the record policy admits, and the embargoed advisories of the
        cases it takes part in (`policy.cases.record_visible`). Every record read path filters through this."""
        visibility = record_visibility(actor)
        hidden = [r.id for r in found if not visibility.admits(r.tlp, r.status)]
        organisation = policy.organisation_of(actor)
        through: set[str] = set()
        if hidden and organisation is not None:
            with self.engine.connect() as conn:
                through = repo.cases_of_records(conn, hidden, organisation)
        return [
            r
            for r in found
            if policy.record_visible(
                actor, r.tlp, r.status, _IN_ITS_CASE if r.id in through else policy.NOT_PARTICIPATING
            )
        ]

    # Opening ---------------------------------------------------------------------------------------------------

    def open_case(
        self,
        actor: Actor,
        report_ids: Sequence[str] = (),
        cluster_id: str | None = None,
        title: str | None = None,
        tlp: Tlp = Tlp.AMBER,
        cve_id: str | None = None,
    ) -> CaseView:
        """A case from validated reports (or a confirmed duplicate cluster), with its embargoed advisory record."""
        coordinator = policy.require_coordinator(actor)
        advisory.check_cve(cve_id)
        if tlp is Tlp.CLEAR:
            raise CaseConflict("an unpublished case cannot be TLP:CLEAR (publication makes it so)")
        now = self.clock()
        named = list(dict.fromkeys(report_ids))

        def with_cluster(conn: sa.Connection) -> list[str]:
            return named + [i for i in repo.cluster_report_ids(conn, cluster_id or "") if i not in named]

        with updating_reports(self.audit, named if cluster_id is None else with_cluster) as (conn, ids):
            rows = self._openable_reports(conn, ids, cluster_id)
            case_id = f"CASE-{now.year}-{repo.next_case_number(conn, now.year):04d}"
            names = repo.organisation_names(conn, {r.organisation_id for r in rows})
            facts = [_report_facts(row, names[row.organisation_id]) for row in rows]
            case_title = (title or rows[0].title).strip()
            if not case_title:
                raise CaseConflict("a case needs a title")
            record = advisory.draft(case_id, case_title, facts, now, cve_id)
            if repo.record_document(conn, record.id) is not None:
                raise CaseConflict(f"a record with id {record.id} is already stored; the case cannot take it")
            self._store_advisory(conn, record, tlp, now)
            repo.insert_case(
                conn,
                {
                    "id": case_id,
                    "title": case_title,
                    "state": CaseState.OPEN.value,
                    "tlp": tlp.value,
                    "advisory_id": record.id,
                    "opened_by": actor_name(actor),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            repo.link_reports(conn, case_id, [r.id for r in rows])
            self._move_reports(conn, actor, rows, (ReportState.COORDINATING,), f"coordinated in {case_id}", now)
            repo.link_record(conn, case_id, record.id)
            who = actor_name(actor)
            for organisation in sorted({r.organisation_id for r in rows}):
                repo.add_participant(conn, _participant(case_id, organisation, CaseRole.REPORTER, "reported", who, now))
            if isinstance(coordinator, Principal):
                org = coordinator.organisation.id
                repo.add_participant(conn, _participant(case_id, org, CaseRole.COORDINATOR, "opened", who, now))
            details = {"reports": [r.id for r in rows], "advisory": record.id, "tlp": tlp.value}
            self._record(conn, actor, case_id, "case.opened", "all", details, now, title=f"New case {case_id}")
        return self.view(actor, case_id)

    def add_reports(self, actor: Actor, case_id: str, report_ids: Sequence[str]) -> CaseView:
        """Link more validated reports: their organisations join as reporters and the embargoed advisory is drafted
        again from every report of the case (its packages, credits and CVE id kept)."""
        policy.require_coordinator(actor)
        now = self.clock()
        with updating_reports(self.audit, list(dict.fromkeys(report_ids))) as (conn, ids):
            row = self._case(conn, actor, case_id).row
            if row.state in (CaseState.PUBLISHED.value, CaseState.CLOSED_NO_ACTION.value):
                raise CaseConflict(f"{case_id} is {row.state}; no report can join it")
            added = self._openable_reports(conn, ids, None)
            repo.link_reports(conn, case_id, [r.id for r in added])
            self._move_reports(conn, actor, added, (ReportState.COORDINATING,), f"coordinated in {case_id}", now)
            every = repo.report_rows(conn, repo.linked_reports(conn, case_id))
            names = repo.organisation_names(conn, {r.organisation_id for r in every})
            stored = repo.record_document(conn, row.advisory_id)
            cves = [a for a in stored.doc.get("aliases", ()) if advisory.CVE_ID.match(a)]
            facts = [_report_facts(r, names[r.organisation_id]) for r in every]
            self._replace_advisory(conn, advisory.draft(case_id, row.title, facts, now, cves[0] if cves else None))
            who = actor_name(actor)
            known = {p.organisation_id for p in repo.participants(conn, case_id) if p.role == CaseRole.REPORTER}
            for organisation in sorted({r.organisation_id for r in added} - known):
                repo.add_participant(conn, _participant(case_id, organisation, CaseRole.REPORTER, "reported", who, now))
            repo.update_case(conn, case_id, updated_at=now)
            details = {"reports": [r.id for r in added]}
            self._record(conn, actor, case_id, "case.reports_added", "staff", details, now, notify=False)
        return self.view(actor, case_id)

    def _replace_advisory(
        self, conn: sa.Connection, osv: Any, tlp: Tlp | None = None, status: RecordStatus | None = None
    ) -> None:
        """The advisory's rows written again (its document, identifiers and affected packages) with a new label and
        status, or the ones it had, in the caller's transaction."""
        stored = repo.record_document(conn, osv.id)
        repo.delete_record(conn, osv.id)
        tlp = tlp or Tlp(stored.tlp)
        self._store_advisory(conn, osv, tlp, self.clock(), status or RecordStatus(stored.status))

    def _move_reports(
        self,
        conn: sa.Connection,
        actor: Actor,
        rows: Sequence[Any],
        targets: Sequence[ReportState],
        reason: str,
        now: datetime,
    ) -> None:
        """The reports follow their case along the report lifecycle (each move its table allows, audited)."""
        who = actor_name(actor)
        for row in rows:
            state = ReportState(row.state)
            for target in targets:
                if target not in REPORT_TRANSITIONS[state]:
                    continue
                change = report_transition(state, target, who, reason, now)
                details = {"from": change.source.value, "to": change.target.value, "reason": reason}
                self.audit.append(conn, who, "report.state", "report", row.id, details)
                state = target
            if state.value != row.state:
                repo.set_report_state(conn, row.id, state.value, now)

    def _openable_reports(self, conn: sa.Connection, ids: list[str], cluster_id: str | None) -> list[Any]:
        if not ids:
            raise CaseConflict("a case is opened from at least one report (or a duplicate cluster)")
        rows = repo.report_rows(conn, ids)
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise NotFound(f"no report with id {missing[0]!r}")
        unready = [r for r in rows if r.state not in OPENABLE_REPORT_STATES and r.id != cluster_id]
        if cluster_id is None and unready:
            raise CaseConflict(f"report {unready[0].id} is {unready[0].state}; a case is opened from validated reports")
        if cluster_id is not None and not any(r.state in OPENABLE_REPORT_STATES for r in rows):
            raise CaseConflict(f"cluster {cluster_id} has no validated report")
        taken = repo.reports_in_cases(conn, [r.id for r in rows])
        if taken:
            report_id, case_id = sorted(taken.items())[0]
            raise CaseConflict(f"report {report_id} is already in case {case_id}")
        return rows

    def _store_advisory(
        self, conn: sa.Connection, osv: Any, tlp: Tlp, now: datetime, status: RecordStatus = RecordStatus.EMBARGOED
    ) -> None:
        record = VulnerabilityRecord(
            osv=osv, provenance=Provenance(CASE_SOURCE, osv.id, None, now), tlp=tlp, status=status
        )
        plans = self.records.row_plans
        prepared = plans.prepare(record)
        plans.records.execute(conn, [prepared.record])
        plans.identifiers.execute(conn, prepared.identifiers)
        plans.affected.execute(conn, prepared.affected)
        # Partners' assets are matched against the advisory as it is now (embargoed: early-warning partners only).
        enqueue(conn, MATCH_RECORDS, {"record_ids": [osv.id]})

    # Routing ---------------------------------------------------------------------------------------------------

    def propose(self, actor: Actor, case_id: str) -> ProposalView:
        """Vendors for the case's packages, with the rule that matched each; packages nobody declared are listed."""
        policy.require_coordinator(actor)
        with self.engine.connect() as conn:
            case = self._case(conn, actor, case_id)
            purls, cpes, repositories = _subjects(repo.report_rows(conn, repo.linked_reports(conn, case_id)))
            keys = candidate_keys(purls, cpes, repositories)
            index = VendorIndex(_declaration(row) for row in repo.declarations_matching(conn, keys))
            proposal = index.propose(purls, cpes, repositories)
            names = repo.organisation_names(conn, {m.organisation_id for m in proposal.matches})
            on_case = {p.organisation_id for p in repo.participants(conn, case.row.id) if p.role == CaseRole.VENDOR}
        return ProposalView(
            case_id=case_id,
            matches=[
                MatchView(
                    organisation_id=m.organisation_id,
                    organisation=names.get(m.organisation_id, m.organisation_id),
                    subject=m.subject,
                    rule=m.rule,
                    on_case=m.organisation_id in on_case,
                )
                for m in proposal.matches
            ],
            no_vendor_on_file=proposal.no_vendor_on_file,
        )

    def add_participant(self, actor: Actor, case_id: str, organisation: str, role: CaseRole, reason: str) -> CaseView:
        """Confirm a proposed vendor, add one by hand, or name a critical-infrastructure partner for early warning."""
        policy.require_coordinator(actor)
        if not reason.strip():
            raise CaseConflict("adding a participant needs a reason (the matching rule, or why by hand)")
        now = self.clock()
        with self.audit.writing() as conn:
            case = self._case(conn, actor, case_id)
            org = repo.organisation_by_name_or_id(conn, organisation)
            if org is None:
                raise NotFound(f"no organisation {organisation!r}")
            _check_role_fits(role, OrgKind(org.kind), org.name)
            if role.value in repo.roles_of(conn, case_id, org.id):
                raise CaseConflict(f"{org.name} is already a {role.value} on {case_id}")
            repo.add_participant(conn, _participant(case_id, org.id, role, reason.strip(), actor_name(actor), now))
            if role is CaseRole.EARLY_WARNING:  # the partner's assets may now be told of the embargoed advisory
                enqueue(conn, MATCH_RECORDS, {"record_ids": [case.row.advisory_id]})
            kind = "case.vendor_added" if role is CaseRole.VENDOR else "case.participant_added"
            details = {"organisation": org.name, "role": role.value, "rule": reason.strip()}
            self._record(conn, actor, case_id, kind, org.id, details, now, title=f"{org.name} added to {case_id}")
            if role is CaseRole.VENDOR and case.row.state != CaseState.OPEN.value:
                self._first_notification(conn, case.row, now)
        return self.view(actor, case_id)

    def remove_participant(
        self, actor: Actor, case_id: str, organisation: str, role: CaseRole, reason: str
    ) -> CaseView:
        policy.require_coordinator(actor)
        if not reason.strip():
            raise CaseConflict("removing a participant needs a reason")
        now = self.clock()
        with self.audit.writing() as conn:
            self._case(conn, actor, case_id)
            org = repo.organisation_by_name_or_id(conn, organisation)
            if org is None or not repo.remove_participant(conn, case_id, org.id, role.value):
                raise NotFound(f"{organisation!r} is not a {role.value} on {case_id}")
            details = {"organisation": org.name, "role": role.value, "reason": reason.strip()}
            self._record(conn, actor, case_id, "case.participant_removed", "staff", details, now, notify=False)
        return self.view(actor, case_id)

    # Lifecycle and embargo ------------------------------------------------------------------------------------

    def move(self, actor: Actor, case_id: str, target: CaseState, reason: str) -> CaseView:
        policy.require_coordinator(actor)
        if target is CaseState.PUBLISHED:
            raise CaseConflict("a case is published through the publication gate (publish), not moved there")
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._case(conn, actor, case_id).row
            change = CASE_LIFECYCLE.transition(CaseState(row.state), target, actor_name(actor), reason, now)
            if target is CaseState.VENDORS_NOTIFIED:
                vendors = [p for p in repo.participants(conn, case_id) if p.role == CaseRole.VENDOR]
                if not vendors:
                    raise CaseConflict(f"{case_id} has no vendor to notify; confirm its vendors first")
            repo.update_case(conn, case_id, state=target.value, updated_at=now)
            details = {"from": change.source.value, "to": target.value, "reason": change.reason}
            self._record(conn, actor, case_id, "case.status_changed", "all", details, now, title=f"{case_id}: {target}")
            if target is CaseState.VENDORS_NOTIFIED:
                self._first_notification(conn, row, now)
        return self.view(actor, case_id)

    def _first_notification(self, conn: sa.Connection, row: Any, now: datetime) -> None:
        """The first vendor notification starts the default embargo clock (unless a date is already set)."""
        if row.first_notified_at is not None:
            return
        values: dict[str, Any] = {"first_notified_at": now}
        if row.public_at is None:
            default = self.embargo.default_date(now)
            values |= {"public_at": default.at, "public_tz": default.zone}
            details: dict[str, Any] = {"public_at": default.at.isoformat(), "zone": default.zone, "policy": "default"}
            details["days"] = self.embargo.default_days
            self._record(conn, None, row.id, "case.embargo_changed", "all", details, now, title=f"{row.id}: embargo")
        repo.update_case(conn, row.id, **values)

    def set_embargo(
        self,
        actor: Actor,
        case_id: str,
        local: datetime,
        zone: str,
        reason: str,
        agreed_by: Sequence[str] = (),
    ) -> CaseView:
        """Set the public date (wall-clock time in an IANA zone) or, once one is set, extend it (reason and who
        agreed required). A past date, an unknown zone or an extension without a reason is refused."""
        policy.require_coordinator(actor)
        now = self.clock()
        proposed = public_date(local, zone, now)
        with self.audit.writing() as conn:
            row = self._case(conn, actor, case_id).row
            if row.state in (CaseState.PUBLISHED.value, CaseState.CLOSED_NO_ACTION.value):
                raise CaseConflict(f"{case_id} is {row.state}; its embargo no longer applies")
            current = _public(row)
            kind = "set"
            if current is not None:
                proposed = self.embargo.extend(current, proposed, reason, agreed_by)
                kind = "extended"
            repo.update_case(conn, case_id, public_at=proposed.at, public_tz=proposed.zone, updated_at=now)
            details = {
                "change": kind,
                "public_at": proposed.at.isoformat(),
                "zone": proposed.zone,
                "reason": reason.strip(),
                "agreed_by": [a.strip() for a in agreed_by if a.strip()],
            }
            if current is not None:
                details["previous"] = current.at.isoformat()
            self._record(conn, actor, case_id, "case.embargo_changed", "all", details, now, title=f"{case_id}: embargo")
        return self.view(actor, case_id)

    # Vendors ---------------------------------------------------------------------------------------------------

    def state_status(
        self, actor: Actor, case_id: str, statement: VendorStatement, vendor: str | None = None
    ) -> VendorStatusView:
        """A vendor's status (the vendor itself, or staff on its behalf); a 'fixed' claim is checked against the
        advisory's affected versions and flagged if a fixed version is still affected."""
        policy.require_vendor_or_staff(actor)
        statement.check()
        now = self.clock()
        with self.audit.writing() as conn:
            case = self._case(conn, actor, case_id)
            vendor_id = self._speaking_for(conn, actor, case, vendor)
            self._check_owned(conn, vendor_id, statement.packages)
            entries = _advisory_entries(conn, case.row.advisory_id)
            chosen = _owned_entries(conn, vendor_id, statement.packages, entries)
            flags = patch_flags(statement.fixed_versions, chosen) if statement.status is VendorStatus.FIXED else []
            row = {
                "case_id": case_id,
                "organisation_id": vendor_id,
                "status": statement.status.value,
                "justification": statement.justification.value if statement.justification else None,
                "fixed_versions": list(statement.fixed_versions),
                "fix_commits": list(statement.fix_commits),
                "advisory_url": statement.advisory_url,
                "note": statement.note,
                "packages": list(statement.packages),
                "flags": [{"package": f.package, "version": f.version, "reason": f.reason} for f in flags],
                "author": actor_name(actor),
                "at": now,
            }
            repo.add_status(conn, row)
            if statement.status is VendorStatus.FIXED and statement.fixed_versions:
                # Issue 17: the case's reproduced proofs of concept run against the version said to be fixed; a
                # fix that still triggers is flagged on this status (the job's kind is wired in `workers.py`).
                fix = {"case_id": case_id, "vendor_id": vendor_id, "version": statement.fixed_versions[0]}
                job_queue.enqueue(conn, VERIFY_FIX_JOB, fix | {"report_ids": repo.linked_reports(conn, case_id)})
            if statement.status is VendorStatus.FIXED and case.row.state == CaseState.VENDORS_NOTIFIED.value:
                repo.update_case(conn, case_id, state=CaseState.FIX_IN_PROGRESS.value, updated_at=now)
            details = {"status": statement.status.value, "flags": row["flags"]}
            # The vendor's own thread and staff: other vendors never learn it.
            self._record(
                conn, actor, case_id, "case.vendor_status", vendor_id, details, now, title=f"{case_id}: status"
            )
            name = repo.organisation_names(conn, {vendor_id})[vendor_id]
        return VendorStatusView.model_validate(row | {"organisation": name})

    def _speaking_for(self, conn: sa.Connection, actor: Actor, case: _Case, vendor: str | None) -> str:
        if vendor is None:
            own = policy.organisation_of(actor)
            if own is None or is_staff(actor):
                raise CaseConflict("name the vendor whose status this is")
            vendor_id = own
        else:
            org = repo.organisation_by_name_or_id(conn, vendor)
            if org is None:
                raise NotFound(f"no organisation {vendor!r}")
            vendor_id = org.id
        if not policy.may_speak_for(actor, case.participation, vendor_id):
            raise Forbidden("a status is stated by the vendor itself (or by clearinghouse staff for it)")
        if CaseRole.VENDOR.value not in repo.roles_of(conn, case.row.id, vendor_id):
            raise CaseConflict(f"that organisation is not a vendor on {case.row.id}")
        return vendor_id

    def _check_owned(self, conn: sa.Connection, vendor_id: str, packages: Sequence[str]) -> None:
        """A vendor speaks only for packages it declared it owns."""
        if not packages:
            return
        index = VendorIndex(_declaration(row) for row in repo.declarations(conn, vendor_id))
        for purl in packages:
            if not index.for_purl(purl):
                raise VendorStatementRefused(f"the vendor has not declared that it owns {purl} (see vendor declare)")

    # Messages --------------------------------------------------------------------------------------------------

    def post_message(
        self,
        actor: Actor,
        case_id: str,
        body: str,
        to_vendor: str | None = None,
        attachments: Sequence[NewAttachment] = (),
    ) -> MessagePosted:
        """A plain-text message to everyone on the case or to one vendor's private thread."""
        policy.require_case_writer(actor)
        text = body.strip()
        if not text or len(text) > MAX_MESSAGE_CHARS or "\x00" in text:
            raise CaseConflict(f"a message is 1 to {MAX_MESSAGE_CHARS:,} characters of plain text")
        files = _decoded(attachments)
        now = self.clock()
        with self.audit.writing() as conn:
            case = self._case(conn, actor, case_id)
            if not policy.may_post(actor, case.participation):
                raise Forbidden("partners named for early warning read the case; they do not post to it")
            thread = self._thread(conn, actor, case, to_vendor)
            meta = [
                {"name": n, "media_type": t, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()}
                for n, t, c in files
            ]
            message_id = repo.add_message(
                conn,
                {
                    "case_id": case_id,
                    "thread": thread,
                    "author": actor_name(actor),
                    "author_organisation_id": policy.organisation_of(actor),
                    "body": text,
                    "attachments": meta,
                    "at": now,
                },
            )
            repo.add_attachments(
                conn,
                [
                    {
                        "message_id": message_id,
                        "name": m["name"],
                        "media_type": m["media_type"],
                        "sha256": m["sha256"],
                        "content": c,
                    }
                    for m, (_, _, c) in zip(meta, files, strict=True)
                ],
            )
            audience = "all" if thread is None else thread
            details = {"message": message_id, "attachments": len(meta)}
            self._record(
                conn,
                actor,
                case_id,
                "case.message",
                audience,
                details,
                now,
                title=f"{case_id}: message",
                timeline=False,
            )
        return MessagePosted(id=message_id, case_id=case_id, to="all" if thread is None else thread)

    def attachments(self, actor: Actor, message_id: int) -> AttachmentList:
        """A message's attachments, for whoever reads the message (others: 404, as for a missing message)."""
        policy.require_case_reader(actor)
        missing = NotFound(f"no message with id {message_id}")
        with self.engine.connect() as conn:
            message = repo.message_row(conn, message_id)
            if message is None:
                raise missing
            try:
                case = self._case(conn, actor, message.case_id)
            except NotFound:
                raise missing from None
            if not policy.sees_thread(actor, case.participation, message.thread):
                raise missing
            files = repo.attachments_of(conn, message_id)
        return AttachmentList(
            message_id=message_id,
            case_id=message.case_id,
            attachments=[
                AttachmentContent(
                    name=f.name,
                    media_type=f.media_type,
                    sha256=f.sha256,
                    content_base64=base64.b64encode(f.content).decode(),
                )
                for f in files
            ],
        )

    def _thread(self, conn: sa.Connection, actor: Actor, case: _Case, to_vendor: str | None) -> str | None:
        """Staff and the reporter write to everyone or to one vendor; a vendor to everyone or its own thread."""
        if to_vendor is None:
            return None
        org = repo.organisation_by_name_or_id(conn, to_vendor)
        if org is None or CaseRole.VENDOR.value not in repo.roles_of(conn, case.row.id, org.id):
            raise NotFound(f"no vendor {to_vendor!r} on {case.row.id}")
        if not is_staff(actor) and org.id != policy.organisation_of(actor):
            raise Forbidden("a vendor's private thread is between that vendor and the clearinghouse")
        return str(org.id)

    # Publication -----------------------------------------------------------------------------------------------

    def _gate(self, conn: sa.Connection, row: Any) -> GateView:
        decision = self._gate_for(conn, row).decide(self.clock())
        return GateView(open=decision.open, reason=decision.reason, opens_at=decision.opens_at)

    def _gate_for(self, conn: sa.Connection, row: Any) -> PublicationGate:
        vendors = [p for p in repo.participants(conn, row.id) if p.role == CaseRole.VENDOR]
        statuses = repo.current_statuses(conn, row.id)
        judged: dict[str, VendorStatus] = {}
        for vendor in vendors:
            current = statuses.get(vendor.organisation_id)
            status = VendorStatus(current.status) if current is not None else VendorStatus.UNKNOWN
            if status is VendorStatus.FIXED and current is not None and current.flags:
                status = VendorStatus.AFFECTED  # a fix still inside an affected range is no fix
            judged[vendor.organisation] = status
        return PublicationGate(_public(row), judged)

    def publish(
        self, actor: Actor, case_id: str, override_reason: str | None = None, cve_id: str | None = None
    ) -> PublicationView:
        """Publish in one transaction: the advisory becomes published and TLP:CLEAR, with the vendors' fixes, and
        is produced as OSV, CSAF 2.0 and CVE JSON 5; refused with the reason and the opening date before the gate
        opens."""
        coordinator = policy.require_coordinator(actor)
        advisory.check_cve(cve_id)
        now = self.clock()
        admin = isinstance(coordinator, Operator) or coordinator.role is Role.ADMIN
        with updating_reports(self.audit, lambda conn: repo.linked_reports(conn, case_id)) as (conn, linked_ids):
            row = self._case(conn, actor, case_id).row
            if CaseState(row.state) not in PUBLISHABLE:
                raise CaseConflict(f"{case_id} is {row.state}; a case is published once its vendors are notified")
            decision = self._gate_for(conn, row).require_open(now, override_reason, admin)
            stored = repo.record_document(conn, row.advisory_id)
            document = advisory.published(stored.doc, _publication_facts(conn, row), now, cve_id)
            self._replace_advisory(conn, document, Tlp.CLEAR, RecordStatus.PUBLISHED)  # queues partners' matching
            linked = repo.report_rows(conn, linked_ids)
            moves = (ReportState.FIXED, ReportState.PUBLISHED)
            self._move_reports(conn, actor, linked, moves, f"{case_id} published as {row.advisory_id}", now)
            repo.update_case(
                conn, case_id, state=CaseState.PUBLISHED.value, published_at=now, tlp=Tlp.CLEAR.value, updated_at=now
            )
            details = {"reason": decision.reason, "record": row.advisory_id, "override": override_reason is not None}
            self._record(conn, actor, case_id, "case.published", "all", details, now, title=f"{case_id} published")
        # Now public, the advisory joins its vulnerability's alias group and takes its KEV mark (their own writes).
        self.records.regroup({row.advisory_id})
        self.records.mark_known_exploited({row.advisory_id})
        published = self.records.get(row.advisory_id)
        documents: dict[str, dict[str, Any]] = {}
        not_exported: dict[str, str] = {}
        for export_format in ExportFormat:
            try:
                documents[export_format.value] = dump_record(export_format, published)
            except ClearinghouseError as exc:
                not_exported[export_format.value] = exc.message
        return PublicationView(
            case_id=case_id,
            record_id=published.id,
            reason=decision.reason,
            tlp=published.tlp.value,
            documents=documents,
            not_exported=not_exported,
        )

    # Declarations ----------------------------------------------------------------------------------------------

    def declare(
        self, actor: Actor, kind: DeclarationKind, pattern: str, organisation: str | None = None
    ) -> DeclarationView:
        """What a vendor owns: a vendor's user for its own organisation, staff for any vendor."""
        declarer = policy.require_vendor_or_staff(actor)
        checked = declaration("", kind, pattern)  # a bad pattern is refused before anything is looked up
        now = self.clock()
        with self.audit.writing() as conn:
            org_id = self._declaring_for(conn, declarer, organisation)
            item = replace(checked, organisation_id=org_id)
            if repo.declaration_exists(conn, org_id, kind.value, item.pattern):
                raise CaseConflict(f"{kind.value} {item.pattern!r} is already declared")
            row = {
                "organisation_id": org_id,
                "kind": kind.value,
                "pattern": item.pattern,
                "match_key": item.match_key,
                "declared_by": actor_name(actor),
                "declared_at": now,
            }
            declaration_id = repo.add_declaration(conn, row)
            self.audit.append(
                conn,
                actor_name(actor),
                "vendor.declared",
                "organisation",
                org_id,
                {"kind": kind.value, "pattern": item.pattern},
            )
            name = repo.organisation_names(conn, {org_id})[org_id]
        return DeclarationView(
            id=declaration_id,
            organisation=name,
            **{k: row[k] for k in ("organisation_id", "kind", "pattern")},
            declared_at=now,
        )

    def _declaring_for(self, conn: sa.Connection, declarer: Principal | Operator, organisation: str | None) -> str:
        if not is_staff(declarer):
            assert isinstance(declarer, Principal)  # the operator is staff
            if organisation is not None and organisation not in (declarer.organisation.id, declarer.organisation.name):
                raise Forbidden("a vendor declares what its own organisation owns")
            return declarer.organisation.id
        if organisation is None:
            raise CaseConflict("name the vendor organisation the declaration is for")
        org = repo.organisation_by_name_or_id(conn, organisation)
        if org is None:
            raise NotFound(f"no organisation {organisation!r}")
        if OrgKind(org.kind) not in policy.VENDOR_KINDS:
            raise CaseConflict(f"{org.name} is not a vendor organisation")
        return str(org.id)

    def declarations(self, actor: Actor, organisation: str | None = None) -> DeclarationList:
        """A vendor sees its own declarations; staff any organisation's (or all)."""
        reader = policy.require_case_reader(actor)
        with self.engine.connect() as conn:
            if is_staff(reader):
                org = repo.organisation_by_name_or_id(conn, organisation) if organisation else None
                if organisation and org is None:
                    raise NotFound(f"no organisation {organisation!r}")
                rows = repo.declarations(conn, org.id if org is not None else None)
            else:
                rows = repo.declarations(conn, policy.organisation_of(reader))
            names = repo.organisation_names(conn, {r.organisation_id for r in rows})
        return DeclarationList(
            declarations=[
                DeclarationView(
                    id=r.id,
                    organisation_id=r.organisation_id,
                    organisation=names[r.organisation_id],
                    kind=r.kind,
                    pattern=r.pattern,
                    declared_at=_utc(r.declared_at) or r.declared_at,
                )
                for r in rows
            ]
        )

    # Recording -------------------------------------------------------------------------------------------------

    def _record(
        self,
        conn: sa.Connection,
        actor: Actor | None,
        case_id: str,
        kind: str,
        audience: str,
        details: dict[str, Any],
        now: datetime,
        title: str = "",
        notify: bool = True,
        timeline: bool = True,
    ) -> None:
        """The audit entry, the timeline event (read by `audience`: "all", "staff" or one organisation) and the
        notifications, all in the caller's transaction."""
        who = actor_name(actor) if actor is not None else "clearinghouse"
        self.audit.append(conn, who, kind, SUBJECT, case_id, details)
        if timeline:
            repo.add_event(
                conn,
                {"case_id": case_id, "at": now, "actor": who, "kind": kind, "audience": audience, "details": details},
            )
        if notify:
            announce(conn, Announcement(kind, case_id, audience, title or f"{case_id}: {kind}", details, now))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _public(row: Any) -> PublicDate | None:
    at = _utc(row.public_at)
    return PublicDate(at, row.public_tz or "UTC") if at is not None else None


def _participant(case_id: str, org_id: str, role: CaseRole, rule: str, who: str, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "organisation_id": org_id,
        "role": role.value,
        "rule": rule,
        "added_by": who,
        "added_at": now,
    }


def _check_role_fits(role: CaseRole, kind: OrgKind, name: str) -> None:
    fits = {
        CaseRole.VENDOR: {OrgKind.VENDOR, OrgKind.AI_DEVELOPER},
        CaseRole.EARLY_WARNING: {OrgKind.CRITICAL_INFRASTRUCTURE},
        CaseRole.COORDINATOR: {OrgKind.CLEARINGHOUSE},
        CaseRole.REPORTER: set(OrgKind),
    }
    if kind not in fits[role]:
        raise CaseConflict(f"{name} is a {kind.value} organisation; it cannot be a {role.value} on a case")


def _report_facts(row: Any, organisation: str) -> advisory.ReportFacts:
    finding = row.submission or {}
    return advisory.ReportFacts(
        organisation=organisation,
        title=row.title,
        description=str(finding.get("description") or row.title),
        packages=list(finding.get("packages") or ()),
        cwes=list(finding.get("cwes") or ()),
        provenance=dict(row.provenance or {}),
    )


def _subjects(rows: Sequence[Any]) -> tuple[list[str], list[str], list[str]]:
    """The purls, CPEs and repositories the reports name (a package without a purl gets one from its ecosystem)."""
    purls: list[str] = []
    cpes: list[str] = []
    repositories: list[str] = []
    for row in rows:
        finding = row.submission or {}
        for package in finding.get("packages") or ():
            purl = package.get("purl")
            name = str(package.get("name") or "")
            if purl:
                purls.append(str(purl))
            elif name.startswith("cpe:"):
                cpes.append(name)
            elif "://" in name or name.startswith(("github.com/", "gitlab.com/")):
                repositories.append(name)
            elif name:
                purls.append(_purl_of(package.get("ecosystem"), name))
    return purls, cpes, repositories


_PURL_TYPES = {ecosystem: purl_type for purl_type, ecosystem in PURL_ECOSYSTEMS.items()}


def _purl_of(ecosystem: Any, name: str) -> str:
    """A package named without a purl, as one (percent-encoded), for routing."""
    purl_type = _PURL_TYPES.get(str(ecosystem), "generic")
    separator = ":" if purl_type == "maven" else "/"
    namespace, _, last = name.rpartition(separator)
    return str(PackageURL(purl_type, namespace or None, last).to_string())


def _declaration(row: Any) -> Declaration:
    return from_match_key(row.organisation_id, row.pattern, row.match_key)


def _advisory_entries(conn: sa.Connection, record_id: str) -> list[Affected]:
    stored = repo.record_document(conn, record_id)
    return [Affected.model_validate(entry) for entry in (stored.doc.get("affected") or ())] if stored else []


def _entry_in(entry: Affected, purls: Sequence[str]) -> bool:
    if entry.package is None:
        return False
    keys = {package_key(p) for p in purls}
    if entry.package.purl and package_key(entry.package.purl) in keys:
        return True
    return any(same_package(entry, entry.package.ecosystem, p.name) and p.namespace == "" for p in keys)


def _entry_purl(entry: Affected) -> str:
    assert entry.package is not None  # callers pass entries naming a package
    return entry.package.purl or _purl_of(entry.package.ecosystem, entry.package.name)


def _owned_entries(
    conn: sa.Connection, vendor_id: str, packages: Sequence[str], entries: Sequence[Affected]
) -> list[Affected]:
    """The advisory entries a vendor's statement is about: the packages it names, else those its declarations
    match; a vendor without declarations (added by hand) speaks for every entry."""
    named = [e for e in entries if e.package is not None]
    if packages:
        return [e for e in named if _entry_in(e, packages)]
    declared = repo.declarations(conn, vendor_id)
    if not declared:
        return named
    index = VendorIndex(_declaration(row) for row in declared)
    return [e for e in named if index.matching(_entry_purl(e))]


def _package_of(entry: Affected) -> str:
    assert entry.package is not None
    return f"{entry.package.ecosystem}/{entry.package.name}"


def _publication_facts(conn: sa.Connection, row: Any) -> advisory.VendorFacts:
    """What the vendors' current statements change in the published advisory: unflagged fixed versions per
    package, and the packages only not-affected vendors own (with their VEX justification)."""
    entries = _advisory_entries(conn, row.advisory_id)
    names = {p.organisation_id: p.organisation for p in repo.participants(conn, row.id) if p.role == CaseRole.VENDOR}
    fixes: dict[str, list[str]] = {}
    not_affected: dict[str, dict[str, str]] = {}
    still_affected: set[str] = set()
    for vendor_id, status in repo.current_statuses(conn, row.id).items():
        if vendor_id not in names:
            continue  # removed from the case
        for entry in _owned_entries(conn, vendor_id, status.packages, entries):
            package = _package_of(entry)
            if status.status == VendorStatus.NOT_AFFECTED.value:
                not_affected[package] = {"vendor": names[vendor_id], "justification": str(status.justification)}
                continue
            still_affected.add(package)
            if status.status == VendorStatus.FIXED.value and not status.flags:
                fixes.setdefault(package, []).extend(status.fixed_versions)
    return advisory.VendorFacts(fixes, {k: v for k, v in not_affected.items() if k not in still_affected})


def _decoded(attachments: Sequence[NewAttachment]) -> list[tuple[str, str, bytes]]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise CaseAttachmentTooLarge(f"at most {MAX_ATTACHMENTS} attachments per message")
    files = []
    for item in attachments:
        if len(item.content_base64) > (MAX_ATTACHMENT_BYTES * 4) // 3 + 4:
            raise CaseAttachmentTooLarge(f"attachment {item.name!r} is over the {MAX_ATTACHMENT_BYTES:,}-byte limit")
        try:
            content = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
            raise CaseConflict(f"attachment {item.name!r} is not valid base64") from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise CaseAttachmentTooLarge(f"attachment {item.name!r} is over the {MAX_ATTACHMENT_BYTES:,}-byte limit")
        name = item.name.strip()
        if not name or len(name) > 200 or any(c in name for c in "/\\\x00"):
            raise CaseConflict(f"attachment name {item.name!r} must be a plain file name")
        files.append((name, item.media_type or "application/octet-stream", content))
    if len({name for name, _, _ in files}) != len(files):
        raise CaseConflict("two attachments of one message share a name")
    return files
