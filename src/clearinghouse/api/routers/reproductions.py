"""Reproductions of reports' proofs of concept in the sandbox: queue one (or a re-run), read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.identity.model import Principal
from clearinghouse.policy.reproductions import reproduction_scope, require_reproducer
from clearinghouse.reproduce.service import ReproductionService
from clearinghouse.reproduce.views import ReproductionList, ReproductionView

router = APIRouter(prefix="/api/v1", tags=["reproductions"])


async def reproduction_service(request: Request) -> ReproductionService:  # async: no thread hop
    service: ReproductionService = request.app.state.reproductions
    return service


Reproductions = Annotated[ReproductionService, Depends(reproduction_service)]
Reproducer = Annotated[Principal, Depends(authorised(require_reproducer))]
Reader = Annotated[Principal, Depends(authorised(reproduction_scope))]

_RUN = access_note("clearinghouse staff (an organisation of kind clearinghouse) with scope `reports:triage`")
_READ = access_note("whoever reads the report: the submitting organisation and clearinghouse staff; others 404")
_REQUEST_EXAMPLE = {
    "target": {"ecosystem": "PyPI", "package": "pyyaml", "vulnerable": "5.3", "fixed": "5.3.1"},
    "poc": {"kind": "script", "source": "import yaml, os\nyaml.full_load('...')"},
    "oracle": {"kind": "command"},
}


@router.post(
    "/reports/{report_id}/reproductions",
    status_code=202,
    response_model=ReproductionView,
    description="Queue a reproduction (or a re-run) of a report's proof of concept in the sandbox, against the "
    "vulnerable and the fixed version. The body names the oracle (secret, file_write, command, crash, timeout, "
    "memory, exception, prototype_pollution) and may name the target and the PoC; what it leaves out comes from "
    "the report's earlier reproduction, then from the report (first PyPI/npm package and version, its proof of "
    "concept). " + _RUN,
)
def request_reproduction(
    report_id: str,
    service: Reproductions,
    principal: Reproducer,
    body: Annotated[dict[str, Any] | None, Body(openapi_examples={"pyyaml": {"value": _REQUEST_EXAMPLE}})] = None,
) -> ReproductionView:
    return service.request(principal, report_id, body or {})


@router.get(
    "/reports/{report_id}/reproductions",
    response_model=ReproductionList,
    description="A report's reproductions, newest first, each with its verdict (reproduced, "
    "reproduced_not_fixed, not_reproduced, error with the step), the evidence per version (whether the oracle "
    "fired, where in the target, the output) and the installed packages' hashes. " + _READ,
)
def list_reproductions(report_id: str, service: Reproductions, principal: Reader) -> ReproductionList:
    return service.list_for(principal, report_id)
