"""CSAF 2.0 export of the bundled sample: schema, the `csaf` validator's mandatory tests, and the mapping itself."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cvss import CVSS2, CVSS3

from clearinghouse.formats import csaf, kev, osv
from clearinghouse.records.model import Provenance, RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.records.severity import compute_scores
from clearinghouse.records.sources import source_of
from clearinghouse.schemas import schema_errors
from clearinghouse.sharing.export import ExportFormat, file_name
from tests.conftest import KEV_SAMPLE, sample_documents

KEV_CVES = {entry.cve_id for entry in kev.parse(KEV_SAMPLE.read_bytes()).entries}
CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


def make_record(document: dict[str, Any], **fields: Any) -> VulnerabilityRecord:
    """A stored record as the importer builds it (source, withdrawn status, scores, KEV flag), no database."""
    parsed = osv.parse(document)
    source = source_of(parsed.id)
    identifiers = {parsed.id, *(parsed.aliases or ()), *(parsed.related or ()), *(parsed.upstream or ())}
    values: dict[str, Any] = {
        "osv": parsed,
        "provenance": Provenance(source.name, parsed.id, source.licence, datetime(2026, 1, 1, tzinfo=UTC)),
        "status": RecordStatus.WITHDRAWN if parsed.withdrawn else RecordStatus.PUBLISHED,
        "scores": compute_scores(parsed.all_severities()),
        "known_exploited": bool(identifiers & KEV_CVES),
    }
    return VulnerabilityRecord(**(values | fields))


SAMPLE_RECORDS = {document["id"]: make_record(document) for document in sample_documents()}


def edge_records() -> dict[str, VulnerabilityRecord]:
    """Hand-made records for the cases the sample lacks."""
    base = {"modified": "2024-03-01T00:00:00Z", "published": "2024-02-01T00:00:00Z"}
    pypi = {"ecosystem": "PyPI", "name": "example-pkg"}
    unsorted = {
        "type": "ECOSYSTEM",
        "events": [{"introduced": "1.5"}, {"introduced": "0"}, {"fixed": "1.7"}, {"fixed": "1.2"}],
    }
    overlapping = [{"introduced": "14.0.0"}, {"fixed": "14.14.1"}, {"introduced": "14.14.0"}, {"fixed": "14.20.0"}]
    return {
        "unsorted-events": make_record(
            {**base, "id": "PYSEC-2099-1", "summary": "Unsorted", "affected": [{"package": pypi, "ranges": [unsorted]}]}
        ),
        "overlapping-pairs": make_record(
            {
                **base,
                "id": "BIT-node-2099-1",
                "affected": [
                    {
                        "package": {"ecosystem": "Bitnami", "name": "node", "purl": "pkg:bitnami/node"},
                        "ranges": [{"type": "SEMVER", "events": overlapping}],
                    }
                ],
            }
        ),
        "range-like-version": make_record(
            {
                **base,
                "id": "OSV-2099-1",
                "affected": [{"package": {"ecosystem": "OSS-Fuzz", "name": "icu"}, "versions": ["71.x", "v72.1"]}],
            }
        ),
        "last-affected-and-v4": make_record(
            {
                **base,
                "id": "PYSEC-2099-2",
                "aliases": ["CVE-2099-0002", "GHSA-aaaa-bbbb-cccc"],
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:L/UI:R/S:C/C:L/I:H/A:N"},
                    {"type": "CVSS_V3", "score": "CVSS:3.0/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
                    {"type": "CVSS_V2", "score": "AV:N/AC:M/Au:S/C:P/I:N/A:C"},
                    {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
                ],
                "affected": [
                    {
                        "package": pypi,
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.4"}]}],
                    },
                    {
                        "package": {**pypi, "name": "other"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                    },
                ],
                "database_specific": {"cwe_ids": ["CWE-79", "not-a-cwe"]},
            },
            tlp=Tlp.AMBER_STRICT,
            known_exploited=True,
        ),
        "no-affected": make_record({**base, "id": "PYSEC-2099-3", "details": "Nothing is named."}),
        "draft": make_record(
            {**base, "id": "PYSEC-2099-4", "affected": [{"package": pypi, "versions": ["1.0"]}]},
            status=RecordStatus.DRAFT,
        ),
        "placeholder-modified": make_record(
            {"id": "GO-2099-1", "modified": "0001-01-01T00:00:00Z", "published": "2023-05-01T10:00:00Z"}
        ),
    }


EDGE_RECORDS = edge_records()
ALL_RECORDS = {**SAMPLE_RECORDS, **{f"edge:{k}": v for k, v in EDGE_RECORDS.items()}}


def product_ids(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every product of the tree by id, with the category and name ("branch") of the branch that holds it."""
    found: dict[str, dict[str, Any]] = {}

    def walk(branches: list[dict[str, Any]]) -> None:
        for branch in branches:
            if "product" in branch:
                product = branch["product"]
                assert product["product_id"] not in found, "product ids are unique"
                found[product["product_id"]] = {**product, "category": branch["category"], "branch": branch["name"]}
            walk(branch.get("branches", []))

    walk(document.get("product_tree", {}).get("branches", []))
    return found


