"""De-duplication of incoming reports against earlier reports and published records.

Three kinds of evidence, strongest first: the same canonical content hash (exact duplicate), a shared
identifier (CVE, GHSA or any record id or alias), and near-duplicate text on the same package with
agreeing versions, CWE and code location (`intake.dedup`). A report joins the cluster of its best earlier
match above the threshold; analysts confirm, split or merge clusters afterwards.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from clearinghouse.intake import dedup
from clearinghouse.intake.findings import Finding
from clearinghouse.intake.service import ReportService
from clearinghouse.store.records import RecordStore

NEAR_DUPLICATE_THRESHOLD = 0.6
MAX_CANDIDATES = 10
_KEPT_FINGERPRINTS = 1024  # more than a batch holds
# A worker shares its reports' fingerprints while it has seen another worker's report this recently: alone, storing
# them cost it about 0.15 ms a report for nothing (bench/worker_scale.py, one worker).
SHARE_FOR = 60.0


def finding_fingerprint(finding: Finding) -> dedup.Fingerprint:
    return dedup.fingerprint(
        finding.title,
        finding.description,
        [(p.ecosystem or "", p.name) for p in finding.packages],
        [v for p in finding.packages for v in p.versions],
        list(finding.cwes),
        list(finding.locations),
        finding.identifiers,
    )


def shared_form(content_hash: str, identifiers: Iterable[str], fingerprint: dedup.Fingerprint) -> bytes:
    """What another worker's index needs of a report (`from_shared_form`), as stored with its pipeline run."""
    return orjson.dumps([content_hash, list(identifiers), dedup.fingerprint_to_plain(fingerprint)])


def from_shared_form(data: bytes) -> tuple[str, tuple[str, ...], dedup.Fingerprint] | None:
    """(content hash, identifiers, fingerprint) from `shared_form`'s bytes; None if this code cannot read them (a
    worker of another release wrote them), and the report is fingerprinted from its submission instead."""
    try:
        content_hash, identifiers, plain = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    fingerprint = dedup.fingerprint_from_plain(plain)
    if fingerprint is None or not isinstance(content_hash, str) or not isinstance(identifiers, list):
        return None
    return content_hash, tuple(map(str, identifiers)), fingerprint


