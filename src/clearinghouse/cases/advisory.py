"""A case's advisory as an OSV record (pure, no I/O): drafted from its reports when the case opens, completed with
the vendors' fixes when it is published.

Credits carry the finding's provenance: the reporting organisation (FINDER), for AI findings the model and the
tool (TOOL) and whether a person verified the finding (ANALYST), and the clearinghouse (COORDINATOR). The same
provenance is kept in `database_specific.clearinghouse` so it survives in formats without credit types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from clearinghouse.errors import CaseConflict, InvalidVersion, UnknownEcosystem
from clearinghouse.formats import osv as osv_format
from clearinghouse.records.model import OsvRecord, canonical_ecosystem
from clearinghouse.records.versions import parse_version

CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
COORDINATOR_NAME = "Clearinghouse"
OSV_SCHEMA_VERSION = "1.6.0"


@dataclass(frozen=True)
class ReportFacts:
    """What the advisory takes from one report."""

    organisation: str
    title: str
    description: str
    packages: Sequence[Mapping[str, Any]]  # {ecosystem, name, purl, versions}
    cwes: Sequence[str]
    provenance: Mapping[str, Any]  # {origin, model, tool, run_id, human_verified}


def advisory_id(case_id: str) -> str:
    """OSV ids carry a known database prefix or the private `x_` one."""
    return f"x_{case_id}"


def check_cve(cve_id: str | None) -> str | None:
    if cve_id is not None and not CVE_ID.match(cve_id):
        raise CaseConflict(f"{cve_id!r} is not a CVE id (CVE-YYYY-NNNN)")
    return cve_id


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _osv_name(purl: str | None, name: str) -> str:
    """The OSV package name a purl stands for (Maven's is `group:artifact`; distributions' namespaces are not
    part of it)."""
    if not purl:
        return name
    parsed = PackageURL.from_string(purl)
    if not parsed.namespace or parsed.type in ("deb", "rpm", "apk"):
        return str(parsed.name)
    return f"{parsed.namespace}{':' if parsed.type == 'maven' else '/'}{parsed.name}"


def _affected(reports: Sequence[ReportFacts]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for report in reports:
        for package in report.packages:
            ecosystem, purl = package.get("ecosystem"), package.get("purl")
            name = _osv_name(str(purl) if purl else None, str(package.get("name") or ""))
            if not ecosystem or not name:
                continue  # an unknown ecosystem: routed by purl, but OSV cannot carry it
            try:
                ecosystem = canonical_ecosystem(str(ecosystem))
            except ValueError:
                continue
            entry = found.setdefault((ecosystem, name), {"package": {"ecosystem": ecosystem, "name": name}})
            if purl:
                entry["package"]["purl"] = str(purl).split("@", 1)[0]
            versions = [str(v) for v in package.get("versions") or ()]
            if versions:
                entry["versions"] = sorted(set(entry.get("versions", [])) | set(versions))
    return list(found.values())


def credits(reports: Iterable[ReportFacts]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for report in reports:
        found.append({"name": report.organisation, "type": "FINDER"})
        provenance = report.provenance
        if provenance.get("origin") == "ai":
            if provenance.get("model"):
                found.append({"name": f"AI model: {provenance['model']}", "type": "TOOL"})
            if provenance.get("tool"):
                found.append({"name": f"AI tool: {provenance['tool']}", "type": "TOOL"})
            verified = "verified by a person" if provenance.get("human_verified") else "not verified by a person"
            found.append({"name": f"Human verification: {verified} ({report.organisation})", "type": "ANALYST"})
    found.append({"name": COORDINATOR_NAME, "type": "COORDINATOR"})
    unique = {(c["name"], c["type"]): c for c in found}
    return list(unique.values())


def draft(case_id: str, title: str, reports: Sequence[ReportFacts], at: datetime, cve_id: str | None) -> OsvRecord:
    """The embargoed advisory of a new case."""
    first = reports[0]
    document: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": advisory_id(case_id),
        "modified": _timestamp(at),
        "summary": title,
        "details": "\n\n".join(dict.fromkeys(r.description for r in reports)) or first.title,
        "affected": _affected(reports),
        "credits": credits(reports),
        "database_specific": {
            "clearinghouse": {
                "case": case_id,
                "cwe_ids": sorted({c for r in reports for c in r.cwes}),
                "provenance": [dict(r.provenance) for r in reports],
            },
            "cwe_ids": sorted({c for r in reports for c in r.cwes}),
        },
    }
    if cve_id is not None:
        document["aliases"] = [cve_id]
    return osv_format.parse(document)


@dataclass(frozen=True)
class VendorFacts:
    """What the vendors said, by package ("ecosystem/name"): fixed versions, and the packages not affected (their
    vendor and VEX justification)."""

    fixes: Mapping[str, Sequence[str]]
    not_affected: Mapping[str, Mapping[str, str]]


def published(document: Mapping[str, Any], vendors: VendorFacts, at: datetime, cve_id: str | None) -> OsvRecord:
    """The advisory as published: dated, with the CVE id if one was given, a fixed range for each package a vendor
    fixed, and without the packages their vendors showed not affected (kept, with the justification, under
    `database_specific.clearinghouse.not_affected`)."""
    updated = dict(document)
    updated["modified"] = _timestamp(at)
    updated["published"] = _timestamp(at)
    if cve_id is not None:
        updated["aliases"] = sorted({*document.get("aliases", ()), cve_id})
    affected = []
    for entry in document.get("affected", ()):
        package = entry.get("package") or {}
        key = f"{package.get('ecosystem')}/{package.get('name')}"
        if key in vendors.not_affected:
            continue
        fixed = vendors.fixes.get(key)
        if fixed:
            # One range per entry: fixed at the newest fixed version (a backport to an older branch then reads as
            # still affected, which errs on the safe side).
            try:
                newest = max(fixed, key=lambda v: parse_version(str(package["ecosystem"]), v))
            except (InvalidVersion, UnknownEcosystem):
                newest = None  # versions this ecosystem cannot order make no range; the statement keeps them
            if newest is not None:
                events = [{"introduced": "0"}, {"fixed": newest}]
                entry = {**entry, "ranges": [*entry.get("ranges", ()), {"type": "ECOSYSTEM", "events": events}]}
        affected.append(entry)
    updated["affected"] = affected
    if vendors.not_affected:
        specific = dict(updated.get("database_specific") or {})
        ours = dict(specific.get("clearinghouse") or {})
        ours["not_affected"] = [{"package": k, **v} for k, v in sorted(vendors.not_affected.items())]
        updated["database_specific"] = {**specific, "clearinghouse": ours}
    return osv_format.parse(updated)
