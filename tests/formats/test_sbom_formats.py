"""SBOMs in (CycloneDX JSON/XML, SPDX 2.3 JSON/tag-value) and VEX out: real SBOMs made by `cyclonedx-py` and
`spdx-tools`, the official CycloneDX examples, hostile inputs, and the VEX documents against the CycloneDX 1.6 schema
and the `csaf` validator (VEX profile)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory, Package
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.write_anything import write_file

from clearinghouse.errors import InputTooLarge, InvalidRecord, NestedTooDeep
from clearinghouse.formats import csaf_vex, cyclonedx, spdx
from clearinghouse.formats.sbom import MAX_COMPONENTS, Component, VexStatement
from clearinghouse.records.model import Tlp

SBOMS = Path(__file__).resolve().parents[1] / "fixtures" / "sboms"
BIN = Path(sys.executable).parent


def _cyclonedx_py(*args: str) -> bytes:
    command = shutil.which("cyclonedx-py") or str(BIN / "cyclonedx-py")
    run = subprocess.run([command, *args, "-o", "-"], capture_output=True, check=True, timeout=120)
    return run.stdout


@pytest.mark.parametrize(("spec", "syntax"), [("1.4", "JSON"), ("1.5", "XML"), ("1.6", "JSON"), ("1.6", "XML")])
def test_cyclonedx_py_environment_sboms_keep_every_installed_distribution(spec: str, syntax: str) -> None:
    # --no-validate: cyclonedx-py's own JSON schema check takes half a minute here; the parser checks what it reads.
    data = _cyclonedx_py("environment", sys.executable, "--sv", spec, "--of", syntax, "--no-validate")
    sbom = cyclonedx.parse(data)
    assert sbom.format == f"CycloneDX {spec} {syntax}" and sbom.problems == ()
    purls = {c.purl.split("@")[0] for c in sbom.components if c.purl}
    for distribution in ("pkg:pypi/sqlalchemy", "pkg:pypi/fastapi", "pkg:pypi/cyclonedx-python-lib"):
        assert distribution in purls
    # The dependency graph survives: sqlalchemy depends on typing-extensions, say.
    by_ref = {c.ref: c for c in sbom.components}
    sqlalchemy = next(c for c in sbom.components if c.name.lower() == "sqlalchemy")
    assert "typing-extensions" in {by_ref[r].name.lower().replace("_", "-") for r in sqlalchemy.depends_on}


def test_the_official_example_is_the_same_in_json_and_xml() -> None:
    from_json = cyclonedx.parse((SBOMS / "laravel-7.12.0__bom.1.4.json").read_bytes())
    from_xml = cyclonedx.parse((SBOMS / "laravel-7.12.0__bom.1.4.xml").read_bytes())
    assert len(from_json.components) == 62 and from_json.problems == ()
    assert from_json.components == from_xml.components
    assert sum(len(c.depends_on) for c in from_json.components) > 50
    assert all(c.purl and c.purl.startswith("pkg:composer/") for c in from_json.components)


def test_nested_components_keep_their_parent() -> None:
    data = json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "components": [
                {
                    "bom-ref": "app",
                    "name": "app",
                    "components": [{"bom-ref": "lib", "name": "lib", "purl": "pkg:pypi/lib@1.0"}],
                }
            ],
        }
    ).encode()
    parent = {c.ref: c.parent for c in cyclonedx.parse(data).components}
    assert parent == {"app": None, "lib": "app"}


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY x "y">]><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>',
            InvalidRecord,
            "DTD",
        ),
        (b"<bom><unclosed></bom>", InvalidRecord, "well-formed"),
        (b'<bom xmlns="http://cyclonedx.org/schema/bom/9.9"/>', InvalidRecord, "CycloneDX"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "2.0"}', InvalidRecord, "specVersion"),
        (b'{"bomFormat": "SWID"}', InvalidRecord, "bomFormat"),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": ' + b"[" * 100 + b"]" * 100 + b"}",
            NestedTooDeep,
            "deeper",
        ),
        (b"hello", InvalidRecord, "neither JSON"),
    ],
)
def test_malformed_cyclonedx_is_refused_with_a_reason(data: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        cyclonedx.parse(data)


def _many(count: int) -> bytes:
    components = [{"bom-ref": f"c{i}", "name": f"p{i}", "purl": f"pkg:npm/p{i}@1.0.{i}"} for i in range(count)]
    return orjson.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components})


def test_100000_components_are_processed_and_one_more_is_refused() -> None:
    assert len(cyclonedx.parse(_many(MAX_COMPONENTS)).components) == MAX_COMPONENTS
    with pytest.raises(InputTooLarge, match="100,000 components"):
        cyclonedx.parse(_many(MAX_COMPONENTS + 1))


def _spdx_document() -> Document:
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name="hospital-app",
        document_namespace="https://clearinghouse.example.org/spdx/hospital-app",
        creators=[Actor(ActorType.TOOL, "clearinghouse-tests")],
        created=datetime(2026, 12, 6, tzinfo=UTC),
    )

    def package(spdx_id: str, name: str, version: str, purl: str | None) -> Package:
        refs = [ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)] if purl else []
        return Package(spdx_id, name, SpdxNoAssertion(), version=version, external_references=refs)

    packages = [
        package("SPDXRef-app", "hospital-app", "3.1", None),
        package("SPDXRef-jinja2", "Jinja2", "2.10", "pkg:pypi/jinja2@2.10"),
        package("SPDXRef-markupsafe", "MarkupSafe", "1.0", "pkg:pypi/markupsafe@1.0"),
    ]
    relationships = [
        Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-app"),
        Relationship("SPDXRef-app", RelationshipType.DEPENDS_ON, "SPDXRef-jinja2"),
        Relationship("SPDXRef-markupsafe", RelationshipType.DEPENDENCY_OF, "SPDXRef-jinja2"),
        Relationship("SPDXRef-app", RelationshipType.CONTAINS, "SPDXRef-markupsafe"),
    ]
    return Document(creation, packages=packages, relationships=relationships)


@pytest.mark.parametrize("suffix", [".spdx.json", ".spdx"])
def test_spdx_documents_written_by_spdx_tools_keep_purls_and_the_graph(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"hospital{suffix}"
    write_file(_spdx_document(), str(path))
    sbom = spdx.parse(path.read_bytes())
    assert sbom.format == ("SPDX 2.3 JSON" if suffix.endswith("json") else "SPDX 2.3 tag-value")
    assert sbom.name == "hospital-app" and sbom.problems == ()
    by_ref = {c.ref: c for c in sbom.components}
    assert by_ref["SPDXRef-jinja2"].purl == "pkg:pypi/jinja2@2.10" and by_ref["SPDXRef-jinja2"].version == "2.10"
    assert by_ref["SPDXRef-app"].depends_on == ("SPDXRef-jinja2",)
    assert by_ref["SPDXRef-jinja2"].depends_on == ("SPDXRef-markupsafe",)
    assert by_ref["SPDXRef-markupsafe"].parent == "SPDXRef-app"


def test_an_spdx_document_with_a_bad_purl_keeps_the_other_packages(tmp_path: Path) -> None:
    document = _spdx_document()
    document.packages[2].external_references[0].locator = "pkg:pypi/%zz"
    path = tmp_path / "bad.spdx.json"
    write_file(document, str(path), validate=False)
    sbom = spdx.parse(path.read_bytes())
    assert [(p.ref, p.field) for p in sbom.problems] == [("SPDXRef-markupsafe", "purl")]
    assert len(sbom.components) == 3


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"spdxVersion": "SPDX-2.2", "packages": []}', "SPDX-2.3"),
        (b'{"spdxVersion": "SPDX-2.3"}', "not a valid SPDX 2.3 document"),
        (b"SPDXVersion: SPDX-2.3\nPackageName: x\n", "not a valid SPDX 2.3 document"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_spdx_is_refused_with_a_reason(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRecord, match=words):
        spdx.parse(data)


def _statements() -> list[VexStatement]:
    jinja2 = Component("pkg:pypi/jinja2@2.10", "jinja2", "2.10", "pkg:pypi/jinja2@2.10", None, None, ())
    markdown2 = Component("md", "markdown2", "2.3.0", "pkg:pypi/markdown2@2.3.0", None, None, ())
    return [
        VexStatement(
            "PYSEC-2019-217",
            ("CVE-2019-10906", "GHSA-462w-v97r-4m45"),
            "Sandbox escape",
            jinja2,
            "affected",
            None,
            "affected[0] PyPI jinja2: ECOSYSTEM range [introduced 0, fixed 2.10.1] includes 2.10",
        ),
        VexStatement(
            "PYSEC-2021-66",
            ("CVE-2020-28493",),
            "ReDoS in urlize",
            jinja2,
            "not_affected",
            "code_not_reachable",
            "urlize is never called",
        ),
        VexStatement("PYSEC-2018-10", (), None, markdown2, "fixed", None, "patched downstream"),
    ]


def test_cyclonedx_vex_is_valid_cyclonedx_1_6() -> None:
    document = cyclonedx.dump_vex("hospital-app", "6f1c2a4e-8b7d-4c55-9e1a-0d3b5f7a9c21", _statements())
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert errors is None, errors
    states = {v["id"]: v["analysis"]["state"] for v in document["vulnerabilities"]}
    assert states == {"PYSEC-2019-217": "exploitable", "PYSEC-2021-66": "not_affected", "PYSEC-2018-10": "resolved"}
    not_affected = next(v for v in document["vulnerabilities"] if v["id"] == "PYSEC-2021-66")
    assert not_affected["analysis"]["justification"] == "code_not_reachable"
    assert not_affected["affects"] == [{"ref": "pkg:pypi/jinja2@2.10"}]


def _csaf_command() -> str | None:
    return shutil.which("csaf") or (str(BIN / "csaf") if (BIN / "csaf").exists() else None)


def test_csaf_vex_passes_the_csaf_validator(tmp_path: Path) -> None:
    command = _csaf_command()
    if command is None:
        pytest.skip("the `csaf` validator is not installed (pip install -e '.[dev]' provides it)")
    document: dict[str, Any] = csaf_vex.dump(
        "hospital-app", "6f1c2a4e", _statements(), Tlp.GREEN, datetime(2026, 12, 6, 9, tzinfo=UTC)
    )
    status = document["vulnerabilities"][0]["product_status"]
    assert document["document"]["category"] == "csaf_vex" and status
    path = tmp_path / "vex-6f1c2a4e.json"
    path.write_bytes(orjson.dumps(document))
    run = subprocess.run(
        [command, "validate", "--spec-version", "v20", "--no-network", "-q", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Overall: PASS" in run.stdout
    # The VEX profile's rules ran: without the action and impact statements the same document fails them.
    for vulnerability in document["vulnerabilities"]:
        vulnerability.pop("remediations", None)
        vulnerability.pop("flags", None)
    path.write_bytes(orjson.dumps(document))
    run = subprocess.run(
        [command, "validate", "--spec-version", "v20", "--no-network", "-q", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "6.1.27" in run.stdout and "requires a remediation" in run.stdout
