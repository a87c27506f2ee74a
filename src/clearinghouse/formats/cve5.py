"""CVE JSON 5.1.1: `dump` a stored record as a CVE record (schema 5.1.1, ``dataVersion`` 5.1); no `parse`.

Only records with a CVE id (their own id or an alias) can be CVE records; for the others `dump` raises
`UnsupportedExport`. The CVE id is the first one among id and aliases (a few GO records name several).

- ``cveMetadata``: the clearinghouse as assigner (a fixed organisation UUID), ``datePublished`` = published and
  ``dateUpdated`` = modified (never before published; timestamps outside the years the schema allows, such as
  the Go database's ``0001-01-01`` placeholders, are left out).
- Withdrawn records become ``REJECTED`` records whose reason names the withdrawal; everything else is
  ``PUBLISHED`` with a ``cna`` container.
- ``affected``: one entry per package: ``collectionURL`` + ``packageName`` for package registries,
  ``vendor`` (the OSV ecosystem) + ``product`` otherwise; the repository of GIT ranges as ``repo``. Each
  affected interval is a version range with ``lessThan`` (fixed, limit, or ``*`` when open-ended) or
  ``lessThanOrEqual`` (last_affected), status ``affected``, ``defaultStatus`` ``unaffected``. ``versionType`` is
  ``semver`` for SEMVER ranges and the ecosystem's scheme for ECOSYSTEM ones (``python``, ``rpm``, ``maven``,
  else the purl type). GIT ranges are kept as ``git`` ranges beside them, one per introduced commit, several
  fixes (one per release branch) as ``changes``. Entries without version ranges list their versions one by
  one; entries that give no version at all say ``defaultStatus`` ``unknown``.
- ``descriptions``: details (else summary), cut to the schema's 4,096 characters, the full markdown then kept as
  supporting media; ``title`` from the summary; references (tagged where OSV's type says what they are; a
  link to the CVE record when the source gives none); CWE ids as ``problemTypes``; credits.
- ``metrics``: every CVSS vector as ``cvssV2_0``/``cvssV3_0``/``cvssV3_1``/``cvssV4_0`` with base score and
  severity computed by the `cvss` library (shared with the CSAF exporter); KEV listing as an ``other`` metric
  of type ``kev``, the form CISA's own container uses.
"""

from __future__ import annotations

from typing import Any

import orjson

from clearinghouse import __version__
from clearinghouse.errors import UnsupportedExport
from clearinghouse.formats.csaf import (
    KEV_CATALOG_URL,
    Interval,
    clean_url,
    cve_ids,
    cvss_json,
    cwe_ids,
    git_events,
    intervals,
    is_withdrawn,
    purl_for,
    release_dates,
    source_note,
)
from clearinghouse.records.model import Affected, OsvRecord, Package, Range, RangeType, Tlp, VulnerabilityRecord
from clearinghouse.records.sources import source_of

# The clearinghouse's organisation id in the records it writes (a random UUID 4, fixed once).
ASSIGNER_ORG_ID = "3850495c-3822-43cf-b07a-65d731372fc5"
ASSIGNER_SHORT_NAME = "clearinghouse"
DATA_VERSION = "5.1"
_MAX_DESCRIPTION = 4096
_MAX_MEDIA = 16384
_MAX_TITLE = 256
_MAX_REFERENCES = 512

# Package registries (OSV ecosystem -> collectionURL), from the examples the CVE schema gives.
_COLLECTIONS = {
    "PyPI": "https://pypi.org",
    "npm": "https://www.npmjs.com",
    "crates.io": "https://crates.io",
    "Go": "https://pkg.go.dev",
    "Maven": "https://repo.maven.apache.org/maven2",
    "NuGet": "https://www.nuget.org/packages",
    "RubyGems": "https://rubygems.org",
    "Packagist": "https://packagist.org",
    "CRAN": "https://cran.r-project.org",
    "Hex": "https://hex.pm",
    "Pub": "https://pub.dev",
}
# purl type -> the versionType names the CVE schema's examples use; other schemes keep the purl type.
_VERSION_TYPES = {"pypi": "python", "maven": "maven", "rpm": "rpm", "golang": "semver", "cargo": "semver"}

_REFERENCE_TAGS = {
    "FIX": "patch",
    "REPORT": "issue-tracking",
    "EVIDENCE": "exploit",
    "PACKAGE": "product",
    "DETECTION": "signature",
}

