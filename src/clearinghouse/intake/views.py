"""The typed read models the reports service answers with (API bodies, CLI output)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from clearinghouse.intake.lifecycle import ReportState


class CheckView(BaseModel):
    name: str
    passed: bool | None = Field(description="null: the check does not apply to this report")
    weight: float
    explanation: str


class ReportView(BaseModel):
    """A report as its submitter or an analyst sees it: the finding, checks, duplicates and triage explained."""

    id: str
    state: ReportState
    kind: str
    title: str
    received_at: datetime
    submitted_by: str
    provenance: dict[str, Any]
    tlp: str
    finding: dict[str, Any]
    pipeline: dict[str, Any] = Field(description="each pipeline step's outcome, timing and error")
    checks: list[CheckView] | None
    credibility: float | None
    triage: dict[str, Any] | None
    ssvc: str | None
    priority: float | None
    duplicates: dict[str, Any] | None
    cluster_id: str | None
    reproduction: dict[str, Any] | None = Field(
        default=None, description="the latest reproduction's verdict, reason, oracle and where it fired"
    )

    @classmethod
    def from_row(cls, row: Any, redacted: tuple[dict[str, Any] | None, str | None] | None = None) -> ReportView:
        """The row as a view; `redacted` (duplicates, cluster id), when given, replaces the row's (for callers who
        may not see other organisations' reports)."""
        duplicates, cluster_id = redacted if redacted is not None else (row.duplicates, row.cluster_id)
        received = row.received_at
        return cls(
            id=row.id,
            state=ReportState(row.state),
            kind=row.kind,
            title=row.title,
            # SQLite gives naive timestamps back; every timestamp the store writes is UTC.
            received_at=received if received.tzinfo is not None else received.replace(tzinfo=UTC),
            submitted_by=row.submitted_by,
            provenance=row.provenance,
            tlp=row.tlp,
            finding=row.submission,
            pipeline=row.pipeline,
            checks=row.checks,
            credibility=row.credibility,
            triage=row.triage,
            ssvc=row.ssvc,
            priority=row.priority,
            duplicates=duplicates,
            cluster_id=cluster_id,
            reproduction=getattr(row, "reproduction", None),
        )


@dataclass(frozen=True)
class QueueFilter:
    """What narrows the analyst queue beyond state: search words (all must appear in the title or the finding),
    the SSVC decision and the provenance origin ("ai" or "human")."""

    search: str = ""
    ssvc: str | None = None
    origin: str | None = None

    MAX_WORDS: ClassVar[int] = 8

    def words(self) -> list[str]:
        return [w for w in self.search.split() if w][: self.MAX_WORDS]


class ReportPage(BaseModel):
    reports: list[ReportView]
    total: int = Field(description="how many reports the filters match, over all pages")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ClusterPage(BaseModel):
    cluster_id: str
    reports: list[ReportView]
    total: int
    next_cursor: str | None


class SubmissionAccepted(BaseModel):
    report_ids: list[str]
    status_urls: list[str]
    state: ReportState


class ReprocessQueued(BaseModel):
    report_id: str
    status_url: str
