"""Vendor routing: declarations, refused match-everything patterns, and proposals with the matching rule."""

from __future__ import annotations

import pytest

from clearinghouse.cases.routing import DeclarationKind, VendorIndex, declaration
from clearinghouse.errors import InvalidVendorDeclaration

PURL = DeclarationKind.PURL


@pytest.mark.parametrize(
    "pattern",
    [
        "pkg:*",
        "pkg:pypi/*",
        "pkg:*/foo",
        "pkg:maven/org.*/x",
        "pkg:maven/org/lo*",
        "pkg:",
        "pypi/jinja2",
        "pkg:pypi/x@1",
    ],
)
def test_match_everything_and_misplaced_wildcards_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidVendorDeclaration):
        declaration("org", PURL, pattern)


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        (DeclarationKind.CPE, "cpe:2.3:a:*:*"),
        (DeclarationKind.CPE, "acme"),
        (DeclarationKind.REPOSITORY, "https://github.com/"),
    ],
)
def test_cpe_and_repository_declarations_must_name_something(kind: DeclarationKind, pattern: str) -> None:
    with pytest.raises(InvalidVendorDeclaration):
        declaration("org", kind, pattern)


def test_proposals_name_the_rule_and_list_packages_without_a_vendor() -> None:
    index = VendorIndex(
        [
            declaration("pallets", PURL, "pkg:pypi/Jinja2"),
            declaration("apache", PURL, "pkg:maven/org.apache.logging.log4j/*"),
            declaration("acme", DeclarationKind.CPE, "cpe:2.3:a:acme:widget"),
            declaration("acme", DeclarationKind.REPOSITORY, "https://github.com/Acme/Widget.git"),
        ]
    )
    proposal = index.propose(
        purls=["pkg:pypi/jinja2@2.10", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "pkg:npm/left-pad"],
        cpes=["cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*"],
        repositories=["https://github.com/acme/widget/"],
    )
    rules = {(m.organisation_id, m.subject): m.rule for m in proposal.matches}
    assert rules[("pallets", "pkg:pypi/jinja2@2.10")] == "purl pkg:pypi/Jinja2"  # PEP 503 names compare equal
    assert rules[("apache", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")] == (
        "purl pkg:maven/org.apache.logging.log4j/*"
    )
    assert rules[("acme", "cpe:2.3:a:acme:widget:1.0:*:*:*:*:*:*:*")] == "cpe cpe:2.3:a:acme:widget"
    assert rules[("acme", "https://github.com/acme/widget/")] == "repository https://github.com/Acme/Widget.git"
    assert proposal.no_vendor_on_file == ["pkg:npm/left-pad"]
    assert proposal.vendors() == ["acme", "apache", "pallets"]


def test_a_namespace_wildcard_does_not_reach_another_namespace() -> None:
    index = VendorIndex([declaration("apache", PURL, "pkg:maven/org.apache.logging.log4j/*")])
    assert index.for_purl("pkg:maven/org.apache.logging/log4j-core") == []
    assert index.for_purl("pkg:maven/org.apache.logging.log4j.extra/x") == []


def test_a_purl_that_does_not_parse_has_no_vendor_rather_than_failing_the_proposal() -> None:
    index = VendorIndex([declaration("pallets", PURL, "pkg:pypi/jinja2")])
    proposal = index.propose(purls=["pkg:pypi/jinja2", "pkg:pypi/%zz"])
    assert proposal.vendors() == ["pallets"]
    assert proposal.no_vendor_on_file == ["pkg:pypi/%zz"]
