"""Pure rules of the partners domain (no I/O): which package a component is, the alert lifecycle, and why a
component matches a record.

A component is matched by its purl: the purl type names the OSV ecosystem (the inverse of the OSV schema's purl
mapping, `records.purls.PURL_TYPES`), namespace and name make the package name as OSV spells it (Maven
``group:artifact``, Go and npm ``namespace/name``), and the version is the purl's, else the component's. A
component with only a CPE, or a purl type OSV has no ecosystem for, is kept but cannot be matched (OSV records
carry no CPEs). Distribution packages (deb, rpm, apk) are matched in every release of their distribution, as
`clearinghouse affected` does for an ecosystem given without a release.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from packageurl import PackageURL

from clearinghouse.errors import InvalidVersion, UnknownEcosystem
from clearinghouse.records.model import Affected, Range, RangeType
from clearinghouse.records.purls import DISTRIBUTION_TYPES, ecosystem_of_purl
from clearinghouse.records.versions import affects, normalize_name
from clearinghouse.statemachine import StateMachine


@dataclass(frozen=True)
class PackageIdentity:
    """A component as the record store knows packages: OSV ecosystem, name, normalised name and version."""

    ecosystem: str
    name: str
    name_key: str
    version: str | None


def package_of(purl: str | None, component_version: str | None) -> PackageIdentity | None:
    """The package a component's (well-formed) purl names, or None when it names none OSV knows."""
    if purl is None:
        return None
    parsed = PackageURL.from_string(purl)
    ecosystem = ecosystem_of_purl(parsed.type, parsed.namespace)
    name = str(parsed.name)
    if ecosystem is None:
        return None
    if parsed.type not in DISTRIBUTION_TYPES and parsed.namespace:
        name = f"{parsed.namespace}{':' if parsed.type == 'maven' else '/'}{name}"
    try:
        name_key = normalize_name(ecosystem, name)
    except UnknownEcosystem:
        return None
    version = parsed.version or component_version
    return PackageIdentity(ecosystem, name, name_key, version or None)


# --- alerts ------------------------------------------------------------------------------------------------------


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


ALERT_LIFECYCLE = StateMachine("alert", {AlertState.OPEN: frozenset({AlertState.ACKNOWLEDGED})})


def alert_title(record_id: str, summary: str | None, asset_name: str, components: int) -> str:
    what = f"{record_id}: {summary}" if summary else record_id
    plural = "component" if components == 1 else "components"
    return " ".join(f"{what} affects {components} {plural} of {asset_name}".split())[:500]


# --- why a component matches -----------------------------------------------------------------------------------


def _range_text(rng: Range) -> str:
    events = ", ".join(f"{event.kind} {event.value}" for event in rng.events)
    return f"{rng.type.value} range [{events}]"


def match_reasons(affected: Affected, position: int, version: str) -> list[str]:
    """Which parts of one affected entry include `version`: the listed versions, and each range that does on its
    own, judged by the same evaluator as the match (`records.versions.affects`)."""
    package = affected.package
    where = f"affected[{position}]" + (f" {package.ecosystem} {package.name}" if package else "")
    reasons: list[str] = []
    if affected.versions and affects(affected.model_copy(update={"ranges": None}), version):
        reasons.append(f"{where}: version {version} is listed in versions")
    for rng in affected.ranges or ():
        if rng.type is RangeType.GIT:
            continue
        try:
            inside = affects(affected.model_copy(update={"ranges": [rng], "versions": None}), version)
        except InvalidVersion:
            inside = False
        if inside:
            reasons.append(f"{where}: {_range_text(rng)} includes {version}")
    return reasons or [f"{where} includes {version}"]


# Vendors state "not affected" with a CSAF flag label or a CycloneDX justification (cases keep either); VEX
# statements here use CycloneDX's names (`formats.csaf_vex` maps them back to flags).
_CYCLONEDX_OF_CSAF = {
    "component_not_present": "requires_dependency",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
_CYCLONEDX_JUSTIFICATIONS = frozenset(
    {
        "code_not_present",
        "code_not_reachable",
        "requires_configuration",
        "requires_dependency",
        "requires_environment",
        "protected_by_compiler",
        "protected_at_runtime",
        "protected_at_perimeter",
        "protected_by_mitigating_control",
    }
)


def vex_justification(stated: str | None) -> str | None:
    """A vendor's justification as CycloneDX names it (None when it gave none this can name)."""
    if stated in _CYCLONEDX_JUSTIFICATIONS:
        return stated
    return _CYCLONEDX_OF_CSAF.get(stated or "")
