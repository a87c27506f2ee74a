"""CSAF 2.0 VEX (`csaf_vex` profile) for one asset: `dump` only.

The asset's components are the products (one ``product_name`` branch per component under the asset, its purl as
the identification helper); each vulnerability states its product status: ``known_affected`` with an action
statement (a remediation naming why and what to do, test 6.1.27.10), ``known_not_affected`` with an impact
statement (a flag carrying the justification, 6.1.27.9), ``fixed`` and ``under_investigation``. Written to pass the
CSAF 2.0 schema and the `csaf` validator's mandatory and VEX-profile tests. The document carries the highest TLP
of the records it speaks of (TLP 1.0 labels, as CSAF 2.0 knows them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clearinghouse import __version__
from clearinghouse.formats.csaf import CVE_PATTERN, PUBLISHER_NAME, PUBLISHER_NAMESPACE, TLP_V1
from clearinghouse.formats.sbom import VexStatement
from clearinghouse.records.model import Tlp

# CycloneDX justifications -> CSAF 2.0 flag labels (section 3.2.3.5).
_FLAGS = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_dependency": "component_not_present",
    "requires_environment": "vulnerable_code_cannot_be_controlled_by_adversary",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}
_STATUS_KEYS = {
    "affected": "known_affected",
    "not_affected": "known_not_affected",
    "fixed": "fixed",
    "under_investigation": "under_investigation",
}


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _product_tree(asset_name: str, statements: list[VexStatement]) -> tuple[dict[str, Any], dict[str, str]]:
    """The product tree and each component reference's product id (CSAFPID-0001, ... in order of appearance)."""
    ids: dict[str, str] = {}
    branches: list[dict[str, Any]] = []
    for statement in statements:
        component = statement.component
        if component.ref in ids:
            continue
        product_id = f"CSAFPID-{len(ids) + 1:04d}"
        ids[component.ref] = product_id
        name = f"{component.name} {component.version}" if component.version else component.name
        product: dict[str, Any] = {"name": name, "product_id": product_id}
        if component.purl:
            product["product_identification_helper"] = {"purl": component.purl}
        branches.append({"category": "product_name", "name": name, "product": product})
    tree = {"branches": [{"category": "product_family", "name": asset_name, "branches": branches}]} if branches else {}
    return tree, ids


def _vulnerability(members: list[VexStatement], ids: dict[str, str]) -> dict[str, Any]:
    first = members[0]
    status: dict[str, list[str]] = {}
    flags: dict[str, list[str]] = {}
    remediations: list[dict[str, Any]] = []
    for statement in members:
        product_id = ids[statement.component.ref]
        key = _STATUS_KEYS[statement.status]
        if product_id not in status.setdefault(key, []):
            status[key].append(product_id)
        if statement.status == "not_affected":
            label = _FLAGS.get(statement.justification or "", "vulnerable_code_not_in_execute_path")
            flags.setdefault(label, []).append(product_id)
        elif statement.status == "affected":
            remediations.append(
                {
                    "category": "mitigation",
                    "details": f"Affected: {statement.detail}. Upgrade to a version outside the affected ranges.",
                    "product_ids": [product_id],
                }
            )
    cves = [i for i in (first.vulnerability, *first.aliases) if CVE_PATTERN.match(i)]
    others = [i for i in (first.vulnerability, *first.aliases) if not CVE_PATTERN.match(i) and i not in cves[:1]]
    vulnerability: dict[str, Any] = {
        "notes": [{"category": "summary", "text": first.summary or first.vulnerability}],
        "product_status": status,
    }
    if cves:
        vulnerability["cve"] = cves[0]
    if others:
        vulnerability["ids"] = [{"system_name": "Clearinghouse", "text": text} for text in others]
    if flags:
        vulnerability["flags"] = [{"label": label, "product_ids": pids} for label, pids in sorted(flags.items())]
    if remediations:
        vulnerability["remediations"] = remediations
    return vulnerability


def dump(asset_name: str, asset_id: str, statements: list[VexStatement], tlp: Tlp, at: datetime) -> dict[str, Any]:
    """The asset's CSAF 2.0 VEX document as of `at`."""
    tree, ids = _product_tree(asset_name, statements)
    grouped: dict[str, list[VexStatement]] = {}
    for statement in statements:
        grouped.setdefault(statement.vulnerability, []).append(statement)
    stamp = _timestamp(at)
    label = TLP_V1[tlp]
    document: dict[str, Any] = {
        "category": "csaf_vex",
        "csaf_version": "2.0",
        "lang": "en",
        "title": f"VEX for {asset_name}",
        "publisher": {"category": "coordinator", "name": PUBLISHER_NAME, "namespace": PUBLISHER_NAMESPACE},
        "distribution": {
            "text": f"TLP:{tlp.value} (TLP 2.0), given as TLP:{label} because CSAF 2.0 uses TLP 1.0 labels.",
            "tlp": {"label": label, "url": "https://www.first.org/tlp/"},
        },
        "notes": [
            {
                "category": "summary",
                "title": "What this document states",
                "text": f"The status of each vulnerability the clearinghouse matched against the components of "
                f"{asset_name}, as of {stamp}.",
            }
        ],
        "tracking": {
            "id": f"VEX-{asset_id}",
            "status": "final",
            "version": "1",
            "initial_release_date": stamp,
            "current_release_date": stamp,
            "revision_history": [{"date": stamp, "number": "1", "summary": "Generated from the asset's matches."}],
            "generator": {"engine": {"name": "clearinghouse", "version": __version__}},
        },
    }
    result: dict[str, Any] = {"document": document}
    if tree:
        result["product_tree"] = tree
    result["vulnerabilities"] = [_vulnerability(grouped[key], ids) for key in sorted(grouped)]
    return result
