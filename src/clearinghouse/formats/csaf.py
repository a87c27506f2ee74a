"""CSAF 2.0 (`csaf_security_advisory`): `dump` a stored record as an advisory; no `parse`.

The mapping follows what OSV/GHSA to CSAF converters do, shaped so that every document passes the CSAF 2.0 schema
and the mandatory tests (6.1.x) of the `csaf` validator:

- ``document``: title from the summary (else the id; withdrawn records say so), the clearinghouse as publisher
  (category ``coordinator``), tracking id = record id, ``initial_release_date`` = published and
  ``current_release_date`` = modified (never earlier than published: some sources give placeholder or
  seconds-early ``modified`` stamps), one revision, version ``1`` and status ``final`` (``0``/``draft`` for draft
  and embargoed records). TLP 2.0 labels become the TLP 1.0 labels CSAF 2.0 knows (CLEAR -> WHITE,
  AMBER+STRICT -> AMBER); the original label is kept in the distribution text. A note names the source
  database and licence (CC-BY sources must be credited); a qualitative severity given by the source (Bitnami,
  OSS-Fuzz) becomes ``aggregate_severity``.
- ``product_tree``: vendor branch = OSV ecosystem, product_name branch = package, leaves:
  ``product_version_range`` per affected interval of a SEMVER/ECOSYSTEM range as a ``vers:`` string (scheme =
  the purl type; see `intervals` for how events pair up), ``product_version`` per fixed or last_affected
  version and per listed version of entries without such ranges. GIT commit ranges cannot be written as
  ``vers``, so a GIT range without listed versions becomes a range leaf that describes the commits in words.
  A package with no version information at all is a product on its product_name branch. The purl (the record's
  own, or one built for well-known ecosystems) is the product identification helper. Product ids are
  ``CSAFPID-0001``, ... in order of appearance, so the same record always gives the same document.
- ``vulnerabilities[0]``: ``cve`` (the first CVE among id and aliases), ``ids`` (the other identifiers, each with
  its database), notes (details as ``description``, summary, CVSS v4 vectors, CWE ids, related ids, KEV and
  withdrawal), references, ``product_status`` (``known_affected``, ``last_affected``, ``fixed``), CVSS v3/v2
  scores with base score and severity computed by the `cvss` library (one score per CVSS major version and
  product, as test 6.1.7 requires), remediations (``vendor_fix`` naming the fixed version or commit, else
  ``none_available``) and, for records in CISA KEV, an ``exploit_status`` threat.

CSAF 2.0 has no CVSS v4 slot and its ``cwe`` needs the catalog name of the weakness, which records do not carry;
both are kept as notes. Records that name no package cannot be security advisories (those need a product
status), so they are exported with the ``csaf_base`` profile.

Some helpers here (`cve_ids`, `intervals`, `clean_url`, ...) interpret OSV for the CVE JSON 5 exporter too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from packageurl import PackageURL
from univers.version_range import RANGE_CLASS_BY_SCHEMES
from univers.versions import SemverVersion

from clearinghouse import __version__
from clearinghouse.records.model import (
    Affected,
    OsvRecord,
    Package,
    Range,
    RangeType,
    RecordStatus,
    Severity,
    Tlp,
    VulnerabilityRecord,
)
from clearinghouse.records.severity import base_score, parse_vector
from clearinghouse.records.sources import source_of

PUBLISHER_NAME = "Clearinghouse"
PUBLISHER_NAMESPACE = "https://clearinghouse.example.org"
CVE_PATTERN = re.compile(r"^CVE-\d{4}-\d{4,}$")
_CWE_PATTERN = re.compile(r"^CWE-[1-9][0-9]*$")
KEV_CATALOG_URL = "https://www.cisa.gov/known-exploited-vulnerabilities-catalog"

TLP_V1 = {Tlp.CLEAR: "WHITE", Tlp.GREEN: "GREEN", Tlp.AMBER: "AMBER", Tlp.AMBER_STRICT: "AMBER", Tlp.RED: "RED"}

# OSV ecosystem -> purl type, which is also the `vers` scheme (vers schemes are purl types by definition).
PURL_TYPES = {
    "PyPI": "pypi",
    "Go": "golang",
    "crates.io": "cargo",
    "npm": "npm",
    "Maven": "maven",
    "NuGet": "nuget",
    "RubyGems": "gem",
    "Packagist": "composer",
    "Hex": "hex",
    "Pub": "pub",
    "CRAN": "cran",
    "Bitnami": "bitnami",
    "AlmaLinux": "rpm",
    "Rocky Linux": "rpm",
    "Red Hat": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "Mageia": "rpm",
    "openEuler": "rpm",
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
}
# Distribution ecosystems whose purls need the distribution as namespace (pkg:rpm/almalinux/bash).
_DISTRO_NAMESPACES = {"AlmaLinux": "almalinux", "Rocky Linux": "rocky-linux", "Debian": "debian", "Ubuntu": "ubuntu"}
# Version comparisons the purl types above use; a scheme missing here keeps the events in the order given.
_SEMVER_SCHEMES = frozenset({"cargo", "npm", "bitnami", "hex", "pub"})


def cve_ids(record: OsvRecord) -> list[str]:
    """The CVE ids among the record's id and aliases, in that order, without repeats."""
    return [identifier for identifier in record.identifiers() if CVE_PATTERN.match(identifier)]


