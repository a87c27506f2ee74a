"""SARIF 2.1.0 logs (static-analysis output from bandit, semgrep, CodeQL, AI scanners): `parse` into results.

Only the parts intake needs are modelled, and checked as strictly as the SARIF schema: version, runs, the tool
driver and its rules, and each result's rule, message, level and locations. Anything else is kept as given.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats.osv import json_path

MAX_RESULTS = 5000
_CWE_TAG = re.compile(r"cwe[-/_:]?0*([1-9][0-9]{0,5})", re.IGNORECASE)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Message(_Model):
    text: StrictStr | None = None
    markdown: StrictStr | None = None


class ArtifactLocation(_Model):
    uri: StrictStr | None = None
    uriBaseId: StrictStr | None = None


class Region(_Model):
    startLine: Annotated[StrictInt, Field(ge=1)] | None = None
    endLine: Annotated[StrictInt, Field(ge=1)] | None = None


class PhysicalLocation(_Model):
    artifactLocation: ArtifactLocation | None = None
    region: Region | None = None


class LogicalLocation(_Model):
    fullyQualifiedName: StrictStr | None = None
    name: StrictStr | None = None


class SarifLocation(_Model):
    physicalLocation: PhysicalLocation | None = None
    logicalLocations: list[LogicalLocation] | None = None


class Result(_Model):
    ruleId: StrictStr | None = None
    ruleIndex: Annotated[StrictInt, Field(ge=-1)] | None = None
    message: Message
    level: Literal["none", "note", "warning", "error"] | None = None
    locations: list[SarifLocation] | None = None
    properties: dict[str, Any] | None = None


class Rule(_Model):
    id: StrictStr
    name: StrictStr | None = None
    shortDescription: Message | None = None
    fullDescription: Message | None = None
    properties: dict[str, Any] | None = None


class Driver(_Model):
    name: Annotated[StrictStr, Field(min_length=1)]
    version: StrictStr | None = None
    rules: list[Rule] | None = None


class Tool(_Model):
    driver: Driver


class Run(_Model):
    tool: Tool
    results: list[Result] | None = None
    originalUriBaseIds: dict[str, ArtifactLocation] | None = None


class SarifLog(_Model):
    version: Literal["2.1.0"]
    runs: list[Run]


@dataclass(frozen=True)
class Finding:
    """One SARIF result, resolved against its run's rules."""

    tool: str
    rule_id: str | None
    title: str
    message: str
    level: str
    cwes: list[str]
    locations: list[str]  # "path:line" and logical names
    raw: dict[str, Any]


def parse(document: Any, location: Location | None = None) -> list[Finding]:
    location = location or Location()
    if not isinstance(document, dict):
        raise InvalidRecord("a SARIF log must be a JSON object", location)
    try:
        log = SarifLog.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        # Under the field the log was given in (a submission's "sarif"), so the path is the body's own.
        path = json_path((*(location.field.split(".") if location.field else ()), *first["loc"]))
        raise InvalidRecord(
            f"invalid SARIF: {first['msg']}", Location(location.file, location.line, location.record, path)
        ) from None
    total = sum(len(run.results or ()) for run in log.runs)
    if total > MAX_RESULTS:
        raise InvalidRecord(f"the log has {total:,} results; submit at most {MAX_RESULTS:,} at a time", location)
    findings = []
    for run_index, run in enumerate(log.runs):
        paths = _RunPaths(run)
        rules = {rule.id: rule for rule in run.tool.driver.rules or ()}
        indexed = list(run.tool.driver.rules or ())
        for result_index, result in enumerate(run.results or ()):
            rule = _rule_of(result, rules, indexed)
            if result.ruleIndex is not None and result.ruleIndex >= len(indexed):
                raise InvalidRecord(
                    f"ruleIndex {result.ruleIndex} points past the {len(indexed)} rules of the run",
                    Location(field=f"$.runs[{run_index}].results[{result_index}].ruleIndex"),
                )
            raw = document["runs"][run_index]["results"][result_index]
            findings.append(_finding(run, result, rule, raw, paths))
    return findings


def _rule_of(result: Result, rules: dict[str, Rule], indexed: list[Rule]) -> Rule | None:
    if result.ruleIndex is not None and 0 <= result.ruleIndex < len(indexed):
        return indexed[result.ruleIndex]
    return rules.get(result.ruleId or "")


