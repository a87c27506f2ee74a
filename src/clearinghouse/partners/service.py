"""Partners' assets over the store: upload (parse, match, alert in one transaction), listings, matches with their
reasons, alerts and their acknowledgement, VEX export, and the `partners.match_records` job that matches records
just written against the components they can affect.

Every read asks `policy.partners`: an asset of another organisation is reported missing, and a match or alert shows
a record only where the partner may read it. Matching is `RecordStore.match_packages`, the evaluator of
`clearinghouse affected`, so an SBOM's matches are exactly what `affected` answers for each component.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import Forbidden, InvalidRecord, InvalidVersion, Location, NotFound, UnknownEcosystem
from clearinghouse.formats import csaf_vex, cyclonedx, spdx
from clearinghouse.formats.sbom import Component, ComponentProblem, Sbom, VexStatement
from clearinghouse.identity.model import Organisation, OrgKind, Principal
from clearinghouse.ingest.pipeline import MATCH_RECORDS
from clearinghouse.notify import Event, publish
from clearinghouse.notify.repository import subscriptions_for
from clearinghouse.partners import repository
from clearinghouse.partners.rules import (
    ALERT_LIFECYCLE,
    AlertState,
    alert_title,
    match_reasons,
    package_of,
    vex_justification,
)
from clearinghouse.partners.views import (
    AlertView,
    AssetView,
    ComponentView,
    EmbargoTerms,
    MatchView,
    ProblemView,
    UploadView,
    VexDocument,
)
from clearinghouse.policy import Actor, Operator, actor_name
from clearinghouse.policy.partners import (
    asset_scope,
    partner_sees_record,
    require_asset_owner,
    require_asset_reader,
    sees_every_match,
)
from clearinghouse.records.model import RecordStatus, Tlp
from clearinghouse.records.versions import parse_version
from clearinghouse.store.audit import AuditEvent, AuditLog
from clearinghouse.store.records import PackageVersion, RecordStore

SUBJECT = "asset"
MAX_PROBLEMS_KEPT = 1000  # problems stored and shown per upload (the count is always exact)
MAX_NAME_CHARS = 200
Clock = Callable[[], datetime]
Handler = Callable[[dict[str, Any]], object]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


def parse_sbom(data: bytes) -> Sbom:
    """CycloneDX (JSON with ``bomFormat``, or XML) or SPDX 2.3 (JSON with ``spdxVersion``, or tag-value)."""
    head = data.lstrip()[:1]
    if not head:
        raise InvalidRecord("the SBOM is empty", Location(field="$"))
    if head == b"<" or (head == b"{" and b'"spdxVersion"' not in data):
        return cyclonedx.parse(data)
    return spdx.parse(data)


@dataclass(frozen=True)
class _Candidate:
    """A stored (or about to be stored) component that names a package some record may affect."""

    asset_id: str
    position: int
    ref: str
    package: PackageVersion


@dataclass
class _Evaluated:
    rows: list[dict[str, Any]]  # asset_matches rows
    refused: list[ComponentProblem]  # versions no range could judge
    by_pair: dict[tuple[str, str], list[str]]  # (asset id, record id) -> component refs


class AssetService:
    def __init__(self, engine: sa.Engine, records: RecordStore | None = None, clock: Clock = _utc_now) -> None:
        self.engine = engine
        self.records = records or RecordStore(engine)
        self.audit = AuditLog(engine)
        self.clock = clock

    # --- upload ----------------------------------------------------------------------------------------------

    def upload(
        self, actor: Actor, data: bytes, name: str | None = None, organisation: Organisation | None = None
    ) -> UploadView:
        """Parse, keep every good component, match them and raise alerts, all in one transaction. The API's
        principal uploads for its own organisation; the operator (CLI) names the partner organisation."""
        owner = self._owner(actor, organisation)
        sbom = parse_sbom(data)
        asset_name = (name or sbom.name or "unnamed asset").strip()[:MAX_NAME_CHARS] or "unnamed asset"
        asset_id = str(uuid.uuid4())
        now = self.clock()
        component_rows, candidates = _component_rows(asset_id, sbom.components)
        evaluated = self._evaluate(candidates, None, now)
        unjudged = _unparseable_versions(candidates)
        refused = [p for p in evaluated.refused if (p.ref, p.field) not in {(u.ref, u.field) for u in unjudged}]
        problems = [*sbom.problems, *unjudged, *refused]
        kept_problems = [_problem_view(p) for p in problems[:MAX_PROBLEMS_KEPT]]
        row: dict[str, Any] = {
            "id": asset_id,
            "organisation_id": owner.id,
            "name": asset_name,
            "format": sbom.format,
            "sha256": hashlib.sha256(data).hexdigest(),
            "uploaded_by": actor_name(actor),
            "uploaded_at": now,
            "component_count": len(component_rows),
            "problem_count": len(problems),
            "problems": kept_problems,
        }
        with self.audit.writing() as conn:
            repository.insert_asset(conn, row, component_rows)
            repository.insert_matches(conn, evaluated.rows)
            raised = self._raise_alerts(conn, evaluated.by_pair, now)
            self.audit.append(
                conn,
                actor_name(actor),
                "asset.uploaded",
                SUBJECT,
                asset_id,
                {
                    "organisation": owner.id,
                    "format": sbom.format,
                    "components": len(component_rows),
                    "problems": len(problems),
                    "alerts": raised,
                },
            )
        visible = self._visible_pairs(actor, owner.id, evaluated.by_pair)
        return UploadView(
            asset=_asset_view(row),
            kept=len(component_rows),
            problems=kept_problems,
            problem_count=len(problems),
            matchable=len(candidates),
            matches=sum(len(refs) for pair, refs in evaluated.by_pair.items() if pair in visible),
            alerts=raised,
        )

    def _owner(self, actor: Actor, organisation: Organisation | None) -> Organisation:
        owner = require_asset_owner(actor)
        if isinstance(owner, Principal):
            return owner.organisation
        if organisation is None:
            raise Forbidden("the operator uploads an asset for a named partner organisation")
        if organisation.kind is not OrgKind.CRITICAL_INFRASTRUCTURE:
            raise Forbidden(f"{organisation.name} is not a critical-infrastructure partner organisation")
        return organisation

    def _visible_pairs(
        self, actor: Actor, organisation_id: str, pairs: Iterable[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        pairs = list(pairs)
        if sees_every_match(actor):
            return set(pairs)
        with self.engine.connect() as conn:
            labels = repository.record_labels(conn, {record for _, record in pairs})
            early = repository.early_warning(conn, labels)
        return {
            (asset, record)
            for asset, record in pairs
            if _partner_sees(labels[record], (record, organisation_id) in early)
        }

    # --- matching --------------------------------------------------------------------------------------------

    def _evaluate(self, candidates: Sequence[_Candidate], only: set[str] | None, now: datetime) -> _Evaluated:
        """Match each candidate (only against records in `only` when given)."""
        answers = self.records.match_packages({c.package for c in candidates}, only)
        evaluated = _Evaluated([], [], {})
        for candidate in candidates:
            answer = answers[candidate.package]
            if answer.refusal is not None:
                evaluated.refused.append(ComponentProblem(candidate.ref, "version", answer.refusal.message))
            entries: dict[str, list[int]] = {}
            for record_id, position in answer.entries:
                if only is None or record_id in only:
                    entries.setdefault(record_id, []).append(position)
            for record_id, positions in entries.items():
                evaluated.rows.append(
                    {
                        "asset_id": candidate.asset_id,
                        "position": candidate.position,
                        "record_id": record_id,
                        "entries": positions,
                        "matched_at": now,
                    }
                )
                evaluated.by_pair.setdefault((candidate.asset_id, record_id), []).append(candidate.ref)
        return evaluated

    def match_records(self, record_ids: Sequence[str]) -> int:
        """Re-match the records just written (imported, changed, published) against only the components they can
        affect, found by (ecosystem, name); raise the alerts now due. Returns the alerts raised."""
        ids = set(record_ids)
        now = self.clock()
        with self.engine.connect() as conn:
            rows = repository.components_of_packages(conn, repository.packages_of_records(conn, sorted(ids)))
        candidates = [
            _Candidate(row.asset_id, row.position, row.ref, PackageVersion(row.ecosystem, row.name, row.version))
            for row in rows
        ]
        evaluated = self._evaluate(candidates, ids, now)
        with self.audit.writing() as conn:
            repository.replace_matches(conn, ids, evaluated.rows)
            return self._raise_alerts(conn, evaluated.by_pair, now)

    # --- alerts ----------------------------------------------------------------------------------------------

    def _raise_alerts(self, conn: sa.Connection, pairs: dict[tuple[str, str], list[str]], now: datetime) -> int:
        """An alert for each (asset, record) pair the partner may see and was not told of; per asset, one audit
        entry and one `alert.raised` notification naming its new alerts (a thousand new records must not send a
        partner a thousand messages)."""
        if not pairs:
            return 0
        record_ids = {record for _, record in pairs}
        labels = repository.record_labels(conn, record_ids)
        early = repository.early_warning(conn, labels)
        owners = repository.asset_owners(conn, {asset for asset, _ in pairs})
        done = repository.alerted_pairs(conn, record_ids)
        by_asset: dict[str, list[dict[str, Any]]] = {}
        for (asset_id, record_id), refs in sorted(pairs.items()):
            organisation_id, _ = owners[asset_id]
            embargo = early.get((record_id, organisation_id))
            if (asset_id, record_id) in done or not _partner_sees(labels[record_id], embargo is not None):
                continue
            by_asset.setdefault(asset_id, []).append(
                {
                    "id": str(uuid.uuid4()),
                    "organisation_id": organisation_id,
                    "asset_id": asset_id,
                    "record_id": record_id,
                    "state": AlertState.OPEN.value,
                    "tlp": labels[record_id][0],
                    "components": sorted(set(refs)),
                    "embargo": embargo,
                    "raised_at": now,
                }
            )
        rows = [row for raised in by_asset.values() for row in raised]
        repository.insert_alerts(conn, rows)
        self.audit.append_many(
            conn,
            [
                AuditEvent(
                    "matching",
                    "alerts.raised",
                    SUBJECT,
                    asset_id,
                    {"alerts": [{"id": r["id"], "record": r["record_id"]} for r in raised]},
                )
                for asset_id, raised in by_asset.items()
            ],
        )
        # `publish` looks an event's audience's subscriptions up each time: only organisations with some get events.
        subscribed = {row.organisation_id for row in subscriptions_for(conn, {org for org, _ in owners.values()})}
        for asset_id, raised in by_asset.items():
            organisation_id, asset_name = owners[asset_id]
            if organisation_id in subscribed:
                publish(conn, _alert_event(asset_id, asset_name, raised, labels, now))
        return len(rows)

    def alerts(self, actor: Actor, state: AlertState | None = None) -> list[AlertView]:
        require_asset_reader(actor)
        scope = asset_scope(actor)
        with self.engine.connect() as conn:
            rows = repository.list_alerts(conn, None if scope.every_organisation else scope.organisation_id, state)
        return [_alert_view(row) for row in rows if scope.admits(row.organisation_id)]

    def acknowledge(self, actor: Actor, alert_id: str, note: str) -> AlertView:
        owner = require_asset_owner(actor)
        now = self.clock()
        with self.audit.writing() as conn:
            row = repository.alert(conn, alert_id)
            if row is None or not (isinstance(owner, Operator) or owner.organisation.id == row.organisation_id):
                raise NotFound(f"no alert with id {alert_id!r}")
            change = ALERT_LIFECYCLE.transition(
                AlertState(row.state), AlertState.ACKNOWLEDGED, actor_name(actor), note, now
            )
            repository.acknowledge(conn, alert_id, change.target.value, now, change.actor)
            self.audit.append(
                conn, change.actor, "alert.acknowledged", "alert", alert_id, {"from": change.source, "reason": note}
            )
            updated = repository.alert(conn, alert_id)
        if updated is None:
            raise NotFound(f"no alert with id {alert_id!r}")
        return _alert_view(updated)

    # --- reading ---------------------------------------------------------------------------------------------

    def list_assets(self, actor: Actor) -> list[AssetView]:
        require_asset_reader(actor)
        scope = asset_scope(actor)
        with self.engine.connect() as conn:
            rows = repository.list_assets(conn, None if scope.every_organisation else scope.organisation_id)
        return [_asset_view(row._asdict()) for row in rows if scope.admits(row.organisation_id)]

    def asset(self, actor: Actor, asset_id: str) -> AssetView:
        return _asset_view(self._readable(actor, asset_id)._asdict())

    def _readable(self, actor: Actor, asset_id: str) -> sa.Row[Any]:
        require_asset_reader(actor)
        with self.engine.connect() as conn:
            row = repository.asset(conn, asset_id)
        if row is None or not asset_scope(actor).admits(row.organisation_id):
            raise NotFound(f"no asset with id {asset_id!r}")
        return row

    def matches(self, actor: Actor, asset_id: str) -> list[MatchView]:
        """The asset's matches the actor may see, each with the record's TLP and why it matches."""
        asset = self._readable(actor, asset_id)
        with self.engine.connect() as conn:
            rows = repository.matches(conn, asset_id)
            early = repository.early_warning(conn, {row.record_id: (row.tlp, row.status, None) for row in rows})
            components = {c.position: c for c in repository.components(conn, asset_id, {r.position for r in rows})}
        if not sees_every_match(actor):
            rows = [
                r for r in rows if _partner_sees((r.tlp, r.status, None), (r.record_id, asset.organisation_id) in early)
            ]
        records = {r.id: r for r in self.records.many(sorted({row.record_id for row in rows}))}
        views: list[MatchView] = []
        for row in rows:
            component = components[row.position]
            record = records[row.record_id]
            version = PackageVersion(component.ecosystem, component.name, component.version).version or ""
            reasons = [
                reason
                for position in row.entries
                for reason in match_reasons((record.osv.affected or [])[position], position, version)
            ]
            views.append(
                MatchView(
                    component=_component_view(component),
                    record_id=row.record_id,
                    aliases=list(record.osv.aliases or ()),
                    summary=record.osv.summary,
                    tlp=row.tlp,
                    status=row.status,
                    reasons=reasons,
                )
            )
        return views

    def vex(self, actor: Actor, asset_id: str, format_: str) -> VexDocument:
        """The asset's VEX: CycloneDX 1.6 (``cyclonedx``) or CSAF 2.0 with the VEX profile (``csaf``)."""
        asset = self._readable(actor, asset_id)
        matches = self.matches(actor, asset_id)
        with self.engine.connect() as conn:
            vendors = repository.vendor_statements(conn, {match["record_id"] for match in matches})
        statements = [_statement(match, vendors.get(match["record_id"], [])) for match in matches]
        if format_ == "csaf":
            labels = [Tlp(match["tlp"]) for match in matches]
            highest = max(labels, key=list(Tlp).index, default=Tlp.CLEAR)
            return VexDocument.model_validate(csaf_vex.dump(asset.name, asset.id, statements, highest, self.clock()))
        return VexDocument.model_validate(cyclonedx.dump_vex(asset.name, asset.id, statements))