def cwe_ids(record: OsvRecord) -> list[str]:
    """CWE ids in ``database_specific.cwe_ids`` (the GitHub advisory convention), well-formed ones only."""
    found = (record.database_specific or {}).get("cwe_ids")
    if not isinstance(found, list):
        return []
    return list(dict.fromkeys(str(c) for c in found if isinstance(c, str) and _CWE_PATTERN.match(c)))


def file_name(tracking_id: str) -> str:
    """The file name CSAF 2.0 section 5.1 gives a document: its tracking id lower-cased, anything outside
    ``[+\\-a-z0-9]`` replaced by ``_``, then ``.json``."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "+-") else "_" for c in tracking_id.lower()) + ".json"


def is_withdrawn(record: VulnerabilityRecord) -> bool:
    return record.osv.withdrawn is not None or record.status is RecordStatus.WITHDRAWN


def release_dates(record: OsvRecord) -> tuple[str, str]:
    """(first release, latest change): published and modified, with modified never before published."""
    initial = record.published or record.modified
    current = record.modified if record.modified_at >= (record.published_at or record.modified_at) else initial
    return initial, current


def clean_url(url: str) -> str | None:
    """The URL as an RFC 3986 URI (characters it forbids percent-encoded), or None if it is not absolute."""
    url = url.strip()
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#\s]", url):
        return None
    # Keep every character RFC 3986 allows (and existing %-escapes); encode only the rest.
    return quote(url, safe=":/?#[]@!$&'()*+,;=-._~%")


def source_note(record: VulnerabilityRecord) -> str:
    database = source_of(record.provenance.source_id) if record.provenance.source_id else None
    name = record.provenance.source or (database.name if database else "an unknown source")
    licence = record.provenance.licence or (database.licence if database else None)
    text = f"Converted by the clearinghouse from {name} record {record.provenance.source_id or record.id}"
    return f"{text}, licensed under {licence}." if licence else f"{text}."


def purl_for(package: Package) -> PackageURL | None:
    """The package's own purl when valid, else one built for ecosystems with a well-known purl type."""
    if package.purl:
        try:
            return PackageURL.from_string(package.purl)
        except ValueError:
            return None
    base, _, release = package.ecosystem.partition(":")
    purl_type = PURL_TYPES.get(base)
    if purl_type is None or (purl_type == "golang" and "/" not in package.name):
        # Go's "stdlib" and "toolchain" are not modules and have no purl.
        return None
    namespace: str | None = _DISTRO_NAMESPACES.get(base)
    name = package.name
    qualifiers: dict[str, str] = {}
    if namespace and release:
        qualifiers["distro"] = f"{namespace}-{release}"
    if purl_type in ("golang", "composer", "npm") and "/" in name:
        namespace, _, name = name.rpartition("/")
    elif purl_type == "maven" and ":" in name:
        namespace, _, name = name.partition(":")
    try:
        return PackageURL(type=purl_type, namespace=namespace, name=name, qualifiers=qualifiers or None)
    except ValueError:
        return None


