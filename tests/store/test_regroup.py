"""Regrouping after an import looks only at the records the import can have moved: it must agree with grouping
the whole store, whatever was imported before and however aliases were added, dropped or conflicting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearinghouse.formats import osv
from clearinghouse.records import grouping
from clearinghouse.records.grouping import group_records, provisional_group
from clearinghouse.records.model import Provenance, VulnerabilityRecord
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import affected_packages, record_identifiers, records

RECORD_IDS = ["GHSA-aaaa", "GHSA-bbbb", "PYSEC-1", "PYSEC-2", "GO-1", "CVE-2099-0001", "ALBA-1"]
# Aliases name other records, CVEs (two CVEs never share a group) and identifiers no record has.
ALIASES = [*RECORD_IDS, "CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003", "X-1", "X-2"]

imports = st.lists(  # imports, each of a few records (an id and its aliases)
    st.lists(st.tuples(st.sampled_from(RECORD_IDS), st.sets(st.sampled_from(ALIASES), max_size=3)), max_size=3),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('regroup') / 'store.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def as_imported(record_id: str, aliases: set[str], step: int) -> VulnerabilityRecord:
    """A record as an import stores it: with its provisional group."""
    document = {"id": record_id, "modified": f"2024-01-01T00:00:{step:02d}Z", "aliases": sorted(aliases)}
    parsed = osv.parse(document)
    return VulnerabilityRecord(
        osv=parsed,
        provenance=Provenance("test", record_id, None, datetime.now(UTC)),
        group_id=provisional_group(record_id, parsed.aliases or ()),
    )


def whole_store_grouping(store: RecordStore) -> dict[str, str]:
    with store.engine.connect() as conn:
        aliases: dict[str, list[str]] = {record_id: [] for record_id in conn.execute(sa.select(records.c.id)).scalars()}
        for record_id, alias in conn.execute(
            sa.select(record_identifiers.c.record_id, record_identifiers.c.identifier).where(
                record_identifiers.c.kind == "alias"
            )
        ):
            aliases[record_id].append(alias)
    return group_records(aliases.items()).group_of


@settings(max_examples=150, deadline=None)
@given(imports=imports)
# Found by this test: GHSA-aaaa dropping the CVE it shared with PYSEC-2 changes PYSEC-2's group (the four records
# were over the size cap together), though nothing links the two any more.
@example(
    imports=[
        [("GHSA-bbbb", set()), ("GHSA-aaaa", {"CVE-2099-0001"})],
        [("PYSEC-2", {"CVE-2099-0001"}), ("PYSEC-1", {"GHSA-aaaa", "GHSA-bbbb"})],
        [("GHSA-aaaa", set())],
    ]
)
def test_regrouping_what_an_import_touched_agrees_with_grouping_the_whole_store(
    engine: sa.Engine, imports: list[list[tuple[str, set[str]]]]
) -> None:
    with engine.begin() as conn:
        for table in (affected_packages, record_identifiers, records):
            conn.execute(sa.delete(table))
    store = RecordStore(engine)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouping, "MAX_GROUP_SIZE", 3)  # small enough for these imports to reach it
        for step, batch in enumerate(imports):
            outcome = store.upsert([as_imported(record_id, aliases, step) for record_id, aliases in batch])
            if outcome.written:
                store.regroup(outcome.written, outcome.earlier_groups)
            stored = {record.id: record.group_id for record in store.iter_records()}
            assert stored == whole_store_grouping(store), f"after import {step}"


def test_a_replaced_record_reports_the_group_it_left(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in (affected_packages, record_identifiers, records):
            conn.execute(sa.delete(table))
    store = RecordStore(engine)
    first = store.upsert([as_imported("GHSA-aaaa", {"CVE-2099-0001"}, 0)])
    assert (first.written, first.earlier_groups) == ({"GHSA-aaaa"}, set())
    replaced = store.upsert([as_imported("GHSA-aaaa", set(), 1)])
    assert (replaced.written, replaced.earlier_groups) == ({"GHSA-aaaa"}, {"CVE-2099-0001"})
    unchanged = store.upsert([as_imported("GHSA-aaaa", set(), 1)])
    assert (unchanged.unchanged, unchanged.written) == (1, set())
