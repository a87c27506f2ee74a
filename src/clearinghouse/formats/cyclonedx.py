"""CycloneDX SBOMs in (JSON and XML, spec 1.2-1.6) and CycloneDX VEX out, through `cyclonedx-python-lib`.

`parse` reads the components (nested ones too), their bom-ref, name, version, purl and CPE, and the
``dependencies`` graph. It does not deserialise through the library's object model: that refuses a whole SBOM for
one malformed purl and takes seconds per thousand components, and an upload must keep every good component and name
each bad one (`ComponentReader`). JSON goes through `safeparse` (size and depth first); XML through `defusedxml`
(no DTD, no entities, no external references), its depth checked while walking.

`dump_vex` builds the VEX as a library `Bom` (components, vulnerabilities with analysis and affects) and serialises
it with the library's CycloneDX 1.6 JSON writer, so the output is what the reference implementation writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID
from xml.etree.ElementTree import Element

import orjson
from cyclonedx.model.bom import Bom
from cyclonedx.model.bom_ref import BomRef
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityReference,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException
from packageurl import PackageURL

from clearinghouse.errors import InvalidRecord, Location, NestedTooDeep
from clearinghouse.formats.sbom import (
    MAX_DEPTH,
    ComponentProblem,
    ComponentReader,
    Sbom,
    VexStatement,
    check_size,
)
from clearinghouse.safeparse import json_loads

SPEC_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
_NS_PREFIX = "http://cyclonedx.org/schema/bom/"


def _refuse(reason: str, field: str = "$") -> InvalidRecord:
    return InvalidRecord(f"not a CycloneDX SBOM: {reason}", Location(field=field))


def parse(data: bytes) -> Sbom:
    """A CycloneDX SBOM in JSON or XML (told apart by the first character)."""
    check_size(data, "CycloneDX SBOM")
    start = data.lstrip()[:1]
    if start == b"{":
        return _parse_json(data)
    if start == b"<":
        return _parse_xml(data)
    raise _refuse("neither JSON (starting with '{') nor XML (starting with '<')")


# --- JSON --------------------------------------------------------------------------------------------------------


def _parse_json(data: bytes) -> Sbom:
    document = json_loads(data, Location(field="$"), max_depth=MAX_DEPTH)
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise _refuse('"bomFormat" is not "CycloneDX"', "bomFormat")
    spec = document.get("specVersion")
    if spec not in SPEC_VERSIONS:
        raise _refuse(f"specVersion {spec!r} is not one of {', '.join(SPEC_VERSIONS)}", "specVersion")
    components = document.get("components", [])
    if not isinstance(components, list):
        raise _refuse('"components" must be an array', "components")
    reader = ComponentReader()
    _json_components(reader, components, "components", None)
    depends: dict[str, list[str]] = {}
    dependencies = document.get("dependencies", [])
    for index, entry in enumerate(dependencies if isinstance(dependencies, list) else ()):
        if isinstance(entry, dict) and isinstance(entry.get("ref"), str):
            targets = entry.get("dependsOn", [])
            depends.setdefault(entry["ref"], []).extend(t for t in targets if isinstance(t, str))
        else:
            reader.problems.append(_bad_dependency(f"dependencies[{index}]"))
    metadata = document.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    name = root.get("name") if isinstance(root, dict) and isinstance(root.get("name"), str) else None
    return Sbom(f"CycloneDX {spec} JSON", name, reader.with_dependencies(depends), tuple(reader.problems))


def _bad_dependency(where: str) -> ComponentProblem:
    return ComponentProblem(where, "ref", "a dependency entry needs a string ref (it was left out)")


def _json_components(reader: ComponentReader, items: list[Any], path: str, parent: str | None) -> None:
    """Walk nested components without recursion (depth is bounded by `safeparse` already)."""
    stack: list[tuple[list[Any], str, str | None]] = [(items, path, parent)]
    while stack:
        items, path, parent = stack.pop()
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if not isinstance(item, dict):
                reader.problems.append(ComponentProblem(where, "$", "a component must be an object"))
                continue
            raw_ref = item.get("bom-ref")
            ref = raw_ref if isinstance(raw_ref, str) and raw_ref else where
            kept = reader.add(ref, item.get("name"), item.get("version"), item.get("purl"), item.get("cpe"), parent)
            children = item.get("components")
            if kept is not None and isinstance(children, list):
                stack.append((children, f"{where}.components", kept))


# --- XML ---------------------------------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> Sbom:
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _refuse(f"the XML declares a DTD or entities, which are refused ({exc.__class__.__name__})") from None
    except SafeElementTree.ParseError as exc:
        raise _refuse(f"not well-formed XML: {exc}") from None
    namespace, _, tag = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    spec = namespace.removeprefix(_NS_PREFIX)
    if tag != "bom" or not namespace.startswith(_NS_PREFIX) or spec not in SPEC_VERSIONS:
        raise _refuse(f"the root element is {root.tag!r}, not a CycloneDX {'/'.join(SPEC_VERSIONS)} <bom>")
    ns = "{" + namespace + "}"
    reader = ComponentReader()
    components = root.find(f"{ns}components")
    if components is not None:
        _xml_components(reader, components, ns)
    depends: dict[str, list[str]] = {}
    for dependency in root.iterfind(f"{ns}dependencies/{ns}dependency"):
        ref = dependency.get("ref")
        if ref:
            depends.setdefault(ref, []).extend(t for d in dependency if (t := d.get("ref")))
    name = root.findtext(f"{ns}metadata/{ns}component/{ns}name")
    return Sbom(f"CycloneDX {spec} XML", name, reader.with_dependencies(depends), tuple(reader.problems))


def _xml_components(reader: ComponentReader, container: Element, ns: str) -> None:
    stack: list[tuple[Element, str, str | None, int]] = [(container, "components", None, 1)]
    while stack:
        element, path, parent, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NestedTooDeep(f"components are nested deeper than the limit of {MAX_DEPTH}", Location(field=path))
        for index, item in enumerate(element.iterfind(f"{ns}component")):
            where = f"{path}[{index}]"
            ref = item.get("bom-ref") or where
            kept = reader.add(
                ref,
                item.findtext(f"{ns}name"),
                item.findtext(f"{ns}version"),
                item.findtext(f"{ns}purl"),
                item.findtext(f"{ns}cpe"),
                parent,
            )
            children = item.find(f"{ns}components")
            if kept is not None and children is not None:
                stack.append((children, f"{where}.components", kept, depth + 1))


# --- VEX out -----------------------------------------------------------------------------------------------------

_STATES = {
    "affected": ImpactAnalysisState.EXPLOITABLE,
    "not_affected": ImpactAnalysisState.NOT_AFFECTED,
    "fixed": ImpactAnalysisState.RESOLVED,
    "under_investigation": ImpactAnalysisState.IN_TRIAGE,
}


def _cdx_component(statement: VexStatement) -> CdxComponent:
    component = statement.component
    return CdxComponent(
        name=component.name,
        version=component.version,
        type=ComponentType.LIBRARY,
        purl=PackageURL.from_string(component.purl) if component.purl else None,
        cpe=component.cpe,
        bom_ref=BomRef(component.ref),
    )


def _vulnerabilities(statements: Iterable[VexStatement]) -> Iterator[Vulnerability]:
    """One vulnerability entry per (vulnerability, status, justification), affecting each component it applies to."""
    grouped: dict[tuple[str, str, str | None, str], list[VexStatement]] = {}
    for statement in statements:
        key = (statement.vulnerability, statement.status, statement.justification, statement.detail)
        grouped.setdefault(key, []).append(statement)
    for (vulnerability, status, justification, detail), members in sorted(grouped.items()):
        first = members[0]
        yield Vulnerability(
            bom_ref=BomRef(f"{vulnerability}/{status}/{len(members)}/{members[0].component.ref}"),
            id=vulnerability,
            source=VulnerabilitySource(name="Clearinghouse"),
            references=[
                VulnerabilityReference(id=alias, source=VulnerabilitySource(name="alias")) for alias in first.aliases
            ],
            description=first.summary,
            analysis=VulnerabilityAnalysis(
                state=_STATES[status],
                justification=ImpactAnalysisJustification(justification) if justification else None,
                detail=detail or None,
            ),
            affects=[BomTarget(ref=m.component.ref) for m in members],
        )


def dump_vex(asset_name: str, serial: str, statements: list[VexStatement]) -> dict[str, Any]:
    """A CycloneDX 1.6 VEX for one asset: the components the statements are about, and each vulnerability's
    analysis (state, justification, detail) with the components it affects. `serial` is a UUID (the asset's
    ``urn:uuid:`` serial number)."""
    bom = Bom(serial_number=UUID(serial))
    root = CdxComponent(name=asset_name, type=ComponentType.APPLICATION, bom_ref=BomRef("asset"))
    bom.metadata.component = root
    components: dict[str, CdxComponent] = {}
    for statement in statements:
        if statement.component.ref not in components:
            components[statement.component.ref] = _cdx_component(statement)
            bom.components.add(components[statement.component.ref])
    bom.register_dependency(root, components.values())  # the asset holds each component the VEX speaks of
    for vulnerability in _vulnerabilities(statements):
        bom.vulnerabilities.add(vulnerability)
    document: dict[str, Any] = orjson.loads(JsonV1Dot6(bom).output_as_string())
    return document
