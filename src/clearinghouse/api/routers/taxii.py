"""The TAXII 2.1 server (`feeds.taxii`): discovery at `/taxii2/`, one API root at `/taxii2/api/`, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from clearinghouse.api.auth import access_note, caller
from clearinghouse.errors import NotAcceptable, NotFound
from clearinghouse.feeds.taxii import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TAXII_MEDIA_TYPE,
    Page,
    TaxiiServer,
    envelope,
    manifest,
    timestamp,
)
from clearinghouse.policy import Actor


def accepts_taxii(request: Request) -> None:
    """TAXII 2.1 (1.6.8): a request must accept `application/taxii+json;version=2.1` (without a version: the
    latest, 2.1); one whose Accept header admits none of it (`application/json`, `text/html`, another TAXII
    version) is refused with 406. No Accept header, `*/*` and `application/*` admit it (HTTP's reading)."""
    header = request.headers.get("accept")
    if header is None or any(_admits_taxii(item) for item in header.split(",")):
        return
    raise NotAcceptable(f"the Accept header ({header[:200]!r}) admits no TAXII 2.1 media type: send {TAXII_MEDIA_TYPE}")


def _admits_taxii(item: str) -> bool:
    media_type, *parameters = (part.strip().lower() for part in item.split(";"))
    if media_type in ("*/*", "application/*"):
        return True
    if media_type != "application/taxii+json":
        return False
    versions = [p.split("=", 1)[1].strip().strip('"') for p in parameters if p.startswith("version=")]
    return all(version == "2.1" for version in versions)


router = APIRouter(prefix="/taxii2", tags=["taxii"], dependencies=[Depends(accepts_taxii)])
Caller = Annotated[Actor, Depends(caller)]
CollectionId = Annotated[str, Path(max_length=64)]
ObjectId = Annotated[str, Path(max_length=128)]
Limit = Annotated[
    int, Query(description=f"objects per page, at least 1; above {MAX_LIMIT} the server sends {MAX_LIMIT} (TAXII 3.4)")
]
AddedAfter = Annotated[str | None, Query(max_length=64, description="only objects added after this RFC 3339 time")]
Next = Annotated[str | None, Query(max_length=256, description="the `next` of the previous page")]
_ACCESS = access_note(
    "the TLP:CLEAR collection anyone; TLP:GREEN a token with `records:read`; AMBER, AMBER+STRICT and RED "
    "clearinghouse staff (a collection the caller may not read is 404 and left out of lists); embargoed records "
    "are shown to staff only"
)


class TaxiiResource(BaseModel):
    """A TAXII 2.1 resource (discovery, API root, collection(s), envelope, manifest, versions)."""

    model_config = ConfigDict(extra="allow")


def taxii_server(request: Request) -> TaxiiServer:
    server: TaxiiServer = request.app.state.taxii
    return server


Server = Annotated[TaxiiServer, Depends(taxii_server)]


def _taxii(body: dict[str, Any], page: Page | None = None) -> JSONResponse:
    headers = {}
    if page is not None and page.first_added is not None and page.last_added is not None:
        headers = {
            "X-TAXII-Date-Added-First": timestamp(page.first_added),
            "X-TAXII-Date-Added-Last": timestamp(page.last_added),
        }
    return JSONResponse(body, media_type=TAXII_MEDIA_TYPE, headers=headers)


@router.get("/", response_model=TaxiiResource, description="TAXII discovery (4.1). **Access:** anyone.")
def discovery(request: Request, taxii: Server) -> JSONResponse:
    return _taxii(taxii.discovery(f"{request.base_url}taxii2"))


@router.get("/api/", response_model=TaxiiResource, description="The API root's information (4.2). **Access:** anyone.")
def api_root(taxii: Server) -> JSONResponse:
    return _taxii(taxii.api_root())


@router.get("/api/collections/", response_model=TaxiiResource, description="The collections (5.1). " + _ACCESS)
def collections(taxii: Server, actor: Caller) -> JSONResponse:
    return _taxii({"collections": taxii.collections(actor)})


@router.get(
    "/api/collections/{collection_id}/", response_model=TaxiiResource, description="A collection (5.2). " + _ACCESS
)
def collection(collection_id: CollectionId, taxii: Server, actor: Caller) -> JSONResponse:
    return _taxii(taxii.collection(actor, collection_id).describe())


async def _objects_page(
    collection_id: CollectionId,
    taxii: Server,
    actor: Caller,
    limit: Limit = DEFAULT_LIMIT,
    added_after: AddedAfter = None,
    next: Next = None,
) -> Page:
    """The page of a collection's objects that the objects and manifest endpoints both answer (TAXII 5.3, 5.4)."""
    return await run_in_threadpool(
        taxii.objects, actor, collection_id, limit=limit, added_after=added_after, next_token=next
    )


ObjectsPage = Annotated[Page, Depends(_objects_page)]


@router.get(
    "/api/collections/{collection_id}/objects/",
    response_model=TaxiiResource,
    description="The collection's STIX 2.1 objects, a page at a time (5.4). " + _ACCESS,
)
async def objects(page: ObjectsPage) -> JSONResponse:
    return _taxii(envelope(page), page)


@router.get(
    "/api/collections/{collection_id}/manifest/",
    response_model=TaxiiResource,
    description="Id, date added and version of the collection's objects (5.3). " + _ACCESS,
)
async def manifest_of(page: ObjectsPage) -> JSONResponse:
    return _taxii(manifest(page), page)


@router.get(
    "/api/collections/{collection_id}/objects/{object_id}/",
    response_model=TaxiiResource,
    description="One object of the collection (5.6); 404 when the caller may not see it. " + _ACCESS,
)
async def one_object(collection_id: CollectionId, object_id: ObjectId, taxii: Server, actor: Caller) -> JSONResponse:
    page = await run_in_threadpool(taxii.objects, actor, collection_id, limit=1, object_id=object_id)
    if not page.items:
        raise NotFound(f"no object {object_id!r} in this collection")
    return _taxii(envelope(page), page)


@router.get(
    "/api/collections/{collection_id}/objects/{object_id}/versions/",
    response_model=TaxiiResource,
    description="The versions of one object (5.8). " + _ACCESS,
)
async def versions(collection_id: CollectionId, object_id: ObjectId, taxii: Server, actor: Caller) -> JSONResponse:
    page = await run_in_threadpool(taxii.objects, actor, collection_id, limit=1, object_id=object_id)
    if not page.items:
        raise NotFound(f"no object {object_id!r} in this collection")
    listed = sorted({entry["version"] for entry in manifest(page)["objects"]})
    return _taxii({"more": False, "versions": listed}, page)
