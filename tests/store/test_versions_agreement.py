"""`affected` agrees with the versions each record enumerates, on real records that used to be lost or refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from clearinghouse.errors import InvalidVersion
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.records import RecordStore

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