def versioned_purl(purl: PackageURL | None, version: str) -> str | None:
    if purl is None:
        return None
    if purl.type == "golang" and not version.startswith("v"):
        version = f"v{version}"  # Go module versions carry the "v"; OSV drops it
    return PackageURL(purl.type, purl.namespace, purl.name, version, purl.qualifiers, purl.subpath).to_string()


@dataclass(frozen=True)
class Interval:
    """Versions from `introduced` (None: from the start) up to `end`, which `end_kind` makes exclusive
    ("fixed", "limit") or inclusive ("last_affected"); no end: every later version."""

    introduced: str | None
    end_kind: str | None = None
    end: str | None = None


def _sort_key(range_: Range, scheme: str) -> Any:
    if range_.type is RangeType.SEMVER or scheme in _SEMVER_SCHEMES:
        version_class: Any = SemverVersion
    elif scheme in RANGE_CLASS_BY_SCHEMES and scheme != "generic":
        version_class = RANGE_CLASS_BY_SCHEMES[scheme].version_class
    else:
        return None

    def key(value: str) -> Any:
        return (0, None) if value == "0" else (1, version_class(value))

    return key


def _pairs(events: list[tuple[str, str]], strict: bool) -> list[Interval] | None:
    found: list[Interval] = []
    start: str | None = None
    open_ = False
    for kind, value in events:
        if kind == "introduced" and not open_:
            start, open_ = (None if value == "0" else value), True
        elif kind != "introduced" and open_:
            found.append(Interval(start, kind, value))
            open_ = False
        elif strict:
            return None
    if open_:
        found.append(Interval(start))
    return found


def intervals(range_: Range, scheme: str) -> list[Interval]:
    """The affected intervals of a SEMVER or ECOSYSTEM range.

    Events listed as introduced/end pairs are taken pair by pair, as their producer wrote them (Bitnami lists
    overlapping release lines that way, which sorting would merge). Other event lists are evaluated the OSV
    way, in version order, where `univers` can order the versions (else as listed): an introduced event opens
    an interval, the next end closes it, and events that do neither are ignored.
    """
    events = [(event.kind, event.value) for event in range_.events]
    paired = _pairs(events, strict=True)
    if paired is not None:
        return paired
    key = _sort_key(range_, scheme)
    if key is not None:
        try:
            # Stable sort: at an equal version the listed order decides (introduced before its end).
            events.sort(key=lambda e: key(e[1]))
        except Exception:  # univers raises assorted errors for versions its scheme cannot read
            events = [(event.kind, event.value) for event in range_.events]
    return _pairs(events, strict=False) or []


def git_events(range_: Range) -> tuple[list[str], list[str], list[str]]:
    """(introduced, fixed or limit, last_affected) commits of a GIT range. Commits are not ordered, and one
    introduced commit often has several fixes (one per release branch), so they are not paired up."""
    introduced = [e.value for e in range_.events if e.kind == "introduced"]
    fixed = [e.value for e in range_.events if e.kind in ("fixed", "limit")]
    last = [e.value for e in range_.events if e.kind == "last_affected"]
    return introduced, fixed, last


def _git_range_text(range_: Range) -> str:
    introduced, fixed, last = git_events(range_)
    named = [c for c in introduced if c != "0"]
    everything = not named or len(named) < len(introduced)  # introduced "0" is the first commit
    text = "git: all commits" if everything else f"git: commits descending from {' or '.join(named)}"
    if fixed:
        text += f" that do not descend from {' or '.join(fixed)}"
    if last:
        text += f"{',' if fixed else ''} up to and including {' or '.join(last)}"
    return text


# Names test 6.1.31 takes for version ranges; a listed version that merely looks like one (tags such as
# "preview-0.8.x") is written as a one-version vers range instead.
_RANGE_LIKE = re.compile(
    r"^[<>]|\bprior\s+to\b|\bbefore\b|\band\s+earlier\b|\band\s+later\b|\bthrough\b|^\s*all\s*$|\.[Xx](?:\b|$)|\.\*",
    re.IGNORECASE,
)
_VERSIONS_NOT_STATED = "versions not stated in the source record"