class DuplicateFinder:
    """Keeps an in-memory index of published records and earlier reports, built on first use, and kept up to date
    with the reports other workers triage (`sync`, which each batch calls first).

    On PostgreSQL (`share`), each report's fingerprint is stored with its pipeline run (`shared_form`), so the
    other workers' `sync` reads and adds it instead of fingerprinting the report again: with N workers each report
    was fingerprinted N times (about 0.4 ms each). A worker shares only while it sees other workers' reports
    (`SHARE_FOR`); until a newcomer is seen, the newcomer fingerprints what it reads. SQLite runs one worker, which
    has nothing to share; a second one there still works, fingerprinting the reports the first triaged.
    """

    def __init__(self, records: RecordStore, reports: ReportService, share: bool | None = None) -> None:
        self.records = records
        self.reports = reports
        self.share = reports.engine.dialect.name == "postgresql" if share is None else share
        self._lock = threading.Lock()
        self._index: dedup.DedupIndex | None = None
        self._by_hash: dict[str, str] = {}
        self._by_identifier: dict[str, set[str]] = {}
        self._position = 0  # the audit entry up to which other processes' triaged reports are indexed
        # The pipeline asks about each finding of a batch twice (find, then text_similarity): fingerprinted once,
        # kept until the next batch (by object identity, the finding held so its id is not reused meanwhile).
        self._fingerprints: dict[int, tuple[Finding, dedup.Fingerprint]] = {}
        # The clusters this finder gave the reports of the batch in hand (not committed yet, so not in the store):
        # a later copy in the same batch joins its original's cluster, not the original itself. A report joining an
        # earlier batch's report joins that report's stored cluster, read for the whole batch by `settle` (`_joins`:
        # report -> the stored report it joins; its `_assigned` cluster stands in until then).
        self._assigned: dict[str, str] = {}
        self._shared: dict[str, bytes] = {}  # the batch in hand's reports' shared forms (`shared`), by report id
        self._others_seen = float("-inf")  # when `sync` last found another worker's report
        self._joins: dict[str, str] = {}

    def _fingerprint(self, finding: Finding) -> dedup.Fingerprint:
        kept = self._fingerprints.get(id(finding))
        if kept is None or kept[0] is not finding:
            if len(self._fingerprints) >= _KEPT_FINGERPRINTS:
                self._fingerprints.clear()
            kept = self._fingerprints[id(finding)] = (finding, finding_fingerprint(finding))
        return kept[1]

    def sync(self) -> int:
        """Index the reports other workers triaged since the last sync (read from the audit log, whose entries are
        numbered in commit order); how many were new here. Cost follows what changed, not the store's size: this
        worker's own reports are passed over unread, and others' are read as the fingerprints their workers stored."""
        with self._lock:
            if self._index is None:
                self._ensure_index()
                return 0
            self._fingerprints.clear()
            self._assigned.clear()
            self._shared.clear()
            self._joins.clear()
            triaged, self._position = self.reports.triaged_since(self._position)
            index = self._index
            new = [report_id for report_id in dict.fromkeys(triaged) if f"report:{report_id}" not in index]
            if not new:
                return 0
            self._others_seen = time.monotonic()
            found: dict[str, tuple[str, Sequence[str], dedup.Fingerprint]] = {}
            if self.share:
                for report_id, data in self.reports.shared_fingerprints(new).items():
                    if (parts := from_shared_form(data)) is not None:
                        found[report_id] = parts
            # Stored before 0017, by another release, or on SQLite: fingerprinted here from the submission.
            for report_id, finding in self.reports.findings([i for i in new if i not in found]).items():
                found[report_id] = (finding.content_hash, finding.identifiers, finding_fingerprint(finding))
            remembered = [report_id for report_id in new if report_id in found]  # gone meanwhile: left out
            for report_id in remembered:  # in commit order: the first of two exact copies is the one others join
                self._remember(report_id, *found[report_id])
            return len(remembered)

    def _ensure_index(self) -> dedup.DedupIndex:
        if self._index is None:
            # Read before the reports: anything triaged while they are read is found again by `sync`.
            self._position = self.reports.audit_position()
            index = dedup.DedupIndex()
            for record in self.records.iter_records(keep=True):  # the pipeline's triage reads them next
                index.add(f"record:{record.id}", dedup.fingerprint_osv(record.osv))
            self._index = index
            for report_id, finding in self.reports.processed_findings():
                self._remember(report_id, finding.content_hash, finding.identifiers, finding_fingerprint(finding))
        return self._index

    def warm(self) -> None:
        """Build the index now rather than on the first report."""
        with self._lock:
            self._ensure_index()

    def _remember(
        self, report_id: str, content_hash: str, identifiers: Iterable[str], fingerprint: dedup.Fingerprint
    ) -> None:
        if self._index is None:
            raise RuntimeError("the duplicate index is built before reports are remembered")
        # A reprocessed (or re-run after a crash) report is already indexed; its submission never changes.
        if f"report:{report_id}" not in self._index:
            self._index.add(f"report:{report_id}", fingerprint)
        self._by_hash.setdefault(content_hash, report_id)
        for identifier in identifiers:
            self._by_identifier.setdefault(identifier, set()).add(report_id)

    def shared(self, report_id: str) -> bytes | None:
        """The shared form of a report of the batch in hand that `find` de-duplicated, to be stored with its run
        (None when nothing is shared, as on SQLite)."""
        return self._shared.get(report_id)

    def text_similarity(self, finding: Finding, record_ids: Sequence[str]) -> dict[str, float]:
        """How alike the finding's text is to each given stored record's (templates discounted), 0 where the two
        cannot be one vulnerability (distinct CVE ids, different packages of one ecosystem)."""
        found: dict[str, float] = {}
        with self._lock:
            index = self._ensure_index()
            query = self._fingerprint(finding)
            for record_id in record_ids:
                key = f"record:{record_id}"
                if key in index:
                    found[record_id] = index.text_agreement(query, key)
        return found

    def find(self, report_id: str, finding: Finding, named: Sequence[str] | None = None) -> dict[str, Any]:
        """Candidates and cluster for a report; `named`: the records its identifiers name, if already read."""
        with self._lock:
            index = self._ensure_index()
            candidates: dict[str, dict[str, Any]] = {}
            content_hash = finding.content_hash
            exact = self._by_hash.get(content_hash)
            if exact and exact != report_id:
                candidates[f"report:{exact}"] = {"score": 1.0, "evidence": {"exact": "same canonical content hash"}}
            # Every report naming one of its ids is a candidate at 0.95, by id; only the first MAX_CANDIDATES can be
            # shown (ties keep their order, and nothing before them scores less), so only those are written out: the
            # others are kept from the near-duplicate search's candidates (`linked`), as their entries would have
            # been. In a flood of copies naming one CVE, writing out and ranking every earlier copy grew each
            # report's cost with the flood.
            linked: list[set[str]] = []
            for identifier in finding.identifiers:
                others = self._by_identifier.get(identifier, set())
                linked.append(others)
                # One more than the list holds: enough to fill it past this report and the entries already in it.
                for other in heapq.nsmallest(MAX_CANDIDATES + 1, others):
                    if len(candidates) >= MAX_CANDIDATES:
                        break
                    if other != report_id:
                        candidates.setdefault(
                            f"report:{other}", {"score": 0.95, "evidence": {"identifier": identifier}}
                        )
            if named is None:
                named = self.records.records_naming(list(finding.identifiers))
            for record_id in named:
                candidates.setdefault(f"record:{record_id}", {"score": 0.95, "evidence": {"identifier": record_id}})
            fingerprint = self._fingerprint(finding)
            for candidate in index.candidates(fingerprint, MAX_CANDIDATES):
                key = candidate.other_id
                if key != f"report:{report_id}" and candidate.score >= NEAR_DUPLICATE_THRESHOLD:
                    if key.startswith("report:") and any(key.removeprefix("report:") in ids for ids in linked):
                        continue  # linked by an id: its place is among those (or past the shown ones)
                    candidates.setdefault(key, {"score": candidate.score, "evidence": candidate.evidence})
            ranked = sorted(candidates.items(), key=lambda item: -float(item[1]["score"]))[:MAX_CANDIDATES]
            best_report = next((key.removeprefix("report:") for key, _ in ranked if key.startswith("report:")), None)
            cluster_id = report_id
            if best_report in self._assigned:  # a report of this batch
                cluster_id = self._assigned[best_report]
                if best_report in self._joins:
                    self._joins[report_id] = self._joins[best_report]
            elif best_report is not None:
                cluster_id = self._joins[report_id] = best_report
            self._assigned[report_id] = cluster_id
            self._remember(report_id, content_hash, finding.identifiers, fingerprint)
            if self.share and time.monotonic() - self._others_seen < SHARE_FOR:
                self._shared[report_id] = shared_form(content_hash, finding.identifiers, fingerprint)
        return {
            "candidates": [{"id": key, **value} for key, value in ranked],
            "cluster_id": cluster_id,
            "exact_duplicate_of": exact if exact != report_id else None,
        }

    def settle(self) -> dict[str, str]:
        """The clusters of the batch's reports that joined an earlier batch's report: that report's cluster as
        stored now (analysts split and merge clusters in the store: a copy kept here could be stale), in one read
        for the batch; report id -> cluster id."""
        with self._lock:
            joins = dict(self._joins)
        stored = self.reports.clusters_of(set(joins.values())) if joins else {}
        return {report_id: stored.get(joined) or joined for report_id, joined in joins.items()}