_CREDIT_TYPES = {
    "FINDER": "finder",
    "REPORTER": "reporter",
    "ANALYST": "analyst",
    "COORDINATOR": "coordinator",
    "REMEDIATION_DEVELOPER": "remediation developer",
    "REMEDIATION_REVIEWER": "remediation reviewer",
    "REMEDIATION_VERIFIER": "remediation verifier",
    "TOOL": "tool",
    "SPONSOR": "sponsor",
    "OTHER": "other",
}


def _timestamp(value: str | None) -> str | None:
    # The schema's timestamp pattern only admits the years 1900-2999.
    return value if value and 1900 <= int(value[:4]) <= 2999 else None


def _range_entry(interval: Interval, version_type: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": interval.introduced or "0", "status": "affected", "versionType": version_type}
    if interval.end_kind == "last_affected":
        entry["lessThanOrEqual"] = interval.end
    else:
        entry["lessThan"] = interval.end or "*"
    return entry


def _affected(osv: OsvRecord) -> list[dict[str, Any]]:
    products: dict[tuple[str, str], dict[str, Any]] = {}
    for affected in osv.affected or ():
        if affected.package is None:
            continue
        package = affected.package
        ecosystem = package.ecosystem.partition(":")[0]
        product = products.get((package.ecosystem, package.name))
        if product is None:
            collection = _COLLECTIONS.get(ecosystem)
            if collection:
                product = {"collectionURL": collection, "packageName": package.name}
            else:
                product = {"vendor": package.ecosystem, "product": package.name}
            product["versions"] = []
            products[(package.ecosystem, package.name)] = product
        repo = next((clean_url(r.repo) for r in affected.ranges or () if r.type is RangeType.GIT and r.repo), None)
        if repo and "repo" not in product:
            product["repo"] = repo
        product["versions"].extend(_versions(affected, package))
    found = []
    for product in products.values():
        versions = list({_key(v): v for v in product.pop("versions")}.values())
        if versions:
            product["versions"] = versions
        product["defaultStatus"] = "unaffected" if versions else "unknown"
        found.append(product)
    return found


def _key(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _versions(affected: Affected, package: Package) -> list[dict[str, Any]]:
    purl = purl_for(package)
    scheme = str(purl.type) if purl else package.ecosystem.partition(":")[0].lower()
    ranges = affected.ranges or []
    found: list[dict[str, Any]] = []
    for range_ in ranges:
        if range_.type is not RangeType.GIT:
            version_type = "semver" if range_.type is RangeType.SEMVER else _VERSION_TYPES.get(scheme, scheme)
            found.extend(_range_entry(i, version_type) for i in intervals(range_, scheme))
    if not found and affected.versions:
        # Listed versions only where no version range says the same more briefly.
        found = [{"version": version, "status": "affected"} for version in affected.versions]
    return found + [entry for range_ in ranges if range_.type is RangeType.GIT for entry in _git_entries(range_)]


def _git_entries(range_: Range) -> list[dict[str, Any]]:
    """A GIT range: one entry per introduced commit; several fixes (release branches) become `changes` to
    unaffected, which is how CVE 5 says "descends from this commit" for each of them."""
    introduced, ends, last = git_events(range_)
    entries = []
    for commit in introduced or ["0"]:
        entry: dict[str, Any] = {"version": commit, "status": "affected", "versionType": "git"}
        if len(ends) + len(last) == 1:
            entry["lessThan" if ends else "lessThanOrEqual"] = (ends or last)[0]
        else:
            entry["lessThan"] = "*"
            if ends:
                entry["changes"] = [{"at": end, "status": "unaffected"} for end in dict.fromkeys(ends)]
        entries.append(entry)
    return entries


def _description(osv: OsvRecord) -> dict[str, Any]:
    text = (osv.details or "").strip() or (osv.summary or "").strip() or f"Record {osv.id} gives no description."
    if len(text) <= _MAX_DESCRIPTION:
        return {"lang": "en", "value": text}
    cut = text[: _MAX_DESCRIPTION - 1].rsplit(" ", 1)[0] + "…"
    media = text if len(text) <= _MAX_MEDIA else text[: _MAX_MEDIA - 1] + "…"
    return {"lang": "en", "value": cut, "supportingMedia": [{"type": "text/markdown", "base64": False, "value": media}]}


def _references(osv: OsvRecord, cve_id: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    advisory = (osv.database_specific or {}).get("url")
    sources: list[tuple[str, str | None]] = [(advisory, None)] if isinstance(advisory, str) else []
    sources += [(r.url, _REFERENCE_TAGS.get(r.type.value)) for r in osv.references or ()]
    for raw, tag in sources:
        url = clean_url(raw)
        if url is None:
            continue
        entry = found.setdefault(url, {"url": url})
        if tag and tag not in entry.setdefault("tags", []):
            entry["tags"].append(tag)
    references = [{k: v for k, v in r.items() if v} for r in found.values()][:_MAX_REFERENCES]
    return references or [{"url": f"https://www.cve.org/CVERecord?id={cve_id}"}]


def _metrics(record: VulnerabilityRecord, cve_id: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for severity in record.osv.all_severities():
        if severity.type == "Ubuntu" or severity.score in found:
            continue
        version, data = cvss_json(severity)
        found[severity.score] = {"format": "CVSS", f"cvssV{version.replace('.', '_')}": data}
    metrics = list(found.values())
    if record.known_exploited:
        kev = {"type": "kev", "content": {"reference": f"{KEV_CATALOG_URL}?search={cve_id}"}}
        metrics.append({"other": kev})
    return metrics


def _credits(osv: OsvRecord) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for credit in osv.credits or ():
        name = credit.name.strip()
        if name:
            entry = {"lang": "en", "value": name} | ({"type": _CREDIT_TYPES[credit.type.value]} if credit.type else {})
            found.setdefault(repr(sorted(entry.items())), entry)
    return list(found.values())


def dump(record: VulnerabilityRecord) -> dict[str, Any]:
    """The record as a CVE JSON 5.1.1 record; `UnsupportedExport` if the record has no CVE id."""
    osv = record.osv
    cves = cve_ids(osv)
    if not cves:
        raise UnsupportedExport(
            f"record {osv.id} has no CVE id (neither its id nor its aliases), so it cannot be a CVE JSON 5 record"
        )
    cve_id = cves[0]
    initial, current = release_dates(osv)
    provider = {"orgId": ASSIGNER_ORG_ID, "shortName": ASSIGNER_SHORT_NAME}
    if _timestamp(current):
        provider["dateUpdated"] = current
    metadata: dict[str, Any] = {
        "cveId": cve_id,
        "assignerOrgId": ASSIGNER_ORG_ID,
        "assignerShortName": ASSIGNER_SHORT_NAME,
        "state": "PUBLISHED",
    }
    for name, value in (("datePublished", initial), ("dateUpdated", current)):
        if _timestamp(value):
            metadata[name] = value
    extensions: dict[str, Any] = {
        "x_generator": {"engine": f"clearinghouse {__version__}"},
        "x_source": {"record": osv.id, "aliases": osv.identifiers()[1:], "note": source_note(record)},
    }
    if record.tlp is not Tlp.CLEAR:
        extensions["x_tlp"] = record.tlp.value

    if is_withdrawn(record):
        metadata["state"] = "REJECTED"
        when = osv.withdrawn or current
        if _timestamp(when):
            metadata["dateRejected"] = when
        reason = f"{source_of(osv.id).name} withdrew record {osv.id}" + (
            f" on {osv.withdrawn}" if osv.withdrawn else ""
        )
        cna: dict[str, Any] = {
            "providerMetadata": provider,
            "rejectedReasons": [{"lang": "en", "value": f"{reason}; it should not be relied on."}],
        }
    else:
        cna = {"providerMetadata": provider}
        if osv.summary and osv.summary.strip():
            cna["title"] = osv.summary.strip()[:_MAX_TITLE]
        if _timestamp(osv.published):
            cna["datePublic"] = osv.published
        cna["descriptions"] = [_description(osv)]
        cna["affected"] = _affected(osv) or [{"vendor": "n/a", "product": "n/a", "defaultStatus": "unknown"}]
        weaknesses = cwe_ids(osv)
        if weaknesses:
            cna["problemTypes"] = [
                {"descriptions": [{"lang": "en", "description": cwe, "cweId": cwe, "type": "CWE"}]}
                for cwe in weaknesses
            ]
        cna["references"] = _references(osv, cve_id)
        metrics = _metrics(record, cve_id)
        if metrics:
            cna["metrics"] = metrics
        credits = _credits(osv)
        if credits:
            cna["credits"] = credits
    cna |= extensions
    return {
        "dataType": "CVE_RECORD",
        "dataVersion": DATA_VERSION,
        "cveMetadata": metadata,
        "containers": {"cna": cna},
    }