@dataclass
class _Package:
    vendor: str
    name: str
    scheme: str
    purl: PackageURL | None
    leaves: dict[tuple[str, str], str] = field(default_factory=dict)  # (branch category, branch name) -> id
    whole: str | None = None  # the package itself, for entries that give no version at all


@dataclass
class _Remedy:
    category: str
    details: str
    url: str | None
    products: list[str] = field(default_factory=list)


class _Products:
    """The product tree under construction, with the status and remediations of every product."""

    def __init__(self) -> None:
        self.packages: dict[tuple[str, str], _Package] = {}
        self.names: dict[str, str] = {}
        self.last_affected: dict[str, None] = {}
        self.fixed: dict[str, None] = {}
        self.remedies: dict[tuple[str, str, str | None], _Remedy] = {}

    def package(self, package: Package) -> _Package:
        key = (package.ecosystem, package.name)
        if key not in self.packages:
            purl = purl_for(package)
            scheme = str(purl.type) if purl else PURL_TYPES.get(package.ecosystem.partition(":")[0], "generic")
            self.packages[key] = _Package(package.ecosystem, package.name, scheme, purl)
        return self.packages[key]

    def _new_id(self, full_name: str) -> str:
        product_id = f"CSAFPID-{len(self.names) + 1:04d}"
        self.names[product_id] = full_name
        return product_id

    def version(self, package: _Package, version: str) -> str:
        if _RANGE_LIKE.search(version):
            return self.range(package, f"vers:{package.scheme}/{_encode(version)}")
        return self._leaf(package, "product_version", version)

    def range(self, package: _Package, name: str) -> str:
        return self._leaf(package, "product_version_range", name)

    def _leaf(self, package: _Package, category: str, name: str) -> str:
        key = (category, name)
        if key not in package.leaves:
            package.leaves[key] = self._new_id(f"{package.name} {name} ({package.vendor})")
        return package.leaves[key]

    def whole(self, package: _Package) -> str:
        if package.whole is None:
            package.whole = self._new_id(f"{package.name}, {_VERSIONS_NOT_STATED} ({package.vendor})")
        return package.whole

    def remedy(self, category: str, details: str, url: str | None, products: Iterable[str]) -> None:
        remedy = self.remedies.setdefault((category, details, url), _Remedy(category, details, url))
        remedy.products.extend(p for p in products if p not in remedy.products)

    def branches(self) -> list[dict[str, Any]]:
        vendors: dict[str, list[dict[str, Any]]] = {}
        for package in self.packages.values():
            branch: dict[str, Any] = {"category": "product_name", "name": package.name}
            if package.leaves:
                leaves = [
                    {"category": category, "name": name, "product": self._product(package, product_id, category, name)}
                    for (category, name), product_id in package.leaves.items()
                ]
                if package.whole is not None:
                    # A branch holds either sub-branches or a product, so a package that has both versioned
                    # products and a version-less one keeps the latter as a (free-text) range leaf.
                    leaves.append(
                        {
                            "category": "product_version_range",
                            "name": _VERSIONS_NOT_STATED,
                            "product": self._product(package, package.whole, None, None),
                        }
                    )
                branch["branches"] = leaves
            elif package.whole is not None:
                branch["product"] = self._product(package, package.whole, None, None)
            else:
                continue
            vendors.setdefault(package.vendor, []).append(branch)
        return [{"category": "vendor", "name": vendor, "branches": items} for vendor, items in vendors.items()]

    def _product(self, package: _Package, product_id: str, category: str | None, name: str | None) -> dict[str, Any]:
        product: dict[str, Any] = {"name": self.names[product_id], "product_id": product_id}
        purl = versioned_purl(package.purl, name) if category == "product_version" and name else None
        if purl is None and package.purl is not None:
            purl = package.purl.to_string()
        if purl:
            product["product_identification_helper"] = {"purl": purl}
        return product


def _encode(version: str) -> str:
    # vers separates constraints with "|" and starts them with comparators; escape what could be misread.
    return quote(version, safe=":+!")


