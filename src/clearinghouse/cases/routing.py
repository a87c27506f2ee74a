"""Routing a case to its vendors (pure, no I/O): what each vendor declares it owns, and an index that proposes
vendors for a case's packages, CPEs and repositories with the rule that matched.

Declarations:
- purl patterns `pkg:type/name`, `pkg:type/namespace/name`, or `pkg:type/namespace/*` (every package of a
  namespace); `*` only as the whole last segment, and never without a namespace (`pkg:*`, `pkg:pypi/*` would
  match a whole ecosystem: refused);
- CPE vendor/product pairs (`cpe:2.3:a:vendor:product`, or `vendor:product`), neither part `*` or `-`;
- repository URLs (`https://host/owner/repo`).

The index is keyed by (type, namespace, name), so a proposal costs a dictionary look-up per package whatever the
number of declarations.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from packageurl import PackageURL

from clearinghouse.errors import InvalidVendorDeclaration
from clearinghouse.records.purls import purl_problem

MAX_PATTERN_LENGTH = 500


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _crate(name: str) -> str:
    return name.lower().replace("_", "-")


_NORMALISE = {"pypi": _pep503, "cargo": _crate}
_CASE_SENSITIVE = frozenset({"maven", "golang", "github", "swift", "generic", "conan"})
_CPE_PART = re.compile(r"^[A-Za-z0-9._\-~%!]+$")


class DeclarationKind(StrEnum):
    PURL = "purl"
    CPE = "cpe"
    REPOSITORY = "repository"


@dataclass(frozen=True)
class PackageKey:
    """A package as the index keys it: type, namespace ("" when none), name ("*": the whole namespace)."""

    type: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Declaration:
    """One thing a vendor organisation says it owns; `key` is what the index files it under."""

    organisation_id: str
    kind: DeclarationKind
    pattern: str
    key: tuple[str, ...]

    @property
    def match_key(self) -> str:
        """The key as one string, as the store indexes it (no part holds whitespace)."""
        return match_key(self.kind, self.key)


def match_key(kind: DeclarationKind, key: tuple[str, ...]) -> str:
    return " ".join((kind.value, *key))


def from_match_key(organisation_id: str, pattern: str, stored: str) -> Declaration:
    kind, *key = stored.split(" ")
    return Declaration(organisation_id, DeclarationKind(kind), pattern, tuple(key))


def _fold(purl_type: str, value: str) -> str:
    if purl_type in _NORMALISE:
        return _NORMALISE[purl_type](value)
    return value if purl_type in _CASE_SENSITIVE else value.lower()


def package_key(purl: str) -> PackageKey:
    """The key of a concrete package URL (version, qualifiers and subpath ignored)."""
    problem = purl_problem(purl)
    if problem is not None:
        raise InvalidVendorDeclaration(f"{purl!r} is not a package URL: {problem}")
    parsed = PackageURL.from_string(purl)
    kind = parsed.type.lower()
    return PackageKey(kind, _fold(kind, parsed.namespace or ""), _fold(kind, parsed.name))


def purl_pattern_key(pattern: str) -> PackageKey:
    """A declared purl pattern as its key; match-everything patterns and misplaced `*` are refused."""
    text = pattern.strip()
    if not text.startswith("pkg:"):
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r} must start with 'pkg:'")
    body = text[4:].lstrip("/")
    if any(c in body for c in "@?#"):
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r} names a package, not a version (drop @, ? and #)")
    segments = body.split("/")
    purl_type = segments[0].lower()
    if purl_type in ("", "*") or not re.fullmatch(r"[a-z][a-z0-9.+-]*", purl_type):
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r} matches every package type; name one (pkg:pypi/...)")
    rest = segments[1:]
    if not rest or rest == [""]:
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r} names no package")
    if any("*" in s for s in rest[:-1]) or ("*" in rest[-1] and rest[-1] != "*"):
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r}: '*' may only stand for the whole last segment")
    if rest[-1] == "*" and len(rest) == 1:
        raise InvalidVendorDeclaration(
            f"purl pattern {pattern!r} matches every {purl_type} package; give a namespace (pkg:type/namespace/*)"
        )
    if any(not s for s in rest):
        raise InvalidVendorDeclaration(f"purl pattern {pattern!r} has an empty segment")
    name = rest[-1]
    namespace = "/".join(unquote(s) for s in rest[:-1])
    if name == "*":
        return PackageKey(purl_type, _fold(purl_type, namespace), "*")
    return package_key(f"pkg:{body}")


def cpe_key(pattern: str) -> tuple[str, str]:
    """(vendor, product) from `cpe:2.3:a:vendor:product[:...]`, `cpe:/a:vendor:product` or `vendor:product`."""
    text = pattern.strip()
    if text.startswith("cpe:2.3:"):
        parts = text.split(":")[3:5]
    elif text.startswith("cpe:/"):
        parts = text[5:].split(":")[1:3]
    else:
        parts = text.split(":")
    if len(parts) != 2:
        raise InvalidVendorDeclaration(f"CPE {pattern!r} must name a vendor and a product (vendor:product)")
    vendor, product = (p.lower() for p in parts)
    for label, value in (("vendor", vendor), ("product", product)):
        if value in ("*", "-", "") or not _CPE_PART.match(value) or "*" in value:
            raise InvalidVendorDeclaration(f"CPE {pattern!r}: the {label} must be named, not {value!r}")
    return vendor, product


def repository_key(url: str) -> str:
    """`host/owner/repo`, lower case, without scheme, `.git` or trailing slash; a host alone is refused."""
    text = url.strip()
    try:
        parsed = urlsplit(text if "://" in text else f"https://{text}")
    except ValueError as exc:  # e.g. an unbalanced "[" (an IPv6 literal that is not one)
        raise InvalidVendorDeclaration(f"repository {url!r} is not a repository URL: {exc}") from None
    if parsed.scheme not in ("https", "http", "git", "ssh") or not parsed.hostname:
        raise InvalidVendorDeclaration(f"repository {url!r} is not a repository URL (https://host/owner/repo)")
    path = parsed.path.strip("/").removesuffix(".git").lower()
    if any(c.isspace() for c in text):
        raise InvalidVendorDeclaration(f"repository {url!r} holds whitespace")
    if not path or "*" in path or "*" in parsed.hostname:
        raise InvalidVendorDeclaration(f"repository {url!r} names a host, not a repository")
    return f"{parsed.hostname.lower()}/{path}"


def declaration(organisation_id: str, kind: DeclarationKind, pattern: str) -> Declaration:
    """A checked declaration; `InvalidVendorDeclaration` says what is wrong with the pattern."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidVendorDeclaration(f"a declaration is at most {MAX_PATTERN_LENGTH} characters")
    key: tuple[str, ...]
    if kind is DeclarationKind.PURL:
        package = purl_pattern_key(pattern)
        key = (package.type, package.namespace, package.name)
    elif kind is DeclarationKind.CPE:
        key = cpe_key(pattern)
    else:
        key = (repository_key(pattern),)
    return Declaration(organisation_id, kind, pattern.strip(), key)


