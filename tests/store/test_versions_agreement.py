"""`affected` agrees with the versions each record enumerates, on real records that used to be lost or refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from clearinghouse.errors import InvalidVersion
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.records import RecordStore
from tests.conftest import SAMPLE, sample_documents

FIXTURE = Path(__file__).parents[1] / "fixtures" / "versions-agreement.jsonl"


def test_every_listed_version_is_answered_by_affected(store: RecordStore) -> None:
    report = ImportPipeline(store, workers=0).run([FIXTURE])
    assert report.failed == 0 and report.repaired == 4
    pairs = 0
    for line in FIXTURE.read_bytes().splitlines():
        document = orjson.loads(line)
        for entry in document["affected"]:
            package = entry["package"]
            for version in entry.get("versions", ()):
                pairs += 1
                found = [r.id for r in store.affected(package["ecosystem"], package["name"], version)]
                assert document["id"] in found, (document["id"], version)
    assert pairs > 100


def test_a_record_with_one_malformed_range_is_kept_flagged_with_its_valid_ranges(store: RecordStore) -> None:
    report = ImportPipeline(store, workers=0).run([FIXTURE])
    warnings = {w.location.record: w for w in report.warnings}
    warning = warnings["PYSEC-2017-27"]
    assert warning.location.file == str(FIXTURE) and warning.location.line == 2
    assert warning.location.field == "$.affected[0].ranges[0]"
    assert "range dropped" in warning.reason and "b27f38a67573f4c989710c9bfb726dd4c1eeb929.patch" in warning.reason
    record = store.get("PYSEC-2017-27")
    assert record.repairs == (warning.message,)
    assert all(r.type.value != "GIT" for r in (record.osv.affected or [])[0].ranges or ())
    # python-fedora before 0.9.0 is affected again, and 0.9.0 is not.
    assert "PYSEC-2017-27" in [r.id for r in store.affected("PyPI", "python-fedora", "0.8.0")]
    assert "PYSEC-2017-27" not in [r.id for r in store.affected("PyPI", "python-fedora", "0.9.0")]
    assert "PYSEC-2019-155" in [r.id for r in store.affected("PyPI", "python-dbusmock", "0.15")]


def test_a_legacy_version_matches_the_lists_and_an_unlisted_unparseable_one_is_still_refused(
    store: RecordStore,
) -> None:
    ImportPipeline(store, workers=0).run([FIXTURE])
    assert "PYSEC-2008-8" in [r.id for r in store.affected("PyPI", "paramiko", "0.1-bulbasaur")]
    assert "PYSEC-2017-47" in [r.id for r in store.affected("PyPI", "ipython", "0.7.1.fix1")]
    with pytest.raises(InvalidVersion):
        store.affected("PyPI", "paramiko", "not a version")


def test_a_batch_answers_each_query_as_affected_does(store: RecordStore) -> None:
    # The OSV API's batch path (`affected_ids`): base and release ecosystems (AlmaLinux:8), every bound of every
    # range and listed version of the sample, plus versions between and refused ones, each answered as `affected`.
    ImportPipeline(store, workers=0).run([SAMPLE])
    queries: list[tuple[str, str, str]] = []
    for document in sample_documents():
        for entry in document.get("affected", ()):
            package = entry.get("package")
            if not package:
                continue
            bounds = [
                e for r in entry.get("ranges", ()) if r["type"] != "GIT" for ev in r["events"] for e in ev.values()
            ]
            for version in [*bounds, *entry.get("versions", ())[:2], "0.0.1", "not a version!"]:
                queries.append((package["ecosystem"], package["name"], version))
                queries.append((package["ecosystem"].split(":")[0], package["name"], version))
    assert any(":" in e for e, _n, _v in queries) and len(queries) > 500
    answers = store.affected_ids(queries)
    refused = 0
    for (ecosystem, name, version), answer in zip(queries, answers, strict=True):
        try:
            expected: list[str] | type[InvalidVersion] = [r.id for r in store.affected(ecosystem, name, version)]
        except InvalidVersion:
            expected = InvalidVersion
        if expected is InvalidVersion:
            refused += 1
            assert isinstance(answer, InvalidVersion), (ecosystem, name, version)
        else:
            assert answer == expected, (ecosystem, name, version)
    assert refused > 0
