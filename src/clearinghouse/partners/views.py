"""The typed read models the partners service answers with (API bodies and CLI output): JSON-shaped `TypedDict`s,
so the OpenAPI document states each response's schema and mypy checks every key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12


class ProblemView(TypedDict):
    ref: str  # the component's bom-ref / SPDXID, or its position when it has none
    field: str
    reason: str


class AssetView(TypedDict):
    id: str
    organisation_id: str
    name: str
    format: str
    sha256: str
    uploaded_by: str
    uploaded_at: str
    components: int  # kept
    problems: int  # components or fields not kept, and versions that could not be judged


class UploadView(TypedDict):
    asset: AssetView
    kept: int
    problems: list[ProblemView]  # the first 1,000
    problem_count: int
    matchable: int  # components with a purl naming a package of an OSV ecosystem
    matches: int  # (component, record) pairs visible to the partner
    alerts: int


class AssetPage(TypedDict):
    assets: list[AssetView]
    total: int
    next_cursor: str | None


class ComponentView(TypedDict):
    ref: str
    name: str
    version: str | None
    purl: str | None
    parent: str | None
    depends_on: list[str]


class MatchView(TypedDict):
    component: ComponentView
    record_id: str
    aliases: list[str]
    summary: str | None
    tlp: str
    status: str
    reasons: list[str]  # which affected entry and range (or listed version) includes the component's version


class MatchPage(TypedDict):
    asset_id: str
    matches: list[MatchView]
    total: int
    next_cursor: str | None


class EmbargoTerms(TypedDict):
    case_id: str
    public_at: str | None
    public_tz: str | None
    tlp: str


class AlertView(TypedDict):
    id: str
    asset_id: str
    record_id: str
    tlp: str
    state: str
    components: list[str]
    embargo: EmbargoTerms | None
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None


class AlertPage(TypedDict):
    alerts: list[AlertView]
    total: int
    next_cursor: str | None


class VexDocument(BaseModel):
    """A VEX document as its format's own JSON: CycloneDX 1.6 (`bomFormat`, `vulnerabilities`, ...) or CSAF 2.0
    (`document`, `product_tree`, `vulnerabilities`); the format's schema describes it."""

    model_config = ConfigDict(extra="allow")