def referenced_ids(vulnerability: dict[str, Any]) -> set[str]:
    ids = {p for status in vulnerability.get("product_status", {}).values() for p in status}
    ids |= {p for score in vulnerability.get("scores", []) for p in score["products"]}
    for key in ("remediations", "threats"):
        ids |= {p for item in vulnerability.get(key, []) for p in item.get("product_ids", [])}
    return ids


@pytest.mark.parametrize("record_id", list(ALL_RECORDS))
def test_every_record_is_a_valid_csaf_document(record_id: str) -> None:
    record = ALL_RECORDS[record_id]
    document = csaf.dump(record)
    assert schema_errors("csaf-2.0", document) == []
    assert document["document"]["tracking"]["id"] == record.id
    vulnerability = document["vulnerabilities"][0]
    # The product checks the `csaf` validator makes too (6.1.1, 6.1.2), so they hold where it is not installed.
    assert referenced_ids(vulnerability) <= set(product_ids(document))
    status = vulnerability.get("product_status", {})
    affected = set(status.get("known_affected", [])) | set(status.get("last_affected", []))
    assert not affected & set(status.get("fixed", []))
    expected = "csaf_security_advisory" if record.osv.affected else "csaf_base"
    assert document["document"]["category"] == expected


def _csaf_command() -> str | None:
    found = shutil.which("csaf")
    if found:
        return found
    beside = Path(sys.executable).parent / "csaf"  # the dev extra installs it in the venv, maybe not on PATH
    return str(beside) if beside.exists() else None


