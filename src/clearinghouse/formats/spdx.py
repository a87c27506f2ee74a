"""SPDX 2.3 SBOMs in (JSON and tag-value), through `spdx-tools`.

Each package is a component: its SPDXID is the reference, ``versionInfo`` the version, the ``PACKAGE-MANAGER purl``
external reference the purl and a ``SECURITY cpe23Type``/``cpe22Type`` reference the CPE. Relationships give the
graph: ``A DEPENDS_ON B`` and ``B DEPENDENCY_OF A`` make A depend on B; ``A CONTAINS B`` (``B CONTAINED_BY A``) makes
A B's parent. JSON goes through `safeparse` first (size, depth); tag-value is size-capped before the parser sees
it. `spdx-tools` refuses a document whose required fields are missing, with every message: those become one refusal
naming them; purls and versions are then checked per package, so one bad package never loses the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.model.package import ExternalPackageRefCategory
from spdx_tools.spdx.model.relationship import RelationshipType
from spdx_tools.spdx.parser.error import SPDXParsingError
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.parser.tagvalue.parser import Parser as TagValueParser

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats.sbom import MAX_COMPONENTS, MAX_DEPTH, ComponentReader, Sbom, check_size, too_many_components
from clearinghouse.safeparse import json_loads

SPDX_VERSIONS = ("SPDX-2.3",)
T = TypeVar("T")
_MAX_MESSAGES = 20  # a refusal names this many of the parser's messages


def parse(data: bytes) -> Sbom:
    """An SPDX 2.3 document in JSON (first character ``{``) or tag-value."""
    check_size(data, "SPDX document")
    if data.lstrip()[:1] == b"{":
        document = json_loads(data, Location(field="$"), max_depth=MAX_DEPTH)
        if not isinstance(document, dict):
            raise InvalidRecord("not an SPDX document: a JSON object is expected", Location(field="$"))
        _check_version(document.get("spdxVersion"))
        _check_count(document.get("packages"))
        return _components(_parsed(_json_document, document), "JSON")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"not UTF-8 text (byte {exc.start})", Location(field="$")) from None
    if text.count("\nPackageName:") + text.startswith("PackageName:") > MAX_COMPONENTS:
        raise too_many_components(MAX_COMPONENTS)
    return _components(_parsed(_tag_value_document, text), "tag-value")


def _check_version(version: object) -> None:
    if version not in SPDX_VERSIONS:
        raise InvalidRecord(f"spdxVersion {version!r} is not {', '.join(SPDX_VERSIONS)}", Location(field="spdxVersion"))


def _check_count(packages: object) -> None:
    if isinstance(packages, list) and len(packages) > MAX_COMPONENTS:
        raise too_many_components(len(packages))


def _json_document(document: dict[str, Any]) -> Document:
    parsed: Document = JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]
    return parsed


def _tag_value_document(text: str) -> Document:
    parsed: Document = TagValueParser().parse(text)  # type: ignore[no-untyped-call]
    return parsed


def _parsed(build: Callable[[T], Document], source: T) -> Document:
    try:
        document = build(source)
    except SPDXParsingError as exc:
        messages: list[str] = exc.get_messages()  # type: ignore[no-untyped-call]
        shown = "; ".join(str(m) for m in messages[:_MAX_MESSAGES])
        more = f" (and {len(messages) - _MAX_MESSAGES} more)" if len(messages) > _MAX_MESSAGES else ""
        raise InvalidRecord(f"not a valid SPDX 2.3 document: {shown}{more}", Location(field="$")) from None
    return document


def _components(document: Document, syntax: str) -> Sbom:
    _check_version(document.creation_info.spdx_version)
    parents: dict[str, str] = {}
    depends: dict[str, list[str]] = {}
    for relationship in document.relationships:
        a, kind, b = relationship.spdx_element_id, relationship.relationship_type, relationship.related_spdx_element_id
        if not isinstance(b, str):  # NONE / NOASSERTION
            continue
        if kind is RelationshipType.DEPENDS_ON:
            depends.setdefault(a, []).append(b)
        elif kind is RelationshipType.DEPENDENCY_OF:
            depends.setdefault(b, []).append(a)
        elif kind is RelationshipType.CONTAINS:
            parents.setdefault(b, a)
        elif kind is RelationshipType.CONTAINED_BY:
            parents.setdefault(a, b)
    reader = ComponentReader()
    for package in document.packages:
        purl = cpe = None
        for reference in package.external_references:
            if reference.category is ExternalPackageRefCategory.PACKAGE_MANAGER and reference.reference_type == "purl":
                purl = purl or reference.locator
            elif reference.category is ExternalPackageRefCategory.SECURITY and reference.reference_type.startswith(
                "cpe"
            ):
                cpe = cpe or reference.locator
        reader.add(package.spdx_id, package.name, package.version, purl, cpe, parents.get(package.spdx_id))
    return Sbom(
        f"SPDX 2.3 {syntax}", document.creation_info.name, reader.with_dependencies(depends), tuple(reader.problems)
    )