_EVENT_ALERTS = 100  # alerts an event names one by one (the rest are counted; the API lists them all)


def _alert_event(
    asset_id: str,
    asset_name: str,
    raised: list[dict[str, Any]],
    labels: dict[str, tuple[str, str, str | None]],
    now: datetime,
) -> Event:
    """The notification of an asset's new alerts: the subject is the first alert's id, the body names each alert
    (record, TLP, the components affected, embargo terms for early warning)."""
    first = raised[0]
    summary = labels[first["record_id"]][2]
    title = alert_title(first["record_id"], summary, asset_name, len(first["components"]))
    if len(raised) > 1:
        title = f"{len(raised)} new alerts on {asset_name}, among them {title}"[:500]
    alerts = [
        {
            "alert_id": row["id"],
            "record_id": row["record_id"],
            "tlp": row["tlp"],
            "components": row["components"][:20],
            "embargo": row["embargo"],
        }
        for row in raised[:_EVENT_ALERTS]
    ]
    return Event(
        kind="alert.raised",
        subject=first["id"],
        audience=frozenset({first["organisation_id"]}),
        title=title,
        body={"asset_id": asset_id, "asset_name": asset_name, "alerts": alerts, "count": len(raised)},
        occurred_at=now,
    )


def _partner_sees(label: tuple[str, str, str | None], early_warning: bool) -> bool:
    tlp, status, _ = label
    return partner_sees_record(Tlp(tlp), RecordStatus(status), early_warning)


