"""Matching partners' SBOMs: exactly what `clearinghouse affected` answers, per component; incremental matching of
records written later; alerts only where the partner may read the record; acknowledgement; another organisation's
asset is missing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from clearinghouse.errors import IllegalTransition, InvalidVersion, NotFound
from clearinghouse.formats import cyclonedx
from clearinghouse.ingest.pipeline import MATCH_RECORDS, ImportPipeline
from clearinghouse.partners.rules import package_of
from clearinghouse.partners.service import AssetService
from clearinghouse.policy import Operator
from clearinghouse.records.model import OsvRecord
from clearinghouse.store.jobs import JobQueue
from clearinghouse.store.records import PackageVersion
from clearinghouse.store.tables import alerts, jobs, records
from clearinghouse.workers import build_worker
from tests.partners.conftest import GO_RECORDS, PROTON_BRIDGE, Partners


def _expected_by_affected(partners: Partners, data: bytes) -> set[tuple[str, str]]:
    """(component ref, record id) for every component, asking `RecordStore.affected` one component at a time."""
    expected: set[tuple[str, str]] = set()
    for component in cyclonedx.parse(data).components:
        package = package_of(component.purl, component.version)
        if package is None or package.version is None:
            continue
        try:
            found = partners.records.affected(package.ecosystem, package.name, package.version)
        except InvalidVersion:
            continue
        expected |= {(component.ref, record.id) for record in found}
    return expected


def test_an_sbom_matches_exactly_what_affected_answers_for_each_component(partners: Partners) -> None:
    data = PROTON_BRIDGE.read_bytes()
    uploaded = partners.service.upload(partners.hospital, data)
    assert uploaded["kept"] == 201 and uploaded["problem_count"] == 0
    matches = partners.service.matches(partners.hospital, uploaded["asset"]["id"])
    got = {(m["component"]["ref"], m["record_id"]) for m in matches}
    expected = _expected_by_affected(partners, data)
    assert got == expected
    assert len(expected) >= 20  # the real modules of proton-bridge 1.6.3 are affected by many Go advisories
    assert uploaded["matches"] == len(expected)
    for match in matches:  # each says why: which entry and range includes which version
        assert match["reasons"] and all(match["component"]["version"] in reason for reason in match["reasons"])
        assert match["tlp"] == "CLEAR"


def test_match_packages_agrees_with_affected_on_many_versions(partners: Partners) -> None:
    """Every event version of every Go record's ranges, and a neighbour of each, as (package, version) pairs."""
    pairs: set[PackageVersion] = set()
    for line in GO_RECORDS.read_bytes().splitlines():
        record = OsvRecord.from_document(orjson.loads(line))
        for affected in record.affected or ():
            assert affected.package is not None
            for rng in affected.ranges or ():
                for event in rng.events:
                    version = event.value if event.value != "0" else "0.0.1"
                    for candidate in (version, version + "-rc.1", "v" + version.removeprefix("v"), "99.0.0"):
                        pairs.add(PackageVersion("Go", affected.package.name, candidate))
    assert len(pairs) > 300
    answers = partners.records.match_packages(pairs)
    for pair in pairs:
        assert pair.version is not None
        try:
            expected = {r.id for r in partners.records.affected(pair.ecosystem, pair.name, pair.version)}
        except InvalidVersion:
            assert answers[pair].refusal is not None and answers[pair].entries == ()
            continue
        assert {record_id for record_id, _ in answers[pair].entries} == expected, pair


def test_records_written_later_are_matched_by_the_job_and_raise_alerts(partners: Partners, tmp_path: Path) -> None:
    # The hospital's SBOM is on file before a new advisory about one of its modules arrives.
    uploaded = partners.service.upload(partners.hospital, PROTON_BRIDGE.read_bytes())
    asset_id = uploaded["asset"]["id"]
    before = {a["record_id"] for a in partners.service.alerts(partners.hospital)}
    component = next(
        c for c in cyclonedx.parse(PROTON_BRIDGE.read_bytes()).components if c.name == "github.com/emersion/go-mbox"
    )
    new_record = {
        "schema_version": "1.6.0",
        "id": "GO-2099-0001",
        "modified": "2026-12-01T00:00:00Z",
        "published": "2026-12-01T00:00:00Z",
        "summary": "Crafted IMAP literal crashes the client",
        "affected": [
            {
                "package": {"ecosystem": "Go", "name": "github.com/emersion/go-mbox"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "9.9.9"}]}],
            }
        ],
    }
    source = tmp_path / "new.jsonl"
    source.write_bytes(orjson.dumps(new_record))
    ImportPipeline(partners.records, workers=0).run([source])
    with partners.engine.connect() as conn:
        queued = conn.execute(sa.select(jobs.c.payload).where(jobs.c.kind == MATCH_RECORDS)).scalars().all()
    assert {"record_ids": ["GO-2099-0001"]} in queued
    # A worker runs the job: only the new record is matched, only against the components it can affect.
    _, worker = build_worker(partners.engine)
    worker.run_until_idle()
    raised = [a for a in partners.service.alerts(partners.hospital) if a["record_id"] not in before]
    assert [(a["record_id"], a["asset_id"], a["components"]) for a in raised] == [
        ("GO-2099-0001", asset_id, [component.ref])
    ]
    matches = partners.service.matches(partners.hospital, asset_id)
    assert any(m["record_id"] == "GO-2099-0001" and m["component"]["ref"] == component.ref for m in matches)
    # Running the same job again raises nothing new.
    assert partners.service.match_records(["GO-2099-0001"]) == 0


