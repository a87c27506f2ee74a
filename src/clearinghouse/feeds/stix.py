"""STIX 2.1 objects for a record, built with the `stix2` library (pure: no I/O; statements come from the caller).

A record becomes:
- a `vulnerability` (id: UUIDv5 of the record id, so every build gives the same id), named by the record id, with
  its description, its CVE and its source database as external references, and its TLP 2.0 marking;
- for each affected package, a `software` object (name, and the OSV ecosystem as `vendor` so that packages of the
  same name in two ecosystems stay two objects; the purl in `x_osv_purl`) and a `relationship` "software has
  vulnerability" carrying the affected ranges in its description;
- each vendor statement on the coordination case whose advisory the record is becomes a `note` about the
  vulnerability (the vendor, its status, the VEX justification or fixed versions, its note);
- TLP 2.0 marks reference the OASIS TLP 2.0 marking definitions (extension-definition--60a3c5c5-...), which the
  TAXII collections serve as objects too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import stix2

from clearinghouse.feeds.repository import VendorStatement
from clearinghouse.formats.csaf import cve_ids
from clearinghouse.records.model import Affected, Tlp, VulnerabilityRecord
from clearinghouse.records.sources import source_of

TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_MARKING_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_MARKINGS_CREATED = datetime(2022, 10, 1, tzinfo=UTC)  # as OASIS published them
# The clearinghouse's namespace for the ids of its SDOs and SROs (SCO ids are stix2's own, from their content).
NAMESPACE = uuid.UUID("5d2c1f8e-8f0a-4c1e-9a51-7c2f6a0d3b11")
MEDIA_TYPE = "application/stix+json;version=2.1"


def _json(obj: stix2.base._STIXBase) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(obj.serialize())
    return parsed


def tlp_marking(label: Tlp) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking definition of `label`."""
    marking = stix2.MarkingDefinition(
        id=TLP_MARKING_IDS[label],
        created=TLP_MARKINGS_CREATED,
        name=f"TLP:{label.value}",
        extensions={TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": label.value.lower()}},
        allow_custom=True,
    )
    return _json(marking)


def vulnerability_id(record_id: str) -> str:
    return f"vulnerability--{uuid.uuid5(NAMESPACE, record_id)}"


def _ranges_text(entry: Affected) -> str:
    parts = [
        f"{rng.type.value} " + ", ".join(f"{event.kind} {event.value}" for event in rng.events)
        for rng in entry.ranges or ()
    ]
    if entry.versions:
        parts.append("versions " + ", ".join(entry.versions))
    return "; ".join(parts) or "every version"


def record_objects(record: VulnerabilityRecord, statements: Sequence[VendorStatement] = ()) -> list[dict[str, Any]]:
    """The record's STIX objects: its vulnerability, a software object and a relationship per package, then a
    `note` per vendor statement made on the coordination case whose advisory it is."""
    osv = record.osv
    marking = [TLP_MARKING_IDS[record.tlp]]
    created = osv.published_at or osv.modified_at
    modified = max(osv.modified_at, created)
    source = source_of(osv.id)
    references: list[dict[str, str]] = [{"source_name": "cve", "external_id": cve} for cve in cve_ids(osv)]
    references.append({"source_name": source.name, "external_id": osv.id})
    vulnerability = stix2.Vulnerability(
        id=vulnerability_id(osv.id),
        created=created,
        modified=modified,
        name=osv.id,
        description=(osv.details or osv.summary or f"Record {osv.id}").strip() or f"Record {osv.id}",
        external_references=references,
        object_marking_refs=marking,
        revoked=osv.withdrawn is not None,
    )
    objects = [_json(vulnerability)]
    for position, entry in enumerate(osv.affected or ()):
        package = entry.package
        if package is None:
            continue
        custom = {"x_osv_purl": package.purl} if package.purl else {}
        software = stix2.Software(name=package.name, vendor=package.ecosystem, allow_custom=True, **custom)
        relationship = stix2.Relationship(
            id=f"relationship--{uuid.uuid5(NAMESPACE, f'{osv.id}#{position}')}",
            created=created,
            modified=modified,
            relationship_type="has",
            source_ref=software.id,
            target_ref=vulnerability.id,
            description=f"{package.ecosystem} {package.name} is affected: {_ranges_text(entry)}",
            object_marking_refs=marking,
        )
        objects += [_json(software), _json(relationship)]
    for statement in statements:
        objects.append(_json(_statement_note(statement, vulnerability.id, marking)))
    return objects


def _statement_note(statement: VendorStatement, about: str, marking: list[str]) -> stix2.Note:
    details = [f"{statement.vendor} states the vulnerability's status in its products: {statement.status}."]
    if statement.justification:
        details.append(f"Justification: {statement.justification}.")
    if statement.fixed_versions:
        details.append(f"Fixed in: {', '.join(statement.fixed_versions)}.")
    if statement.note:
        details.append(statement.note)
    return stix2.Note(
        id=f"note--{uuid.uuid5(NAMESPACE, f'{statement.case_id}#{statement.vendor}#{statement.at.isoformat()}')}",
        created=statement.at,
        modified=statement.at,
        abstract=f"{statement.vendor}: {statement.status}",
        content=" ".join(details),
        authors=[statement.vendor],
        object_refs=[about],
        object_marking_refs=marking,
    )