def _statement(match: MatchView, vendor_rows: Sequence[Any]) -> VexStatement:
    """The component is affected by the record, unless a vendor on the record's case stated "not affected" for its
    package (then that statement, with its justification, is what the VEX says)."""
    component = match["component"]
    status, justification, detail = "affected", None, "; ".join(match["reasons"])
    for row in vendor_rows:
        if row.status == "not_affected" and _covers(row.packages, component["purl"]):
            status, justification = "not_affected", vex_justification(row.justification)
            detail = f"vendor statement: {row.note}" if row.note else "the vendor states it is not affected"
            break
    return VexStatement(
        vulnerability=match["record_id"],
        aliases=tuple(match["aliases"]),
        summary=match["summary"],
        component=Component(
            component["ref"], component["name"], component["version"], component["purl"], None, None, ()
        ),
        status=status,
        justification=justification,
        detail=detail,
    )


def _covers(packages: Sequence[str], purl: str | None) -> bool:
    """Whether a vendor statement about `packages` (purls; none: the whole case) speaks for this component."""
    if not packages:
        return True
    component = package_of(purl, None)
    if component is None:
        return False
    for stated in packages:
        package = package_of(stated, None)
        if package is not None and (package.ecosystem, package.name_key) == (component.ecosystem, component.name_key):
            return True
    return False


