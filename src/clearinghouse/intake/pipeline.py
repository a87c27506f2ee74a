"""The intake pipeline for one report: normalise -> check -> deduplicate -> triage.

Each step is timed and its outcome stored on the report. A failing step marks the report (with the step and
the error) and stops there; the report itself is never lost and can be reprocessed. The report is read once
and the run's outcome written once, in one transaction: a worker that dies mid-run leaves the report as it
was, and its job is run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clearinghouse.intake.checks import KnownFacts, run_checks
from clearinghouse.intake.findings import Finding
from clearinghouse.intake.known_records import KnownRecordMatcher, published_as, similar_records
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.triage import credibility, decide, derive_decision_points, priority_key
from clearinghouse.records.severity import base_score
from clearinghouse.store.records import RecordStore

log = logging.getLogger("clearinghouse.intake")
PIPELINE_ACTOR = "clearinghouse-pipeline"


@dataclass
class _Context:
    report_id: str
    finding: Finding | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    reproduction: dict[str, Any] | None = None  # the latest reproduction's verdict (issue 17)
    credibility: float = 0.0
    triaged: str | None = None  # the reason for the move to triaged, once triage has decided
    similar_records: dict[str, float] = field(default_factory=dict)  # record id -> score, text alike, same package


class ReportPipeline:
    steps = ("normalise", "check", "deduplicate", "triage")

    def __init__(self, records: RecordStore, reports: ReportService, duplicates: Any) -> None:
        self.records = records
        self.reports = reports
        self.duplicates = duplicates  # intake.dedup_service.DuplicateFinder
        self.known = KnownRecordMatcher(records)

    def process(self, report_id: str) -> bool:
        """Run every step; False if one failed (recorded on the report)."""
        context = _Context(report_id)
        runners: dict[str, Callable[[_Context], dict[str, Any]]] = {
            "normalise": self._normalise,
            "check": self._check,
            "deduplicate": self._deduplicate,
            "triage": self._triage,
        }
        outcomes: dict[str, dict[str, Any]] = {}
        columns: dict[str, Any] = {}
        for step in self.steps:
            started = time.perf_counter()
            try:
                outcome = runners[step](context)
            except Exception as exc:  # recorded on the report; the job itself completes
                elapsed = round((time.perf_counter() - started) * 1000, 2)
                log.exception("report %s: step %s failed", report_id, step)
                outcomes[step] = {"ok": False, "ms": elapsed, "error": f"{exc.__class__.__name__}: {exc}"}
                self.reports.record_pipeline(report_id, outcomes, columns, PIPELINE_ACTOR, triaged=None)
                return False
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            log.info("report %s: %s in %.2f ms", report_id, step, elapsed)
            columns.update(outcome.pop("_columns", {}))
            outcomes[step] = {"ok": True, "ms": elapsed, **outcome}
        self.reports.record_pipeline(report_id, outcomes, columns, PIPELINE_ACTOR, triaged=context.triaged)
        return True

    def _normalise(self, context: _Context) -> dict[str, Any]:
        context.finding, context.provenance, context.reproduction = self.reports.for_processing(context.report_id)
        return {"packages": len(context.finding.packages), "identifiers": list(context.finding.identifiers)}

    def _check(self, context: _Context) -> dict[str, Any]:
        finding = _required(context)
        provenance = context.provenance
        known = {
            f"{p.ecosystem}/{p.name}": self.records.package_known(p.ecosystem, p.name)
            for p in finding.packages
            if p.ecosystem
        }
        facts = KnownFacts(
            known, provenance.get("origin") == "ai", bool(provenance.get("human_verified")), context.reproduction
        )
        signals = run_checks(finding, facts)
        score = context.credibility = credibility(signals)
        checks = [
            {"name": s.name, "passed": s.passed, "weight": s.weight, "explanation": s.explanation} for s in signals
        ]
        return {"credibility": score, "_columns": {"checks": checks, "credibility": score}}

    def _deduplicate(self, context: _Context) -> dict[str, Any]:
        finding = _required(context)
        result = self.duplicates.find(context.report_id, finding)
        context.similar_records = similar_records(result)
        return {
            "candidates": len(result["candidates"]),
            "_columns": {"duplicates": result, "cluster_id": result["cluster_id"]},
        }

    def _text_scores(self, finding: Finding) -> Callable[[Sequence[str]], dict[str, float]]:
        def scores(record_ids: Sequence[str]) -> dict[str, float]:
            return dict(self.duplicates.text_similarity(finding, record_ids))

        return scores

    def _triage(self, context: _Context) -> dict[str, Any]:
        finding = _required(context)
        named = self.records.records_naming(list(finding.identifiers))
        known = self.known.match(finding, context.similar_records, named, self._text_scores(finding))
        related = list(dict.fromkeys([*named, *(k.record_id for k in known)]))
        identifiers = set(finding.identifiers)
        for record in self.records.many(related):
            identifiers |= set(record.osv.identifiers())
        # A published record the report matches brings its own identifiers, so its KEV listing is SSVC's
        # Exploitation input for the report too.
        kev = self.records.kev_listed(sorted(identifiers))
        scores: list[dict[str, Any]] = []
        for vector in finding.cvss_vectors:
            kind = (
                "CVSS_V4" if vector.startswith("CVSS:4.0/") else "CVSS_V3" if vector.startswith("CVSS:3") else "CVSS_V2"
            )
            version, score, rating = base_score(kind, vector)
            scores.append({"version": version, "vector": vector, "base_score": score, "rating": rating})
        points = derive_decision_points(
            kev=bool(kev),
            poc_present=bool(finding.proof_of_concept or finding.attachments),
            cvss_vectors=list(finding.cvss_vectors),
            mission_wellbeing=None,
            reproduction=context.reproduction,
        )
        decision = decide(points)
        best = max((float(s["base_score"]) for s in scores), default=0.0)
        priority = priority_key(decision, best, context.credibility)
        triage = {
            "ssvc": {
                "outcome": decision.outcome.value,
                "points": [{"name": n, "value": v, "source": s} for n, v, s in decision.points],
            },
            "cvss": scores,
            "kev": kev,
            "related_records": related,
            # "Already known, published as X, fixed in Y": what the reporter and the analyst are told first.
            "published_as": published_as(known),
            "known_records": [k.to_json() for k in known],
        }
        context.triaged = f"automatic triage: {decision.outcome.value}"
        return {
            "ssvc": decision.outcome.value,
            "_columns": {"triage": triage, "ssvc": decision.outcome.value, "priority": _priority_number(priority)},
        }


def _required(context: _Context) -> Finding:
    if context.finding is None:
        raise RuntimeError("normalise did not run")
    return context.finding


def _priority_number(key: tuple[float, ...]) -> float:
    """Fold the ordered priority key into one sortable number for the queue index."""
    number = 0.0
    for part in key:
        number = number * 1000 + float(part)
    return number
