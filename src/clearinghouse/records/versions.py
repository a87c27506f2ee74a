"""Does an OSV ``affected`` entry affect version V of its package? With each ecosystem's own version rules.

Three public questions:

* `normalize_name` gives the key a package name is stored and looked up under (PyPI's PEP 503 form, NuGet's
  case-folded form, Go's exact module path, ...);
* `version_scheme` gives the `univers` version class that orders an ecosystem's versions;
* `affects` applies OSV's evaluation algorithm (https://ossf.github.io/osv-schema/#evaluation) to one
  ``affected`` entry and one version.

Ecosystems are matched on the part before the first ``:`` (``Debian:12``, ``AlmaLinux:8``, ``Red Hat:...``),
case-insensitively, against the OSV ecosystem list; a release suffix never changes how names or versions
compare.

Real data is imperfect. A range with an event version its scheme cannot parse does not match anything (it
cannot be evaluated honestly) and never raises; `range_problems` lists such ranges so they can be reported.
The *queried* version is different: when an ECOSYSTEM range has to be evaluated and the version cannot be
parsed, `affects` raises `InvalidVersion` rather than answer "not affected" to a question it cannot judge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key, lru_cache
from typing import Any

from univers import versions as uv

from clearinghouse.errors import InvalidVersion, UnknownEcosystem
from clearinghouse.records.model import Affected, Range, RangeType
from clearinghouse.schemas import osv_ecosystems

__all__ = [
    "AffectedMatcher",
    "ApkVersion",
    "ComposerVersion",
    "DottedIntVersion",
    "InvalidVersion",
    "RVersion",
    "RangeProblem",
    "SemverVersion",
    "UnknownEcosystem",
    "VersionClass",
    "affected_versions_problems",
    "affects",
    "base_ecosystem",
    "matcher",
    "normalize_name",
    "parse_version",
    "range_problems",
    "version_scheme",
]


# --------------------------------------------------------------------------------------------------------
# Version classes univers lacks (or gets wrong for OSV data). Each builds a plain, totally ordered tuple as
# its ``value``, so the attrs-generated comparisons of `univers.versions.Version` order them correctly.
# --------------------------------------------------------------------------------------------------------

_INT_PARTS = re.compile(r"^\d+(?:[.-]\d+)*$")
_DOT_INT_PARTS = re.compile(r"^\d+(?:\.\d+)*$")


class RVersion(uv.Version):
    """R package versions (CRAN, Bioconductor): integers separated by ``.`` or ``-``, compared in order."""

    @classmethod
    def is_valid(cls, string: str) -> bool:
        return bool(_INT_PARTS.match(string))

    @classmethod
    def build_value(cls, string: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.split(r"[.-]", string))


class DottedIntVersion(uv.Version):
    """Haskell's Data.Version (Hackage, GHC): dot-separated integers, compared as a list."""

    @classmethod
    def is_valid(cls, string: str) -> bool:
        return bool(_DOT_INT_PARTS.match(string))

    @classmethod
    def build_value(cls, string: str) -> tuple[int, ...]:
        return tuple(int(p) for p in string.split("."))


# apk (Alpine, Wolfi, Chainguard...): 1.2.3a_rc1_p2~abcdef-r4. univers' Alpine class borrows Gentoo's
# grammar, which rejects the _git/_svn/_hg/_cvs suffixes and ~hash that real apk versions carry.
_APK = re.compile(
    r"^(?P<nums>\d+(?:\.\d+)*)(?P<letter>[a-z]?)(?P<suffixes>(?:_[a-z]+\d*)*)"
    r"(?:~(?P<hash>[0-9a-f]+))?(?:-r(?P<rev>\d+))?$"
)
_APK_SUFFIX = re.compile(r"_([a-z]+)(\d*)")
_APK_SUFFIX_RANK = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
_APK_END = (0, 0)  # what "no more suffixes" ranks as: after pre-releases, before post-releases


