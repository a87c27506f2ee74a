"""CVE JSON 5.1.1 export of the bundled sample: schema validity, the CVE id rule, and the mapping itself."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cvss import CVSS2, CVSS3, CVSS4

from clearinghouse.errors import UnsupportedExport
from clearinghouse.formats import cve5
from clearinghouse.records.model import RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.schemas import schema_errors
from tests.formats.test_csaf import CVE, EDGE_RECORDS, SAMPLE_RECORDS, make_record

ALL_RECORDS = {**SAMPLE_RECORDS, **{f"edge:{k}": v for k, v in EDGE_RECORDS.items()}}
WITH_CVE = {k: r for k, r in ALL_RECORDS.items() if any(CVE.match(i) for i in r.osv.identifiers())}
WITHOUT_CVE = {k: r for k, r in ALL_RECORDS.items() if k not in WITH_CVE}


def cve_record(fields: dict[str, Any], **record_fields: Any) -> VulnerabilityRecord:
    base = {"id": "PYSEC-2099-10", "modified": "2024-03-01T00:00:00Z", "aliases": ["CVE-2099-1234"]}
    return make_record(base | fields, **record_fields)


def test_the_sample_has_records_of_both_kinds() -> None:
    assert len(WITH_CVE) >= 40 and len(WITHOUT_CVE) >= 15


@pytest.mark.parametrize("record_id", list(WITH_CVE))
def test_every_record_with_a_cve_is_a_valid_cve_record(record_id: str) -> None:
    record = WITH_CVE[record_id]
    document = cve5.dump(record)
    assert schema_errors("cve5", document) == []
    first_cve = next(i for i in record.osv.identifiers() if CVE.match(i))
    assert document["cveMetadata"]["cveId"] == first_cve
    assert document["cveMetadata"]["assignerOrgId"] == cve5.ASSIGNER_ORG_ID
    expected = "REJECTED" if record.osv.withdrawn else "PUBLISHED"
    assert document["cveMetadata"]["state"] == expected


@pytest.mark.parametrize("record_id", list(WITHOUT_CVE))
def test_records_without_a_cve_are_refused_by_name(record_id: str) -> None:
    with pytest.raises(UnsupportedExport) as caught:
        cve5.dump(WITHOUT_CVE[record_id])
    assert WITHOUT_CVE[record_id].id in caught.value.message and "CVE" in caught.value.message


def test_metrics_are_computed_from_the_vectors() -> None:
    checked = 0
    for record in WITH_CVE.values():
        if record.osv.withdrawn:
            continue
        metrics = cve5.dump(record)["containers"]["cna"].get("metrics", [])
        vectors = set()
        for metric in metrics:
            for key, data in metric.items():
                if key == "cvssV2_0":
                    assert data["baseScore"] == float(CVSS2(data["vectorString"]).base_score)
                elif key.startswith("cvssV3"):
                    cvss = CVSS3(data["vectorString"])
                    assert data["baseScore"] == float(cvss.base_score)
                    assert data["baseSeverity"] == cvss.severities()[0].upper()
                    assert data["version"] == key.removeprefix("cvssV").replace("_", ".")
                elif key == "cvssV4_0":
                    cvss4 = CVSS4(data["vectorString"])
                    assert data["baseScore"] == float(cvss4.base_score)
                    assert data["baseSeverity"] == cvss4.severity.upper()
                else:
                    continue
                vectors.add(data["vectorString"])
                checked += 1
        assert vectors == {s.score for s in record.osv.all_severities() if s.type != "Ubuntu"}
    assert checked >= 10


def test_affected_versions_and_fixes() -> None:
    seen = 0
    for record in WITH_CVE.values():
        if record.osv.withdrawn:
            continue
        affected = cve5.dump(record)["containers"]["cna"]["affected"]
        bounds = {v.get("lessThan") for p in affected for v in p.get("versions", [])}
        bounds |= {c["at"] for p in affected for v in p.get("versions", []) for c in v.get("changes", [])}
        for entry in record.osv.affected or ():
            assert entry.package is not None
            names = {p.get("packageName") or p.get("product") for p in affected}
            assert entry.package.name in names
            for range_ in entry.ranges or ():
                for event in range_.events:
                    if event.fixed:
                        assert event.fixed in bounds
                        seen += 1
        for product in affected:
            assert product["defaultStatus"] == ("unaffected" if product.get("versions") else "unknown")
            assert all(v["status"] == "affected" for v in product.get("versions", []))
    assert seen > 30


def test_registries_and_version_types() -> None:
    document = cve5.dump(SAMPLE_RECORDS["PYSEC-2022-43177"])
    (product,) = document["containers"]["cna"]["affected"]
    assert (product["collectionURL"], product["packageName"]) == ("https://pypi.org", "azure-cli")
    fixed = next(e.fixed for e in SAMPLE_RECORDS["PYSEC-2022-43177"].osv.affected[0].ranges[0].events if e.fixed)  # type: ignore[index]
    assert {"version": "0", "lessThan": fixed, "status": "affected", "versionType": "python"} in product["versions"]
    bitnami = cve5.dump(SAMPLE_RECORDS["BIT-grafana-2022-31107"])["containers"]["cna"]["affected"][0]
    assert bitnami["vendor"] == "Bitnami" and {v["versionType"] for v in bitnami["versions"]} == {"semver"}


def test_git_ranges_with_several_fixes_use_changes() -> None:
    events = [{"introduced": "a" * 40}, {"fixed": "b" * 40}, {"fixed": "c" * 40}]
    record = cve_record(
        {
            "affected": [
                {
                    "package": {"ecosystem": "OSS-Fuzz", "name": "lib"},
                    "ranges": [{"type": "GIT", "repo": "https://github.com/example/lib", "events": events}],
                }
            ]
        }
    )
    document = cve5.dump(record)
    assert schema_errors("cve5", document) == []
    (product,) = document["containers"]["cna"]["affected"]
    assert product["repo"] == "https://github.com/example/lib"
    assert product["versions"] == [
        {
            "version": "a" * 40,
            "status": "affected",
            "versionType": "git",
            "lessThan": "*",
            "changes": [{"at": "b" * 40, "status": "unaffected"}, {"at": "c" * 40, "status": "unaffected"}],
        }
    ]


def test_withdrawn_records_are_rejected_records() -> None:
    withdrawn = [r for r in WITH_CVE.values() if r.osv.withdrawn]
    assert withdrawn
    for record in withdrawn:
        document = cve5.dump(record)
        assert document["cveMetadata"]["dateRejected"] == record.osv.withdrawn
        reasons = document["containers"]["cna"]["rejectedReasons"]
        assert record.id in reasons[0]["value"] and "withdrew" in reasons[0]["value"]
        assert "affected" not in document["containers"]["cna"]
    # The clearinghouse's own withdrawn status counts too.
    live = SAMPLE_RECORDS["PYSEC-2022-43177"]
    rejected = cve5.dump(dataclasses.replace(live, status=RecordStatus.WITHDRAWN))
    assert rejected["cveMetadata"]["state"] == "REJECTED"
    assert schema_errors("cve5", rejected) == []


def test_dates_outside_the_schema_are_left_out_and_never_go_backwards() -> None:
    record = cve_record({"modified": "0001-01-01T00:00:00Z", "published": "2023-05-01T10:00:00Z"})
    metadata = cve5.dump(record)["cveMetadata"]
    assert metadata["datePublished"] == metadata["dateUpdated"] == "2023-05-01T10:00:00Z"
    metadata = cve5.dump(cve_record({"modified": "0001-01-01T00:00:00Z"}))["cveMetadata"]
    assert "datePublished" not in metadata and "dateUpdated" not in metadata
    for record in WITH_CVE.values():
        metadata = cve5.dump(record)["cveMetadata"]
        assert metadata.get("datePublished", "") <= metadata.get("dateUpdated", "~")


def test_long_details_missing_references_and_no_packages() -> None:
    details = "word " * 5000
    document = cve5.dump(cve_record({"details": details, "database_specific": {"cwe_ids": ["CWE-79"]}}, tlp=Tlp.RED))
    assert schema_errors("cve5", document) == []
    cna = document["containers"]["cna"]
    (description,) = cna["descriptions"]
    assert len(description["value"]) <= 4096 and description["value"].endswith("…")
    assert description["supportingMedia"][0]["value"].startswith(details[:16000])
    assert cna["references"] == [{"url": "https://www.cve.org/CVERecord?id=CVE-2099-1234"}]
    assert cna["affected"] == [{"vendor": "n/a", "product": "n/a", "defaultStatus": "unknown"}]
    assert cna["problemTypes"][0]["descriptions"][0]["cweId"] == "CWE-79"
    assert cna["x_tlp"] == "RED"


def test_known_exploited_records_carry_a_kev_metric() -> None:
    kev_records = [r for r in WITH_CVE.values() if r.known_exploited and not r.osv.withdrawn]
    assert kev_records
    for record in kev_records:
        document = cve5.dump(record)
        others = [m["other"] for m in document["containers"]["cna"]["metrics"] if "other" in m]
        assert others == [
            {
                "type": "kev",
                "content": {"reference": f"{cve5.KEV_CATALOG_URL}?search={document['cveMetadata']['cveId']}"},
            }
        ]
    quiet = dataclasses.replace(kev_records[0], known_exploited=False)
    assert all("other" not in m for m in cve5.dump(quiet)["containers"]["cna"].get("metrics", []))