def _finding(run: Run, result: Result, rule: Rule | None, raw: dict[str, Any], paths: _RunPaths) -> Finding:
    message = result.message.text or result.message.markdown or ""
    # Rule names and short descriptions are often generic ("blacklist", "Semgrep Finding: <id>"); the rule's
    # full description, else the result's own message, says what was found.
    title = (rule.fullDescription.text if rule and rule.fullDescription else None) or message
    title = title.strip().splitlines()[0][:160] if title.strip() else "finding"
    tags = [str(t) for t in ((rule.properties or {}).get("tags", []) if rule else [])]
    tags += [str(t) for t in (result.properties or {}).get("tags", [])]
    cwes = sorted({f"CWE-{m.group(1)}" for tag in tags for m in _CWE_TAG.finditer(tag)})
    return Finding(
        tool=run.tool.driver.name,
        rule_id=result.ruleId or (rule.id if rule else None),
        title=f"{result.ruleId or 'finding'}: {title}",
        message=message,
        level=result.level or "warning",
        cwes=cwes,
        locations=_locations(result, paths),
        raw=raw,
    )


class _RunPaths:
    """Artifact URIs of one run as paths relative to the repository root.

    Tools write locations three ways: relative (``app.py``), relative to a named base (``uriBaseId``
    ``%SRCROOT%``, whose absolute URI the run's ``originalUriBaseIds`` give), or absolute (``bandit -r /abs/path``
    writes ``file:///abs/path/app.py``). Absolute ones are made relative to the outermost base that contains them;
    in a run that declares no base, to the deepest directory holding every absolute location (the tree that was
    scanned), so the same scan reads the same whether it was run on a relative or an absolute path. Anything else
    stays absolute, and the plausibility check says so.
    """

    def __init__(self, run: Run) -> None:
        self._originals = run.originalUriBaseIds or {}
        bases = {name: self._absolute(base, {name}) for name, base in self._originals.items()}
        self.bases = bases
        # The outermost base first: the repository root rather than a source folder inside it.
        found = (self._file_path(ArtifactLocation(uri=uri)) for uri in bases.values() if uri)
        self.base_paths = sorted((PurePosixPath(p) for p in found if p), key=lambda p: len(p.parts))
        # Without declared bases, the scanned tree stands in for the root; with them, only they do.
        absolute = {
            path
            for result in run.results or ()
            for place in result.locations or ()
            if (path := self._file_path(self._artifact(place)))
        }
        self.root: PurePosixPath | None = None
        if absolute and not self.base_paths:
            outside = absolute
            root = PurePosixPath(posixpath.commonpath(sorted(outside)))
            root = root.parent if len(outside) == 1 else root  # one file: its directory is the scanned tree
            self.root = root if len(root.parts) > 1 else None  # never "/": that would make every path relative

    def _absolute(self, location: ArtifactLocation, seen: set[str]) -> str | None:
        """A base's absolute URI, following its own ``uriBaseId`` (cycles give None)."""
        uri = location.uri or ""
        if location.uriBaseId is None:
            return uri if urlsplit(uri).scheme else None
        parent = self._originals.get(location.uriBaseId)
        if parent is None or location.uriBaseId in seen:
            return None
        base = self._absolute(parent, seen | {location.uriBaseId})
        return urljoin(base, uri) if base else None

    def _artifact(self, place: SarifLocation) -> ArtifactLocation | None:
        physical = place.physicalLocation
        return physical.artifactLocation if physical and physical.artifactLocation else None

    def _resolved(self, artifact: ArtifactLocation) -> str:
        uri = artifact.uri or ""
        if artifact.uriBaseId and not urlsplit(uri).scheme:
            base = self.bases.get(artifact.uriBaseId)
            return urljoin(base, uri) if base else uri  # relative to an unknown base: relative to the root
        return uri

    def _file_path(self, artifact: ArtifactLocation | None) -> str | None:
        """The absolute local path of an artifact given as (or resolving to) a ``file:`` URI or absolute path."""
        if artifact is None or not artifact.uri:
            return None
        uri = self._resolved(artifact)
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return posixpath.normpath(unquote(parts.path))
        if not parts.scheme and uri.startswith("/"):
            return posixpath.normpath(uri)
        return None

    def _under_base(self, path: str) -> PurePosixPath | None:
        return next((base for base in self.base_paths if PurePosixPath(path).is_relative_to(base)), None)

    def relative(self, artifact: ArtifactLocation) -> str:
        """The artifact's path relative to the repository root, or its URI as given when it is not a local file."""
        path = self._file_path(artifact)
        if path is None:
            return artifact.uri or ""
        base_path = self._under_base(path)
        if base_path is not None:
            return str(PurePosixPath(path).relative_to(base_path))
        if self.root is not None and PurePosixPath(path).is_relative_to(self.root):
            return str(PurePosixPath(path).relative_to(self.root))
        return path


def _locations(result: Result, paths: _RunPaths) -> list[str]:
    found = []
    for place in result.locations or ():
        physical = place.physicalLocation
        if physical and physical.artifactLocation and physical.artifactLocation.uri:
            line = physical.region.startLine if physical.region else None
            path = paths.relative(physical.artifactLocation)
            found.append(f"{path}:{line}" if line else path)
        found += [logical.fullyQualifiedName or logical.name or "" for logical in place.logicalLocations or ()]
    return [f for f in found if f]
