"""Version semantics per ecosystem and OSV's "is version V affected?" evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.errors import ClearinghouseError, InvalidVersion, UnknownEcosystem
from clearinghouse.records.model import Affected, OsvRecord
from clearinghouse.records.versions import (
    _order_key,
    affects,
    matcher,
    normalize_name,
    parse_version,
    range_problems,
    version_scheme,
)
from tests.conftest import sample_documents


def entry(
    ecosystem: str,
    *ranges: list[dict[str, str]],
    range_type: str = "ECOSYSTEM",
    versions: list[str] | None = None,
    name: str = "pkg",
) -> Affected:
    data: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if ranges:
        data["ranges"] = [{"type": range_type, "events": events} for events in ranges]
    if versions is not None:
        data["versions"] = versions
    return Affected.model_validate(data)


def between(ecosystem: str, introduced: str, fixed: str, range_type: str = "ECOSYSTEM") -> Affected:
    return entry(ecosystem, [{"introduced": introduced}, {"fixed": fixed}], range_type=range_type)


# ---------------------------------------------------------------------------------------------- ordering

ORDERED_PAIRS = [
    # (ecosystem, lower, higher)
    ("PyPI", "1.9", "1.10"),
    ("PyPI", "1.0rc1", "1.0"),
    ("PyPI", "1.0a1", "1.0b1"),
    ("PyPI", "1.0", "1.0.post1"),
    ("PyPI", "1.0.dev1", "1.0a1"),
    ("Maven", "1.0-SNAPSHOT", "1.0"),
    ("Maven", "1.0-alpha-1", "1.0-beta-1"),
    ("Maven", "1.9", "1.10"),
    ("npm", "1.0.0-alpha", "1.0.0-alpha.1"),
    ("npm", "1.0.0-beta.11", "1.0.0-rc.1"),
    ("npm", "1.0.0-rc.1", "1.0.0"),
    ("Go", "v1.2.3", "v1.10.0"),
    ("Go", "0.0.0-20200131131040-063a3fb69896", "0.1.0"),
    ("crates.io", "0.0.0-0", "0.1.0"),
    ("crates.io", "0.9.4", "0.10.0"),
    ("Debian", "2.9", "1:2.0-1"),
    ("Debian:12", "1.0~rc1", "1.0"),
    ("Debian", "1.0-1", "1.0-1+deb12u1"),
    ("Ubuntu:22.04:LTS", "1.2-1ubuntu0.1", "1.2-1ubuntu0.2"),
    ("AlmaLinux:8", "1.2.0-2.el8", "1.2.0-10.el8"),
    ("AlmaLinux:8", "9.9-1.el8", "1:0.1.15-2.git2d0b8a3.module_el8.5.0+119+9a9ec082"),
    ("Red Hat", "1.0~rc1-1", "1.0-1"),
    ("Alpine:v3.18", "1.2.3-r0", "1.2.3-r1"),
    ("Alpine", "1.2.3_rc1-r0", "1.2.3-r0"),
    ("Alpine", "1.2.3-r9", "1.2.3_p1-r0"),
    ("Wolfi", "1.2.9-r0", "1.2.10-r0"),
    ("Alpine", "1.2.3-r0", "1.2.3_git20230101-r0"),
    ("RubyGems", "1.0.0.pre", "1.0.0"),
    ("RubyGems", "1.0.0.a", "1.0.0.b"),
    ("RubyGems", "5.0.0", "5.0.0.1"),
    ("NuGet", "1.0.0-beta", "1.0.0"),
    ("NuGet", "1.0.0", "1.0.0.1"),
    ("Packagist", "2.0.0-beta2", "2.0.0-RC1"),
    ("Packagist", "2.0.0-RC1", "v2.0.0"),
    ("Packagist", "1.2.3", "1.2.3.4"),
    ("Packagist", "1.0.0", "1.0.0-p1"),
    ("Hex", "1.0.0-rc.0", "1.0.0"),
    ("Pub", "1.9.0", "1.10.0"),
    ("SwiftURL", "1.9.0", "1.10.0"),
    ("GitHub Actions", "1.9.0", "v1.10.0"),
    ("Bitnami", "1.10.9", "1.10.11"),
    ("CRAN", "1.2-3", "1.2-10"),
    ("CRAN", "0.9.7", "0.9.7.1"),
    ("Hackage", "1.2.9", "1.2.10"),
]


@pytest.mark.parametrize(("ecosystem", "lower", "higher"), ORDERED_PAIRS)
def test_version_order(ecosystem: str, lower: str, higher: str) -> None:
    assert parse_version(ecosystem, lower) < parse_version(ecosystem, higher)
    # And through affects: [lower, higher) contains lower but not higher.
    assert affects(between(ecosystem, lower, higher), lower)
    assert not affects(between(ecosystem, lower, higher), higher)


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"),
    [
        ("PyPI", "1.0", "1.0.0"),
        ("Go", "v1.2.3", "1.2.3"),
        ("Maven", "1.0", "1.0.0"),
        ("NuGet", "1.0", "1.0.0"),
        ("Packagist", "1.0", "1.0.0.0"),
    ],
)
def test_equal_spellings(ecosystem: str, a: str, b: str) -> None:
    assert parse_version(ecosystem, a) == parse_version(ecosystem, b)


def test_scheme_ignores_release_suffix_and_case() -> None:
    assert version_scheme("Debian:12") is version_scheme("Debian")
    assert version_scheme("AlmaLinux:9") is version_scheme("Rocky Linux:8") is version_scheme("Red Hat")
    assert version_scheme("pypi") is version_scheme("PyPI")
    assert version_scheme("OSS-Fuzz") is None


def test_unknown_ecosystem_is_a_domain_error() -> None:
    with pytest.raises(UnknownEcosystem, match="Nonesuch") as info:
        version_scheme("Nonesuch")
    assert isinstance(info.value, ClearinghouseError)
    with pytest.raises(UnknownEcosystem, match="Android"):
        version_scheme("Android")  # an OSV ecosystem, but its versions have no order here


def test_invalid_version_names_ecosystem_and_version() -> None:
    with pytest.raises(InvalidVersion, match=r"'not a version' is not a valid PyPI version"):
        parse_version("PyPI", "not a version")
    with pytest.raises(InvalidVersion, match="CRAN"):
        affects(between("CRAN", "1.0", "2.0"), "one.five")


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("ecosystem", "name", "key"),
    [
        ("PyPI", "Django_REST.framework", "django-rest-framework"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("crates.io", "Serde_JSON", "serde-json"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("Packagist", "Symfony/HTTP-Kernel", "symfony/http-kernel"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("npm", "JSONStream", "JSONStream"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("AlmaLinux:8", "NetworkManager", "NetworkManager"),
        ("Debian:12", "openssl", "openssl"),
        ("GitHub Actions", "Actions/Checkout", "actions/checkout"),
        ("SwiftURL", "https://github.com/Vapor/Vapor.git", "github.com/vapor/vapor"),
    ],
)
def test_normalize_name(ecosystem: str, name: str, key: str) -> None:
    assert normalize_name(ecosystem, name) == key


def test_normalize_name_unknown_ecosystem() -> None:
    with pytest.raises(UnknownEcosystem):
        normalize_name("Nonesuch", "x")


# ------------------------------------------------------------------------------------------- evaluation


def test_introduced_zero_means_from_the_start() -> None:
    a = entry("PyPI", [{"introduced": "0"}, {"fixed": "2.1.1"}])
    assert affects(a, "0.0.1")
    assert affects(a, "2.1.1rc1")
    assert not affects(a, "2.1.1")


def test_last_affected_is_inclusive_fixed_is_exclusive() -> None:
    last = entry("npm", [{"introduced": "1.0.0"}, {"last_affected": "1.4.2"}], range_type="SEMVER")
    fixed = entry("npm", [{"introduced": "1.0.0"}, {"fixed": "1.4.2"}], range_type="SEMVER")
    assert affects(last, "1.4.2") and not affects(last, "1.4.3")
    assert not affects(fixed, "1.4.2") and affects(fixed, "1.4.1")
    assert not affects(last, "0.9.9")


def test_limit_is_an_upper_bound() -> None:
    a = entry("PyPI", [{"introduced": "1.0"}, {"limit": "1.5"}])
    assert affects(a, "1.4.9")
    assert not affects(a, "1.5")
    assert not affects(a, "2.0")


def test_several_pairs_in_one_range_and_unsorted_events() -> None:
    # The order a real PYSEC record used: pairs out of order.
    a = entry(
        "PyPI",
        [{"introduced": "2.12"}, {"fixed": "2.12.4"}, {"introduced": "0"}, {"fixed": "2.11.6"}],
    )
    assert affects(a, "1.0")
    assert not affects(a, "2.11.6")
    assert not affects(a, "2.11.9")
    assert affects(a, "2.12.3")
    assert not affects(a, "2.12.4")


def test_multiple_ranges() -> None:
    a = entry("Maven", [{"introduced": "2.0"}, {"fixed": "2.15.0"}], [{"introduced": "2.16"}, {"fixed": "2.17.1"}])
    assert affects(a, "2.14.1")
    assert not affects(a, "2.15.0")
    assert affects(a, "2.17.0")
    assert not affects(a, "2.17.1")


def test_explicit_versions_list() -> None:
    a = entry("PyPI", versions=["1.0", "1.2"])
    assert affects(a, "1.0")
    assert affects(a, "1.0.0")  # the same PEP 440 version
    assert not affects(a, "1.1")


def test_oss_fuzz_git_ranges_only_match_through_versions() -> None:
    a = Affected.model_validate(
        {
            "package": {"ecosystem": "OSS-Fuzz", "name": "curl"},
            "ranges": [{"type": "GIT", "repo": "https://github.com/curl/curl", "events": [{"introduced": "0"}]}],
            "versions": ["curl-7_81_0"],
        }
    )
    assert affects(a, "curl-7_81_0")
    assert not affects(a, "curl-7_82_0")
    assert range_problems(a) == []


def test_go_semver_range_accepts_v_prefix() -> None:
    a = between("Go", "1.2.0", "1.6.0", range_type="SEMVER")
    assert affects(a, "v1.5.9")
    assert affects(a, "1.5.9")
    assert not affects(a, "v1.6.0")
    pseudo = between("Go", "0.0.0-20160722212129-ac0cc4484ad4", "0.0.0-20200131131040-063a3fb69896", "SEMVER")
    assert affects(pseudo, "v0.0.0-20180101000000-abcdefabcdef")


def test_semver_range_in_a_non_semver_ecosystem() -> None:
    a = between("PyPI", "1.0.0", "2.0.0", range_type="SEMVER")
    assert affects(a, "1.5.0")
    assert not affects(a, "1.0rc1")  # not SemVer, so not inside a SemVer range (and no crash)


def test_unparseable_event_does_not_crash_and_is_reported() -> None:
    a = entry(
        "PyPI",
        [{"introduced": "0"}, {"last_affected": "2.9.0-NA"}],
        [{"introduced": "3.0"}, {"fixed": "3.1"}],
    )
    assert not affects(a, "1.0")  # the broken range matches nothing...
    assert affects(a, "3.0.5")  # ...and the good one still works
    problems = range_problems(a)
    assert [p.range_index for p in problems] == [0]
    assert "2.9.0-NA" in str(problems[0])


def test_unknown_version_order_is_reported_not_raised() -> None:
    a = entry("Android", [{"introduced": "0"}, {"fixed": "13"}], versions=["12"])
    assert affects(a, "12")
    assert not affects(a, "11")
    assert len(range_problems(a)) == 1


# --------------------------------------------------------------------------------------------- property

release = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))


def _dotted(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


@settings(max_examples=300, deadline=None)
@given(release, release, release)
def test_pypi_range_agrees_with_tuple_order(
    low: tuple[int, int, int], high: tuple[int, int, int], probe: tuple[int, int, int]
) -> None:
    low, high = min(low, high), max(low, high)
    a = between("PyPI", _dotted(low), _dotted(high))
    assert affects(a, _dotted(probe)) == (low <= probe < high)


@settings(max_examples=200, deadline=None)
@given(st.lists(release, min_size=2, max_size=8, unique=True), release)
def test_shuffled_pairs_match_sorted_pairs(bounds: list[tuple[int, int, int]], probe: tuple[int, int, int]) -> None:
    bounds = sorted(bounds)[: len(bounds) // 2 * 2]
    pairs = list(zip(bounds[::2], bounds[1::2], strict=True))
    events = [ev for lo, hi in reversed(pairs) for ev in ({"introduced": _dotted(lo)}, {"fixed": _dotted(hi)})]
    a = entry("Go", events, range_type="SEMVER")
    assert affects(a, _dotted(probe)) == any(lo <= probe < hi for lo, hi in pairs)


# ---------------------------------------------------------------------------------------------- fixtures


def _fixture_cases() -> list[tuple[str, Affected, str, bool]]:
    """(record id, affected entry, version, expected): each concrete introduced version is affected and each
    fixed version is not."""
    cases: list[tuple[str, Affected, str, bool]] = []
    for document in sample_documents():
        record = OsvRecord.model_validate(document)
        for affected in record.affected or ():
            for rng in affected.ranges or ():
                if rng.type.value == "GIT":
                    continue
                values = [e.value for e in rng.events]
                for event in rng.events:
                    if event.kind == "introduced" and event.value != "0":
                        cases.append((record.id, affected, event.value, True))
                    # A fixed version re-introduced in the same range (seen in Bitnami data) stays
                    # affected, as does one the record also lists explicitly.
                    elif (
                        event.kind == "fixed"
                        and values.count(event.value) == 1
                        and event.value not in (affected.versions or ())
                    ):
                        cases.append((record.id, affected, event.value, False))
    return cases


def test_fixture_has_cases() -> None:
    cases = _fixture_cases()
    assert sum(expected for *_, expected in cases) >= 5
    assert sum(not expected for *_, expected in cases) >= 20


@pytest.mark.parametrize(("record_id", "affected", "version", "expected"), _fixture_cases())
def test_fixture_introduced_affected_fixed_not(
    record_id: str, affected: Affected, version: str, expected: bool
) -> None:
    assert range_problems(affected) == [], record_id
    assert affects(affected, version) is expected, f"{record_id}: {version}"


def _verdict(answer: Callable[[str], bool], version: str) -> bool | str:
    try:
        return answer(version)
    except InvalidVersion as exc:
        return str(exc)


def test_one_matcher_answers_every_version_as_a_fresh_evaluation_does() -> None:
    """The store prepares each stored entry once and asks it about every queried version: no earlier answer
    (an error, the parsed ``versions`` list) may change a later one."""
    entries = [a for d in sample_documents() for a in OsvRecord.model_validate(d).affected or ()]
    entries += [entry("PyPI", versions=["1.0", "1.2"]), between("CRAN", "1.0", "2.0")]
    probes: dict[str, set[str]] = {}
    for a in entries:
        ecosystem = a.package.ecosystem.split(":")[0] if a.package else ""
        found = probes.setdefault(ecosystem, {"1.0.0", "one.five", "not a version"})
        found |= {e.value for r in a.ranges or () for e in r.events if r.type.value != "GIT"} | set(a.versions or ())
    checked = 0
    for affected in entries:
        prepared = matcher(affected)
        order = sorted(probes[affected.package.ecosystem.split(":")[0] if affected.package else ""])
        for version in [*order, *reversed(order)]:
            assert _verdict(prepared.affects, version) == _verdict(lambda v: affects(affected, v), version)  # noqa: B023
            checked += 1
    assert checked > 1000


# The range checks compare `_order_key`s rather than versions (speed); each scheme's keys must order its versions
# exactly as the versions themselves order (and tie where they tie), including RPM's tildes, carets and junk.
_ORDER_SAMPLES = {
    "Red Hat": [
        "1.0",
        "1.0.0",
        "1.0~rc1",
        "1.0~~",
        "1.0^",
        "1.0^git1",
        "1.0a",
        "1.0.a",
        "1.0-1",
        "1.0-1.el8",
        "1.0-1.el8_1",
        "1:0.9",
        "0:1.0",
        "01.0",
        "1.00",
        "1.0__1",
        "1.0.",
        "1..0",
        "1.0é",
        "10",
        "2.0-0.1.beta",
        "2.0-0.1.beta~1",
        "1.0~rc1^2",
        "a",
        "A",
        "1.0-~",
        "1.0-^",
        "1.0+1",
        "9.9",
        "1_0",
    ],
    "npm": ["1.0.0", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-alpha", "1.0.0+build", "1.10.0", "1.2.0", "0.0.1", "2.0.0-1"],
    "PyPI": ["1.0", "1.0.0", "1.0rc1", "1.0.post1", "1.0.dev1", "1!0.1", "2.0", "1.0a1", "1.0+local", "0.9"],
}


@pytest.mark.parametrize("ecosystem", sorted(_ORDER_SAMPLES))
def test_order_keys_order_as_the_versions_do(ecosystem: str) -> None:
    parsed = [parse_version(ecosystem, v) for v in _ORDER_SAMPLES[ecosystem]]
    for a in parsed:
        for b in parsed:
            assert (_order_key(a) < _order_key(b)) == (a < b), (ecosystem, str(a), str(b))
            assert (_order_key(a) == _order_key(b)) == (not a < b and not b < a), (ecosystem, str(a), str(b))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0019azZ~^._+", min_size=1, max_size=8), min_size=2, max_size=2))
def test_rpm_order_keys_agree_with_rpmvercmp(pair: list[str]) -> None:
    a, b = (parse_version("AlmaLinux", v) for v in pair)
    assert (_order_key(a) < _order_key(b)) == (a < b)
    assert (_order_key(a) == _order_key(b)) == (not a < b and not b < a)