def vers(scheme: str, interval: Interval) -> str:
    """The interval as a `vers` string, e.g. ``vers:pypi/>=1.0|<1.2.3``."""
    constraints = []
    if interval.introduced is not None:
        constraints.append(f">={_encode(interval.introduced)}")
    if interval.end is not None:
        constraints.append(f"{'<=' if interval.end_kind == 'last_affected' else '<'}{_encode(interval.end)}")
    return f"vers:{scheme}/{'|'.join(constraints) or '*'}"


def _github_commit(repo: str | None, commit: str) -> str | None:
    if repo and re.match(r"^https://github\.com/[^/\s]+/[^/\s]+$", repo.removesuffix("/")):
        return f"{repo.removesuffix('/').removesuffix('.git')}/commit/{commit}"
    return None


def _add_affected(products: _Products, affected: Affected) -> list[str]:
    """Add one affected[] entry to the tree; returns the ids of the products it says are affected."""
    if affected.package is None:
        return []
    package = products.package(affected.package)
    name = affected.package.name
    ranges = affected.ranges or []
    version_ranges = [r for r in ranges if r.type is not RangeType.GIT]
    git_ranges = [r for r in ranges if r.type is RangeType.GIT]
    found: list[str] = []
    for range_ in version_ranges:
        for interval in intervals(range_, package.scheme):
            ids = [products.range(package, vers(package.scheme, interval))]
            if interval.end_kind == "fixed" and interval.end:
                products.fixed[products.version(package, interval.end)] = None
                products.remedy("vendor_fix", f"Update {name} to version {interval.end}, which fixes this.", None, ids)
            elif interval.end_kind == "last_affected" and interval.end:
                ids.append(products.version(package, interval.end))
                products.last_affected[ids[-1]] = None
                details = f"{name} {interval.end} is the last affected version; update to a later one."
                products.remedy("vendor_fix", details, None, ids)
            else:
                products.remedy("none_available", f"No fixed version of {name} is known.", None, ids)
            found.extend(ids)
    if not version_ranges:
        if affected.versions:
            found = [products.version(package, version) for version in affected.versions]
        else:
            found = [products.range(package, _git_range_text(range_)) for range_ in git_ranges]
        if not found:
            found = [products.whole(package)]
    fixes = [(r.repo, e.value) for r in git_ranges for e in r.events if e.kind == "fixed"]
    for repo, commit in fixes:
        details = f"Apply commit {commit} of {repo} (or a release containing it), which fixes this."
        products.remedy("vendor_fix", details, _github_commit(repo, commit), found)
    if not version_ranges and not fixes:
        products.remedy("none_available", f"No fixed version of {name} is known.", None, found)
    return found


def cvss_json(severity: Severity) -> tuple[str, dict[str, Any]]:
    """(CVSS version, the FIRST CVSS JSON object) for a vector, base score and severity computed from it."""
    kind = str(severity.type)
    version, score, rating = base_score(kind, severity.score)
    if version == "4.0":
        # The `cvss` library's CVSS v4 JSON does not follow the FIRST schema (version "4", other metric names).
        return version, {
            "version": "4.0",
            "vectorString": severity.score,
            "baseScore": score,
            "baseSeverity": rating.upper(),
        }
    data: dict[str, Any] = parse_vector(kind, severity.score).as_json(minimal=True)
    data.update(version=version, vectorString=severity.score, baseScore=score)
    if version != "2.0":  # CVSS v2 has no qualitative severity in its JSON schema
        data["baseSeverity"] = rating.upper()
    return version, data


