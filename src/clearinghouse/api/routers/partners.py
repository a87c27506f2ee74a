"""Critical-infrastructure partners' assets over HTTP: upload an SBOM, list assets, an asset's matches and VEX,
alerts and their acknowledgement. Another organisation's asset, alert or VEX is reported missing (404)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.api.paging import DEFAULT_LIMIT, Cursor, Limit
from clearinghouse.identity.model import Principal
from clearinghouse.partners.rules import AlertState
from clearinghouse.partners.service import AssetService
from clearinghouse.partners.views import AlertPage, AlertView, AssetPage, AssetView, MatchPage, UploadView, VexDocument
from clearinghouse.policy.partners import require_asset_owner, require_asset_reader
from clearinghouse.store.pages import slice_page

router = APIRouter(prefix="/api/v1", tags=["partners"])


def asset_service(request: Request) -> AssetService:
    return AssetService(request.app.state.engine, request.app.state.records)


Service = Annotated[AssetService, Depends(asset_service)]
Reader = Annotated[Principal, Depends(authorised(require_asset_reader))]
Owner = Annotated[Principal, Depends(authorised(require_asset_owner))]

_READ = access_note(
    "a critical-infrastructure organisation's token with scope `assets:read` (its own assets) or clearinghouse "
    "staff with `assets:read` (every organisation's)"
)
_WRITE = access_note("a critical-infrastructure organisation's token with scope `assets:write`, for its own assets")
_SBOM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "description": "CycloneDX or SPDX 2.3 JSON"}},
            "application/xml": {"schema": {"type": "string", "description": "CycloneDX XML"}},
            "text/plain": {"schema": {"type": "string", "description": "SPDX 2.3 tag-value"}},
        },
    }
}


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[str, Field(min_length=1, max_length=2000)] = "acknowledged"


@router.post(
    "/assets",
    status_code=201,
    description="Upload an SBOM as an asset: CycloneDX 1.2-1.6 (JSON or XML) or SPDX 2.3 (JSON or tag-value), "
    "the raw document as the body. Every good component is kept and matched; each bad one (or bad field) is named "
    "with its reference, field and reason; the answer counts both. Bodies are capped by the API's body limit "
    "(2 MiB by default; the CLI takes up to 64 MiB and 100,000 components). " + _WRITE,
    openapi_extra=_SBOM_BODY,
)
async def upload(
    request: Request,
    response: Response,
    service: Service,
    principal: Owner,
    name: Annotated[str | None, Query(max_length=200, description="the asset's name (default: the SBOM's)")] = None,
) -> UploadView:
    data = await request.body()
    uploaded = await run_in_threadpool(service.upload, principal, data, name)
    response.headers["Location"] = f"/api/v1/assets/{uploaded['asset']['id']}"
    return uploaded


@router.get("/assets", description="The assets the caller may see, newest first. " + _READ)
def list_assets(service: Service, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> AssetPage:
    page, total, next_cursor = slice_page("assets", service.list_assets(principal), limit, cursor)
    return AssetPage(assets=page, total=total, next_cursor=next_cursor)


@router.get("/assets/{asset_id}", description="One asset. " + _READ)
def get_asset(asset_id: str, service: Service, principal: Reader) -> AssetView:
    return service.asset(principal, asset_id)


@router.get(
    "/assets/{asset_id}/matches",
    description="The asset's components matched to the records affecting them, each with the record's TLP and "
    "why (which affected entry and range includes the version). A partner sees records it may read (released, "
    "up to TLP:GREEN) and embargoed advisories of cases naming it for early warning. " + _READ,
)
def asset_matches(
    asset_id: str, service: Service, principal: Reader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> MatchPage:
    page, total, next_cursor = slice_page("matches", service.matches(principal, asset_id), limit, cursor)
    return MatchPage(asset_id=asset_id, matches=page, total=total, next_cursor=next_cursor)


@router.get(
    "/assets/{asset_id}/vex",
    description="The asset's VEX: `format=cyclonedx` (CycloneDX 1.6 JSON) or `format=csaf` (CSAF 2.0, VEX "
    "profile). " + _READ,
)
def asset_vex(
    asset_id: str,
    service: Service,
    principal: Reader,
    format: Annotated[Literal["cyclonedx", "csaf"], Query()] = "cyclonedx",
) -> VexDocument:
    return service.vex(principal, asset_id, format)


@router.get("/alerts", description="Alerts raised for the caller's assets, newest first. " + _READ)
def list_alerts(
    service: Service,
    principal: Reader,
    state: AlertState | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AlertPage:
    page, total, next_cursor = slice_page("alerts", service.alerts(principal, state), limit, cursor)
    return AlertPage(alerts=page, total=total, next_cursor=next_cursor)


@router.post("/alerts/{alert_id}/ack", description="Acknowledge an alert (kept in the audit log). " + _WRITE)
def acknowledge(alert_id: str, service: Service, principal: Owner, body: Acknowledgement | None = None) -> AlertView:
    return service.acknowledge(principal, alert_id, (body or Acknowledgement()).note)
