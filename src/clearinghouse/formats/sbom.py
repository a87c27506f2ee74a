"""What an SBOM becomes, whatever its format: components with their package identity and place in the graph, and
the components (or fields) that could not be kept, each named. `cyclonedx` and `spdx` parse into this.

Limits apply before and while parsing (a hostile upload costs bounded memory and time): the size of the text, the
nesting depth, and the number of components. 100,000 components is the most an SBOM may hold (the largest real
container SBOMs hold a few tens of thousands); more is refused with that limit named.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearinghouse.errors import InputTooLarge, Location
from clearinghouse.records.purls import purl_problem

MAX_SBOM_BYTES = 64 * 1024 * 1024
MAX_COMPONENTS = 100_000
MAX_DEPTH = 64  # components nested in components, and JSON/XML nesting overall
MAX_FIELD_CHARS = 4096  # a name, version, purl or CPE longer than this is an error of that component


@dataclass(frozen=True, slots=True)
class Component:
    """One component: its reference in the SBOM (CycloneDX bom-ref, SPDX SPDXID), name, version, purl or CPE,
    the component that contains it (nesting, SPDX CONTAINS) and the references it depends on."""

    ref: str
    name: str
    version: str | None
    purl: str | None
    cpe: str | None
    parent: str | None
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComponentProblem:
    """Why (part of) a component was not kept: its reference, the field and the reason."""

    ref: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"component {self.ref}, field {self.field}: {self.reason}"


@dataclass(frozen=True)
class Sbom:
    format: str  # e.g. "CycloneDX 1.6 JSON", "SPDX 2.3 tag-value"
    name: str | None  # what the SBOM says it describes
    components: tuple[Component, ...]
    problems: tuple[ComponentProblem, ...]


def check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_SBOM_BYTES:
        raise InputTooLarge(
            f"the {what} is {len(data):,} bytes, over the {MAX_SBOM_BYTES:,}-byte limit", Location(field="$")
        )


def too_many_components(count: int) -> InputTooLarge:
    return InputTooLarge(
        f"the SBOM holds more than {MAX_COMPONENTS:,} components (the limit); split it into several assets",
        Location(field="components"),
    )


class ComponentReader:
    """Collects components and problems as a parser walks an SBOM; checks each field on its own, so one bad field
    loses that field (a purl) or that component (no name), never the upload."""

    def __init__(self) -> None:
        self.components: list[Component] = []
        self.problems: list[ComponentProblem] = []
        self.refs: set[str] = set()

    def text(self, ref: str, field: str, value: object, required: bool = False) -> str | None:
        if value is None or value == "":
            if required:
                self.problems.append(ComponentProblem(ref, field, "missing"))
            return None
        if not isinstance(value, str):
            self.problems.append(ComponentProblem(ref, field, f"must be a string, not {type(value).__name__}"))
            return None
        if len(value) > MAX_FIELD_CHARS or "\x00" in value:
            self.problems.append(ComponentProblem(ref, field, f"longer than {MAX_FIELD_CHARS} characters or holds NUL"))
            return None
        return value

    def add(
        self,
        ref: str,
        name: object,
        version: object,
        purl: object,
        cpe: object,
        parent: str | None,
    ) -> str | None:
        """Keep the component if it has a usable name; returns the reference kept (None when dropped)."""
        if ref in self.refs:
            self.problems.append(ComponentProblem(ref, "bom-ref", "the same reference names an earlier component"))
            return None
        if len(self.components) >= MAX_COMPONENTS:
            raise too_many_components(len(self.components))
        kept_name = self.text(ref, "name", name, required=True)
        if kept_name is None:
            return None
        kept_purl = self.text(ref, "purl", purl)
        if kept_purl is not None and (problem := purl_problem(kept_purl)) is not None:
            self.problems.append(ComponentProblem(ref, "purl", f"not a valid package URL: {problem}"))
            kept_purl = None
        self.refs.add(ref)
        self.components.append(
            Component(
                ref, kept_name, self.text(ref, "version", version), kept_purl, self.text(ref, "cpe", cpe), parent, ()
            )
        )
        return ref

    def with_dependencies(self, depends: dict[str, list[str]]) -> tuple[Component, ...]:
        """The components, each with the references it depends on (references to unknown components dropped)."""
        out = []
        for component in self.components:
            targets = tuple(dict.fromkeys(t for t in depends.get(component.ref, ()) if t in self.refs))
            out.append(
                Component(
                    component.ref,
                    component.name,
                    component.version,
                    component.purl,
                    component.cpe,
                    component.parent,
                    targets,
                )
            )
        return tuple(out)


@dataclass(frozen=True)
class VexStatement:
    """One vulnerability's status for one component of an asset, as a VEX document states it.

    `status` is CycloneDX's analysis state vocabulary reduced to what CSAF can say too: ``affected``,
    ``not_affected``, ``fixed``, ``under_investigation``. `justification` uses CycloneDX's names
    (``code_not_present``, ``code_not_reachable``, ``requires_configuration``, ``requires_dependency``,
    ``requires_environment``, ``protected_by_compiler``, ``protected_at_runtime``, ``protected_at_perimeter``,
    ``protected_by_mitigating_control``)."""

    vulnerability: str
    aliases: tuple[str, ...]
    summary: str | None
    component: Component
    status: str
    justification: str | None
    detail: str
