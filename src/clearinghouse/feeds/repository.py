"""SQL the feeds need beyond the record store's own look-ups (no policy here: callers pass the visibility filter)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from clearinghouse.cases import repository as cases_repository
from clearinghouse.identity.model import OrgKind
from clearinghouse.policy.cases import CaseRole
from clearinghouse.policy.filters import record_filter
from clearinghouse.policy.rules import RecordVisibility
from clearinghouse.records.model import RecordStatus, Tlp
from clearinghouse.records.versions import normalize_name
from clearinghouse.store.tables import (
    affected_packages,
    case_participants,
    case_records,
    organisations,
    records,
)


@dataclass(frozen=True)
class FeedEntry:
    """One record as a feed lists it: enough to name, date and file it without reading its document."""

    id: str
    tlp: Tlp
    status: RecordStatus
    modified: datetime
    published: datetime | None
    imported_at: datetime
    summary: str | None

    @property
    def initial_release(self) -> datetime:
        """As CSAF's `initial_release_date` (`formats.csaf.release_dates`): published, else modified."""
        return self.published or self.modified

    @property
    def current_release(self) -> datetime:
        """As CSAF's `current_release_date`: modified, never before the initial release."""
        return max(self.modified, self.initial_release)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def package_record_ids(conn: sa.Connection, ecosystem: str | None, name: str) -> list[str]:
    """Ids of records with an affected entry for the package: in `ecosystem` (any of its releases when it has no
    `:release` suffix), or in any ecosystem when `ecosystem` is None."""
    query = sa.select(affected_packages.c.record_id).distinct()
    if ecosystem is None:
        query = query.where(affected_packages.c.name == name)
    else:
        query = query.where(
            affected_packages.c.ecosystem_base == ecosystem.split(":", 1)[0],
            affected_packages.c.name_key == normalize_name(ecosystem, name),
        )
        if ":" in ecosystem:
            query = query.where(affected_packages.c.ecosystem == ecosystem)
    return sorted(conn.execute(query).scalars())


def ecosystems_naming(conn: sa.Connection, name: str) -> list[str]:
    """The base ecosystems in which some record names a package spelt `name`."""
    query = sa.select(affected_packages.c.ecosystem_base).where(affected_packages.c.name == name).distinct()
    return sorted(conn.execute(query).scalars())