class ApkVersion(uv.Version):
    """Alpine package keeper versions, ordered as apk-tools orders them."""

    @classmethod
    def normalize(cls, string: str) -> str:
        return string.strip()

    @classmethod
    def is_valid(cls, string: str) -> bool:
        match = _APK.match(string)
        if not match:
            return False
        return all(name in _APK_SUFFIX_RANK for name, _ in _APK_SUFFIX.findall(match["suffixes"]))

    @classmethod
    def build_value(cls, string: str) -> tuple[Any, ...]:
        match = _APK.match(string)
        assert match is not None  # is_valid ran first
        nums = tuple(int(n) for n in match["nums"].split("."))
        suffixes = tuple(
            (_APK_SUFFIX_RANK[name], int(num or 0)) for name, num in _APK_SUFFIX.findall(match["suffixes"])
        )
        return (nums, match["letter"], (*suffixes, _APK_END), match["hash"] or "", int(match["rev"] or 0))


# Composer (Packagist): PHP's version_compare after Composer's normalisation (1.0 == 1.0.0.0).
_COMPOSER = re.compile(r"^(?P<release>\d+(?:\.\d+)*)(?P<rest>[-._+]?[a-z0-9.+_-]*)$")
_PHP_SPECIAL = {"dev": 1, "alpha": 2, "a": 2, "beta": 3, "b": 3, "rc": 4, "pl": 6, "p": 6, "patch": 6}
_PHP_NUMBER = 5
_PHP_MISSING = (_PHP_NUMBER, -1)  # a missing part compares like a number lower than any real one


class ComposerVersion(uv.Version):
    """Packagist versions: ``1.2.3``, ``v1.2.3.4``, ``2.0.0-RC1``, ``1.0-beta2``, ``1.0.0-p1``."""

    @classmethod
    def normalize(cls, string: str) -> str:
        return string.strip().lower().removeprefix("v")

    @classmethod
    def is_valid(cls, string: str) -> bool:
        return bool(_COMPOSER.match(string))

    @classmethod
    def build_value(cls, string: str) -> tuple[tuple[int, int], ...]:
        match = _COMPOSER.match(string)
        assert match is not None
        release = [int(p) for p in match["release"].split(".")]
        release += [0] * (4 - len(release))
        parts: list[tuple[int, int]] = [(_PHP_NUMBER, n) for n in release]
        rest = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", ".", match["rest"])
        for token in re.split(r"[-._+]+", rest):
            if not token:
                continue
            if token.isdigit():
                parts.append((_PHP_NUMBER, int(token)))
            else:
                parts.append((_PHP_SPECIAL.get(token, 0), 0))
        # Pad so that tuples of different lengths compare as PHP does (1.0.0.0 < 1.0.0.0.1, 1.0-rc1 < 1.0).
        return (*parts, *([_PHP_MISSING] * (16 - len(parts))))


class SemverVersion(uv.SemverVersion):
    """Semantic versions as OSV SEMVER ranges use them; a leading ``v`` is accepted (Go, GitHub tags)."""


# --------------------------------------------------------------------------------------------------------
# Ecosystems
# --------------------------------------------------------------------------------------------------------

VersionClass = type[uv.Version]

_RPM = uv.RpmVersion
_SCHEMES: dict[str, VersionClass | None] = {
    "PyPI": uv.PypiVersion,
    "npm": SemverVersion,
    "Maven": uv.MavenVersion,
    "Go": uv.GolangVersion,
    "crates.io": SemverVersion,
    "RubyGems": uv.RubygemsVersion,
    "NuGet": uv.NugetVersion,
    "Packagist": ComposerVersion,
    "Hex": SemverVersion,
    "Pub": SemverVersion,
    "SwiftURL": SemverVersion,
    "GitHub Actions": SemverVersion,
    "Bitnami": SemverVersion,
    "Julia": SemverVersion,
    "VSCode": SemverVersion,
    "Kubernetes": SemverVersion,
    "ConanCenter": uv.ConanVersion,
    "CRAN": RVersion,
    "Bioconductor": RVersion,
    "Hackage": DottedIntVersion,
    "GHC": DottedIntVersion,
    "Debian": uv.DebianVersion,
    "Ubuntu": uv.DebianVersion,
    "Alpine": ApkVersion,
    "Wolfi": ApkVersion,
    "Chainguard": ApkVersion,
    "Alpaquita": ApkVersion,
    "BellSoft Hardened Containers": ApkVersion,
    "MinimOS": ApkVersion,
    "AlmaLinux": _RPM,
    "Rocky Linux": _RPM,
    "Red Hat": _RPM,
    "openSUSE": _RPM,
    "SUSE": _RPM,
    "Mageia": _RPM,
    "Azure Linux": _RPM,
    "Photon OS": _RPM,
    "openEuler": _RPM,
    # Versions exist (the explicit ``versions`` list) but have no order; ranges are GIT commits.
    "OSS-Fuzz": None,
}