def _component_rows(asset_id: str, components: Sequence[Component]) -> tuple[list[dict[str, Any]], list[_Candidate]]:
    rows: list[dict[str, Any]] = []
    candidates: list[_Candidate] = []
    for position, component in enumerate(components):
        package = package_of(component.purl, component.version)
        rows.append(
            {
                "asset_id": asset_id,
                "position": position,
                "ref": component.ref,
                "name": component.name,
                "version": package.version if package else component.version,
                "purl": component.purl,
                "cpe": component.cpe,
                "parent": component.parent,
                "depends_on": list(component.depends_on),
                "ecosystem": package.ecosystem if package else None,
                "name_key": package.name_key if package else None,
            }
        )
        if package is not None:
            candidates.append(
                _Candidate(
                    asset_id, position, component.ref, PackageVersion(package.ecosystem, package.name, package.version)
                )
            )
    return rows, candidates


def _unparseable_versions(candidates: Sequence[_Candidate]) -> list[ComponentProblem]:
    """Components whose version their ecosystem's scheme cannot read: kept (an entry listing the exact version still
    matches it, as `affected` does), and named, since no range can be judged for them."""
    found: list[ComponentProblem] = []
    for candidate in candidates:
        package = candidate.package
        if package.version is None:
            found.append(ComponentProblem(candidate.ref, "version", "missing: the component cannot be matched"))
            continue
        try:
            parse_version(package.ecosystem, package.version)
        except InvalidVersion as exc:
            found.append(ComponentProblem(candidate.ref, "version", exc.message))
        except UnknownEcosystem:
            continue  # an ecosystem without a version order: only listed versions match, nothing to report
    return found


