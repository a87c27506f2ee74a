"""Read access to vulnerability records, filtered by TLP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from typing_extensions import TypedDict  # pydantic needs this one below Python 3.12

from clearinghouse.api.auth import access_note, caller
from clearinghouse.cases.service import CaseService
from clearinghouse.errors import InvalidRecord, Location, NotFound
from clearinghouse.policy import Actor, rules
from clearinghouse.records.model import VulnerabilityRecord, canonical_ecosystem
from clearinghouse.store.records import RecordStore, Stats

router = APIRouter(prefix="/api/v1", tags=["records"])


def case_service(request: Request) -> CaseService:
    service: CaseService = request.app.state.cases
    return service


def record_store(request: Request) -> RecordStore:
    store: RecordStore = request.app.state.records
    return store


Caller = Annotated[Actor, Depends(caller)]
_READ = access_note(
    "anyone reads TLP:CLEAR; a token with scope `records:read` also TLP:GREEN; clearinghouse staff every label "
    "and records not yet released (draft, embargoed). A token without `records:read` gets 403"
)
Store = Annotated[RecordStore, Depends(record_store)]
# Embargoed advisories are also read by the participants of their case (policy.cases.record_visible).
Cases = Annotated[CaseService, Depends(case_service)]


class ScoreView(TypedDict):
    version: str
    vector: str
    base_score: float
    rating: str


class ProvenanceView(TypedDict):
    source: str
    source_id: str
    licence: str | None
    imported_at: str


class RecordFacts(TypedDict):
    """What the clearinghouse adds to an OSV record."""

    tlp: str
    status: str
    known_exploited: bool
    vulnerability: str | None
    repairs: list[Any]
    scores: list[ScoreView]
    provenance: ProvenanceView


class RecordView(TypedDict):
    osv: dict[str, Any]
    clearinghouse: RecordFacts


class RecordLookup(TypedDict):
    records: list[RecordView]
    same_vulnerability: list[str]


class AffectedAnswer(TypedDict):
    ecosystem: str
    package: str
    version: str
    records: list[RecordView]


def as_json(record: VulnerabilityRecord) -> RecordView:
    return {
        "osv": record.osv.document(),
        "clearinghouse": {
            "tlp": record.tlp.value,
            "status": record.status.value,
            "known_exploited": record.known_exploited,
            "vulnerability": record.group_id,
            "repairs": list(record.repairs),
            "scores": [
                {"version": s.version, "vector": s.vector, "base_score": s.base_score, "rating": s.rating}
                for s in record.scores
            ],
            "provenance": {
                "source": record.provenance.source,
                "source_id": record.provenance.source_id,
                "licence": record.provenance.licence,
                "imported_at": record.provenance.imported_at.isoformat(),
            },
        },
    }


@router.get(
    "/records/{identifier}",
    description="A record by id or alias, with the rest of its vulnerability. " + _READ,
)
def get_record(identifier: str, store: Store, cases: Cases, caller: Caller) -> RecordLookup:
    found = cases.visible_records(caller, store.find(identifier))
    if not found:
        # The same answer whether the record is absent or above the caller's TLP: no existence oracle.
        raise NotFound(f"no record has the id or alias {identifier!r}")
    related = {r.id for r in found}
    others = [r for record in found for r in store.group(record) if r.id not in related]
    group = [r.id for r in cases.visible_records(caller, others)]
    return {"records": [as_json(r) for r in found], "same_vulnerability": sorted(set(group))}


@router.get(
    "/affected",
    description="Records affecting a package version, by the ecosystem's version rules. " + _READ,
)
def affected(
    store: Store,
    cases: Cases,
    caller: Caller,
    ecosystem: Annotated[str, Query(max_length=100, examples=["PyPI"])],
    package: Annotated[str, Query(min_length=1, max_length=300, examples=["jinja2"])],
    version: Annotated[str, Query(min_length=1, max_length=200, examples=["2.10"])],
) -> AffectedAnswer:
    rules.record_visibility(caller)  # 401/403 before any work
    try:
        ecosystem = canonical_ecosystem(ecosystem)
    except ValueError as exc:
        raise InvalidRecord(str(exc), Location(field="ecosystem")) from None
    found = cases.visible_records(caller, store.affected(ecosystem, package, version))
    return {"ecosystem": ecosystem, "package": package, "version": version, "records": [as_json(r) for r in found]}


@router.get("/stats", description="Counts by source and ecosystem (of every record). " + _READ)
def stats(store: Store, caller: Caller) -> Stats:
    # Counts only, but still a records read: a bad token is 401 and a token without `records:read` 403 here too.
    rules.record_visibility(caller)
    return store.stats()
