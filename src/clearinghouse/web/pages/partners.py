"""The partner portal: a critical-infrastructure organisation's SBOM uploads (assets) with every component that
could not be kept named, the matches of its components to records, its alerts (acknowledged here), and the VEX of
each asset to download. The same `AssetService` and policy as the API decide every read and action."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from clearinghouse.errors import NotFound
from clearinghouse.partners.service import AssetService
from clearinghouse.web.session import CheckedForm, CurrentViewer
from clearinghouse.web.templating import PAGE_HEADERS, redirect, render

router = APIRouter(include_in_schema=False)
VEX_FORMATS: dict[str, Literal["cyclonedx", "csaf"]] = {"cyclonedx": "cyclonedx", "csaf": "csaf"}


def _service(request: Request) -> AssetService:
    return AssetService(request.app.state.engine, request.app.state.records)


@router.get("/partner")
def portal(request: Request, current: CurrentViewer) -> Response:
    service = _service(request)
    context = {"assets": service.list_assets(current.actor), "alerts": service.alerts(current.actor)}
    return render(request, current, "partner.html", context)


@router.post("/partner/assets")
async def upload(request: Request, current: CurrentViewer, form: CheckedForm) -> Response:
    """Upload an SBOM; the answer names every component or field not kept, with its reference and reason."""
    sbom = form.file("sbom", "an SBOM file")
    name = form.get("name").strip() or None
    uploaded = await run_in_threadpool(_service(request).upload, current.actor, sbom.data, name)
    template = "_upload.html" if request.headers.get("hx-request") == "true" else "upload.html"
    return render(request, current, template, {"uploaded": uploaded, "filename": sbom.filename}, status=201)


@router.get("/partner/assets/{asset_id}")
def asset_page(request: Request, current: CurrentViewer, asset_id: str) -> Response:
    service = _service(request)
    context = {
        "asset": service.asset(current.actor, asset_id),
        "matches": service.matches(current.actor, asset_id),
        "alerts": [a for a in service.alerts(current.actor) if a["asset_id"] == asset_id],
    }
    return render(request, current, "asset.html", context)


@router.get("/partner/assets/{asset_id}/vex-{fmt}.json")
def vex_download(request: Request, current: CurrentViewer, asset_id: str, fmt: str) -> Response:
    chosen = VEX_FORMATS.get(fmt)
    if chosen is None:
        raise NotFound(f"no VEX format {fmt!r} (cyclonedx or csaf)")
    document = _service(request).vex(current.actor, asset_id, chosen)
    return Response(
        orjson.dumps(document.model_dump(mode="json", by_alias=True), option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            **PAGE_HEADERS,
            "Content-Disposition": f'attachment; filename="vex-{asset_id}-{chosen}.json"',
        },
    )


@router.post("/partner/alerts/{alert_id}/ack")
async def acknowledge(request: Request, current: CurrentViewer, form: CheckedForm, alert_id: str) -> Response:
    note = form.get("note").strip() or "acknowledged"
    alert = await run_in_threadpool(_service(request).acknowledge, current.actor, alert_id, note)
    return redirect(f"/partner/assets/{alert['asset_id']}")
