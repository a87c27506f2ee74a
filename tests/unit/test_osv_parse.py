"""OSV parsing: the error a person gets for each kind of bad record, and parsing never crashes."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats import osv
from clearinghouse.schemas import schema_errors
from tests.conftest import sample_documents

BASE: dict[str, Any] = {
    "id": "PYSEC-2099-1",
    "modified": "2024-01-31T12:00:00Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "example", "purl": "pkg:pypi/example"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}],
        }
    ],
}


def broken(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    target: Any = document
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("modified", "2023-02-30T00:00:00Z", "$.modified", "not a real date"),
        ("modified", "yesterday", "$.modified", "RFC 3339"),
        ("modified", 20240131, "$.modified", "string"),
        ("summary", ["a list"], "$.summary", "string"),
        ("affected.0.package.ecosystem", "Nonsense", "$.affected[0].package.ecosystem", "unknown ecosystem"),
        ("affected.0.package.purl", "pkg:", "$.affected[0].package.purl", "invalid purl"),
        ("severity.0.score", "CVSS:3.1/AV:Q/AC:L", "$.severity[0]", "invalid CVSS_V3 vector"),
        ("severity.0.score", "AV:N/AC:L/Au:N/C:P/I:P/A:P", "$.severity[0]", "must start with"),
        ("affected.0.ranges.0.events", [{"fixed": "1"}], "$.affected[0].ranges[0]", "introduced"),
        ("affected.0.ranges.0.type", "CALVER", "$.affected[0].ranges[0].type", "GIT"),
        ("id", "../../etc/passwd", "$.id", "not a valid id"),
    ],
)
def test_each_bad_field_is_named(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        osv.parse(orjson.dumps(broken(path, value)), Location(file="feed.jsonl", line=7))
    error = caught.value
    assert error.location.field == field
    assert words in error.reason
    assert error.message.startswith("feed.jsonl:7")


def test_missing_required_fields_and_wrong_shapes() -> None:
    with pytest.raises(InvalidRecord, match=r"\$\.modified: Field required|field \$\.modified"):
        osv.parse({"id": "X-1"})
    with pytest.raises(InvalidRecord, match="expected a JSON object"):
        osv.parse(b"[1, 2]")


def test_non_utf8_and_truncated_json_say_so() -> None:
    with pytest.raises(InvalidRecord, match="not valid UTF-8"):
        osv.parse(b'{"id": "X-1", "summary": "\xff\xfe"}')
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        osv.parse(b'{"id": "X-1", "modified": "2024-01-')


def test_valid_sample_records_match_the_official_schema() -> None:
    for document in sample_documents():
        osv.parse(document)
        assert schema_errors("osv", document) == [], document["id"]


def test_dump_gives_back_exactly_what_was_parsed() -> None:
    for document in sample_documents():
        assert osv.dump(osv.parse(orjson.dumps(document))) == document
        # and a record rebuilt without the original document serialises to the same JSON
        rebuilt = osv.OsvRecord.model_validate(document)
        assert osv.dump(rebuilt) == document


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_accepted_or_rejected_never_crash(data: bytes) -> None:
    try:
        osv.parse(data)
    except InvalidRecord as error:
        assert error.reason


@settings(max_examples=300)
@given(st.sampled_from([*sorted(BASE), "aliases", "published", "references", "credits"]), json_values)
def test_any_value_in_any_field_is_accepted_or_rejected_with_a_field(key: str, value: Any) -> None:
    document = copy.deepcopy(BASE)
    document[key] = value
    try:
        record = osv.parse(document)
    except InvalidRecord as error:
        assert error.location.field and error.location.field.startswith("$")
    else:
        assert osv.dump(record) == document
        # Whatever we accept, the official schema accepts, except ids outside OSV's list of home databases: the
        # store keeps reports' and private databases' ids, and the OSV export refuses those by name.
        assert [e for e in schema_errors("osv", document) if not e.startswith("$.id:")] == []


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("id", "PYSEC-2099-40\n", "$.id", "not a valid id"),
        ("id", "PYSEC-2099-40 ", "$.id", "not a valid id"),
        ("id", "PYSEC-\u00002099", "$.id", "not a valid id"),
        ("aliases", ["CVE-2099-1\n"], "$", "aliases[0]"),
        ("related", ["GHSA 1"], "$", "related[0]"),
        ("upstream", [""], "$", "upstream[0]"),
    ],
)
def test_ids_with_whitespace_or_control_characters_are_refused(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        osv.parse(broken(path, value))
    assert caught.value.location.field == field and words in caught.value.reason


@pytest.mark.parametrize(
    ("purl", "words"),
    [
        ("pkg:pypi/exa mple@@@%%%", "no whitespace"),
        ("pkg:pypi/%zz", "invalid percent-encoding '%zz'"),
        ("pkg:pypi/ex%ample", "invalid percent-encoding"),
        ("pkg:pypi/-example-", "not a valid PyPI project name"),
        ("pkg:npm/example", "purl type 'npm' does not match ecosystem 'PyPI' (expected pkg:pypi/)"),
        ("pkg:pypi/requests", "purl names package 'requests', not the entry's 'example'"),
    ],
)
def test_a_purl_that_is_malformed_or_names_another_package_is_refused(purl: str, words: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        osv.parse(broken("affected.0.package.purl", purl))
    assert caught.value.location.field is not None
    assert caught.value.location.field.startswith("$.affected[0].package")
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("ecosystem", "name", "purl"),
    [
        ("PyPI", "Jinja2", "pkg:pypi/jinja2"),
        ("PyPI", "zope.interface", "pkg:pypi/zope-interface"),
        ("npm", "@babel/core", "pkg:npm/%40babel/core"),
        ("Maven", "org.apache.commons:commons-text", "pkg:maven/org.apache.commons/commons-text"),
        ("Go", "github.com/gin-gonic/gin", "pkg:golang/github.com/gin-gonic/gin"),
        ("crates.io", "serde_json", "pkg:cargo/serde_json"),
        ("Debian:12", "openssl", "pkg:deb/debian/openssl?arch=source"),
        ("OSS-Fuzz", "cups", "pkg:generic/cups"),
    ],
)
def test_a_purl_naming_the_entrys_package_is_accepted(ecosystem: str, name: str, purl: str) -> None:
    document = broken("affected.0.package", {"ecosystem": ecosystem, "name": name, "purl": purl})
    document["affected"][0]["ranges"] = [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
    assert osv.parse(document).affected is not None


def test_json_nested_too_deep_is_reported_as_such() -> None:
    with pytest.raises(InvalidRecord) as caught:
        osv.parse(b'{"id": "PYSEC-2099-1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", Location("deep.jsonl", 3))
    assert "nested deeper than the limit of 64 levels" in caught.value.message
    assert "not valid JSON" not in caught.value.message
    assert caught.value.location == Location("deep.jsonl", 3)