def records_mentioning(conn: sa.Connection, text: str) -> list[str]:
    """Ids of records whose document contains `text` anywhere (a commit hash): candidates, to be checked."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = sa.select(records.c.id).where(sa.cast(records.c.doc, sa.Text).like(f"%{escaped}%", escape="\\"))
    return sorted(conn.execute(query).scalars())


def feed_entries(
    conn: sa.Connection,
    visibility: RecordVisibility,
    labels: frozenset[Tlp],
    *,
    added_after: datetime | None = None,
    after_key: tuple[datetime, str] | None = None,
    limit: int | None = None,
    id_like: str | None = None,
    include_key: bool = False,
    early_warning_for: str | None = None,
) -> list[FeedEntry]:
    """Records the visibility admits whose label is among `labels`, oldest addition first (by `imported_at`,
    then id), after `added_after` and after the page key `after_key` when given (from it on with `include_key`:
    a page that ended inside that record's objects); `id_like`: only ids whose lower-case form matches that SQL
    LIKE pattern; `early_warning_for`: only advisories of cases naming that organisation for early warning."""
    wanted = sorted(label.value for label in labels & visibility.labels)
    query = (
        sa.select(
            records.c.id,
            records.c.tlp,
            records.c.status,
            records.c.modified,
            records.c.published,
            records.c.imported_at,
            records.c.summary,
        )
        .where(record_filter(visibility, records.c.tlp, records.c.status), records.c.tlp.in_(wanted))
        .order_by(records.c.imported_at, records.c.id)
    )
    if added_after is not None:
        query = query.where(records.c.imported_at > added_after)
    if after_key is not None:
        stamp, record_id = after_key
        query = query.where(
            sa.or_(
                records.c.imported_at > stamp,
                sa.and_(
                    records.c.imported_at == stamp,
                    records.c.id >= record_id if include_key else records.c.id > record_id,
                ),
            )
        )
    if early_warning_for is not None:
        warned = (
            sa.select(case_records.c.record_id)
            .join(case_participants, case_participants.c.case_id == case_records.c.case_id)
            .where(
                case_participants.c.organisation_id == early_warning_for,
                case_participants.c.role == CaseRole.EARLY_WARNING.value,
            )
        )
        query = query.where(records.c.id.in_(warned))
    if id_like is not None:
        query = query.where(sa.func.lower(records.c.id).like(id_like))
    if limit is not None:
        query = query.limit(limit)
    return [
        FeedEntry(
            row.id,
            Tlp(row.tlp),
            RecordStatus(row.status),
            _utc(row.modified),
            _utc(row.published) if row.published is not None else None,
            _utc(row.imported_at),
            row.summary,
        )
        for row in conn.execute(query)
    ]


@dataclass(frozen=True)
class ListedRecord:
    """What a query answer needs to list a record without reading its document."""

    id: str
    modified: str  # the OSV `modified` string, as the record gives it
    tlp: Tlp
    status: RecordStatus
    withdrawn: bool


_MODIFIED_TEXT = {
    "sqlite": sa.func.json_extract(records.c.doc, "$.modified", type_=sa.Text),
    "postgresql": sa.func.jsonb_extract_path_text(records.c.doc, "modified", type_=sa.Text),
}
_CHUNK = 500


def listed_records(conn: sa.Connection, record_ids: Iterable[str]) -> dict[str, ListedRecord]:
    wanted = sorted(set(record_ids))
    found: dict[str, ListedRecord] = {}
    modified = _MODIFIED_TEXT[conn.dialect.name]
    for start in range(0, len(wanted), _CHUNK):
        query = sa.select(records.c.id, modified, records.c.tlp, records.c.status, records.c.withdrawn).where(
            records.c.id.in_(wanted[start : start + _CHUNK])
        )
        for row in conn.execute(query):
            found[row[0]] = ListedRecord(row[0], row[1], Tlp(row[2]), RecordStatus(row[3]), row[4] is not None)
    return found


@dataclass(frozen=True)
class VendorStatement:
    """A vendor's latest statement on a coordination case, about the case's advisory record."""

    case_id: str
    vendor: str
    status: str
    justification: str | None
    fixed_versions: tuple[str, ...]
    note: str
    at: datetime


def vendor_statements(conn: sa.Connection, record_ids: Collection[str]) -> dict[str, list[VendorStatement]]:
    """Each record's vendor statements: the latest one of every vendor on each case whose advisory it is."""
    found: dict[str, list[VendorStatement]] = {}
    wanted = sorted(set(record_ids))
    for start in range(0, len(wanted), _CHUNK):
        links = conn.execute(
            sa.select(case_records.c.record_id, case_records.c.case_id).where(
                case_records.c.record_id.in_(wanted[start : start + _CHUNK])
            )
        ).all()
        for record_id, case_id in links:
            statuses = cases_repository.current_statuses(conn, case_id)
            names = cases_repository.organisation_names(conn, set(statuses))
            found.setdefault(record_id, []).extend(
                VendorStatement(
                    case_id,
                    names.get(organisation_id, organisation_id),
                    row.status,
                    row.justification,
                    tuple(row.fixed_versions or ()),
                    row.note,
                    _utc(row.at),
                )
                for organisation_id, row in sorted(statuses.items())
            )
    return found


def partner_organisations(conn: sa.Connection) -> list[tuple[str, str]]:
    """(id, name) of every critical-infrastructure organisation, by name."""
    query = (
        sa.select(organisations.c.id, organisations.c.name)
        .where(organisations.c.kind == OrgKind.CRITICAL_INFRASTRUCTURE.value)
        .order_by(organisations.c.name)
    )
    return [(row.id, row.name) for row in conn.execute(query)]
