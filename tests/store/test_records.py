"""The record store on SQLite and PostgreSQL: upsert rules, look-ups, grouping, KEV marking, atomic batches."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from clearinghouse.errors import InvalidVersion, NotFound
from clearinghouse.formats import kev, osv
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.ingest.readers import Limits
from clearinghouse.records.model import Affected, Provenance, VulnerabilityRecord
from clearinghouse.records.severity import compute_scores
from clearinghouse.records.versions import AffectedMatcher, affects, matcher, normalize_name
from clearinghouse.store import records as records_module
from clearinghouse.store.db import HEAD_REVISION, alembic_config, create_engine, migrate, stored_revision
from clearinghouse.store.records import RecordStore, UpsertOutcome, _EntryKey, _Kept
from clearinghouse.store.tables import affected_packages, metadata, record_identifiers, records
from tests.conftest import KEV_SAMPLE, SAMPLE, sample_documents


def make_record(document: dict[str, object]) -> VulnerabilityRecord:
    parsed = osv.parse(document)
    provenance = Provenance("test", parsed.id, None, datetime.now(UTC))
    return VulnerabilityRecord(osv=parsed, provenance=provenance, scores=compute_scores(parsed.all_severities()))


def minimal(record_id: str, modified: str, **fields: object) -> dict[str, object]:
    return {"id": record_id, "modified": modified, **fields}


def count(store: RecordStore, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_migrations_match_the_table_definitions(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_a_store_at_the_newest_migration_opens_without_migrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HEAD_REVISION is what lets `migrate` skip alembic: it must be alembic's own head.
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    assert stored_revision(engine) is None
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == HEAD_REVISION
    migrate(engine, "0004")
    assert stored_revision(engine) == "0004"
    migrate(engine)
    assert stored_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("frontier_criteria_sets"), "the newest migration ran"

    def no_upgrade(*_args: object) -> None:
        raise AssertionError("alembic ran for a store already at the newest migration")

    monkeypatch.setattr(command, "upgrade", no_upgrade)
    migrate(engine)


def test_migration_0006_moves_affected_entries_into_documents_and_back(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    by_package = {
        (d["id"], position): entry
        for d in sample_documents()
        for position, entry in enumerate(d.get("affected") or ())
        if entry.get("package")
    }
    query = ("PyPI", "tryton", "3.2.0")
    answer = [r.id for r in store.affected(*query)]
    assert answer, "the sample has records about this package"
    command.downgrade(alembic_config(store.engine), "0005")  # the entries come back from the documents
    with store.engine.connect() as conn:
        entries = conn.execute(sa.text("SELECT record_id, position, entry FROM affected_packages")).all()
    assert {(r, p): orjson.loads(e) if isinstance(e, str) else e for r, p, e in entries} == by_package
    migrate(store.engine)
    with store.engine.connect() as conn:
        assert "entry" not in {c["name"] for c in sa.inspect(conn).get_columns("affected_packages")}
    assert [r.id for r in RecordStore(store.engine).affected(*query)] == answer


def test_a_record_is_replaced_only_by_a_newer_modified(store: RecordStore) -> None:
    first = minimal("PYSEC-2099-1", "2024-01-01T00:00:00Z", summary="first")
    assert store.upsert([make_record(first)]).inserted == 1

    older = minimal("PYSEC-2099-1", "2023-06-01T00:00:00Z", summary="older")
    same = minimal("PYSEC-2099-1", "2024-01-01T00:00:00Z", summary="same time")
    outcome = store.upsert([make_record(older)])
    outcome.add(store.upsert([make_record(same)]))
    assert (outcome.updated, outcome.unchanged) == (0, 2)
    assert store.get("PYSEC-2099-1").osv.summary == "first"

    newer = minimal("PYSEC-2099-1", "2024-02-01T00:00:00Z", summary="newer", aliases=["CVE-2099-0001"])
    assert store.upsert([make_record(newer)]).updated == 1
    assert store.get("PYSEC-2099-1").osv.summary == "newer"
    assert [r.id for r in store.find("CVE-2099-0001")] == ["PYSEC-2099-1"]


def test_the_newest_copy_wins_within_one_batch(store: RecordStore) -> None:
    copies = [minimal("GO-2099-1", f"2024-0{m}-01T00:00:00Z", summary=str(m)) for m in (2, 5, 3)]
    outcome = store.upsert([make_record(c) for c in copies])
    assert outcome.inserted == 1
    assert store.get("GO-2099-1").osv.summary == "5"


def test_sample_import_export_round_trip_preserves_every_field(store: RecordStore) -> None:
    report = ImportPipeline(store).run([SAMPLE])
    originals = {d["id"]: d for d in sample_documents()}
    assert report.failed == 0 and report.outcome.inserted == len(originals)
    exported = {r.id: osv.dump(r.osv) for r in store.iter_records(batch_size=7)}
    assert exported == originals


def test_show_finds_records_by_alias_and_groups_them(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    # In the sample, CVE-2022-21736 is described by one Bitnami and two PyPI records (which share a GHSA).
    expected = {"BIT-tensorflow-2022-21736", "PYSEC-2022-115", "PYSEC-2022-60"}
    found = store.find("CVE-2022-21736")
    assert {r.id for r in found} == expected
    assert [r.id for r in store.find("PYSEC-2022-60")] == ["PYSEC-2022-60"]
    group = store.group(store.get("PYSEC-2022-60"))
    assert {r.id for r in group} == expected
    assert all(r.group_id == "CVE-2022-21736" for r in group)
    with pytest.raises(NotFound):
        store.get("NOPE-1")


def test_an_import_corrects_the_provisional_group_of_records_linked_only_through_another(
    store: RecordStore, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    documents = [
        minimal("GHSA-2099-aaaa-bbbb", "2024-01-01T00:00:00Z", aliases=["CVE-2099-0001"]),
        minimal("PYSEC-2099-1", "2024-01-01T00:00:00Z", aliases=["GHSA-2099-aaaa-bbbb"]),  # guessed: itself
    ]
    feed.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in documents))
    ImportPipeline(store).run([feed])
    assert {r.id: r.group_id for r in store.iter_records()} == {
        "GHSA-2099-aaaa-bbbb": "CVE-2099-0001",
        "PYSEC-2099-1": "CVE-2099-0001",
    }


def test_scores_are_computed_from_vectors(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    record = store.get("BIT-airflow-2020-13927")
    assert [(s.version, s.base_score, s.rating) for s in record.scores] == [("3.1", 9.8, "Critical")]


def test_kev_marks_records_by_alias_and_related_ids(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    catalog = kev.parse(KEV_SAMPLE.read_bytes(), str(KEV_SAMPLE))
    marked = store.replace_kev(catalog)
    cves = {entry.cve_id for entry in catalog.entries}
    expected = {
        d["id"]
        for d in sample_documents()
        if cves & ({d["id"]} | set(d.get("aliases") or ()) | set(d.get("related") or ()) | set(d.get("upstream") or ()))
    }
    assert expected, "the KEV sample is chosen to match sample records"
    assert marked == len(expected)
    assert {r.id for r in store.iter_records() if r.known_exploited} == expected
    # Importing records after the catalog marks them too.
    store.upsert([make_record(minimal("PYSEC-2099-9", "2024-01-01T00:00:00Z", aliases=[sorted(cves)[0]]))])
    store.mark_known_exploited()
    assert store.get("PYSEC-2099-9").known_exploited


def test_stats_count_by_source_and_ecosystem(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    documents = sample_documents()
    stats = store.stats()
    assert stats.records == len(documents)
    assert stats.withdrawn == sum(1 for d in documents if d.get("withdrawn"))
    assert stats.by_source["PyPI Advisory Database"] == sum(1 for d in documents if d["id"].startswith("PYSEC"))
    pypi = {d["id"] for d in documents for a in d["affected"] if a.get("package", {}).get("ecosystem") == "PyPI"}
    assert stats.by_ecosystem["PyPI"] == len(pypi)


@contextmanager
def inserts_failing_for(engine: sa.Engine, record_id: str) -> Iterator[None]:
    """Make the database refuse `record_id`'s affected_packages rows, the last rows a record's write inserts."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "CREATE FUNCTION fail_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.record_id = '{record_id}' THEN RAISE EXCEPTION 'disk I/O error'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER fail_one BEFORE INSERT ON affected_packages "
                    "FOR EACH ROW EXECUTE FUNCTION fail_one()"
                )
            )
        else:
            conn.execute(
                sa.text(
                    "CREATE TRIGGER fail_one BEFORE INSERT ON affected_packages "
                    f"WHEN NEW.record_id = '{record_id}' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("DROP TRIGGER fail_one ON affected_packages"))
                conn.execute(sa.text("DROP FUNCTION fail_one()"))
            else:
                conn.execute(sa.text("DROP TRIGGER fail_one"))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_batch_leaves_nothing_half_written(store: RecordStore, workers: int) -> None:
    bad = sample_documents()[3]
    assert bad["affected"][0]["package"], "the failure is injected when the record's packages are written"
    with inserts_failing_for(store.engine, bad["id"]):
        report = ImportPipeline(store, batch_size=10, workers=workers).run([SAMPLE])
    # The batch failed as a whole, then every record was retried alone: only the bad one is missing.
    assert report.failed == 1
    assert bad["id"] in report.errors[0].message and "disk I/O error" in report.errors[0].message
    assert count(store, records) == len(sample_documents()) - 1
    with store.engine.connect() as conn:
        orphans = conn.execute(
            sa.select(sa.func.count()).select_from(affected_packages).where(affected_packages.c.record_id == bad["id"])
        ).scalar_one()
        identifiers = conn.execute(
            sa.select(sa.func.count())
            .select_from(record_identifiers)
            .where(record_identifiers.c.record_id == bad["id"])
        ).scalar_one()
    assert (orphans, identifiers) == (0, 0)


def snapshot(store: RecordStore) -> dict[str, list[dict[str, object]]]:
    """Every row of the record tables but the import time, which differs from run to run."""
    keys = {
        records: ("id",),
        record_identifiers: ("record_id", "identifier", "kind"),
        affected_packages: ("record_id", "position"),
    }
    with store.engine.connect() as conn:
        return {
            table.name: sorted(
                (
                    {k: v for k, v in row._mapping.items() if k != "imported_at"}
                    for row in conn.execute(sa.select(table))
                ),
                key=lambda row: tuple(str(row[k]) for k in key),
            )
            for table, key in keys.items()
        }


def test_worker_processes_store_and_report_exactly_what_one_process_does(store: RecordStore, tmp_path: Path) -> None:
    documents = sample_documents()
    lines = [orjson.dumps(d) for d in documents]
    limits = Limits(max_record_bytes=max(map(len, lines)) + 1)
    bad_date = orjson.dumps(dict(documents[10], modified="2023-02-30T00:00:00Z"))
    too_large = orjson.dumps(
        {"id": "PYSEC-2099-50", "modified": "2024-01-01T00:00:00Z", "details": "A" * limits.max_record_bytes}
    )
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([*lines[:20], bad_date, b"{not json", *lines[20:40], too_large, *lines[40:]]) + b"\n")

    alone = ImportPipeline(store, limits, workers=0).run([feed])
    stored_alone = snapshot(store)
    with store.engine.begin() as conn:
        for table in (affected_packages, record_identifiers, records):
            conn.execute(sa.delete(table))
    pooled = ImportPipeline(store, limits, batch_size=7, workers=2).run([feed])

    assert "wait" in pooled.seconds, "the records went through worker processes"
    assert (
        (pooled.read, pooled.failed, pooled.outcome)
        == (alone.read, alone.failed, alone.outcome)
        == (
            len(documents) + 3,
            3,
            UpsertOutcome(inserted=len(documents)),
        )
    )
    assert [e.message for e in pooled.errors] == [e.message for e in alone.errors]
    assert f"{feed}:21, record {documents[10]['id']}, field $.modified" in pooled.errors[0].message
    assert f"{feed}:22" in pooled.errors[1].message and f"{feed}:43" in pooled.errors[2].message
    assert snapshot(store) == stored_alone


def test_kev_marks_are_cleared_when_the_catalog_drops_a_cve(store: RecordStore) -> None:
    ImportPipeline(store).run([SAMPLE])
    catalog = kev.parse(KEV_SAMPLE.read_bytes(), str(KEV_SAMPLE))
    assert store.replace_kev(catalog) > 0
    assert store.replace_kev(dataclasses.replace(catalog, entries=[])) == 0
    assert not any(r.known_exploited for r in store.iter_records())


def test_records_read_again_show_their_kev_mark_as_it_is_now(store: RecordStore) -> None:
    """Records read once are kept by their state: a KEV mark made or cleared since is what the next read shows."""
    ImportPipeline(store).run([SAMPLE])
    catalog = kev.parse(KEV_SAMPLE.read_bytes(), str(KEV_SAMPLE))
    ids = [r.id for r in store.iter_records()]
    assert not any(r.known_exploited for r in store.many(ids))
    store.replace_kev(catalog)
    marked = {r.id for r in store.iter_records() if r.known_exploited}
    assert marked and {r.id for r in store.many(ids) if r.known_exploited} == marked
    store.replace_kev(dataclasses.replace(catalog, entries=[]))
    assert not any(r.known_exploited for r in store.many(ids))


def test_replacing_a_record_replaces_its_identifiers_and_packages(store: RecordStore) -> None:
    document = copy.deepcopy(next(d for d in sample_documents() if d["id"].startswith("PYSEC")))
    store.upsert([make_record(document)])
    document["modified"] = "2030-01-01T00:00:00Z"
    document["aliases"] = ["CVE-2099-4242"]
    document["affected"] = document["affected"][:1]
    store.upsert([make_record(document)])
    assert [r.id for r in store.find("CVE-2099-4242")] == [document["id"]]
    with store.engine.connect() as conn:
        packages = conn.execute(
            sa.select(sa.func.count()).where(affected_packages.c.record_id == document["id"])
        ).scalar_one()
    assert packages == 1


def _answer(store: RecordStore, ecosystem: str, name: str, version: str) -> list[str] | str:
    try:
        return [r.id for r in store.affected(ecosystem, name, version)]
    except InvalidVersion as exc:
        return f"InvalidVersion: {exc}"


def _brute_force(stored: list[VulnerabilityRecord], ecosystem: str, name: str, version: str) -> list[str] | str:
    """What `affected` must answer: every stored entry for the package evaluated on its own."""
    key = normalize_name(ecosystem, name)
    found = set()
    try:
        for record in stored:
            for entry in record.osv.affected or ():
                package = entry.package
                if package is None or package.ecosystem.split(":")[0] != ecosystem.split(":")[0]:
                    continue
                if ":" in ecosystem and package.ecosystem != ecosystem:
                    continue
                if normalize_name(package.ecosystem, package.name) == key and affects(entry, version):
                    found.add(record.id)
    except InvalidVersion as exc:
        return f"InvalidVersion: {exc}"
    return sorted(found)


def test_affected_answers_as_evaluating_every_stored_entry_does(store: RecordStore) -> None:
    """The same records (whole records, not only ids) in the same order as brute force, on every back end."""
    ImportPipeline(store).run([SAMPLE])
    stored = list(store.iter_records())
    queries = set()
    for record in stored:
        for entry in record.osv.affected or ():
            if entry.package is None:
                continue
            versions = {e.value for r in entry.ranges or () for e in r.events if r.type.value != "GIT"}
            versions |= set(entry.versions or ()) | {"0.0.1", "999.0"}
            for ecosystem in {entry.package.ecosystem, entry.package.ecosystem.split(":")[0]}:
                queries |= {(ecosystem, entry.package.name, v) for v in versions if v != "0"}
    answered = 0
    for query in sorted(queries):
        expected = _brute_force(stored, *query)
        assert _answer(store, *query) == expected, query
        if isinstance(expected, list):
            assert store.affected(*query) == store.many(expected)
            answered += bool(expected)
    assert answered >= 50, "the sample is chosen to give many matches"


def test_a_store_that_read_every_record_answers_affected_from_what_it_kept(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report worker reads every record to build its duplicate index (`iter_records(keep=True)`): its triage then
    answers from the records and prepared entries kept, exactly as brute force, reading no document again; a record
    replaced afterwards is answered from its replacement."""
    ImportPipeline(store).run([SAMPLE])
    warmed = RecordStore(store.engine)
    stored = list(warmed.iter_records(keep=True))
    loaded: list[str] = []
    load_matchers, load_records = records_module._load_matchers, records_module._load_records

    def counting_matchers(conn: sa.Connection, keys: list[_EntryKey]) -> dict[_EntryKey, AffectedMatcher]:
        loaded.extend(key.record_id for key in keys)
        return load_matchers(conn, keys)

    def counting_records(conn: sa.Connection, states: list[tuple[object, ...]]) -> dict[tuple[object, ...], object]:
        loaded.extend(str(state[0]) for state in states)
        return load_records(conn, states)  # type: ignore[return-value]

    monkeypatch.setattr(records_module, "_load_matchers", counting_matchers)
    monkeypatch.setattr(records_module, "_load_records", counting_records)
    queries = {
        (entry.package.ecosystem, entry.package.name, event.value)
        for record in stored
        for entry in record.osv.affected or ()
        if entry.package is not None
        for rng in entry.ranges or ()
        if rng.type.value != "GIT"
        for event in rng.events
        if event.value != "0"
    }
    answered = 0
    for query in sorted(queries):
        expected = _brute_force(stored, *query)
        assert _answer(warmed, *query) == expected, query
        answered += bool(expected)
    assert answered >= 50, "the sample is chosen to give many matches"
    assert loaded == []
    first = next(record for record in stored if record.osv.affected and record.osv.affected[0].package)
    package = first.osv.affected[0].package
    assert package is not None
    replacement = minimal(
        first.id,
        "2099-01-01T00:00:00Z",
        affected=[{"package": {"ecosystem": package.ecosystem, "name": package.name}, "versions": ["0.0.0-replaced"]}],
    )
    store.upsert([make_record(replacement)])
    assert first.id in _answer(warmed, package.ecosystem, package.name, "0.0.0-replaced")
    assert first.id in loaded


def test_affected_reads_one_state_of_the_store_while_an_import_replaces_records(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = {"ecosystem": "PyPI", "name": "demo-pkg"}
    affected = [{"package": package, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]
    store.upsert([make_record(minimal("PYSEC-2099-8", "2024-01-01T00:00:00Z", affected=affected))])
    load = records_module._load_matchers

    def replaced_meanwhile(conn: sa.Connection, keys: list[_EntryKey]) -> dict[_EntryKey, AffectedMatcher]:
        # Another process's import commits between the query's candidate rows and its entries: the record
        # loses its affected entries.
        other = RecordStore(create_engine(store.engine.url.render_as_string(hide_password=False)))
        other.upsert([make_record(minimal("PYSEC-2099-8", "2024-02-01T00:00:00Z"))])
        other.engine.dispose()
        return load(conn, keys)

    monkeypatch.setattr(records_module, "_load_matchers", replaced_meanwhile)
    assert [r.id for r in store.affected("PyPI", "demo-pkg", "1.0")] == ["PYSEC-2099-8"]
    monkeypatch.setattr(records_module, "_load_matchers", load)
    assert store.affected("PyPI", "demo-pkg", "1.0") == [], "the next query sees the replacement"


def test_the_matcher_cache_is_bounded_and_loads_what_it_misses_in_one_call() -> None:
    # A server answers `affected` for days: prepared matchers must not grow without bound.
    entry = Affected.model_validate({"package": {"ecosystem": "PyPI", "name": "demo"}, "versions": ["1.0"]})
    loads: list[list[str]] = []

    def load(keys: list[_EntryKey]) -> dict[_EntryKey, AffectedMatcher]:
        loads.append([key.record_id for key in keys])
        return {key: matcher(entry) for key in keys}

    def keys(*ids: str) -> list[_EntryKey]:
        return [_EntryKey(i, 0, "2024-01-01 00:00:00.000000") for i in ids]

    cache: _Kept[_EntryKey, AffectedMatcher] = _Kept(size=3)
    assert set(cache.get(keys("a", "b", "c"), load)) == set(keys("a", "b", "c"))
    cache.get(keys("a"), load)  # "a" is now the most recently used
    cache.get(keys("d"), load)  # over the bound: "b", the least recently used, goes
    cache.get(keys("a", "b", "c", "d"), load)
    assert loads == [["a", "b", "c"], ["d"], ["b"]]
    # Offered (a worker warming up): kept while there is room, evicting nothing and preparing at most one past it.
    offered = _Kept[_EntryKey, AffectedMatcher](size=2)
    prepared: list[str] = []

    def prepare(record_id: str) -> tuple[_EntryKey, AffectedMatcher]:
        prepared.append(record_id)
        return keys(record_id)[0], matcher(entry)

    offered.offer(prepare(i) for i in ("a", "b", "c", "d"))
    offered.offer(prepare(i) for i in ("e",))
    assert prepared == ["a", "b", "c", "e"]
    before = len(loads)
    assert set(offered.get(keys("a", "b"), load)) == set(keys("a", "b"))
    assert len(loads) == before  # both were kept: nothing loaded


def test_affected_follows_replaced_records_and_rejects_unparseable_versions(store: RecordStore) -> None:
    def record_fixed_in(fixed: str, modified: str) -> VulnerabilityRecord:
        events = [{"introduced": "0"}, {"fixed": fixed}]
        package = {"ecosystem": "PyPI", "name": "Demo_Pkg"}
        affected = [{"package": package, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]
        return make_record(minimal("PYSEC-2099-7", modified, affected=affected))

    store.upsert([record_fixed_in("1.5", "2024-01-01T00:00:00Z")])
    assert [r.id for r in store.affected("PyPI", "demo-pkg", "1.4")] == ["PYSEC-2099-7"]
    # Prepared ranges are kept per stored entry: the replacing record's range must be the one evaluated.
    store.upsert([record_fixed_in("1.3", "2024-02-01T00:00:00Z")])
    assert store.affected("PyPI", "demo-pkg", "1.4") == []
    assert [r.id for r in store.affected("PyPI", "demo-pkg", "1.2")] == ["PYSEC-2099-7"]
    # Parsed documents are kept per (id, modified) too: the replacing record's document is the one answered.
    (replaced,) = store.many(["PYSEC-2099-7"])
    assert [e.fixed for a in replaced.osv.affected or () for r in a.ranges or () for e in r.events] == [None, "1.3"]
    with pytest.raises(InvalidVersion, match="not a version"):
        store.affected("PyPI", "demo-pkg", "not a version")
    assert store.affected("PyPI", "other-pkg", "not a version") == []  # no entry to judge it by


def test_what_follows_a_write_commits_with_it_or_not_at_all(store: RecordStore) -> None:
    """The import queues partners' matching inside the transaction that writes the records (`write(..., then)`):
    it is told exactly the ids written, and if it fails nothing of the write is kept."""
    plans = store.row_plans
    told: list[list[str]] = []
    store.write([plans.prepare(make_record(minimal("PYSEC-2099-1", "2024-01-01T00:00:00Z")))])
    batch = [plans.prepare(make_record(minimal(i, "2024-01-01T00:00:00Z"))) for i in ("PYSEC-2099-1", "PYSEC-2099-2")]
    store.write(batch, lambda conn, written: told.append(written))
    assert told == [["PYSEC-2099-2"]]  # the stored one was unchanged

    def fail(conn: sa.Connection, written: list[str]) -> None:
        raise RuntimeError("queueing failed")

    with pytest.raises(RuntimeError, match="queueing failed"):
        store.write([plans.prepare(make_record(minimal("PYSEC-2099-3", "2024-01-01T00:00:00Z")))], fail)
    with pytest.raises(NotFound):
        store.get("PYSEC-2099-3")
