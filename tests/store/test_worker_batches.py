"""Report processing in batches by several workers at once (issue 16): no report is processed twice, each batch's
results are written with its jobs' completion, and each worker's duplicate index learns what the others commit."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.pipeline import ReportPipeline
from clearinghouse.intake.service import PROCESS_REPORT, ReportService
from clearinghouse.intake.worker import Worker
from clearinghouse.store.db import create_engine
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.jobs import enqueue
from clearinghouse.store.tables import audit_log, jobs, reports
from clearinghouse.workers import build_worker
from tests.store.test_reports import reporter, submitted

__all__ = ["reporter"]  # a fixture, used by name

WORKERS = 4
REPORTS = 120


def accept(engine: sa.Engine, principal: Principal, titles: Sequence[str]) -> list[str]:
    outcomes = ReportService(engine).accept_many([submitted(principal, title) for title in titles])
    return [report_id for outcome in outcomes if not isinstance(outcome, Exception) for report_id in outcome.report_ids]


def counting(pipeline: ReportPipeline, seen: Counter[str], lock: threading.Lock) -> None:
    """Count every report a pipeline runs its steps on (whether or not its result is then written)."""
    normalise = pipeline._normalise

    def counted(context: Any) -> dict[str, Any]:
        with lock:
            seen[context.report_id] += 1
        return normalise(context)

    pipeline._normalise = counted  # type: ignore[method-assign]


def state_entries(engine: sa.Engine) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.subject_id).where(audit_log.c.action == "report.state")).scalars()
        return Counter(rows)


def test_several_workers_never_process_a_report_twice(
    database_url: str, engine: sa.Engine, reporter: Principal
) -> None:
    ids = accept(engine, reporter, [f"Heap overflow number {n} in the parser" for n in range(REPORTS)])
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    # One engine per worker, as in separate processes: each its own connections, pipeline and duplicate index.
    engines = [create_engine(database_url) for _ in range(WORKERS)]
    workers: list[Worker] = []
    for own in engines:
        pipeline, worker = build_worker(own)
        worker.batch = 16  # several batches each, so the workers interleave
        counting(pipeline, seen, lock)
        workers.append(worker)
    start = threading.Barrier(WORKERS)
    ran: list[int] = []

    def drain(worker: Worker) -> None:
        start.wait()
        ran.append(worker.run_until_idle())

    threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for own in engines:
        own.dispose()

    assert sum(ran) == REPORTS
    assert sorted(seen) == sorted(ids) and set(seen.values()) == {1}
    assert state_entries(engine) == Counter(dict.fromkeys(ids, 1))  # each moved to triaged once, by one worker
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(jobs.c.status)).scalars()) == {"done"}
        assert set(conn.execute(sa.select(reports.c.state)).scalars()) == {"triaged"}
    assert ReportService(engine).audit.verify().ok


def test_results_of_a_job_another_worker_took_over_are_not_written(engine: sa.Engine, reporter: Principal) -> None:
    [report_id] = accept(engine, reporter, ["Use after free in the decoder"])
    slow_pipeline, slow = build_worker(engine)
    slow_claimed = slow.queue.claim(slow.name, 10)
    # Its lease runs out (the worker stalled): another worker takes the job and finishes it.
    with engine.begin() as conn:
        conn.execute(sa.update(jobs).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    _, fast = build_worker(engine)
    assert fast.run_until_idle() == 1
    seen: Counter[str] = Counter()
    counting(slow_pipeline, seen, threading.Lock())
    slow._run_batch(slow_claimed[0].kind, slow_claimed)  # the stalled worker comes back and finishes its batch

    assert seen[report_id] == 1  # it ran the steps ...
    assert state_entries(engine) == Counter({report_id: 1})  # ... but only the worker holding the job wrote
    with engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.status, jobs.c.locked_by)).one() == ("done", fast.name)


def test_a_worker_finds_duplicates_of_reports_other_workers_processed(engine: sa.Engine, reporter: Principal) -> None:
    first_pipeline, first = build_worker(engine)
    second_pipeline, second = build_worker(engine)
    for pipeline in (first_pipeline, second_pipeline):
        pipeline.duplicates.warm()  # both indexes built before either report exists
    [original] = accept(engine, reporter, ["Integer overflow in the image decoder"])
    assert first.run_until_idle() == 1
    [copy] = accept(engine, reporter, ["Integer overflow in the image decoder"])
    assert second.run_until_idle() == 1

    with engine.connect() as conn:
        duplicates = conn.execute(sa.select(reports.c.duplicates).where(reports.c.id == copy)).scalar_one()
    assert duplicates["exact_duplicate_of"] == original
    assert duplicates["cluster_id"] == original


@pytest.mark.parametrize("size", [1, 7])
def test_a_failing_report_fails_alone_in_its_batch(engine: sa.Engine, reporter: Principal, size: int) -> None:
    ids = accept(engine, reporter, [f"Race condition {n} in the scheduler" for n in range(size)])
    pipeline, worker = build_worker(engine)
    broken = ids[0]
    triage: Callable[..., object] = pipeline._triage

    def failing(context: object) -> object:
        if getattr(context, "report_id", None) == broken:
            raise RuntimeError("triage could not run")
        return triage(context)

    pipeline._triage = failing  # type: ignore[method-assign,assignment]
    assert worker.run_until_idle() == size
    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(sa.select(reports.c.id, reports.c.state, reports.c.pipeline))}
    assert rows[broken].state == "received"
    assert rows[broken].pipeline["triage"] == {
        "ok": False,
        "ms": rows[broken].pipeline["triage"]["ms"],
        "error": "RuntimeError: triage could not run",
    }
    assert all(rows[i].state == "triaged" for i in ids[1:])


def test_a_malformed_job_fails_alone_and_its_batch_goes_on(engine: sa.Engine, reporter: Principal) -> None:
    ids = accept(engine, reporter, ["Stack overflow in the tokenizer"])
    with engine.begin() as conn:
        enqueue(conn, PROCESS_REPORT, {"report": "not the field"})
    _, worker = build_worker(engine)
    assert worker.run_once() == 2
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(jobs.c.payload["report_id"].as_string(), jobs.c.status)).all())
        errors = list(conn.execute(sa.select(jobs.c.last_error).where(jobs.c.status != "done")).scalars())
        triaged = conn.execute(sa.select(reports.c.state).where(reports.c.id == ids[0])).scalar_one()
    assert triaged == "triaged" and states[ids[0]] == "done"
    assert errors == ["a process-report job needs a report_id string, not None"]  # retried later, then failed


def test_a_copy_in_the_same_batch_joins_its_originals_cluster(engine: sa.Engine, reporter: Principal) -> None:
    """The original's cluster, not the original: within one batch nothing is in the store yet, and asking the store
    split a flood of copies into a cluster per batch."""
    _, worker = build_worker(engine)
    [earliest] = accept(engine, reporter, ["Integer overflow in the PNG image decoder when reading chunk sizes"])
    assert worker.run_until_idle() == 1
    near, copy = accept(
        engine,
        reporter,
        ["Integer overflow in the PNG image decoder when reading chunk lengths"] * 2,
    )
    assert worker.run_until_idle() == 2  # one batch
    with engine.connect() as conn:
        rows = conn.execute(sa.select(reports.c.id, reports.c.duplicates).where(reports.c.id.in_([near, copy])))
        found = {row.id: row.duplicates for row in rows}
    assert found[near]["cluster_id"] == earliest  # a near duplicate of the earliest report
    assert found[copy]["exact_duplicate_of"] == near
    assert found[copy]["cluster_id"] == earliest


def test_copies_join_the_cluster_their_original_is_in_now(engine: sa.Engine, reporter: Principal) -> None:
    """An analyst merged the original into another cluster before its copies came: the copies (one joining the
    original, the next joining that copy in the same batch) join the cluster as it is stored now, read once for
    the batch."""
    identity = IdentityStore(engine)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    analyst = identity.authenticate(identity.create_token("Clearinghouse", "ana", Role.ANALYST).plaintext)
    _, worker = build_worker(engine)
    earliest, other = accept(
        engine,
        reporter,
        [
            "Integer overflow in the PNG image decoder when reading chunk sizes",
            "Server-side template injection through the theme preview of the admin panel",
        ],
    )
    assert worker.run_until_idle() == 2
    service = ReportService(engine)
    service.split_cluster(analyst, other, "another root cause")  # they share a description
    service.merge_clusters(analyst, earliest, other, "one root cause after all")
    near, copy = accept(engine, reporter, ["Integer overflow in the PNG image decoder when reading chunk lengths"] * 2)
    asked: list[set[str]] = []
    clusters_of = ReportService.clusters_of

    def counted(self: ReportService, report_ids: set[str]) -> dict[str, str | None]:
        asked.append(set(report_ids))
        return clusters_of(self, report_ids)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReportService, "clusters_of", counted)
        assert worker.run_until_idle() == 2  # one batch
    with engine.connect() as conn:
        rows = conn.execute(sa.select(reports.c.id, reports.c.cluster_id).where(reports.c.id.in_([near, copy])))
        found = {row.id: row.cluster_id for row in rows}
    assert found == {near: other, copy: other}
    assert asked == [{earliest}]
