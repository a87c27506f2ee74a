"""`/metrics` in the Prometheus text format: the processing backlog and the intake pipeline's per-step timings.

Read from the store at each scrape (`ReportService.processing_stats`), so every API process answers for every
worker on every machine; point Prometheus at any of them, with a staff token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.identity.model import Principal
from clearinghouse.intake.metrics import ProcessingStats
from clearinghouse.intake.service import ReportService
from clearinghouse.policy.operations import require_operations_reader

router = APIRouter(tags=["service"])
OperationsReader = Annotated[Principal, Depends(authorised(require_operations_reader))]
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def families(stats: ProcessingStats) -> Iterator[Metric]:
    """The processing figures as Prometheus metric families."""
    yield GaugeMetricFamily(
        "clearinghouse_intake_queue_depth", "Reports waiting to be processed (jobs queued or running)", stats.queued
    )
    yield GaugeMetricFamily(
        "clearinghouse_intake_oldest_waiting_seconds",
        "How long the oldest report waiting to be processed has waited",
        stats.oldest_age_seconds,
    )
    timings = SummaryMetricFamily(
        "clearinghouse_intake_step_seconds", "Time each intake pipeline step took, over every report", labels=["step"]
    )
    failures = CounterMetricFamily(
        "clearinghouse_intake_step_failures", "Reports an intake pipeline step failed on", labels=["step"]
    )
    for step in stats.steps:
        timings.add_metric([step.step], count_value=step.runs, sum_value=step.seconds)
        failures.add_metric([step.step], step.failures)
    yield timings
    yield failures


class _StoreCollector(Collector):
    def __init__(self, reports: ReportService) -> None:
        self.reports = reports

    def collect(self) -> Iterator[Metric]:
        yield from families(self.reports.processing_stats())


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    description="Processing backlog (queue depth, oldest waiting report) and each intake step's count and time, "
    "in the Prometheus text format. " + access_note("clearinghouse staff with scope `reports:triage`"),
    responses={200: {"content": {_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def metrics(request: Request, principal: OperationsReader) -> PlainTextResponse:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(request.app.state.reports))
    return PlainTextResponse(generate_latest(registry), media_type=_CONTENT_TYPE)