@pytest.mark.slow
def test_the_csaf_validator_passes_every_export_and_fails_a_broken_one(tmp_path: Path) -> None:
    command = _csaf_command()
    if command is None:
        pytest.skip("the `csaf` validator is not installed (pip install -e '.[dev]' provides it)")
    for record in ALL_RECORDS.values():
        document = csaf.dump(record)
        (tmp_path / file_name(ExportFormat.CSAF, record, document)).write_bytes(orjson.dumps(document))
    run = subprocess.run(
        [command, "validate", "--spec-version", "v20", "--no-network", "-q", str(tmp_path / "*.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert f"Grand total: {len(ALL_RECORDS)}/{len(ALL_RECORDS)} files valid" in run.stdout

    # The same check rejects a document whose score was not computed from its vector (test 6.1.9).
    documents = (csaf.dump(r) for r in SAMPLE_RECORDS.values())
    scored = next(d for d in documents if d["vulnerabilities"][0].get("scores"))
    scored["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = 0.1
    broken = tmp_path / "broken" / "broken.json"
    broken.parent.mkdir()
    broken.write_bytes(orjson.dumps(scored))
    run = subprocess.run(
        [command, "validate", "--spec-version", "v20", "--no-network", "-q", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "6.1.9" in run.stdout


def test_scores_are_computed_from_the_vectors() -> None:
    checked = 0
    for record in ALL_RECORDS.values():
        vulnerability = csaf.dump(record)["vulnerabilities"][0]
        for score in vulnerability.get("scores", []):
            if "cvss_v3" in score:
                cvss = CVSS3(score["cvss_v3"]["vectorString"])
                assert score["cvss_v3"]["baseScore"] == float(cvss.base_score)
                assert score["cvss_v3"]["baseSeverity"] == cvss.severities()[0].upper()
            else:
                assert score["cvss_v2"]["baseScore"] == float(CVSS2(score["cvss_v2"]["vectorString"]).base_score)
            checked += 1
        # Every CVSS vector of the record is kept: scored, or in a note (v4, or a second vector of a version).
        text = orjson.dumps(vulnerability).decode()
        assert all(s.score in text for s in record.osv.all_severities())
    assert checked >= 8


def test_one_score_per_cvss_version_and_product() -> None:
    vulnerability = csaf.dump(EDGE_RECORDS["last-affected-and-v4"])["vulnerabilities"][0]
    slots = [
        (slot, p)
        for score in vulnerability["scores"]
        for slot in score
        if slot != "products"
        for p in score["products"]
    ]
    assert len(slots) == len(set(slots))
    assert {slot for slot, _ in slots} == {"cvss_v2", "cvss_v3"}
    notes = {note["title"]: note["text"] for note in vulnerability["notes"]}
    assert "CVSS:3.0/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" in notes["Further CVSS vectors"]
    assert notes["CVSS v4.0"].startswith("CVSS:4.0/AV:N") and "9.3" in notes["CVSS v4.0"]
    assert notes["Weaknesses (CWE)"] == "CWE-79"


def test_cve_and_other_identifiers() -> None:
    for record in SAMPLE_RECORDS.values():
        vulnerability = csaf.dump(record)["vulnerabilities"][0]
        cves = [i for i in record.osv.identifiers() if CVE.match(i)]
        assert vulnerability.get("cve") == (cves[0] if cves else None)
        ids = {entry["text"]: entry["system_name"] for entry in vulnerability.get("ids", [])}
        assert ids[record.id] == source_of(record.id).name
        assert set(ids) | set(cves[:1]) == set(record.osv.identifiers())


def test_fixed_versions_are_fixed_products_with_a_remediation() -> None:
    seen = 0
    for record in SAMPLE_RECORDS.values():
        document = csaf.dump(record)
        vulnerability = document["vulnerabilities"][0]
        products = product_ids(document)
        fixed = {products[p]["branch"] for p in vulnerability.get("product_status", {}).get("fixed", [])}
        remedies = " ".join(r["details"] for r in vulnerability.get("remediations", []))
        for affected in record.osv.affected or ():
            for range_ in affected.ranges or ():
                for event in range_.events:
                    if event.fixed is None:
                        continue
                    assert event.fixed in remedies
                    if range_.type != "GIT":
                        assert event.fixed in fixed
                    seen += 1
    assert seen > 50


def test_git_only_ranges_describe_their_commits() -> None:
    record = SAMPLE_RECORDS["OSV-2018-58"]
    range_ = record.osv.affected[0].ranges[0]  # type: ignore[index]
    assert range_.type == "GIT" and not record.osv.affected[0].versions  # type: ignore[index]
    document = csaf.dump(record)
    (product,) = product_ids(document).values()
    fixed = [e.value for e in range_.events if e.fixed]
    assert product["category"] == "product_version_range" and product["branch"].startswith("git: ")
    assert all(commit in product["branch"] for commit in fixed)
    (remedy,) = document["vulnerabilities"][0]["remediations"]
    assert remedy["category"] == "vendor_fix" and remedy["url"].endswith(f"/commit/{fixed[0]}")


def test_ranges_become_vers() -> None:
    document = csaf.dump(EDGE_RECORDS["unsorted-events"])
    names = [p["branch"] for p in product_ids(document).values() if p["category"] == "product_version_range"]
    assert names == ["vers:pypi/<1.2", "vers:pypi/>=1.5|<1.7"]
    # Events listed as introduced/fixed pairs keep their pairs, even where release lines overlap.
    bitnami = csaf.dump(EDGE_RECORDS["overlapping-pairs"])
    names = [p["branch"] for p in product_ids(bitnami).values() if p["category"] == "product_version_range"]
    assert names == ["vers:bitnami/>=14.0.0|<14.14.1", "vers:bitnami/>=14.14.0|<14.20.0"]
    go = csaf.dump(SAMPLE_RECORDS["GO-2022-0213"])
    ranges = {p["branch"] for p in product_ids(go).values() if p["category"] == "product_version_range"}
    events = SAMPLE_RECORDS["GO-2022-0213"].osv.affected[0].ranges[0].events  # type: ignore[index]
    introduced, first_fix, reintroduced, second_fix = (e.value for e in events)
    assert ranges == {f"vers:golang/<{first_fix}", f"vers:golang/>={reintroduced}|<{second_fix}"}
    assert introduced == "0"


def test_last_affected_open_ranges_and_purls() -> None:
    document = csaf.dump(EDGE_RECORDS["last-affected-and-v4"])
    products = product_ids(document)
    vulnerability = document["vulnerabilities"][0]
    last = [products[p] for p in vulnerability["product_status"]["last_affected"]]
    assert [(p["branch"], p["product_identification_helper"]["purl"]) for p in last] == [
        ("2.4", "pkg:pypi/example-pkg@2.4")
    ]
    by_name = {p["branch"]: pid for pid, p in products.items()}
    assert {"vers:pypi/>=2.0|<=2.4", "vers:pypi/*"} <= set(by_name)
    categories = {r["category"]: r["product_ids"] for r in vulnerability["remediations"]}
    assert categories["none_available"] == [by_name["vers:pypi/*"]]
    assert vulnerability["cve"] == "CVE-2099-0002"
    assert vulnerability["threats"][0]["category"] == "exploit_status"


def test_versions_that_look_like_ranges_are_not_product_versions() -> None:
    products = product_ids(csaf.dump(EDGE_RECORDS["range-like-version"]))
    assert {(p["category"], p["branch"]) for p in products.values()} == {
        ("product_version_range", "vers:generic/71.x"),
        ("product_version", "v72.1"),
    }


@pytest.mark.parametrize(
    ("tlp", "label"),
    [(Tlp.CLEAR, "WHITE"), (Tlp.GREEN, "GREEN"), (Tlp.AMBER, "AMBER"), (Tlp.AMBER_STRICT, "AMBER"), (Tlp.RED, "RED")],
)
def test_tlp_2_labels_map_to_csaf_tlp_1(tlp: Tlp, label: str) -> None:
    record = dataclasses.replace(SAMPLE_RECORDS["PYSEC-2022-43177"], tlp=tlp)
    distribution = csaf.dump(record)["document"]["distribution"]
    assert distribution["tlp"]["label"] == label
    assert f"TLP:{tlp.value}" in distribution["text"]


def test_withdrawn_records_say_so() -> None:
    withdrawn = [r for r in SAMPLE_RECORDS.values() if r.osv.withdrawn]
    assert withdrawn
    for record in withdrawn:
        document = csaf.dump(record)["document"]
        assert document["title"].startswith("Withdrawn: ")
        notes = {n["title"]: n["text"] for n in document["notes"]}
        assert record.osv.withdrawn in notes["Withdrawn"]
    live = csaf.dump(SAMPLE_RECORDS["PYSEC-2022-43177"])["document"]
    assert not live["title"].startswith("Withdrawn") and "Withdrawn" not in {n["title"] for n in live["notes"]}


def test_tracking_dates_status_and_draft() -> None:
    tracking = csaf.dump(SAMPLE_RECORDS["PYSEC-2022-43177"])["document"]["tracking"]
    osv_record = SAMPLE_RECORDS["PYSEC-2022-43177"].osv
    assert (tracking["initial_release_date"], tracking["current_release_date"]) == (
        osv_record.published,
        osv_record.modified,
    )
    assert (tracking["status"], tracking["version"], len(tracking["revision_history"])) == ("final", "1", 1)
    # A placeholder modified date earlier than published never makes the current release the older one.
    placeholder = csaf.dump(EDGE_RECORDS["placeholder-modified"])["document"]["tracking"]
    assert placeholder["current_release_date"] == placeholder["initial_release_date"] == "2023-05-01T10:00:00Z"
    draft = csaf.dump(EDGE_RECORDS["draft"])["document"]["tracking"]
    assert (draft["status"], draft["version"]) == ("draft", "0")


def test_sources_are_credited_and_kev_is_noted() -> None:
    for record in SAMPLE_RECORDS.values():
        document = csaf.dump(record)
        source = next(n["text"] for n in document["document"]["notes"] if n["title"] == "Source")
        assert record.provenance.source in source and record.id in source
        if record.provenance.licence:
            assert record.provenance.licence in source
        titles = {n.get("title") for n in document["vulnerabilities"][0]["notes"]}
        assert ("Known exploited" in titles) == record.known_exploited
    assert any(r.known_exploited for r in SAMPLE_RECORDS.values())
