"""The record store: upsert, look-up by any identifier, affected-version queries, statistics, KEV marking."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Generic, NamedTuple, TypeVar

import orjson
import sqlalchemy as sa

from clearinghouse.errors import InvalidVersion, NotFound, UnknownEcosystem
from clearinghouse.formats import kev as kev_format
from clearinghouse.records.grouping import Grouping, group_records
from clearinghouse.records.model import (
    Affected,
    OsvRecord,
    Provenance,
    RecordStatus,
    Tlp,
    VulnerabilityRecord,
)
from clearinghouse.records.severity import ComputedScore
from clearinghouse.records.versions import AffectedMatcher, matcher, normalize_name
from clearinghouse.store.bulk import InsertPlan, insert_plan
from clearinghouse.store.db import serialised_writes
from clearinghouse.store.tables import (
    affected_packages,
    import_runs,
    kev_entries,
    record_identifiers,
    records,
)

_CHUNK = 500  # ids per IN (...) clause: well under SQLite's and PostgreSQL's parameter limits
_WRITERS_KEY = 0x7265636F  # "reco": serialises record writers on PostgreSQL (see `RecordStore.write`)


@dataclass
class UpsertOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # already stored with the same or a newer `modified`
    # What grouping and KEV marking must look at again (see `RecordStore.regroup`): the ids written, and the
    # groups that the records they replaced were in.
    written: set[str] = field(default_factory=set, compare=False, repr=False)
    earlier_groups: set[str] = field(default_factory=set, compare=False, repr=False)

    def add(self, other: UpsertOutcome) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.written |= other.written
        self.earlier_groups |= other.earlier_groups


class PreparedRecord(NamedTuple):
    """A record as the driver parameters of its rows (see `RowPlans.prepare`), ready for `RecordStore.write`."""

    id: str
    modified: datetime
    origin: str | None  # where it was read from, to name it if it cannot be stored
    record: Any
    identifiers: list[Any]
    affected: list[Any]


@dataclass(frozen=True)
class RowPlans:
    """How records become rows for one back end.

    Building the rows is most of an import's Python work and needs no database, so import workers do it in
    their own processes (the plans pickle) and the writing process only hands the parameters to the driver.
    """

    records: InsertPlan
    identifiers: InsertPlan
    affected: InsertPlan

    @classmethod
    def for_dialect(cls, dialect: sa.Dialect) -> RowPlans:
        return cls(
            insert_plan(dialect, records),
            insert_plan(dialect, record_identifiers),
            insert_plan(dialect, affected_packages),
        )

    def prepare(self, record: VulnerabilityRecord, source_text: bytes | None = None) -> PreparedRecord:
        """`source_text`: the JSON the record was validated from, stored as its document rather than re-encoded."""
        osv = record.osv
        return PreparedRecord(
            osv.id,
            osv.modified_at,
            record.provenance.origin,
            self.records.parameter(_record_row(record, source_text)),
            self.identifiers.parameters(_identifier_rows(osv)),
            self.affected.parameters(_affected_rows(osv)),
        )


class PackageVersion(NamedTuple):
    """A package version to match: OSV base ecosystem, name (as written) and version (None: not matchable)."""

    ecosystem: str
    name: str
    version: str | None


class PackageMatch(NamedTuple):
    """What affects a `PackageVersion`: (record id, affected[] position) pairs, or why its version was refused."""

    entries: tuple[tuple[str, int], ...]
    refusal: InvalidVersion | None


@dataclass(frozen=True)
class Stats:
    records: int
    withdrawn: int
    known_exploited: int
    vulnerabilities: int
    with_cvss: int
    by_source: dict[str, int]
    by_ecosystem: dict[str, int]
    kev_entries: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImportRun:
    kind: str
    started_at: datetime
    finished_at: datetime
    inputs: list[str]
    read: int
    outcome: UpsertOutcome
    failed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class RecordStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._matchers: _Kept[_EntryKey, AffectedMatcher] = _Kept(32768)
        # Records as read, by what can change in a stored record (see `_RECORD_STATE_BY_ID`): the report worker reads
        # the same much-advised packages' records for report after report, and validating a document into its
        # model cost more than the rest of triage.
        self._records_kept: _Kept[tuple[Any, ...], VulnerabilityRecord] = _Kept(4096)

    # --- writing -------------------------------------------------------------------------------------

    @cached_property
    def row_plans(self) -> RowPlans:
        return RowPlans.for_dialect(self.engine.dialect)

    def upsert(self, batch: Iterable[VulnerabilityRecord]) -> UpsertOutcome:
        """Insert new records and replace stored ones that have an older `modified`, in one transaction."""
        return self.write([self.row_plans.prepare(record) for record in batch])

    def write(
        self, batch: Iterable[PreparedRecord], then: Callable[[sa.Connection, list[str]], None] | None = None
    ) -> UpsertOutcome:
        """`upsert` for records already prepared with this store's `row_plans`.

        Writers are serialised (import worker processes write side by side): each one reads what is stored and
        writes in one transaction that no other writer overlaps, so the newer record wins whatever the order.
        `then` is called in that transaction with the ids written (sorted), when there are any: what must follow
        from the write (queued work) commits with it or not at all.
        """
        newest: dict[str, PreparedRecord] = {}
        for record in batch:
            kept = newest.get(record.id)
            if kept is None or record.modified > kept.modified:
                newest[record.id] = record
        outcome = UpsertOutcome()
        if not newest:
            return outcome
        with serialised_writes(self.engine, _WRITERS_KEY) as conn:
            stored: dict[str, datetime] = {}
            groups: dict[str, str | None] = {}
            for ids in _chunks(list(newest)):
                rows = conn.execute(
                    sa.select(records.c.id, records.c.modified, records.c.group_id).where(records.c.id.in_(ids))
                )
                for row in rows:
                    stored[row.id], groups[row.id] = _utc(row.modified), row.group_id
            replace = [i for i, r in newest.items() if i in stored and r.modified > stored[i]]
            replaced = set(replace)
            write = [r for i, r in newest.items() if i not in stored or i in replaced]
            linked_groups: set[str] = set()
            for ids in _chunks(replace):
                # The groups of the records a replaced record was linked to by what it said before: dropping an
                # alias can change their group (a group over the size cap split differently) though nothing of
                # them, nor of the new record, links them any more.
                linked_groups.update(g for g in conn.execute(_GROUPS_LINKED_TO, {"ids": ids}).scalars() if g)
                # Children go by ON DELETE CASCADE; deleting explicitly keeps SQLite honest if a connection
                # ever forgot the foreign_keys pragma.
                conn.execute(sa.delete(record_identifiers).where(record_identifiers.c.record_id.in_(ids)))
                conn.execute(sa.delete(affected_packages).where(affected_packages.c.record_id.in_(ids)))
                conn.execute(sa.delete(records).where(records.c.id.in_(ids)))
            plans = self.row_plans
            plans.records.execute(conn, [r.record for r in write])
            plans.identifiers.execute(conn, [row for r in write for row in r.identifiers])
            plans.affected.execute(conn, [row for r in write for row in r.affected])
            if then is not None and write:
                then(conn, sorted(r.id for r in write))
        outcome.updated = len(replace)
        outcome.inserted = len(write) - len(replace)
        outcome.unchanged = len(newest) - len(write)
        outcome.written = {r.id for r in write}
        outcome.earlier_groups = {group for i in replace if (group := groups[i]) is not None} | linked_groups
        return outcome

    def regroup(self, touched: Collection[str] | None = None, earlier_groups: Collection[str] = ()) -> Grouping:
        """Recompute alias groups (see `records.grouping`) and store each record's group id.

        Given the records just written (`touched`) and the groups the records they replaced were in
        (`earlier_groups`, see `UpsertOutcome`), only the records whose group can have changed are regrouped:
        every record linked by aliases, however indirectly, to a touched record or to a member of those groups.
        Links never leave that set, so grouping it alone gives what grouping the whole store would (a property
        test checks it), and a small import into a large store costs what it touches. The returned grouping
        covers the records regrouped.
        """
        with self.engine.begin() as conn:
            if touched is None or len(touched) > _WHOLE_STORE_ABOVE:
                # Imports store a provisional group id with each record (see `provisional_group`): few change.
                current = {rid: gid for rid, gid in conn.execute(_GROUPS)}
                aliases: dict[str, list[str]] = {record_id: [] for record_id in current}
                for record_id, alias in conn.execute(_ALL_ALIASES):
                    aliases[record_id].append(alias)
            else:
                current, aliases = _linked(conn, set(touched), set(earlier_groups))
            grouping = group_records(aliases.items())
            changes = [{"rid": rid, "gid": gid} for rid, gid in grouping.group_of.items() if current[rid] != gid]
            if changes:
                conn.execute(
                    sa.update(records).where(records.c.id == sa.bindparam("rid")).values(group_id=sa.bindparam("gid")),
                    changes,
                )
        return grouping

    def replace_kev(self, catalog: kev_format.KevCatalog) -> int:
        """Store the KEV catalog (replacing any earlier one) and re-mark records; returns records marked."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(kev_entries))
            if catalog.entries:
                conn.execute(kev_entries.insert(), [_kev_row(e, catalog.version) for e in catalog.entries])
        return self.mark_known_exploited()

    def mark_known_exploited(self, record_ids: Collection[str] | None = None) -> int:
        """Flag records whose id, aliases, related or upstream ids include a CVE in the KEV catalog (only
        `record_ids` when given: an import changes no other record's identifiers); returns the records flagged."""
        in_kev = (
            sa.select(sa.literal(1))
            .select_from(record_identifiers.join(kev_entries, kev_entries.c.cve_id == record_identifiers.c.identifier))
            .where(record_identifiers.c.record_id == records.c.id)
            .exists()
        )
        # Only rows whose flag changes: rewriting every row (documents and all) made this a large part of imports.
        mark = sa.update(records).where(records.c.known_exploited != in_kev).values(known_exploited=in_kev)
        with self.engine.begin() as conn:
            if record_ids is None or len(record_ids) > _WHOLE_STORE_ABOVE:
                conn.execute(mark)
            else:
                for ids in _chunks(sorted(record_ids)):
                    conn.execute(mark.where(records.c.id.in_(ids)))
            return int(conn.execute(sa.select(sa.func.count()).where(records.c.known_exploited)).scalar_one())

    def record_run(self, run: ImportRun) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                import_runs.insert().values(
                    kind=run.kind,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    inputs=run.inputs,
                    read=run.read,
                    inserted=run.outcome.inserted,
                    updated=run.outcome.updated,
                    unchanged=run.outcome.unchanged,
                    failed=run.failed,
                )
            )

    # --- reading -------------------------------------------------------------------------------------

    def get(self, record_id: str) -> VulnerabilityRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_RECORD_COLUMNS).where(records.c.id == record_id)).one_or_none()
        if row is None:
            raise NotFound(f"no record with id {record_id!r}")
        return _from_row(row)

    def find(self, identifier: str) -> list[VulnerabilityRecord]:
        """Records answering to `identifier`: the record with that id, else those listing it as an alias."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                sa.select(record_identifiers.c.record_id, record_identifiers.c.kind).where(
                    record_identifiers.c.identifier == identifier,
                    record_identifiers.c.kind.in_(("id", "alias")),
                )
            ).all()
        own = [row.record_id for row in ids if row.kind == "id"]
        return self.many(own or sorted({row.record_id for row in ids}))

    def group(self, record: VulnerabilityRecord) -> list[VulnerabilityRecord]:
        """Every record of the vulnerability `record` belongs to (itself included)."""
        if record.group_id is None:
            return [record]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*_RECORD_COLUMNS).where(records.c.group_id == record.group_id).order_by(records.c.id)
            ).all()
        return [_from_row(row) for row in rows]

    def many(self, record_ids: Sequence[str]) -> list[VulnerabilityRecord]:
        with self._snapshot() as conn:
            found = self._records(conn, record_ids)
        return [found[i] for i in record_ids if i in found]

    def iter_records(self, batch_size: int = 500, keep: bool = False) -> Iterator[VulnerabilityRecord]:
        """Every record, in id order, read in pages so memory stays flat on large stores.

        `keep`: also keep the records, and their affected entries prepared for matching, in this store's caches
        while they have room, as `affected_versions_many` would keep them. The report worker reads every record to
        build its duplicate index and then asks about the same records report after report: each of N workers
        preparing them again on its first reports made the workers' CPU per report grow with N.
        """
        last = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    _ALL_RECORDS.where(records.c.id > last).order_by(records.c.id).limit(batch_size)
                ).all()
            if not rows:
                return
            read = [(row, _from_row(row)) for row in rows]
            if keep:
                self._keep(read)
            yield from (record for _, record in read)
            last = rows[-1].id

    def _keep(self, read: Sequence[tuple[sa.Row[Any], VulnerabilityRecord]]) -> None:
        self._records_kept.offer((tuple(getattr(row, name) for name in _STATE), record) for row, record in read)
        # Prepared one by one as offered: none once the cache is full (a store larger than it).
        self._matchers.offer(
            (_EntryKey(record.osv.id, position, row.modified_key), matcher(affected))
            for row, record in read
            for position, affected in enumerate(record.osv.affected or ())
            if affected.package is not None  # as `affected_packages` holds them
        )

    def affected(self, ecosystem: str, name: str, version: str) -> list[VulnerabilityRecord]:
        """Records with an affected entry for this package whose ranges or versions include `version`.

        `ecosystem` without a release suffix (``AlmaLinux``) matches every release (``AlmaLinux:8``, ...);
        with one, only that release.
        """
        with self._snapshot() as conn:
            matched = self._matched(conn, ecosystem, name, version)
            found = self._records(conn, matched)
        return [found[i] for i in matched if i in found]

    def affected_versions(
        self, ecosystem: str, name: str, versions: Sequence[str]
    ) -> dict[str, list[VulnerabilityRecord] | InvalidVersion]:
        """`affected` for several versions of one package: the package's entries and the records matched are read
        once (a report names several versions); a version the ecosystem refuses gets its `InvalidVersion`."""
        answer = self.affected_versions_many({(ecosystem, name): versions})[ecosystem, name]
        if isinstance(answer, UnknownEcosystem):
            raise answer
        return answer

    def affected_versions_many(
        self, packages: dict[tuple[str, str], Sequence[str]]
    ) -> dict[tuple[str, str], dict[str, list[VulnerabilityRecord] | InvalidVersion] | UnknownEcosystem]:
        """`affected_versions` for several packages (the report worker's batch), in one snapshot, every matched
        record read once; a package of an ecosystem without version rules gets its `UnknownEcosystem`."""
        matched: dict[tuple[str, str], dict[str, list[str] | InvalidVersion] | UnknownEcosystem] = {}
        name_keys: dict[tuple[str, str], tuple[str, str]] = {}  # of base ecosystems' packages: read together
        for ecosystem, name in packages:
            try:
                name_key = normalize_name(ecosystem, name)
            except UnknownEcosystem as unknown:
                matched[ecosystem, name] = unknown
                continue
            if ":" not in ecosystem:
                name_keys[ecosystem, name] = (ecosystem, name_key)
        with self._snapshot() as conn:
            of_names = _candidates_of_names(conn, set(name_keys.values()))
            matchers = self._matchers.get(
                [key for keys in of_names.values() for key in keys], lambda missing: _load_matchers(conn, missing)
            )
            for (ecosystem, name), versions in packages.items():
                if (ecosystem, name) in matched:
                    continue
                if (ecosystem, name) in name_keys:
                    candidates = of_names.get(name_keys[ecosystem, name], [])
                else:  # a release (`Debian:11`): its own query
                    candidates, matchers = self._entries(conn, ecosystem, name)
                by_version: dict[str, list[str] | InvalidVersion] = {}
                for version in versions:
                    try:
                        by_version[version] = sorted(_matching_records(candidates, matchers, version))
                    except InvalidVersion as refused:
                        by_version[version] = refused
                matched[ecosystem, name] = by_version
            parsed = self._records(
                conn,
                sorted(
                    {
                        i
                        for answer in matched.values()
                        if not isinstance(answer, UnknownEcosystem)
                        for ids in answer.values()
                        if not isinstance(ids, InvalidVersion)
                        for i in ids
                    }
                ),
            )
        return {
            package: answer
            if isinstance(answer, UnknownEcosystem)
            else {
                version: ids if isinstance(ids, InvalidVersion) else [parsed[i] for i in ids if i in parsed]
                for version, ids in answer.items()
            }
            for package, answer in matched.items()
        }

    def affected_ids(self, queries: Sequence[tuple[str, str, str]]) -> list[list[str] | InvalidVersion]:
        """`affected` for many (ecosystem, name, version) queries at once, answering ids only (sorted), or the
        `InvalidVersion` that query raised: a batch (the OSV API's) reads no documents. Queries of a base ecosystem
        go through `match_packages` (every name's candidates in a few queries); those naming a release
        (`Debian:11`) are answered as `affected` answers them, every release package's candidates read together
        (a statement per release query was a fifth of a batch's time)."""
        matched = self.match_packages({PackageVersion(*query) for query in queries if ":" not in query[0]})
        releases = {(e, normalize_name(e, n)) for e, n, _v in queries if ":" in e}
        candidates: dict[tuple[str, str], list[_EntryKey]] = {}
        matchers: dict[_EntryKey, AffectedMatcher] = {}
        if releases:
            with self._snapshot() as conn:
                for chunk in _chunks(sorted({name_key for _, name_key in releases})):
                    for record_id, position, modified, ecosystem, name_key in conn.execute(
                        _CANDIDATES_OF_RELEASE_NAMES, {"names": list(chunk)}
                    ):
                        if (ecosystem, name_key) in releases:
                            candidates.setdefault((ecosystem, name_key), []).append(
                                _EntryKey(record_id, position, modified)
                            )
                every = [key for keys in candidates.values() for key in keys]
                matchers = self._matchers.get(every, lambda missing: _load_matchers(conn, missing))
        answers: list[list[str] | InvalidVersion] = []
        for ecosystem, name, version in queries:
            if ":" not in ecosystem:
                found = matched[PackageVersion(ecosystem, name, version)]
                if found.refusal is not None and not found.entries:
                    answers.append(found.refusal)
                else:
                    answers.append(sorted({record_id for record_id, _position in found.entries}))
                continue
            try:
                release = candidates.get((ecosystem, normalize_name(ecosystem, name)), [])
                answers.append(sorted(_matching_records(release, matchers, version)))
            except InvalidVersion as refusal:
                answers.append(refusal)
        return answers

    def _matched(self, conn: sa.Connection, ecosystem: str, name: str, version: str) -> list[str]:
        """The sorted ids of the records `affected` answers with."""
        candidates, matchers = self._entries(conn, ecosystem, name)
        return sorted(_matching_records(candidates, matchers, version))

    def _entries(
        self, conn: sa.Connection, ecosystem: str, name: str
    ) -> tuple[list[_EntryKey], dict[_EntryKey, AffectedMatcher]]:
        """The package's stored affected entries and their prepared matchers."""
        statement, params = (
            _CANDIDATES,
            {"base": ecosystem.split(":", 1)[0], "name_key": normalize_name(ecosystem, name)},
        )
        if ":" in ecosystem:
            statement, params["ecosystem"] = _CANDIDATES_OF_RELEASE, ecosystem
        candidates = [_EntryKey(*row) for row in conn.execute(statement, params)]
        return candidates, self._matchers.get(candidates, lambda missing: _load_matchers(conn, missing))

    def match_packages(
        self, packages: Collection[PackageVersion], only_records: Collection[str] | None = None
    ) -> dict[PackageVersion, PackageMatch]:
        """`affected` for many packages at once (a partner's SBOM, the components a new record can affect).

        The candidate entries of every (ecosystem, name) are read in a few queries rather than one per package, and
        each version is judged by the same prepared matchers and the same rule as `affected` (`_matching_entries`):
        a package whose version no entry lists and some range could not judge is refused (`PackageMatch.refusal`),
        as `affected` raises. Ecosystems are OSV base ecosystems (every release matches, as `affected` does without
        a release suffix); names are normalised here. `only_records`: judge only these records' entries (each entry
        is judged on its own, so their answers are the same; records just written are matched without preparing
        every other entry of their packages).
        """
        keep = None if only_records is None else set(only_records)
        wanted: dict[tuple[str, str], list[PackageVersion]] = {}
        for package in packages:
            key = (package.ecosystem, normalize_name(package.ecosystem, package.name))
            wanted.setdefault(key, []).append(package)
        answers: dict[PackageVersion, PackageMatch] = {}
        with self._snapshot() as conn:
            candidates: dict[tuple[str, str], list[_EntryKey]] = {}
            # Few records just written: their entries; otherwise every entry of the packages, per ecosystem (so the
            # (ecosystem_base, name_key) index is used).
            if keep is not None:
                for chunk in _chunks(sorted(keep)):
                    for record_id, position, modified, base, name_key in conn.execute(
                        _CANDIDATES_OF_RECORDS, {"values": list(chunk)}
                    ):
                        if (base, name_key) in wanted:
                            entry = _EntryKey(record_id, position, modified)
                            candidates.setdefault((base, name_key), []).append(entry)
            else:
                candidates = _candidates_of_names(conn, wanted)
            every = [key for keys in candidates.values() for key in keys]
            matchers = self._matchers.get(every, lambda missing: _load_matchers(conn, missing))
        for key, asked in wanted.items():
            found = candidates.get(key, [])
            for package in asked:
                if package.version is None or not found:
                    answers[package] = PackageMatch((), None)
                    continue
                entries, refusal = _matching_entries(found, matchers, package.version)
                answers[package] = PackageMatch(
                    tuple((entry.record_id, entry.position) for entry in entries), None if entries else refusal
                )
        return answers

    def _records(self, conn: sa.Connection, record_ids: Sequence[str]) -> dict[str, VulnerabilityRecord]:
        """The stored records of these ids (those that exist), each read in full once per state it is in."""
        states: dict[str, tuple[Any, ...]] = {}
        for ids in _chunks(list(dict.fromkeys(record_ids))):
            for row in conn.execute(_RECORD_STATE_BY_ID, {"ids": ids}):
                states[row[0]] = tuple(row)
        kept = self._records_kept.get(list(states.values()), lambda missing: _load_records(conn, missing))
        return {record_id: kept[state] for record_id, state in states.items() if state in kept}

    @contextmanager
    def _snapshot(self) -> Iterator[sa.Connection]:
        """A connection whose statements all read one state of the store.

        Otherwise each statement reads the latest commit (PostgreSQL's READ COMMITTED; SQLite, where the driver
        starts no transaction for reads), and a record replaced between two of them can lose the entry looked up.
        """
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:
                conn.exec_driver_sql("BEGIN")  # ended by the rollback that returning the connection does
            yield conn

    def package_known(self, ecosystem: str, name: str) -> bool:
        """Whether any record names this package (in any release of the ecosystem)."""
        query = (
            sa.select(affected_packages.c.record_id)
            .where(
                affected_packages.c.ecosystem_base == ecosystem.split(":", 1)[0],
                affected_packages.c.name_key == normalize_name(ecosystem, name),
            )
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def packages_known(self, packages: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """`package_known` for many (ecosystem, name) pairs, in one query; a pair whose ecosystem is unknown is
        left out (`package_known` says why)."""
        wanted: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for ecosystem, name in packages:
            try:
                key = (ecosystem.split(":", 1)[0], normalize_name(ecosystem, name))
            except UnknownEcosystem:
                continue
            wanted.setdefault(key, set()).add((ecosystem, name))
        if not wanted:
            return {}
        query = (
            sa.select(affected_packages.c.ecosystem_base, affected_packages.c.name_key)
            .where(affected_packages.c.name_key.in_(sorted({key for _, key in wanted})))
            .distinct()
        )
        with self.engine.connect() as conn:
            found = {(row.ecosystem_base, row.name_key) for row in conn.execute(query)}
        return {pair: key in found for key, pairs in wanted.items() for pair in pairs}

    def identifiers_of(self, record_ids: Sequence[str]) -> list[str]:
        """The ids and aliases of these records (what `OsvRecord.identifiers` gives, without reading documents)."""
        if not record_ids:
            return []
        query = (
            sa.select(record_identifiers.c.identifier)
            .where(record_identifiers.c.record_id.in_(list(record_ids)), record_identifiers.c.kind.in_(("id", "alias")))
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def records_naming_each(self, identifiers: Iterable[str]) -> dict[str, list[str]]:
        """`records_naming` for many identifiers in one query: identifier -> ids of the records it names."""
        wanted = sorted(set(identifiers))
        if not wanted:
            return {}
        query = sa.select(record_identifiers.c.identifier, record_identifiers.c.record_id).where(
            record_identifiers.c.identifier.in_(wanted), record_identifiers.c.kind.in_(("id", "alias"))
        )
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for identifier, record_id in conn.execute(query):
                found.setdefault(identifier, set()).add(record_id)
        return {identifier: sorted(ids) for identifier, ids in found.items()}

    def records_naming(self, identifiers: Sequence[str]) -> list[str]:
        """Ids of records whose id or aliases are among `identifiers`."""
        if not identifiers:
            return []
        query = (
            sa.select(record_identifiers.c.record_id)
            .where(
                record_identifiers.c.identifier.in_(list(identifiers)),
                record_identifiers.c.kind.in_(("id", "alias")),
            )
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    def kev_ids(self) -> frozenset[str]:
        """Every CVE id CISA KEV lists (about 1,400: one read serves a batch of reports)."""
        with self.engine.connect() as conn:
            return frozenset(conn.execute(sa.select(kev_entries.c.cve_id)).scalars())

    def kev_listed(self, identifiers: Sequence[str]) -> list[str]:
        """The CVE ids among `identifiers` that CISA KEV lists."""
        if not identifiers:
            return []
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(kev_entries.c.cve_id).where(kev_entries.c.cve_id.in_(list(identifiers))))
            return sorted(found.scalars())

    def stats(self) -> Stats:
        count = sa.func.count()
        with self.engine.connect() as conn:
            totals = conn.execute(
                sa.select(
                    count,
                    sa.func.count(records.c.withdrawn),
                    sa.func.coalesce(sa.func.sum(sa.case((records.c.known_exploited, 1), else_=0)), 0),
                    sa.func.count(sa.distinct(sa.func.coalesce(records.c.group_id, records.c.id))),
                    sa.func.count(records.c.max_score),
                )
            ).one()
            by_source = conn.execute(
                sa.select(records.c.source, count).group_by(records.c.source).order_by(count.desc())
            ).all()
            by_ecosystem = conn.execute(
                sa.select(affected_packages.c.ecosystem, sa.func.count(sa.distinct(affected_packages.c.record_id)))
                .group_by(affected_packages.c.ecosystem)
                .order_by(sa.func.count(sa.distinct(affected_packages.c.record_id)).desc())
            ).all()
            kev_count = conn.execute(sa.select(count).select_from(kev_entries)).scalar_one()
            return Stats(
                records=int(totals[0]),
                withdrawn=int(totals[1]),
                known_exploited=int(totals[2]),
                vulnerabilities=int(totals[3]),
                with_cvss=int(totals[4]),
                by_source={source: n for source, n in by_source},
                by_ecosystem={ecosystem: n for ecosystem, n in by_ecosystem},
                kev_entries=int(kev_count),
            )


def _record_row(record: VulnerabilityRecord, source_text: bytes | None) -> tuple[Any, ...]:
    """The `records` row, its values in the table's column order."""
    osv = record.osv
    provenance = record.provenance
    return (
        osv.id,
        osv.modified_at,
        osv.published_at,
        osv.withdrawn_at,
        osv.summary,
        osv.document() if source_text is None else orjson.Fragment(source_text.strip()),
        [
            {"version": s.version, "vector": s.vector, "base_score": s.base_score, "rating": s.rating}
            for s in record.scores
        ],
        max((s.base_score for s in record.scores), default=None),
        provenance.source,
        provenance.source_id,
        provenance.licence,
        provenance.imported_at,
        provenance.origin,
        record.tlp.value,
        record.status.value,
        record.known_exploited,
        record.group_id,
        list(record.repairs) or None,
    )


def _identifier_rows(osv: OsvRecord) -> Iterator[tuple[str, str, str]]:
    """`record_identifiers` rows: (record_id, identifier, kind)."""
    seen: set[tuple[str, str]] = set()
    kinds = (("id", [osv.id]), ("alias", osv.aliases), ("related", osv.related), ("upstream", osv.upstream))
    for kind, values in kinds:
        for value in values or ():
            if (value, kind) not in seen:
                seen.add((value, kind))
                yield osv.id, value, kind


def _affected_rows(osv: OsvRecord) -> Iterator[tuple[Any, ...]]:
    """`affected_packages` rows: record_id, position, ecosystem, ecosystem_base, name, name_key, purl."""
    for position, affected in enumerate(osv.affected or ()):
        package = affected.package
        if package is None:
            continue
        ecosystem = package.ecosystem
        yield (
            osv.id,
            position,
            ecosystem,
            ecosystem.split(":", 1)[0],
            package.name,
            normalize_name(ecosystem, package.name),
            package.purl,
        )


# What `_from_row` reads. Not the other columns: they repeat what the document says, and converting their
# timestamps made reading the rows (hundreds for some `affected` queries) about a fifth slower.
_RECORD_COLUMNS = tuple(
    records.c[name]
    for name in (
        "id",
        "doc",
        "source",
        "source_id",
        "licence",
        "imported_at",
        "origin",
        "tlp",
        "status",
        "scores",
        "known_exploited",
        "group_id",
        "repairs",
    )
)


# The read queries, built once: building a statement and its cache key cost more than running it on SQLite.
_ALL_RECORDS: sa.Select[Any] = sa.select(*_RECORD_COLUMNS, sa.cast(records.c.modified, sa.Text).label("modified_key"))
_RECORDS_BY_ID = _ALL_RECORDS.where(records.c.id.in_(sa.bindparam("ids", expanding=True)))
# What can change in a stored record: a new `modified` for everything its document says and the import that wrote it
# (an upsert replaces only an older `modified`); the rest is set on its own (KEV marking, grouping, publication).
_STATE_COLUMNS = (
    records.c.id,
    sa.cast(records.c.modified, sa.Text).label("modified_key"),
    records.c.tlp,
    records.c.status,
    records.c.known_exploited,
    records.c.group_id,
)
_STATE = tuple(column.name for column in _STATE_COLUMNS)
_RECORD_STATE_BY_ID = sa.select(*_STATE_COLUMNS).where(records.c.id.in_(sa.bindparam("ids", expanding=True)))
# Candidate entries, each as the key of its prepared matcher (see `_Kept`).
_CANDIDATES = (
    sa.select(affected_packages.c.record_id, affected_packages.c.position, sa.cast(records.c.modified, sa.Text))
    .join(records, records.c.id == affected_packages.c.record_id)
    .where(
        affected_packages.c.ecosystem_base == sa.bindparam("base"),
        affected_packages.c.name_key == sa.bindparam("name_key"),
    )
)
# `match_packages`: the candidates of many names, or of some records, at once (the ecosystem is checked in Python).
_CANDIDATE_ROWS = sa.select(
    affected_packages.c.record_id,
    affected_packages.c.position,
    sa.cast(records.c.modified, sa.Text),
    affected_packages.c.ecosystem_base,
    affected_packages.c.name_key,
).join(records, records.c.id == affected_packages.c.record_id)
_CANDIDATES_OF_NAMES = _CANDIDATE_ROWS.where(
    affected_packages.c.ecosystem_base == sa.bindparam("base"),
    affected_packages.c.name_key.in_(sa.bindparam("values", expanding=True)),
)
_CANDIDATES_OF_RECORDS = _CANDIDATE_ROWS.where(
    affected_packages.c.record_id.in_(sa.bindparam("values", expanding=True))
)
_CANDIDATES_OF_RELEASE = _CANDIDATES.where(affected_packages.c.ecosystem == sa.bindparam("ecosystem"))
# `affected_ids`: the candidates of many release packages (`Debian:11`) at once (the release checked in Python).
_CANDIDATES_OF_RELEASE_NAMES = (
    sa.select(
        affected_packages.c.record_id,
        affected_packages.c.position,
        sa.cast(records.c.modified, sa.Text),
        affected_packages.c.ecosystem,
        affected_packages.c.name_key,
    )
    .join(records, records.c.id == affected_packages.c.record_id)
    .where(affected_packages.c.name_key.in_(sa.bindparam("names", expanding=True)))
)


# The affected entries of some records, as JSON text cut out of their documents by the database (reading whole
# documents into Python instead: a cold-cache median of 3.8-4.5 ms on the dev set against 3.1-3.7 ms).
def _entries_query(entry: sa.ColumnElement[str]) -> sa.Select[str, int, str]:
    return (
        sa.select(affected_packages.c.record_id, affected_packages.c.position, entry)
        .join(records, records.c.id == affected_packages.c.record_id)
        .where(affected_packages.c.record_id.in_(sa.bindparam("ids", expanding=True)))
    )


_ENTRIES = {
    "sqlite": _entries_query(
        sa.func.json_extract(
            records.c.doc, "$.affected[" + sa.cast(affected_packages.c.position, sa.Text) + "]", type_=sa.Text
        )
    ),
    "postgresql": _entries_query(
        sa.func.jsonb_extract_path_text(
            records.c.doc, "affected", sa.cast(affected_packages.c.position, sa.Text), type_=sa.Text
        )
    ),
}


# Above this many records written, `regroup` and `mark_known_exploited` go over the whole store: following links
# in rounds of queries, or updating in rounds of ids, costs more than one pass over every record.
_WHOLE_STORE_ABOVE = 2000
_ALL_ALIASES = sa.select(record_identifiers.c.record_id, record_identifiers.c.identifier).where(
    record_identifiers.c.kind == "alias"
)
_GROUPS = sa.select(records.c.id, records.c.group_id)
_LINKING = ("id", "alias")  # what links records into groups: an id, and the aliases that name other records
# The groups of the records sharing a linking identifier with any of the records `ids`.
_GROUPS_LINKED_TO = (
    sa.select(records.c.group_id)
    .distinct()
    .join(record_identifiers, record_identifiers.c.record_id == records.c.id)
    .where(
        record_identifiers.c.kind.in_(_LINKING),
        record_identifiers.c.identifier.in_(
            sa.select(record_identifiers.c.identifier).where(
                record_identifiers.c.record_id.in_(sa.bindparam("ids", expanding=True)),
                record_identifiers.c.kind.in_(_LINKING),
            )
        ),
    )
)


def _linked(
    conn: sa.Connection, touched: set[str], earlier_groups: set[str]
) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    """The stored group id and the aliases of every record linked to `touched` or to `earlier_groups`' members.

    Records and identifiers form a graph (a record is joined to each of its aliases, and a record's id is the
    identifier others alias); this follows it from those records, a round of queries per step, until no new
    record is reached.
    """
    pending = set(touched)
    for groups in _chunks(sorted(earlier_groups)):
        pending.update(row.id for row in conn.execute(_GROUPS.where(records.c.group_id.in_(groups))))
    current: dict[str, str | None] = {}
    aliases: dict[str, list[str]] = {}
    visited: set[str] = set()  # records
    seen: set[str] = set()  # identifiers already followed
    while pending:
        visited |= pending
        identifiers: set[str] = set()
        for ids in _chunks(sorted(pending)):
            for record_id, group_id in conn.execute(_GROUPS.where(records.c.id.in_(ids))):
                current[record_id], aliases[record_id] = group_id, []
                identifiers.add(record_id)
            for record_id, alias in conn.execute(_ALL_ALIASES.where(record_identifiers.c.record_id.in_(ids))):
                aliases[record_id].append(alias)
                identifiers.add(alias)
        reached: set[str] = set()
        for chunk in _chunks(sorted(identifiers - seen)):
            reached.update(
                conn.execute(
                    sa.select(record_identifiers.c.record_id).where(
                        record_identifiers.c.identifier.in_(chunk), record_identifiers.c.kind.in_(_LINKING)
                    )
                ).scalars()
            )
        seen |= identifiers
        pending = reached - visited
    return current, aliases


def _candidates_of_names(
    conn: sa.Connection, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], list[_EntryKey]]:
    """The stored affected entries of these (base ecosystem, normalised name) packages, in a query per ecosystem (so
    the (ecosystem_base, name_key) index is used) and chunk of names."""
    names: dict[str, set[str]] = {}
    for base, name_key in keys:
        names.setdefault(base, set()).add(name_key)
    found: dict[tuple[str, str], list[_EntryKey]] = {}
    for base, of_base in names.items():
        for chunk in _chunks(sorted(of_base)):
            for record_id, position, modified, _, name_key in conn.execute(
                _CANDIDATES_OF_NAMES, {"base": base, "values": list(chunk)}
            ):
                if name_key in of_base:
                    found.setdefault((base, name_key), []).append(_EntryKey(record_id, position, modified))
    return found


def _load_records(conn: sa.Connection, states: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], VulnerabilityRecord]:
    """The records in these states (see `_STATE`), keyed by their state as read now (one changed meanwhile is left
    out for its old state)."""
    found: dict[tuple[Any, ...], VulnerabilityRecord] = {}
    for ids in _chunks(sorted({state[0] for state in states})):
        for row in conn.execute(_RECORDS_BY_ID, {"ids": ids}):
            found[tuple(getattr(row, name) for name in _STATE)] = _from_row(row)
    return found


class _EntryKey(NamedTuple):
    """One stored affected entry, as of one version of its record (a replaced record has a newer `modified`)."""

    record_id: str
    position: int
    modified: str


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


class _Kept(Generic[_Key, _Value]):
    """What was built from stored rows, by a key naming one version of them, the least recently used dropped past
    `size`. Safe to share between threads; each `RecordStore` has its own.

    Used for prepared matchers of affected entries (keyed by `_EntryKey`: reading an entry into pydantic models and
    preparing its ranges costs far more than evaluating them, and the same entries come back in every query about
    their package, 770 for Bitnami gitlab) and parsed documents (keyed by id and `modified`). A replaced record has
    a newer `modified`, so what was kept of it simply misses.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[_Key, _Value] = OrderedDict()
        self._lock = threading.Lock()

    def offer(self, values: Iterable[tuple[_Key, _Value]]) -> None:
        """Keep these while there is room, dropping nothing kept already; stops taking them once full."""
        for key, value in values:
            with self._lock:
                if len(self._kept) >= self.size:
                    return
                self._kept.setdefault(key, value)

    def get(self, keys: Sequence[_Key], load: Callable[[list[_Key]], dict[_Key, _Value]]) -> dict[_Key, _Value]:
        """The value of each of `keys`; those not kept come from `load` (one call for all of them)."""
        found: dict[_Key, _Value] = {}
        with self._lock:
            for key in keys:
                kept = self._kept.get(key)
                if kept is not None:
                    self._kept.move_to_end(key)
                    found[key] = kept
        missing = [key for key in keys if key not in found]
        if missing:
            loaded = load(missing)
            found.update(loaded)
            with self._lock:
                self._kept.update(loaded)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return found


def _matching_records(
    candidates: list[_EntryKey], matchers: dict[_EntryKey, AffectedMatcher], version: str
) -> set[str]:
    """The records of the candidate entries that `version` is affected by.

    A version the ecosystem's parser refuses (legacy PyPI ``0.1-bulbasaur``) still matches the entries that list
    it in ``versions``, as OSV.dev answers; only when no entry lists it and some entry's ranges had to judge it
    is it refused (`InvalidVersion`), rather than answered "not affected".
    """
    matched, refusal = _matching_entries(candidates, matchers, version)
    if refusal is not None and not matched:
        raise refusal
    return {key.record_id for key in matched}


def _matching_entries(
    candidates: Iterable[_EntryKey], matchers: dict[_EntryKey, AffectedMatcher], version: str
) -> tuple[list[_EntryKey], InvalidVersion | None]:
    """The candidate entries that include `version`, and the first refusal of a range that could not judge it."""
    matched: list[_EntryKey] = []
    matched_records: set[str] = set()
    refusal: InvalidVersion | None = None
    for key in candidates:
        if key.record_id in matched_records:
            continue  # another entry of the record (another release, say) already matched: the answer stands
        try:
            if matchers[key].affects(version):
                matched.append(key)
                matched_records.add(key.record_id)
        except InvalidVersion as exc:
            refusal = refusal or exc
    return matched, refusal


def _load_matchers(conn: sa.Connection, keys: list[_EntryKey]) -> dict[_EntryKey, AffectedMatcher]:
    entries: dict[tuple[str, int], str] = {}
    for ids in _chunks(sorted({key.record_id for key in keys})):
        for record_id, position, entry in conn.execute(_ENTRIES[conn.dialect.name], {"ids": ids}):
            entries[record_id, position] = entry
    return {key: matcher(Affected.model_validate(orjson.loads(entries[key.record_id, key.position]))) for key in keys}


def _from_row(row: sa.Row[Any]) -> VulnerabilityRecord:
    return VulnerabilityRecord(
        osv=OsvRecord.from_document(row.doc),
        provenance=Provenance(
            source=row.source,
            source_id=row.source_id,
            licence=row.licence,
            imported_at=_utc(row.imported_at),
            origin=row.origin,
        ),
        tlp=Tlp(row.tlp),
        status=RecordStatus(row.status),
        scores=[ComputedScore(**score) for score in row.scores],
        known_exploited=bool(row.known_exploited),
        group_id=row.group_id,
        repairs=tuple(row.repairs or ()),
    )


def _kev_row(entry: kev_format.KevEntry, version: str) -> dict[str, Any]:
    return {
        "cve_id": entry.cve_id,
        "vendor_project": entry.vendor_project,
        "product": entry.product,
        "vulnerability_name": entry.vulnerability_name,
        "date_added": entry.date_added,
        "due_date": entry.due_date,
        "known_ransomware_campaign_use": entry.known_ransomware_campaign_use,
        "catalog_version": version,
        "entry": entry.raw,
    }
