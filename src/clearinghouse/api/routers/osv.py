"""The OSV-compatible API (`feeds.osv_api`): `/v1/query`, `/v1/querybatch`, `/v1/vulns/{id}`, as OSV.dev serves them.

Bodies are read here, not by FastAPI: OSV clients (pip-audit among them) post JSON without a Content-Type, which
would pass by the app's JSON guard, so the body goes through `safeparse` (depth and character caps) whatever it
declares. Errors stay problem+json with OSV.dev's message as `detail` and in `message`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from clearinghouse.api.auth import access_note, caller
from clearinghouse.errors import InvalidFeedQuery, Location
from clearinghouse.feeds.osv_api import (
    BatchVulnerabilityList,
    OsvApi,
    OsvBatchQuery,
    OsvDocument,
    OsvQuery,
    VulnerabilityList,
)
from clearinghouse.policy import Actor
from clearinghouse.safeparse import json_loads

router = APIRouter(prefix="/v1", tags=["osv"])
Caller = Annotated[Actor, Depends(caller)]
_ACCESS = access_note(
    "anyone; anonymous callers see TLP:CLEAR released records, a token with `records:read` also TLP:GREEN, "
    "clearinghouse staff every label and unreleased records (a token without `records:read` gets 403)"
)
_Body = TypeVar("_Body", bound=BaseModel)


def osv_api(request: Request) -> OsvApi:
    api: OsvApi = request.app.state.osv_api
    return api


Api = Annotated[OsvApi, Depends(osv_api)]


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


async def _read(request: Request, model: type[_Body]) -> _Body:
    document = json_loads(await request.body(), Location(field="$"))
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "$"
        raise InvalidFeedQuery(f"Invalid request: {where}: {first['msg']}") from None


@router.post(
    "/query",
    response_model=VulnerabilityList,
    response_model_exclude_none=True,
    openapi_extra=_body_schema(OsvQuery),
    description="Vulnerabilities affecting a package version (or every version), a purl, or a commit, as "
    "OSV.dev's `POST /v1/query` answers (`{}` when none; `next_page_token` past 1,000). " + _ACCESS,
)
async def query(request: Request, api: Api, actor: Caller) -> VulnerabilityList:
    asked = await _read(request, OsvQuery)
    return await run_in_threadpool(api.query, actor, asked)


@router.post(
    "/querybatch",
    response_model=BatchVulnerabilityList,
    response_model_exclude_none=True,
    openapi_extra=_body_schema(OsvBatchQuery),
    description="Up to 1,000 queries at once, answered with ids and modification times only, each with its own "
    "`next_page_token`, as OSV.dev's `POST /v1/querybatch` (400 `Too many queries.` above 1,000). " + _ACCESS,
)
async def query_batch(request: Request, api: Api, actor: Caller) -> BatchVulnerabilityList:
    asked = await _read(request, OsvBatchQuery)
    return await run_in_threadpool(api.query_batch, actor, asked)


@router.get(
    "/vulns/{vuln_id}",
    response_model=OsvDocument,
    description="One OSV record by its id (withdrawn ones too), as OSV.dev's `GET /v1/vulns/{id}`. " + _ACCESS,
)
def vulnerability(vuln_id: Annotated[str, Path(max_length=200)], api: Api, actor: Caller) -> dict[str, Any]:
    return api.vulnerability(actor, vuln_id)