def _name_exact(name: str) -> str:
    return name


def _name_lower(name: str) -> str:
    return name.lower()


def _name_pypi(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_crate(name: str) -> str:
    # crates.io treats case and - versus _ as the same crate name.
    return name.lower().replace("_", "-")


def _name_url(name: str) -> str:
    # SwiftURL / GitHub Actions: repository locations on hosts that ignore case.
    name = re.sub(r"^[a-z]+://", "", name.lower())
    return name.rstrip("/").removesuffix(".git")


_NAME_RULES = {
    "PyPI": _name_pypi,
    "crates.io": _name_crate,
    "NuGet": _name_lower,
    "Packagist": _name_lower,
    "Hex": _name_lower,
    "Pub": _name_lower,
    "Bitnami": _name_lower,
    "Debian": _name_lower,
    "Ubuntu": _name_lower,
    "SwiftURL": _name_url,
    "GitHub Actions": _name_url,
    # Everything else (Go module paths, npm, Maven coordinates, RubyGems, RPM and apk packages, CRAN,
    # Hackage, ...) compares names exactly.
}

_BY_FOLDED = {name.casefold(): name for name in osv_ecosystems()}


@lru_cache(maxsize=256)
def base_ecosystem(ecosystem: str) -> str:
    """The OSV ecosystem name without its release suffix, spelt as OSV spells it (``debian:12`` → ``Debian``)."""
    base = ecosystem.partition(":")[0].strip()
    found = _BY_FOLDED.get(base.casefold())
    if found is None:
        raise UnknownEcosystem(ecosystem)
    return found


def normalize_name(ecosystem: str, name: str) -> str:
    """The key under which ``name`` is stored and looked up in ``ecosystem``; raises `UnknownEcosystem`."""
    return _NAME_RULES.get(base_ecosystem(ecosystem), _name_exact)(name.strip())


def version_scheme(ecosystem: str) -> VersionClass | None:
    """The univers version class ordering ``ecosystem``'s versions, or None for one without an order
    (OSS-Fuzz: only explicit versions match). Raises `UnknownEcosystem` for ecosystems not in the OSV list
    and for those whose ordering is not implemented (e.g. Android, Linux)."""
    base = base_ecosystem(ecosystem)
    if base not in _SCHEMES:
        raise UnknownEcosystem(ecosystem, f"versions of ecosystem {ecosystem!r} cannot be ordered here")
    return _SCHEMES[base]


def _scheme_key(scheme: VersionClass) -> str:
    return f"{scheme.__module__}.{scheme.__qualname__}"


# Caches are keyed by the scheme's dotted name (class objects are hashable, but mypy cannot tell).
_BY_KEY: dict[str, VersionClass] = {_scheme_key(c): c for c in _SCHEMES.values() if c is not None}


def _parse(scheme: VersionClass, value: str) -> uv.Version | None:
    return _parse_cached(_scheme_key(scheme), value)


@lru_cache(maxsize=65536)
def _parse_cached(scheme_key: str, value: str) -> uv.Version | None:
    try:
        return _BY_KEY[scheme_key](value)
    except Exception:  # univers raises several types (InvalidVersion, ValueError, TypeError...)
        return None


def parse_version(ecosystem: str, version: str) -> uv.Version:
    """``version`` parsed with ``ecosystem``'s scheme; raises `InvalidVersion` or `UnknownEcosystem`."""
    scheme = version_scheme(ecosystem)
    if scheme is None:
        raise UnknownEcosystem(ecosystem, f"versions of ecosystem {ecosystem!r} have no order")
    parsed = _parse(scheme, version)
    if parsed is None:
        raise InvalidVersion(base_ecosystem(ecosystem), version)
    return parsed


# --------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeProblem:
    """A range `affects` cannot evaluate (so treats as matching nothing), and why."""

    range_index: int
    reason: str

    def __str__(self) -> str:
        return f"ranges[{self.range_index}]: {self.reason}"


def _cmp(a: uv.Version, b: uv.Version) -> int:
    return -1 if a < b else (1 if b < a else 0)


_EventKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Compiled:
    events: tuple[tuple[str, uv.Version | None], ...]  # sorted; None is introduced "0"
    limits: tuple[uv.Version, ...]
    problem: str | None


def _compile(scheme: VersionClass, label: str, key: _EventKey) -> _Compiled:
    return _compile_cached(_scheme_key(scheme), label, key)


def _event_order(x: tuple[str, uv.Version | None], y: tuple[str, uv.Version | None]) -> int:
    if x[1] is None or y[1] is None:
        return (x[1] is not None) - (y[1] is not None)
    return _cmp(x[1], y[1])


@lru_cache(maxsize=65536)
def _compile_cached(scheme_key: str, label: str, key: _EventKey) -> _Compiled:
    scheme = _BY_KEY[scheme_key]
    events: list[tuple[str, uv.Version | None]] = []
    limits: list[uv.Version] = []
    bad: list[str] = []
    for kind, value in key:
        if kind == "introduced" and value == "0":
            events.append((kind, None))
            continue
        if kind == "limit" and value == "*":
            continue
        parsed = _parse(scheme, value)
        if parsed is None:
            bad.append(f"{kind} {value!r}")
        elif kind == "limit":
            limits.append(parsed)
        else:
            events.append((kind, parsed))
    if bad:
        return _Compiled((), (), f"not a valid {label} version: {', '.join(bad)}")
    # "0" first, then by version; Python's sort is stable, so equal versions keep the record's order.
    events.sort(key=cmp_to_key(_event_order))
    return _Compiled(tuple(events), tuple(limits), None)


def _event_key(rng: Range) -> _EventKey:
    return tuple((e.kind, e.value) for e in rng.events)


def _range_scheme(affected: Affected, rng: Range) -> tuple[VersionClass | None, str, str | None]:
    """(scheme, label, problem) for one non-GIT range."""
    if rng.type is RangeType.SEMVER:
        return SemverVersion, "SemVer", None
    if affected.package is None:
        return None, "", "ECOSYSTEM range without a package (no ecosystem to order versions by)"
    ecosystem = affected.package.ecosystem
    try:
        scheme = version_scheme(ecosystem)
    except UnknownEcosystem as exc:
        return None, "", exc.message
    if scheme is None:
        return None, "", f"ecosystem {ecosystem!r} has no version order; only explicit versions match"
    return scheme, base_ecosystem(ecosystem), None


def range_problems(affected: Affected) -> list[RangeProblem]:
    """The ranges of ``affected`` that `affects` cannot evaluate, each with the reason. GIT ranges are not
    problems (they are out of scope by design)."""
    found: list[RangeProblem] = []
    for index, rng in enumerate(affected.ranges or ()):
        if rng.type is RangeType.GIT:
            continue
        scheme, label, problem = _range_scheme(affected, rng)
        if scheme is not None:
            problem = _compile(scheme, label, _event_key(rng)).problem
        if problem is not None:
            found.append(RangeProblem(index, problem))
    return found


@lru_cache(maxsize=4096)
def _version_set_cached(scheme_key: str, listed: tuple[str, ...]) -> frozenset[uv.Version]:
    scheme = _BY_KEY[scheme_key]
    return frozenset(p for p in (_parse(scheme, v) for v in listed) if p is not None)


def _in_range(compiled: _Compiled, version: uv.Version) -> bool:
    # Every scheme orders versions by univers' attrs-generated `__lt__`: a class check, then `(value,)` tuples
    # compared. The events are of the version's own scheme, so comparing the `value`s directly is the same answer
    # at a fraction of the cost (it was two thirds of a batch of OSV queries' time; `test_versions` holds it).
    value = version.value
    if compiled.limits and not any(value < limit.value for limit in compiled.limits):
        return False
    affected = False
    for kind, at in compiled.events:
        if kind == "introduced":
            if at is None or not value < at.value:
                affected = True
            else:
                break  # sorted: every later event is above the version too
        elif kind == "fixed":
            if at is not None and not value < at.value:
                affected = False
            else:
                break
        elif kind == "last_affected" and at is not None:
            if at.value < value:
                affected = False
            else:
                break
    return affected


@dataclass(frozen=True, slots=True)  # slots: the store keeps tens of thousands (fewer objects for the GC)
class _RangeCheck:
    scheme_key: str
    label: str
    semver: bool
    compiled: _Compiled


_NO_VERSIONS: frozenset[str] = frozenset()


class AffectedMatcher:
    """One ``affected`` entry made ready to answer `affects` for many versions: its ranges parsed, sorted and
    checked once, ranges that cannot be evaluated (GIT, `range_problems`) left out. Build it with `matcher`.

    The store keeps these per stored entry, so a query evaluates ranges without re-reading the entry into
    pydantic models and re-deriving its scheme and events each time.
    """

    __slots__ = ("_exact", "_listed", "_listed_parsed", "_listed_scheme_key", "_ranges")

    def __init__(self, listed: Sequence[str], listed_scheme_key: str | None, ranges: tuple[_RangeCheck, ...]) -> None:
        self._listed = tuple(listed)
        # A set, as some entries list hundreds of versions; most list none and share one empty set.
        self._exact = frozenset(self._listed) if self._listed else _NO_VERSIONS
        self._listed_scheme_key = listed_scheme_key
        self._listed_parsed: frozenset[uv.Version] | None = None  # parsed on the first inexact look-up
        self._ranges = ranges

    def affects(self, version: str) -> bool:
        """`affects` for this entry."""
        if self._in_versions(version):
            return True
        for check in self._ranges:
            parsed = _parse_cached(check.scheme_key, version)
            if parsed is None:
                if check.semver:
                    continue  # e.g. a PyPI "1.0rc1" against a SemVer range: it cannot be inside it
                raise InvalidVersion(check.label, version)
            if _in_range(check.compiled, parsed):
                return True
        return False

    def _in_versions(self, version: str) -> bool:
        if not self._listed:
            return False
        if version in self._exact:
            return True
        # The same release spelt differently (PyPI 1.0 and 1.0.0, Go v1.2.3 and 1.2.3).
        if self._listed_scheme_key is None:
            return False
        parsed = _parse_cached(self._listed_scheme_key, version)
        if parsed is None:
            return False
        if self._listed_parsed is None:
            self._listed_parsed = _version_set_cached(self._listed_scheme_key, self._listed)
        return parsed in self._listed_parsed


def matcher(affected: Affected) -> AffectedMatcher:
    """``affected`` prepared for `AffectedMatcher.affects` (what `affects` does for one version)."""
    listed_scheme_key = None
    if affected.versions and affected.package is not None:
        try:
            scheme = version_scheme(affected.package.ecosystem)
        except UnknownEcosystem:
            scheme = None
        listed_scheme_key = None if scheme is None else _scheme_key(scheme)
    checks: list[_RangeCheck] = []
    for rng in affected.ranges or ():
        if rng.type is RangeType.GIT:
            continue
        scheme, label, problem = _range_scheme(affected, rng)
        if scheme is None or problem is not None:
            continue
        compiled = _compile(scheme, label, _event_key(rng))
        if compiled.problem is not None:
            continue
        checks.append(_RangeCheck(_scheme_key(scheme), label, rng.type is RangeType.SEMVER, compiled))
    return AffectedMatcher(affected.versions or (), listed_scheme_key, tuple(checks))


def affects(affected: Affected, version: str) -> bool:
    """Whether ``version`` of ``affected``'s package is affected, by OSV's evaluation algorithm: listed in
    ``versions``, or inside a SEMVER or ECOSYSTEM range (``introduced`` inclusive, "0" meaning from the
    start, ``fixed`` exclusive, ``last_affected`` inclusive, ``limit`` an exclusive upper bound). GIT ranges
    need the repository and are ignored.

    Ranges that cannot be evaluated (see `range_problems`) match nothing. Raises `InvalidVersion` when an
    ECOSYSTEM range has to be checked and ``version`` is not valid in the package's ecosystem. To ask about
    many versions of one entry, build its `matcher` once.
    """
    return matcher(affected).affects(version)


def affected_versions_problems(affected_list: Sequence[Affected]) -> list[tuple[int, RangeProblem]]:
    """`range_problems` for each entry of a record's ``affected`` list, as (entry index, problem)."""
    return [(i, p) for i, a in enumerate(affected_list) for p in range_problems(a)]
