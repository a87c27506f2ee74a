"""Covered frontier-model criteria: versioned declarative YAML, validated by `criteria.schema.json`.

The order gives DHS, the Treasury, ONCD and NIST 60 days to define what makes a model powerful enough for the
government to seek early access; developers then apply those criteria to their own models. A criteria set names
its criteria (training compute, a benchmark threshold, an expert designation such as the NSA's classified
review) and combines them with `all`, `any` and `ref`; `rule` names the one that decides coverage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from clearinghouse.errors import (
    InputTooLarge,
    InvalidCriteria,
    InvalidRecord,
    Location,
    NestedTooDeep,
    YamlAliasRefused,
)
from clearinghouse.safeparse import Path, YamlDocument, field_name, yaml_load

if TYPE_CHECKING:  # imported where criteria are checked, not at every CLI command's start-up
    import jsonschema
    from jsonschema import Draft202012Validator

# The order's deadline for the agencies to publish the first criteria (kept for reports and the README).
CRITERIA_DEADLINE_DAYS = 60


class CriteriaStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class TrainingCompute:
    min_flop: float


@dataclass(frozen=True)
class BenchmarkThreshold:
    suite: str
    metric: str
    comparison: str
    threshold: float


@dataclass(frozen=True)
class ExpertDesignation:
    authority: str
    designation: str
    classified: bool = False


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Criterion, ...]


@dataclass(frozen=True)
class Ref:
    name: str


Criterion = TrainingCompute | BenchmarkThreshold | ExpertDesignation | AllOf | AnyOf | Ref


@dataclass(frozen=True)
class CriteriaSet:
    id: str
    version: int
    title: str
    issuing_agencies: tuple[str, ...]
    effective_date: date
    status: CriteriaStatus
    supersedes: str | None
    rule: str
    criteria: Mapping[str, Criterion]
    document: Mapping[str, Any]  # as written, for the store and for reports

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.document, sort_keys=True).encode()).hexdigest()


@cache
def schema() -> dict[str, Any]:
    text = resources.files("clearinghouse.frontier").joinpath("criteria.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def load_file(path: FilePath) -> CriteriaSet:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidCriteria(f"cannot read the criteria file: {exc.strerror}", Location(file=str(path))) from None
    return parse(text, str(path))


def parse(text: str, file: str = "<criteria>") -> CriteriaSet:
    """Validate a criteria document (schema, then references and cycles) and build the criteria set."""
    try:
        document = yaml_load(text, file)
    except (YamlAliasRefused, NestedTooDeep, InputTooLarge):
        raise  # hostile input keeps its own code
    except InvalidRecord as exc:
        raise InvalidCriteria(exc.reason, exc.location) from None
    return from_document(document)


def from_document(document: YamlDocument) -> CriteriaSet:
    data = document.data
    errors = sorted(_validator().iter_errors(data), key=_error_order(document))
    if errors:
        raise _schema_error(document, errors[0])
    criteria = {name: _build(spec) for name, spec in data["criteria"].items()}
    _check_references(document, data["rule"], criteria)
    return CriteriaSet(
        id=data["id"],
        version=data["version"],
        title=data["title"],
        issuing_agencies=tuple(data["issuing_agencies"]),
        effective_date=date.fromisoformat(data["effective_date"]),
        status=CriteriaStatus(data["status"]),
        supersedes=data.get("supersedes"),
        rule=data["rule"],
        criteria=criteria,
        document=data,
    )


def from_stored(document: Mapping[str, Any]) -> CriteriaSet:
    """A criteria set read back from the store (validated again: the store is not trusted blindly)."""
    return from_document(YamlDocument("<store>", dict(document), {}))


def _error_order(document: YamlDocument) -> Any:
    # Report the error nearest the top of the file first, as a reader fixing it top-down expects.
    def order(error: jsonschema.ValidationError) -> tuple[int, int]:
        return (document.line_of(tuple(error.absolute_path)) or 0, -len(error.absolute_path))

    return order


def _schema_error(document: YamlDocument, error: jsonschema.ValidationError) -> InvalidCriteria:
    path: Path = tuple(error.absolute_path)
    message = error.message
    rule: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(rule.get("properties", {}))
        unknown = sorted(str(key) for key in error.instance if key not in allowed)
        path = (*path, unknown[0])
        message = f"unknown field {unknown[0]!r}; allowed here: {', '.join(sorted(allowed))}"
    elif error.validator == "required":
        message = f"missing field: {error.message.split(' is a required')[0]}"
    elif error.validator == "oneOf" and "x-message" in rule:
        message = str(rule["x-message"])
    elif error.validator == "type":
        message = f"expected {error.validator_value}, found {_yaml_type(error.instance)} {error.instance!r}"
    line = document.line_of(path)
    return InvalidCriteria(message, Location(file=document.file, line=line, field=field_name(path)))


def _yaml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _build(spec: Mapping[str, Any]) -> Criterion:
    if "training_compute" in spec:
        return TrainingCompute(float(spec["training_compute"]["min_flop"]))
    if "benchmark" in spec:
        b = spec["benchmark"]
        return BenchmarkThreshold(b["suite"], b["metric"], b["comparison"], float(b["threshold"]))
    if "expert_designated" in spec:
        e = spec["expert_designated"]
        return ExpertDesignation(e["authority"], e["designation"], bool(e.get("classified", False)))
    if "all" in spec:
        return AllOf(tuple(_build(part) for part in spec["all"]))
    if "any" in spec:
        return AnyOf(tuple(_build(part) for part in spec["any"]))
    return Ref(spec["ref"])


def refs_in(criterion: Criterion, path: Path) -> list[tuple[str, Path]]:
    """Every `ref` inside a criterion, with its document path."""
    if isinstance(criterion, Ref):
        return [(criterion.name, (*path, "ref"))]
    if isinstance(criterion, AllOf | AnyOf):
        key = "all" if isinstance(criterion, AllOf) else "any"
        return [ref for i, part in enumerate(criterion.parts) for ref in refs_in(part, (*path, key, i))]
    return []


def _check_references(document: YamlDocument, rule: str, criteria: Mapping[str, Criterion]) -> None:
    if rule not in criteria:
        raise _reference_error(document, f"rule names {rule!r}, which is not a criterion here", ("rule",))
    edges: dict[str, list[tuple[str, Path]]] = {}
    for name, criterion in criteria.items():
        edges[name] = refs_in(criterion, ("criteria", name))
        for target, path in edges[name]:
            if target not in criteria:
                known = ", ".join(sorted(criteria))
                raise _reference_error(document, f"ref to unknown criterion {target!r} (known: {known})", path)
    _check_cycles(document, edges)


def _check_cycles(document: YamlDocument, edges: Mapping[str, list[tuple[str, Path]]]) -> None:
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        for target, path in edges[name]:
            if target == name or target in trail:
                start = trail[trail.index(target) :] if target in trail else []
                cycle = " -> ".join([*start, name, target])
                raise _reference_error(document, f"cyclic ref: {cycle}", path)
            visit(target, [*trail, name])
        done.add(name)

    for name in edges:
        visit(name, [])


def _reference_error(document: YamlDocument, reason: str, path: Path) -> InvalidCriteria:
    return InvalidCriteria(reason, Location(file=document.file, line=document.line_of(path), field=field_name(path)))
