"""Package URLs (purl) as OSV records carry them: well-formed, and naming the same package as the entry.

`packageurl-python` parses leniently (it takes ``pkg:pypi/%zz`` and ``pkg:pypi/exa mple@@@%%%``), so the checks
here add what the purl specification requires of the string (valid percent-encoding, no whitespace or control
characters) and of the name per type (a PyPI name is a PEP 508 name). An OSV ``affected[].package`` purl must
agree with the entry's ``ecosystem`` (`PURL_TYPES`) and ``name`` (compared under the type's normalisation, e.g.
PEP 503 for PyPI): a purl naming another package would send scanners that read the purl to the wrong package.
"""

from __future__ import annotations

import re
from functools import lru_cache

from packageurl import PackageURL

# OSV ecosystem -> the purl types that may name its packages (the OSV schema's purl mapping and the purl spec).
# Ecosystems not listed here (Android, Linux, ...) have no agreed purl type: their purls are checked for form only.
PURL_TYPES: dict[str, frozenset[str]] = {
    "PyPI": frozenset({"pypi"}),
    "npm": frozenset({"npm"}),
    "Maven": frozenset({"maven"}),
    "Go": frozenset({"golang"}),
    "crates.io": frozenset({"cargo"}),
    "RubyGems": frozenset({"gem"}),
    "NuGet": frozenset({"nuget"}),
    "Packagist": frozenset({"composer"}),
    "Hex": frozenset({"hex"}),
    "Pub": frozenset({"pub"}),
    "Hackage": frozenset({"hackage"}),
    "CRAN": frozenset({"cran"}),
    "SwiftURL": frozenset({"swift"}),
    "GitHub Actions": frozenset({"github", "githubactions"}),
    "Bitnami": frozenset({"bitnami"}),
    "ConanCenter": frozenset({"conan"}),
    "Debian": frozenset({"deb"}),
    "Ubuntu": frozenset({"deb"}),
    "Alpine": frozenset({"apk"}),
    "Wolfi": frozenset({"apk"}),
    "Chainguard": frozenset({"apk"}),
    "AlmaLinux": frozenset({"rpm"}),
    "Rocky Linux": frozenset({"rpm"}),
    "Red Hat": frozenset({"rpm"}),
    "SUSE": frozenset({"rpm"}),
    "openSUSE": frozenset({"rpm"}),
    "Mageia": frozenset({"rpm"}),
    "Azure Linux": frozenset({"rpm"}),
    "openEuler": frozenset({"rpm"}),
    "Photon OS": frozenset({"rpm"}),
    "OSS-Fuzz": frozenset({"generic"}),
}

# Distribution package types: the purl's namespace names the distribution (and so the OSV ecosystem).
_DISTRIBUTIONS: dict[str, dict[str, str]] = {
    "deb": {"debian": "Debian", "ubuntu": "Ubuntu"},
    "apk": {"alpine": "Alpine", "wolfi": "Wolfi", "chainguard": "Chainguard"},
    "rpm": {
        "almalinux": "AlmaLinux",
        "rocky-linux": "Rocky Linux",
        "rocky": "Rocky Linux",
        "redhat": "Red Hat",
        "opensuse": "openSUSE",
        "suse": "SUSE",
        "mageia": "Mageia",
        "azurelinux": "Azure Linux",
        "photon": "Photon OS",
        "openeuler": "openEuler",
    },
}
# purl type -> the one OSV ecosystem it names, read off `PURL_TYPES` (a type shared by several ecosystems names
# none on its own; `generic` names nothing).
_ECOSYSTEM_OF_TYPE: dict[str, str] = {
    purl_type: ecosystem
    for ecosystem, types in PURL_TYPES.items()
    for purl_type in types
    if purl_type != "generic" and sum(purl_type in other for other in PURL_TYPES.values()) == 1
}


DISTRIBUTION_TYPES = frozenset(_DISTRIBUTIONS)


def ecosystem_of_purl(purl_type: str, namespace: str | None) -> str | None:
    """The OSV ecosystem a purl of this type (and, for distribution types, namespace) names; None for none."""
    if (ecosystem := _ECOSYSTEM_OF_TYPE.get(purl_type)) is not None:
        return ecosystem
    return _DISTRIBUTIONS.get(purl_type, {}).get((namespace or "").lower())


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_PEP_508_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _folded(name: str) -> str:
    return name.casefold()


def _crate(name: str) -> str:
    return name.lower().replace("_", "-")


def _url(name: str) -> str:
    return re.sub(r"^[a-z]+://", "", name.lower()).rstrip("/").removesuffix(".git")


# How each type's full name (namespace and name) compares with the OSV package name.
_NORMALISE = {"pypi": _pep503, "cargo": _crate, "swift": _url, "github": _url, "githubactions": _url}
# Types whose namespace is the distribution (deb/debian), not part of the package's name.
_NAMESPACE_IS_DISTRIBUTION = frozenset({"deb", "rpm", "apk"})


@lru_cache(maxsize=65536)  # the same package's purl recurs in every record about it
def purl_problem(value: str) -> str | None:
    """Why `value` is not a well-formed purl, or None."""
    if _WHITESPACE_OR_CONTROL.search(value):
        return "a purl has no whitespace or control characters (percent-encode them)"
    bad = _BAD_PERCENT.search(value)
    if bad is not None:
        return f"invalid percent-encoding {value[bad.start() : bad.start() + 3]!r} at character {bad.start() + 1}"
    try:
        purl = PackageURL.from_string(value)
    except ValueError as exc:
        return str(exc)
    if not purl.name or _WHITESPACE_OR_CONTROL.search(purl.name):
        return f"package name {purl.name!r} is empty or holds whitespace or control characters"
    if purl.type == "pypi" and not _PEP_508_NAME.match(purl.name):
        return f"{purl.name!r} is not a valid PyPI project name (PEP 508)"
    return None


def _full_name(purl: PackageURL) -> str:
    if not purl.namespace or purl.type in _NAMESPACE_IS_DISTRIBUTION:
        return str(purl.name)
    separator = ":" if purl.type == "maven" else "/"
    return f"{purl.namespace}{separator}{purl.name}"


@lru_cache(maxsize=65536)
def purl_disagreement(ecosystem: str, name: str, value: str) -> str | None:
    """Why purl `value` (well-formed) does not name package `name` of OSV `ecosystem`, or None."""
    purl = PackageURL.from_string(value)
    base = ecosystem.partition(":")[0]
    allowed = PURL_TYPES.get(base)
    if allowed is None:
        return None
    if purl.type not in allowed:
        expected = " or ".join(f"pkg:{t}/" for t in sorted(allowed))
        return f"purl type {purl.type!r} does not match ecosystem {ecosystem!r} (expected {expected})"
    normalise = _NORMALISE.get(purl.type, _folded)
    if normalise(_full_name(purl)) != normalise(name):
        return f"purl names package {_full_name(purl)!r}, not the entry's {name!r}"
    return None