def _scores(
    osv: OsvRecord, affected_ids: list[str], per_entry: list[tuple[Affected, list[str]]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """CSAF scores (one v3 and one v2 score at most per product, test 6.1.7) and the vectors left over."""
    targets = [(s, affected_ids) for s in osv.severity or ()]
    targets += [(s, ids) for entry, ids in per_entry for s in entry.severity or ()]
    scored: dict[tuple[str, str], list[str]] = {}
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    taken: dict[str, set[str]] = {"cvss_v2": set(), "cvss_v3": set()}
    left_over: list[str] = []
    for severity, ids in targets:
        if severity.type not in ("CVSS_V2", "CVSS_V3"):
            continue
        version, data = cvss_json(severity)
        slot = "cvss_v2" if version == "2.0" else "cvss_v3"
        free = [p for p in ids if p not in taken[slot]]
        if not free:
            left_over.append(severity.score)
            continue
        taken[slot].update(free)
        key = (slot, severity.score)
        objects[key] = data
        scored.setdefault(key, []).extend(free)
    return [{slot: objects[(slot, vector)], "products": ids} for (slot, vector), ids in scored.items()], left_over


_REFERENCE_SUMMARIES = {
    "ADVISORY": "Advisory",
    "ARTICLE": "Article",
    "DETECTION": "Detection",
    "DISCUSSION": "Discussion",
    "REPORT": "Report",
    "FIX": "Fix",
    "INTRODUCED": "Change that introduced the vulnerability",
    "GIT": "Source repository",
    "PACKAGE": "Package",
    "EVIDENCE": "Evidence",
    "WEB": "Web page",
}


def _references(osv: OsvRecord) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for reference in osv.references or ():
        url = clean_url(reference.url)
        if url and url not in found:
            found[url] = {"category": "external", "summary": _REFERENCE_SUMMARIES[reference.type.value], "url": url}
    return list(found.values())


def _acknowledgments(osv: OsvRecord) -> list[dict[str, Any]]:
    found = []
    for credit in osv.credits or ():
        if not credit.name.strip():
            continue
        entry: dict[str, Any] = {"names": [credit.name]}
        urls = [u for u in (clean_url(c) for c in credit.contact or ()) if u]
        if urls:
            entry["urls"] = urls
        if credit.type:
            entry["summary"] = credit.type.value.lower().replace("_", " ")
        found.append(entry)
    return found


def _aggregate_severity(osv: OsvRecord) -> str | None:
    """A qualitative severity the source states once for the whole record (Bitnami, OSS-Fuzz), if any."""
    stated = {(osv.database_specific or {}).get("severity")}
    stated |= {(a.ecosystem_specific or {}).get("severity") for a in osv.affected or ()}
    texts = {s.strip() for s in stated if isinstance(s, str) and s.strip()}
    return texts.pop() if len(texts) == 1 else None


def dump(record: VulnerabilityRecord) -> dict[str, Any]:
    """The record as a CSAF 2.0 security advisory (see the module docstring for the mapping)."""
    osv = record.osv
    database = source_of(osv.id)
    products = _Products()
    per_entry = [(entry, _add_affected(products, entry)) for entry in osv.affected or ()]
    affected_ids = list(dict.fromkeys(p for _, ids in per_entry for p in ids))
    withdrawn = is_withdrawn(record)
    draft = record.status in (RecordStatus.DRAFT, RecordStatus.EMBARGOED)
    initial, current = release_dates(osv)
    version = "0" if draft else "1"
    title = osv.summary.strip() if osv.summary and osv.summary.strip() else osv.id
    tlp = TLP_V1[record.tlp]

    document_notes = [{"category": "general", "title": "Source", "text": source_note(record)}]
    if withdrawn:
        when = f" on {osv.withdrawn}" if osv.withdrawn else ""
        text = f"This record was withdrawn{when}; it is kept for reference and should not be relied on."
        document_notes.append({"category": "general", "title": "Withdrawn", "text": text})
        title = f"Withdrawn: {title}"
    if record.status is RecordStatus.DISPUTED:
        document_notes.append({"category": "general", "title": "Disputed", "text": "This record is disputed."})
    document: dict[str, Any] = {
        "category": "csaf_security_advisory" if affected_ids else "csaf_base",
        "csaf_version": "2.0",
        "lang": "en",
        "title": title,
        "publisher": {"category": "coordinator", "name": PUBLISHER_NAME, "namespace": PUBLISHER_NAMESPACE},
        "distribution": {
            "text": f"TLP:{record.tlp.value} (TLP 2.0), given as TLP:{tlp} because CSAF 2.0 uses TLP 1.0 labels.",
            "tlp": {"label": tlp, "url": "https://www.first.org/tlp/"},
        },
        "notes": document_notes,
        "tracking": {
            "id": osv.id,
            "status": "draft" if draft else "final",
            "version": version,
            "initial_release_date": initial,
            "current_release_date": current,
            "revision_history": [{"date": initial, "number": version, "summary": "First version."}],
            "generator": {"engine": {"name": "clearinghouse", "version": __version__}},
        },
    }
    severity = _aggregate_severity(osv)
    if severity:
        document["aggregate_severity"] = {"text": severity}
    advisory_url = (osv.database_specific or {}).get("url")
    if isinstance(advisory_url, str) and (url := clean_url(advisory_url)):
        document["references"] = [{"category": "external", "summary": f"{database.name} record {osv.id}", "url": url}]

    vulnerability: dict[str, Any] = {}
    cves = cve_ids(osv)
    if cves:
        vulnerability["cve"] = cves[0]
    ids = [{"system_name": source_of(i).name, "text": i} for i in osv.identifiers() if i not in cves[:1]]
    if ids:
        vulnerability["ids"] = ids
    if osv.summary and osv.summary.strip():
        vulnerability["title"] = osv.summary.strip()
    if osv.published:
        vulnerability["release_date"] = osv.published
    notes: list[dict[str, Any]] = []
    if osv.details and osv.details.strip():
        notes.append({"category": "description", "title": "Details", "text": osv.details})
    if osv.summary and osv.summary.strip():
        notes.append({"category": "summary", "title": "Summary", "text": osv.summary})
    if not notes:
        notes.append({"category": "description", "title": "Details", "text": f"Record {osv.id} gives no description."})
    scores, left_over = _scores(osv, affected_ids, per_entry)
    v4 = list(dict.fromkeys(s.score for s in osv.all_severities() if s.type == "CVSS_V4"))
    if v4:
        lines = [f"{v} (base score {base_score('CVSS_V4', v)[1]}, {base_score('CVSS_V4', v)[2]})" for v in v4]
        notes.append({"category": "other", "title": "CVSS v4.0", "text": "\n".join(lines)})
    if left_over:
        text = "Also given, for products already scored with the same CVSS version: " + ", ".join(left_over)
        notes.append({"category": "other", "title": "Further CVSS vectors", "text": text})
    weaknesses = cwe_ids(osv)
    if weaknesses:
        notes.append({"category": "other", "title": "Weaknesses (CWE)", "text": ", ".join(weaknesses)})
    related = [*(osv.related or ()), *(osv.upstream or ())]
    if related:
        notes.append({"category": "other", "title": "Related vulnerabilities", "text": ", ".join(related)})
    if record.known_exploited:
        text = f"CISA lists this vulnerability in its Known Exploited Vulnerabilities catalog ({KEV_CATALOG_URL})."
        notes.append({"category": "general", "title": "Known exploited", "text": text})
    vulnerability["notes"] = notes
    references = _references(osv)
    if references:
        vulnerability["references"] = references
    acknowledgments = _acknowledgments(osv)
    if acknowledgments:
        vulnerability["acknowledgments"] = acknowledgments

    result: dict[str, Any] = {"document": document}
    if affected_ids:
        result["product_tree"] = {"branches": products.branches()}
        known = [p for p in affected_ids if p not in products.last_affected]
        status: dict[str, list[str]] = {}
        if known:
            status["known_affected"] = known
        if products.last_affected:
            status["last_affected"] = list(products.last_affected)
        # A product is never both affected and fixed (test 6.1.6): where sources disagree, affected wins.
        fixed = [p for p in products.fixed if p not in affected_ids]
        if fixed:
            status["fixed"] = fixed
        vulnerability["product_status"] = status
        if scores:
            vulnerability["scores"] = scores
        remediations = [
            {"category": r.category, "details": r.details, "product_ids": r.products}
            | ({"url": r.url} if r.url else {})
            for r in products.remedies.values()
            if r.products
        ]
        if remediations:
            vulnerability["remediations"] = remediations
        if record.known_exploited:
            details = "Exploited in the wild: listed in the CISA Known Exploited Vulnerabilities catalog."
            vulnerability["threats"] = [{"category": "exploit_status", "details": details, "product_ids": affected_ids}]
    result["vulnerabilities"] = [vulnerability]
    ordered: dict[str, Any] = _sorted_keys(result)
    return ordered


def _sorted_keys(value: Any) -> Any:
    # CSAF recommends alphabetical keys throughout (test 6.2.13); lists keep their order.
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value
