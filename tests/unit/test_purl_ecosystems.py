"""One mapping from purls to OSV ecosystems: the OSV API's purl queries and partners' SBOM matching read the same
package from the same purl (they once kept a copy each, and a `pkg:github/` action matched in one and not the other)."""

from __future__ import annotations

import pytest

from clearinghouse.feeds.osv_api import OsvPackage, OsvQuery, resolve
from clearinghouse.partners.rules import package_of
from clearinghouse.records.purls import PURL_TYPES, ecosystem_of_purl


@pytest.mark.parametrize(
    ("purl", "ecosystem", "name"),
    [
        ("pkg:pypi/jinja2@2.4.1", "PyPI", "jinja2"),
        ("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "Maven", "org.apache.logging.log4j:log4j-core"),
        ("pkg:golang/github.com/cilium/cilium@1.13.0", "Go", "github.com/cilium/cilium"),
        ("pkg:npm/%40babel/traverse@7.23.1", "npm", "@babel/traverse"),
        ("pkg:github/actions/checkout@v3", "GitHub Actions", "actions/checkout"),
        ("pkg:githubactions/actions/checkout@v3", "GitHub Actions", "actions/checkout"),
        ("pkg:deb/debian/openssl@1.1.1n-0+deb11u4", "Debian", "openssl"),
        ("pkg:rpm/rocky-linux/openssl@3.0.7", "Rocky Linux", "openssl"),
    ],
)
def test_the_osv_api_and_sbom_matching_read_one_package_from_a_purl(purl: str, ecosystem: str, name: str) -> None:
    asked = resolve(OsvQuery(package=OsvPackage(purl=purl)))
    matched = package_of(purl, None)
    assert asked is not None and matched is not None
    assert (asked.ecosystem, asked.name) == (matched.ecosystem, matched.name) == (ecosystem, name)


def test_every_purl_type_naming_one_ecosystem_maps_back_to_it() -> None:
    for ecosystem, types in PURL_TYPES.items():
        for purl_type in types:
            sharing = [other for other, of_other in PURL_TYPES.items() if purl_type in of_other]
            if len(sharing) == 1 and purl_type != "generic":
                assert ecosystem_of_purl(purl_type, None) == ecosystem
    assert ecosystem_of_purl("deb", "Ubuntu") == "Ubuntu"
    assert ecosystem_of_purl("deb", "elsewhere") is None
    assert ecosystem_of_purl("generic", "openssl") is None
