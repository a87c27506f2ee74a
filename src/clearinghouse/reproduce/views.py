"""Typed read models of reproductions (API bodies, CLI output)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


class ObservationView(BaseModel):
    version: str
    fired: bool = Field(description="whether the oracle fired on this version")
    where: str | None = Field(description="the target's file:line (or signal) where it fired")
    detail: str = Field(description="why it fired or did not")
    output: str = Field(description="the run's stdout and stderr, tail-capped")
    seconds: float
    error: str | None = Field(description="the harness failed on this version: the run says nothing")


class ArtifactView(BaseModel):
    name: str
    version: str
    file: str
    sha256: str = Field(description="the wheel's SHA-256 (PyPI) or npm's integrity string")


class ReproductionView(BaseModel):
    """One reproduction: what ran, against what, and the harness's verdict with its evidence."""

    id: str
    report_id: str
    case_id: str | None
    purpose: str = Field(description="report (vulnerable and fixed version) or fix_verification (a case's fix)")
    state: str = Field(description="queued, running or done")
    verdict: str | None = Field(description="reproduced, reproduced_not_fixed, not_reproduced or error")
    reason: str | None
    step: str | None = Field(description="for an error: request, environment, sandbox or harness")
    request: dict[str, Any] = Field(description="target (ecosystem, package, versions), proof of concept, oracle")
    observations: list[ObservationView]
    packages: dict[str, list[ArtifactView]] = Field(description="per version: the installed packages' hashes")
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ReproductionView:
        return cls(
            id=row.id,
            report_id=row.report_id,
            case_id=row.case_id,
            purpose=row.purpose,
            state=row.state,
            verdict=row.verdict,
            reason=row.reason,
            step=row.step,
            request=row.request,
            observations=[ObservationView(**item) for item in row.observations or []],
            packages={
                version: [ArtifactView(**item) for item in items] for version, items in (row.packages or {}).items()
            },
            requested_by=row.requested_by,
            requested_at=_utc(row.requested_at),
            finished_at=None if row.finished_at is None else _utc(row.finished_at),
        )


class ReproductionList(BaseModel):
    reproductions: list[ReproductionView]


def _utc(value: datetime) -> datetime:
    # SQLite gives naive timestamps back; every timestamp the store writes is UTC
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
