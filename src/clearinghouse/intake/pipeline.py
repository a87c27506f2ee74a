"""The intake pipeline for a batch of reports: normalise -> check -> deduplicate -> triage, for each.

Each step is timed and its outcome stored on the report. A failing step marks the report (with the step and
the error) and stops there; the report itself is never lost and can be reprocessed, and the other reports of its
batch go on. A batch is read in one query and its outcomes written in one transaction (one commit and one audit
append for the batch, not one per report, which is what let processing keep pace with intake): a worker that
dies mid-batch leaves its reports as they were, and their jobs are run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import NotFound
from clearinghouse.intake.checks import KnownFacts, run_checks
from clearinghouse.intake.findings import Finding
from clearinghouse.intake.known_records import KnownRecordMatcher, StoredFacts, published_as, similar_records
from clearinghouse.intake.service import PipelineRun, ReportService, finding_from_json
from clearinghouse.intake.triage import credibility, decide, derive_decision_points, priority_key
from clearinghouse.records.severity import base_score
from clearinghouse.store.records import RecordStore

log = logging.getLogger("clearinghouse.intake")
PIPELINE_ACTOR = "clearinghouse-pipeline"


@dataclass
class _Context:
    report_id: str
    submission: dict[str, Any]
    provenance: dict[str, Any]
    reproduction: dict[str, Any] | None  # the latest reproduction's verdict (issue 17)
    finding: Finding | None = None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> its outcome and timing
    columns: dict[str, Any] = field(default_factory=dict)  # report columns the steps set
    known_packages: dict[tuple[str, str], bool] = field(default_factory=dict)  # read once for the batch
    named: list[str] = field(default_factory=list)  # records the report's identifiers name, read for the batch
    kev: frozenset[str] = frozenset()  # CVE ids CISA KEV lists, read for the batch
    credibility: float = 0.0
    triaged: str | None = None  # the reason for the move to triaged, once triage has decided
    similar_records: dict[str, float] = field(default_factory=dict)  # record id -> score, text alike, same package
    facts: StoredFacts | None = None  # the stored records triage matches the report to, read for the batch


class ReportPipeline:
    steps = ("normalise", "check", "deduplicate", "triage")

    def __init__(self, records: RecordStore, reports: ReportService, duplicates: Any) -> None:
        self.records = records
        self.reports = reports
        self.duplicates = duplicates  # intake.dedup_service.DuplicateFinder
        self.known = KnownRecordMatcher(records)

    def process(self, report_id: str) -> bool:
        """Run every step on one report; False if one failed (recorded on the report)."""
        outcome = self.process_batch([report_id])
        if report_id not in outcome:
            raise NotFound(f"no report with id {report_id!r}")
        return outcome[report_id]

    def process_batch(
        self, report_ids: Sequence[str], finish: Callable[[sa.Connection], Collection[str]] | None = None
    ) -> dict[str, bool]:
        """Run every step on each report, then store every outcome in one transaction; for each report written,
        whether all its steps passed. `finish` (see `ReportService.record_pipelines`) says, inside that
        transaction, which reports' runs may still be written."""
        self.duplicates.sync()  # what other workers committed since the last batch
        started = time.perf_counter()
        ordered = list(dict.fromkeys(report_ids))
        submissions = self.reports.for_processing_many(ordered)
        read_ms = (time.perf_counter() - started) * 1000 / max(1, len(submissions))
        # In the order given (the queue's: oldest first), so an earlier report is the one a later copy joins.
        contexts = [_Context(i, *submissions[i]) for i in ordered if i in submissions]
        runners: dict[str, Callable[[_Context], dict[str, Any]]] = {
            "normalise": self._normalise,
            "check": self._check,
            "deduplicate": self._deduplicate,
            "triage": self._triage,
        }
        # Step by step over the batch, so that what a step needs from the store is read once for all reports.
        running = contexts
        for step in self.steps:
            if step == "check":
                self._read_known_packages(running)
            elif step == "deduplicate":
                self._read_named_records(running)
            elif step == "triage" and running:
                kev = self.records.kev_ids()
                facts = self.known.read((_required(c), [*c.similar_records, *c.named]) for c in running)
                for context in running:
                    context.kev, context.facts = kev, facts
            running = [context for context in running if self._step(step, runners[step], context, read_ms)]
            if step == "deduplicate":
                self._settle_clusters(running)
        runs = [PipelineRun(c.report_id, c.outcomes, c.columns, c.triaged) for c in contexts]
        written = self.reports.record_pipelines(runs, PIPELINE_ACTOR, finish)
        passed = {c.report_id: all(step["ok"] for step in c.outcomes.values()) for c in contexts}
        return {report_id: passed[report_id] for report_id in written}

    @staticmethod
    def _step(step: str, runner: Callable[[_Context], dict[str, Any]], context: _Context, read_ms: float) -> bool:
        """Run one step on one report, recording its outcome; False if it failed (the report stops there)."""
        started = time.perf_counter()
        try:
            outcome = runner(context)
        except Exception as exc:  # recorded on the report; the job itself completes
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            log.exception("report %s: step %s failed", context.report_id, step)
            context.outcomes[step] = {"ok": False, "ms": elapsed, "error": f"{exc.__class__.__name__}: {exc}"}
            return False
        # The batch's one read is shared out: normalise's time includes the report's part of it.
        elapsed = round((time.perf_counter() - started) * 1000 + (read_ms if step == "normalise" else 0.0), 2)
        context.columns.update(outcome.pop("_columns", {}))
        context.outcomes[step] = {"ok": True, "ms": elapsed, **outcome}
        return True

    def _read_named_records(self, contexts: Sequence[_Context]) -> None:
        naming = self.records.records_naming_each(i for c in contexts for i in _required(c).identifiers)
        for context in contexts:
            named = {record_id for i in _required(context).identifiers for record_id in naming.get(i, ())}
            context.named = sorted(named)

    def _read_known_packages(self, contexts: Sequence[_Context]) -> None:
        pairs = {(p.ecosystem, p.name) for c in contexts for p in _required(c).packages if p.ecosystem}
        known = self.records.packages_known(pairs)
        for context in contexts:
            context.known_packages = known

    def _settle_clusters(self, contexts: Sequence[_Context]) -> None:
        """The stored clusters the batch's reports joined, read once for the batch (see `DuplicateFinder.settle`)."""
        settled = self.duplicates.settle()
        for context in contexts:
            if (cluster_id := settled.get(context.report_id)) is not None:
                context.columns["cluster_id"] = context.columns["duplicates"]["cluster_id"] = cluster_id

    def _normalise(self, context: _Context) -> dict[str, Any]:
        context.finding = finding_from_json(context.submission)
        return {"packages": len(context.finding.packages), "identifiers": list(context.finding.identifiers)}

    def _check(self, context: _Context) -> dict[str, Any]:
        finding = _required(context)
        provenance = context.provenance
        known = {
            f"{p.ecosystem}/{p.name}": context.known_packages[p.ecosystem, p.name]
            if (p.ecosystem, p.name) in context.known_packages
            else self.records.package_known(p.ecosystem, p.name)  # an unknown ecosystem: refused as before
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
        result = self.duplicates.find(context.report_id, finding, context.named)
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
        named = context.named
        known = self.known.match(finding, context.similar_records, named, self._text_scores(finding), context.facts)
        related = list(dict.fromkeys([*named, *(k.record_id for k in known)]))
        # A matched record's id and aliases are at hand; only named records not linked (not public) are looked up.
        identifiers = set(finding.identifiers).union(*({k.record_id, *k.aliases} for k in known))
        identifiers |= set(self.records.identifiers_of([i for i in named if i not in {k.record_id for k in known}]))
        # A published record the report matches brings its own identifiers, so its KEV listing is SSVC's
        # Exploitation input for the report too.
        kev = sorted(identifiers & context.kev)
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
