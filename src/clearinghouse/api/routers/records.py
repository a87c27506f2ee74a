"""Read access to vulnerability records, filtered by TLP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from clearinghouse.api.auth import access_note, optional_principal
from clearinghouse.errors import InvalidRecord, Location, NotFound
from clearinghouse.identity.model import Principal
from clearinghouse.records.model import VulnerabilityRecord, canonical_ecosystem
from clearinghouse.sharing.tlp import may_see
from clearinghouse.store.records import RecordStore

router = APIRouter(prefix="/api/v1", tags=["records"])


def record_store(request: Request) -> RecordStore:
    store: RecordStore = request.app.state.records
    return store


Caller = Annotated[Principal | None, Depends(optional_principal)]
Store = Annotated[RecordStore, Depends(record_store)]


def as_json(record: VulnerabilityRecord) -> dict[str, Any]:
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
    description="A record by id or alias, with the rest of its vulnerability. " + access_note(None),
)
def get_record(identifier: str, store: Store, caller: Caller) -> dict[str, Any]:
    found = [r for r in store.find(identifier) if may_see(caller, r.tlp)]
    if not found:
        # The same answer whether the record is absent or above the caller's TLP: no existence oracle.
        raise NotFound(f"no record has the id or alias {identifier!r}")
    related = {r.id for r in found}
    group = [r.id for record in found for r in store.group(record) if r.id not in related and may_see(caller, r.tlp)]
    return {"records": [as_json(r) for r in found], "same_vulnerability": sorted(set(group))}


@router.get(
    "/affected",
    description="Records affecting a package version, by the ecosystem's version rules. " + access_note(None),
)
def affected(
    store: Store,
    caller: Caller,
    ecosystem: Annotated[str, Query(max_length=100, examples=["PyPI"])],
    package: Annotated[str, Query(min_length=1, max_length=300, examples=["jinja2"])],
    version: Annotated[str, Query(min_length=1, max_length=200, examples=["2.10"])],
) -> dict[str, Any]:
    try:
        ecosystem = canonical_ecosystem(ecosystem)
    except ValueError as exc:
        raise InvalidRecord(str(exc), Location(field="ecosystem")) from None
    found = [r for r in store.affected(ecosystem, package, version) if may_see(caller, r.tlp)]
    return {"ecosystem": ecosystem, "package": package, "version": version, "records": [as_json(r) for r in found]}


@router.get("/stats", description="Counts by source and ecosystem. " + access_note(None))
def stats(store: Store, caller: Caller) -> dict[str, Any]:
    # `caller` is resolved so that a bad token is refused here as everywhere, not silently ignored.
    del caller
    return store.stats().as_dict()
