"""Accepting reports: several submissions in one transaction (group commit), each answered as if alone."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter

from clearinghouse.errors import IdempotencyConflict
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.group_commit import AcceptanceWriter
from clearinghouse.intake.service import Accepted, ReportService, Submitted
from clearinghouse.intake.submission import Submission
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import jobs, reports
from tests.api.test_reports_api import structured

_submission = TypeAdapter(Submission)


@pytest.fixture
def reporter(engine: sa.Engine) -> Principal:
    identity = IdentityStore(engine)
    identity.create_organisation("Finder Labs", OrgKind.REPORTER)
    return identity.authenticate(identity.create_token("Finder Labs", "bot", Role.REPORTER).plaintext)


def submitted(principal: Principal, title: str, key: str | None = None, body: str = "") -> Submitted:
    parsed = _submission.validate_python(structured(title=title))
    provenance = parsed.provenance.model_dump(mode="json")
    return Submitted(principal, normalise(parsed), provenance, key, f"hash-of-{title}{body}" if key else None)


def stored(engine: sa.Engine) -> tuple[set[str], int]:
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(reports.c.id)).scalars())
        queued = conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()
    return ids, queued


def test_one_transaction_accepts_many_and_answers_each(engine: sa.Engine, reporter: Principal) -> None:
    store = ReportService(engine)
    entries_before = store.audit.verify().checked
    outcomes = store.accept_many(
        [
            submitted(reporter, "Heap overflow in the parser", key="k1"),
            submitted(reporter, "Path traversal in the loader"),
            submitted(reporter, "Heap overflow in the parser", key="k1"),  # a retry within the same batch
            submitted(reporter, "Heap overflow in the parser", key="k1", body="changed"),
        ]
    )
    first, second, retry, conflict = outcomes
    assert isinstance(first, Accepted) and isinstance(second, Accepted) and isinstance(retry, Accepted)
    assert retry.replayed and retry.report_ids == first.report_ids
    assert isinstance(conflict, IdempotencyConflict)
    ids, queued = stored(engine)
    assert ids == {*first.report_ids, *second.report_ids} and queued == 2
    chain = store.audit.verify()
    assert chain.ok and chain.checked == entries_before + 2  # one entry per accepted report


def test_a_key_from_an_earlier_batch_replays_its_answer(engine: sa.Engine, reporter: Principal) -> None:
    store = ReportService(engine)
    first = submitted(reporter, "SSRF in the fetcher", key="k2")
    earlier = store.accept(first.principal, first.findings, first.provenance, "k2", first.request_hash)
    again = store.accept_many([submitted(reporter, "SSRF in the fetcher", key="k2")])[0]
    assert isinstance(again, Accepted) and again.replayed and again.report_ids == earlier.report_ids
    with pytest.raises(IdempotencyConflict, match="different request body"):
        store.accept(first.principal, first.findings, first.provenance, "k2", "another body's hash")
    assert stored(engine)[1] == 1


def test_the_writer_acknowledges_only_what_it_committed(engine: sa.Engine, reporter: Principal) -> None:
    writer = AcceptanceWriter(ReportService(engine), max_batch=8)

    async def submit_all() -> list[Accepted | BaseException]:
        pending = [writer.accept(submitted(reporter, f"Report number {n}")) for n in range(40)]
        pending.append(writer.accept(submitted(reporter, "Report number 0", key="k3")))
        pending.append(writer.accept(submitted(reporter, "Report number 0", key="k3", body="other")))
        return await asyncio.gather(*pending, return_exceptions=True)

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        writer.close()
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    assert len(accepted) == 41 and isinstance(outcomes[-1], IdempotencyConflict)
    ids, queued = stored(engine)
    assert ids == {i for o in accepted for i in o.report_ids} and len(ids) == queued == 41
    assert ReportService(engine).audit.verify().ok


def test_a_steady_stream_is_committed_in_batches_and_a_lone_report_at_once(
    engine: sa.Engine, reporter: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each commit costs the API 2-3 ms whatever its size: under a stream the writer waits for the next
    submissions (here up to a long cap, so the test does not depend on the machine's speed) rather than committing
    each alone; a submission to an idle writer waits for nothing."""
    service = ReportService(engine)
    batches: list[int] = []
    accept_many = service.accept_many

    def counted(submissions: list[Submitted], seal: bool = True) -> list[Accepted | Exception]:
        batches.append(len(submissions))
        return accept_many(submissions, seal)

    monkeypatch.setattr(service, "accept_many", counted)
    writer = AcceptanceWriter(service, max_linger=0.5)  # generous: a late-scheduled test is still a stream

    async def lone() -> float:
        started = time.monotonic()
        await writer.accept(submitted(reporter, "A lone report"))
        return time.monotonic() - started

    async def stream() -> list[Accepted]:
        pending = []
        for n in range(8):
            pending.append(asyncio.ensure_future(writer.accept(submitted(reporter, f"Streamed report {n}"))))
            await asyncio.sleep(0.002)
        return await asyncio.gather(*pending)

    try:
        waited = asyncio.run(lone())
        time.sleep(0.6)  # idle again
        accepted = asyncio.run(stream())
    finally:
        writer.close()
    assert waited < 0.25
    assert len(accepted) == 8
    # The lone report is committed alone, at once. The first of the stream comes after a quiet spell: it is
    # committed with whatever else is queued by the time the writer thread runs (on a loaded machine the second may
    # already be), and the rest, 2 ms apart, wait for each other.
    assert batches[0] == 1 and len(batches) <= 4 and sum(batches) == 9
