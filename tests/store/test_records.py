"""The record store on SQLite and PostgreSQL: upsert rules, look-ups, grouping, KEV marking, atomic batches."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from clearinghouse.errors import NotFound
from clearinghouse.formats import kev, osv
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.records.model import Provenance, VulnerabilityRecord
from clearinghouse.records.severity import compute_scores
from clearinghouse.store import records as store_module
from clearinghouse.store.records import RecordStore
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


def test_a_failing_batch_leaves_nothing_half_written(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    documents = sample_documents()[:5]
    real_rows = store_module._affected_rows

    def failing_rows(record):  # type: ignore[no-untyped-def]
        if record.id == documents[3]["id"]:
            raise sa.exc.OperationalError("insert", {}, Exception("disk I/O error"))
        return real_rows(record)

    monkeypatch.setattr(store_module, "_affected_rows", failing_rows)
    report = ImportPipeline(store, batch_size=100).run([SAMPLE])
    # The batch failed as a whole, then every record was retried alone: only the bad one is missing.
    assert report.failed == 1
    assert documents[3]["id"] in report.errors[0].message
    assert count(store, records) == len(sample_documents()) - 1
    with store.engine.connect() as conn:
        orphans = conn.execute(
            sa.select(sa.func.count())
            .select_from(affected_packages)
            .where(affected_packages.c.record_id == documents[3]["id"])
        ).scalar_one()
        identifiers = conn.execute(
            sa.select(sa.func.count())
            .select_from(record_identifiers)
            .where(record_identifiers.c.record_id == documents[3]["id"])
        ).scalar_one()
    assert (orphans, identifiers) == (0, 0)


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
