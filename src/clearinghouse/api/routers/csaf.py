"""The CSAF 2.0 provider (`feeds.csaf_provider`) under `/.well-known/csaf/`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from clearinghouse.api.auth import access_note, caller
from clearinghouse.feeds.csaf_provider import FEED_FILE, CsafProvider
from clearinghouse.policy import Actor

router = APIRouter(prefix="/.well-known/csaf", tags=["csaf"])
Caller = Annotated[Actor, Depends(caller)]
Directory = Annotated[str, Path(max_length=16, description="white, green, amber or red")]
_ACCESS = access_note(
    "`white` anyone; `green` a token with `records:read`; `amber` and `red` clearinghouse staff (a directory "
    "or document the caller may not read is 404); documents are filtered as `GET /api/v1/records/{id}` is"
)


def provider(request: Request) -> CsafProvider:
    found: CsafProvider = request.app.state.csaf_provider
    return found


Provider = Annotated[CsafProvider, Depends(provider)]


class JsonDocument(BaseModel):
    """A JSON document defined by the CSAF 2.0 standard (provider metadata, a ROLIE feed)."""

    model_config = ConfigDict(extra="allow")


def _base(request: Request) -> str:
    return str(request.base_url)


@router.get(
    "/provider-metadata.json",
    response_model=JsonDocument,
    description="The provider's metadata (CSAF 2.0 section 7.1.7): distributions, ROLIE feeds, the OpenPGP key. "
    "**Access:** anyone.",
)
async def metadata(request: Request, csaf: Provider) -> dict[str, Any]:
    return await run_in_threadpool(csaf.metadata, _base(request))


@router.get(
    "/openpgp/{key_file}",
    response_class=PlainTextResponse,
    description="The public OpenPGP key that signs every document (`<fingerprint>.asc`). **Access:** anyone.",
)
async def public_key(key_file: Annotated[str, Path(max_length=100)], csaf: Provider) -> PlainTextResponse:
    armoured = await run_in_threadpool(csaf.public_key, key_file)
    return PlainTextResponse(armoured, media_type="application/pgp-keys")


@router.get(
    "/{directory}/index.txt",
    response_class=PlainTextResponse,
    description="Every document of the TLP directory the caller may read, one path a line (7.1.12). " + _ACCESS,
)
def index(directory: Directory, csaf: Provider, actor: Caller) -> PlainTextResponse:
    return PlainTextResponse(csaf.index(actor, directory))


@router.get(
    "/{directory}/changes.csv",
    response_class=PlainTextResponse,
    description="Path and last change of each document, newest first (7.1.13). " + _ACCESS,
)
def changes(directory: Directory, csaf: Provider, actor: Caller) -> PlainTextResponse:
    return PlainTextResponse(csaf.changes(actor, directory), media_type="text/csv")


@router.get(
    f"/{{directory}}/{FEED_FILE}",
    response_model=JsonDocument,
    description="The TLP directory's ROLIE feed (7.1.14). " + _ACCESS,
)
def feed(request: Request, directory: Directory, csaf: Provider, actor: Caller) -> dict[str, Any]:
    return csaf.feed(actor, directory, _base(request))


@router.get(
    "/{directory}/{year}/{filename}",
    response_model=JsonDocument,
    responses={
        200: {
            "content": {
                "text/plain": {"schema": {"type": "string", "description": "`<sha512 hex>  <file name>`"}},
                "application/pgp-signature": {"schema": {"type": "string", "description": "ASCII-armoured"}},
            }
        }
    },
    description="A CSAF document (`.json`), its SHA-512 hash (`.json.sha512`) or its detached OpenPGP signature "
    "(`.json.asc`). " + _ACCESS,
)
async def document(
    directory: Directory,
    year: Annotated[str, Path(max_length=4)],
    filename: Annotated[str, Path(max_length=200)],
    csaf: Provider,
    actor: Caller,
) -> Response:
    body, media_type = await run_in_threadpool(csaf.file, actor, directory, year, filename)
    return Response(body, media_type=media_type)