def test_alerts_only_for_records_the_partner_may_read(partners: Partners) -> None:
    with partners.engine.begin() as conn:  # one advisory is AMBER, one still embargoed (no case names the hospital)
        conn.execute(sa.update(records).where(records.c.id == "GO-2022-0588").values(tlp="AMBER"))
        conn.execute(sa.update(records).where(records.c.id == "GO-2022-0493").values(status="embargoed"))
    uploaded = partners.service.upload(partners.hospital, PROTON_BRIDGE.read_bytes())
    asset_id = uploaded["asset"]["id"]
    seen = {a["record_id"] for a in partners.service.alerts(partners.hospital)}
    assert {"GO-2022-0588", "GO-2022-0493"}.isdisjoint(seen) and seen
    listed = {m["record_id"] for m in partners.service.matches(partners.hospital, asset_id)}
    assert {"GO-2022-0588", "GO-2022-0493"}.isdisjoint(listed)
    # Staff see every match, whatever its label; the partner is told once the advisory is released to it.
    staff = {m["record_id"] for m in partners.service.matches(Operator("test"), asset_id)}
    assert {"GO-2022-0588", "GO-2022-0493"} <= staff
    with partners.engine.begin() as conn:
        conn.execute(sa.update(records).where(records.c.id == "GO-2022-0493").values(status="published"))
    assert partners.service.match_records(["GO-2022-0493"]) == 1
    assert "GO-2022-0493" in {a["record_id"] for a in partners.service.alerts(partners.hospital)}


def test_another_organisations_asset_and_alerts_are_missing(partners: Partners) -> None:
    uploaded = partners.service.upload(partners.hospital, PROTON_BRIDGE.read_bytes())
    asset_id = uploaded["asset"]["id"]
    for read in (partners.service.asset, partners.service.matches):
        with pytest.raises(NotFound):
            read(partners.bank, asset_id)
    with pytest.raises(NotFound):
        partners.service.vex(partners.bank, asset_id, "csaf")
    assert partners.service.list_assets(partners.bank) == []
    assert partners.service.alerts(partners.bank) == []
    alert_id = partners.service.alerts(partners.hospital)[0]["id"]
    with pytest.raises(NotFound):
        partners.service.acknowledge(partners.bank, alert_id, "not ours")


def test_an_alert_is_acknowledged_once(partners: Partners) -> None:
    partners.service.upload(partners.hospital, PROTON_BRIDGE.read_bytes())
    alert_id = partners.service.alerts(partners.hospital)[0]["id"]
    acknowledged = partners.service.acknowledge(partners.hospital, alert_id, "patched in release 1.6.4")
    assert acknowledged["state"] == "acknowledged" and acknowledged["acknowledged_by"].startswith("ops@")
    with pytest.raises(IllegalTransition):
        partners.service.acknowledge(partners.hospital, alert_id, "again")
    with partners.engine.connect() as conn:
        assert conn.execute(sa.select(alerts.c.state).where(alerts.c.id == alert_id)).scalar_one() == "acknowledged"


def _sbom(components: list[dict[str, Any]]) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}).encode()


def test_bad_components_are_named_and_the_rest_matched(partners: Partners) -> None:
    good = {"bom-ref": "good", "name": "golang.org/x/text", "purl": "pkg:golang/golang.org/x/text@v0.3.5"}
    data = _sbom(
        [
            good,
            {"bom-ref": "bad-purl", "name": "x", "purl": "pkg:golang/%zz"},
            {"bom-ref": "no-name", "purl": "pkg:golang/example.com/y@v1.0.0"},
            {"bom-ref": "bad-version", "name": "z", "purl": "pkg:golang/golang.org/x/text@not..a..version"},
            {"bom-ref": "good", "name": "duplicate reference"},
            "not an object",
        ]
    )
    uploaded = partners.service.upload(partners.hospital, data)
    problems = {(p["ref"], p["field"]) for p in uploaded["problems"]}
    assert problems == {
        ("bad-purl", "purl"),
        ("no-name", "name"),
        ("bad-version", "version"),
        ("good", "bom-ref"),
        ("components[5]", "$"),
    }
    assert uploaded["kept"] == 3 and uploaded["problem_count"] == 5
    matched = {m["component"]["ref"] for m in partners.service.matches(partners.hospital, uploaded["asset"]["id"])}
    assert matched == {"good"}


def test_a_failed_upload_leaves_nothing_behind(partners: Partners, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(AssetService, "_raise_alerts", broken)
    with pytest.raises(RuntimeError):
        partners.service.upload(partners.hospital, PROTON_BRIDGE.read_bytes())
    monkeypatch.undo()
    assert partners.service.list_assets(partners.hospital) == []
    assert JobQueue  # the job queue module is the store's; nothing was queued for the failed upload
    with partners.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one() == 0


def test_the_operator_uploads_for_a_named_partner_only(partners: Partners) -> None:
    hospital = partners.identity.organisation("Mercy Hospital")
    uploaded = partners.service.upload(Operator("cli"), PROTON_BRIDGE.read_bytes(), "bridge", hospital)
    assert uploaded["asset"]["organisation_id"] == hospital.id and uploaded["asset"]["name"] == "bridge"
    vendor = replace(hospital, kind=hospital.kind.__class__("vendor"))
    with pytest.raises(Exception, match="not a critical-infrastructure"):
        partners.service.upload(Operator("cli"), PROTON_BRIDGE.read_bytes(), "bridge", vendor)
