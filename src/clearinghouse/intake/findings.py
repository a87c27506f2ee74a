"""Normalise a submission into `Finding`s: the one shape the pipeline checks, de-duplicates and triages."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from packageurl import PackageURL

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats import osv, sarif
from clearinghouse.intake.submission import (
    AffectedProduct,
    OsvSubmission,
    SarifSubmission,
    StructuredSubmission,
)

_CWE_IN_TEXT = re.compile(r"\bCWE-([1-9][0-9]{0,5})\b")
_IDENTIFIER = re.compile(r"\b(?:CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3})\b", re.IGNORECASE)

# purl types to OSV ecosystems, for the ones a reporter is likely to use.
PURL_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "maven": "Maven",
    "golang": "Go",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "nuget": "NuGet",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "deb": "Debian",
    "apk": "Alpine",
    "cran": "CRAN",
    "swift": "SwiftURL",
    "hackage": "Hackage",
    "bitnami": "Bitnami",
}


@dataclass(frozen=True)
class PackageRef:
    ecosystem: str | None
    name: str
    purl: str | None = None
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    kind: str
    title: str
    description: str
    packages: tuple[PackageRef, ...]
    cwes: tuple[str, ...] = ()
    cvss_vectors: tuple[str, ...] = ()
    proof_of_concept: str | None = None
    locations: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()  # ids and aliases the finding names, for alias de-duplication
    attachments: tuple[dict[str, str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def content_hash(self) -> str:
        """Canonical hash for exact duplicates: the same content, whoever sends it and in whatever key order."""
        canonical = {
            "title": " ".join(self.title.lower().split()),
            "description": " ".join(self.description.lower().split()),
            "packages": sorted((p.ecosystem or "", p.name.lower(), sorted(p.versions)) for p in self.packages),
            "cwes": sorted(self.cwes),
            "locations": sorted(self.locations),
        }
        return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def package_ref(product: AffectedProduct) -> PackageRef:
    if product.purl:
        purl = PackageURL.from_string(product.purl)
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        versions = tuple(product.versions) or ((purl.version,) if purl.version else ())
        return PackageRef(PURL_ECOSYSTEMS.get(purl.type, product.ecosystem), name, product.purl, versions)
    return PackageRef(product.ecosystem, product.name or "", None, tuple(product.versions))


def from_structured(submission: StructuredSubmission) -> list[Finding]:
    report = submission.report
    text = f"{report.title}\n{report.description}"
    cwes = {report.cwe} if report.cwe else {f"CWE-{m}" for m in _CWE_IN_TEXT.findall(text)}
    return [
        Finding(
            kind="structured",
            title=report.title,
            description=report.description,
            packages=tuple(package_ref(p) for p in report.affected),
            cwes=tuple(sorted(cwes)),
            cvss_vectors=(report.cvss_vector,) if report.cvss_vector else (),
            proof_of_concept=report.proof_of_concept,
            locations=tuple(report.locations),
            identifiers=tuple(sorted({m.upper() for m in _IDENTIFIER.findall(text)})),
            attachments=tuple(a.model_dump() for a in report.attachments),
            extra={"contact": report.contact} if report.contact else {},
        )
    ]


def from_osv(submission: OsvSubmission) -> list[Finding]:
    record = osv.parse(submission.osv, Location(field="osv"))
    packages = tuple(
        PackageRef(a.package.ecosystem, a.package.name, a.package.purl, tuple(a.versions or ()))
        for a in record.affected or ()
        if a.package is not None
    )
    cwe_ids = (record.database_specific or {}).get("cwe_ids") or []
    return [
        Finding(
            kind="osv",
            title=record.summary or record.id,
            description=record.details or record.summary or "",
            packages=packages,
            cwes=tuple(sorted(str(c) for c in cwe_ids)),
            cvss_vectors=tuple(s.score for s in record.all_severities() if s.type != "Ubuntu"),
            identifiers=tuple(record.identifiers()),
            extra={"osv": record.document()},
        )
    ]


def from_sarif(submission: SarifSubmission) -> list[Finding]:
    results = sarif.parse(submission.sarif, Location(field="sarif"))
    if not results:
        raise InvalidRecord("the SARIF log has no results to report", Location(field="sarif.runs"))
    product = (package_ref(submission.product),) if submission.product else ()
    return [
        Finding(
            kind="sarif",
            title=result.title,
            description=result.message,
            packages=product,
            cwes=tuple(result.cwes),
            locations=tuple(result.locations),
            extra={"tool": result.tool, "rule_id": result.rule_id, "level": result.level, "result": result.raw},
        )
        for result in results
    ]


def normalise(submission: StructuredSubmission | OsvSubmission | SarifSubmission) -> list[Finding]:
    if isinstance(submission, StructuredSubmission):
        return from_structured(submission)
    if isinstance(submission, OsvSubmission):
        return from_osv(submission)
    return from_sarif(submission)