def _problem_view(problem: ComponentProblem) -> ProblemView:
    return ProblemView(ref=problem.ref, field=problem.field, reason=problem.reason)


def _asset_view(row: dict[str, Any]) -> AssetView:
    return AssetView(
        id=row["id"],
        organisation_id=row["organisation_id"],
        name=row["name"],
        format=row["format"],
        sha256=row["sha256"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=_iso(row["uploaded_at"]) or "",
        components=row["component_count"],
        problems=row["problem_count"],
    )


def _component_view(row: sa.Row[Any]) -> ComponentView:
    return ComponentView(
        ref=row.ref,
        name=row.name,
        version=row.version,
        purl=row.purl,
        parent=row.parent,
        depends_on=list(row.depends_on),
    )


def _alert_view(row: sa.Row[Any]) -> AlertView:
    embargo: EmbargoTerms | None = row.embargo
    return AlertView(
        id=row.id,
        asset_id=row.asset_id,
        record_id=row.record_id,
        tlp=row.tlp,
        state=row.state,
        components=list(row.components),
        embargo=embargo,
        raised_at=_iso(row.raised_at) or "",
        acknowledged_at=_iso(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
    )


def job_handlers(engine: sa.Engine) -> dict[str, Handler]:
    """`partners.match_records` (payload ``{"record_ids": [...]}``), enqueued by the import pipeline and by case
    publication with the ids of the records written."""
    service = AssetService(engine)
    return {MATCH_RECORDS: lambda payload: service.match_records(list(payload["record_ids"]))}