@dataclass(frozen=True)
class VendorMatch:
    organisation_id: str
    subject: str  # the purl, CPE or repository of the case that matched
    rule: str  # the declaration that matched it, e.g. "purl pkg:maven/org.apache.logging.log4j/*"


@dataclass
class Proposal:
    matches: list[VendorMatch] = field(default_factory=list)
    no_vendor_on_file: list[str] = field(default_factory=list)

    def vendors(self) -> list[str]:
        return sorted({m.organisation_id for m in self.matches})


def candidate_keys(purls: Iterable[str] = (), cpes: Iterable[str] = (), repositories: Iterable[str] = ()) -> set[str]:
    """Every match key a declaration could have to match one of these subjects (for a keyed look-up in the store)."""
    keys: set[str] = set()
    for purl in purls:
        try:
            package = package_key(purl)
        except InvalidVendorDeclaration:
            continue  # no declaration can match it; `propose` lists it as having no vendor
        keys.add(match_key(DeclarationKind.PURL, (package.type, package.namespace, package.name)))
        if package.namespace:
            keys.add(match_key(DeclarationKind.PURL, (package.type, package.namespace, "*")))
    keys.update(match_key(DeclarationKind.CPE, cpe_key(cpe)) for cpe in cpes)
    keys.update(match_key(DeclarationKind.REPOSITORY, (repository_key(r),)) for r in repositories)
    return keys


class VendorIndex:
    """Declarations filed by key: exact packages, whole namespaces, CPE pairs and repositories."""

    def __init__(self, declarations: Iterable[Declaration]) -> None:
        self._by_key: dict[tuple[str, ...], list[Declaration]] = defaultdict(list)
        for item in declarations:
            self._by_key[(item.kind.value, *item.key)].append(item)

    def _found(self, key: tuple[str, ...], subject: str) -> list[VendorMatch]:
        return [
            VendorMatch(d.organisation_id, subject, f"{d.kind.value} {d.pattern}") for d in self._by_key.get(key, ())
        ]

    def for_purl(self, purl: str) -> list[VendorMatch]:
        package = package_key(purl)
        kind = DeclarationKind.PURL.value
        exact = self._found((kind, package.type, package.namespace, package.name), purl)
        whole_namespace = self._found((kind, package.type, package.namespace, "*"), purl) if package.namespace else []
        return exact + whole_namespace

    def matching(self, purl: str) -> list[VendorMatch]:
        """`for_purl`, with a purl that does not parse matching nothing (a report's text, not a declaration)."""
        try:
            return self.for_purl(purl)
        except InvalidVendorDeclaration:
            return []

    def propose(
        self, purls: Iterable[str] = (), cpes: Iterable[str] = (), repositories: Iterable[str] = ()
    ) -> Proposal:
        """Vendors for each package URL, CPE and repository; those no vendor declared are listed, not dropped."""
        proposal = Proposal()
        subjects: list[tuple[str, list[VendorMatch]]] = [(purl, self.matching(purl)) for purl in dict.fromkeys(purls)]
        for cpe in dict.fromkeys(cpes):
            subjects.append((cpe, self._found((DeclarationKind.CPE.value, *cpe_key(cpe)), cpe)))
        for repository in dict.fromkeys(repositories):
            key = (DeclarationKind.REPOSITORY.value, repository_key(repository))
            subjects.append((repository, self._found(key, repository)))
        for subject, found in subjects:
            if found:
                proposal.matches.extend(found)
            else:
                proposal.no_vendor_on_file.append(subject)
        return proposal
