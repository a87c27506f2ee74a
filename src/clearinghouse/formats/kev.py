"""CISA Known Exploited Vulnerabilities catalog (JSON feed): `parse` only; the catalog is CISA's to publish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.safeparse import NUL, json_loads
from clearinghouse.schemas import schema_errors


@dataclass(frozen=True)
class KevEntry:
    cve_id: str
    vendor_project: str
    product: str
    vulnerability_name: str
    date_added: date
    due_date: date
    known_ransomware_campaign_use: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class KevCatalog:
    version: str
    released: str
    entries: list[KevEntry]


def parse(data: bytes, file: str = "<kev>") -> KevCatalog:
    """Parse and validate a KEV catalog; the whole file is rejected if any entry is malformed."""
    document = json_loads(data, Location(file=file), refused_characters=NUL)
    errors = schema_errors("kev", document)
    if errors:
        path, _, message = errors[0].partition(": ")
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise InvalidRecord(f"{message}{more}", Location(file=file, field=path))
    entries = []
    for index, item in enumerate(document["vulnerabilities"]):
        try:
            entries.append(
                KevEntry(
                    cve_id=item["cveID"],
                    vendor_project=item["vendorProject"],
                    product=item["product"],
                    vulnerability_name=item["vulnerabilityName"],
                    date_added=date.fromisoformat(item["dateAdded"]),
                    due_date=date.fromisoformat(item["dueDate"]),
                    known_ransomware_campaign_use=item.get("knownRansomwareCampaignUse", "Unknown"),
                    raw=item,
                )
            )
        except ValueError as exc:
            raise InvalidRecord(
                str(exc), Location(file=file, record=item.get("cveID"), field=f"$.vulnerabilities[{index}]")
            ) from None
    return KevCatalog(version=document["catalogVersion"], released=document["dateReleased"], entries=entries)
