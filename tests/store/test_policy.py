"""The access policy: its pure decisions, and its SQL filters agreeing with its single-object answers on both
databases (a list and a single read cannot disagree)."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from clearinghouse.errors import Forbidden, Unauthenticated
from clearinghouse.identity.model import ROLES_BY_KIND, OrgKind, Principal, Role, Scope
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.intake.repository import ReportRepository
from clearinghouse.intake.service import ReportService
from clearinghouse.policy import ANONYMOUS, Actor, Operator, rules
from clearinghouse.policy.filters import record_filter
from clearinghouse.records.model import RecordStatus, Tlp
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import records
from tests.conftest import SAMPLE, sample_documents
from tests.store.test_reports import submitted


@pytest.fixture
def actors(engine: sa.Engine) -> dict[str, Actor]:
    """A principal for every role of every organisation kind, narrowed tokens, the anonymous caller, the operator."""
    identity = IdentityStore(engine)
    found: dict[str, Actor] = {"anonymous": ANONYMOUS, "operator": Operator("test")}
    for kind in OrgKind:
        sector = "energy" if kind is OrgKind.CRITICAL_INFRASTRUCTURE else None
        identity.create_organisation(f"org {kind.value}", kind, sector)
        for role in sorted(r.value for r in ROLES_BY_KIND[kind]):
            token = identity.create_token(f"org {kind.value}", role, Role(role))
            found[f"{kind.value}/{role}"] = identity.authenticate(token.plaintext)
    narrowed = identity.create_token("org clearinghouse", "narrow", Role.ANALYST, {Scope.REPORTS_SUBMIT})
    found["clearinghouse/analyst narrowed to reports:submit"] = identity.authenticate(narrowed.plaintext)
    return found


def test_staff_is_an_organisation_kind_not_a_role_name(actors: dict[str, Actor]) -> None:
    assert rules.is_staff(actors["clearinghouse/analyst"]) and rules.is_staff(actors["operator"])
    government_analyst = actors["government-evaluator/analyst"]
    assert isinstance(government_analyst, Principal) and government_analyst.role is Role.ANALYST
    assert not rules.is_staff(government_analyst)
    assert rules.record_visibility(government_analyst).labels == {Tlp.CLEAR, Tlp.GREEN}
    with pytest.raises(Forbidden):
        rules.require_triage(government_analyst)


def test_scopes_only_narrow(actors: dict[str, Actor]) -> None:
    narrowed = actors["clearinghouse/analyst narrowed to reports:submit"]
    with pytest.raises(Forbidden, match="records:read"):
        rules.record_visibility(narrowed)
    with pytest.raises(Forbidden, match="reports:read"):
        rules.report_scope(narrowed)
    rules.require_report_submitter(narrowed)
    with pytest.raises(Unauthenticated):
        rules.report_scope(ANONYMOUS)


def test_the_report_list_filter_agrees_with_single_reads(engine: sa.Engine, actors: dict[str, Actor]) -> None:
    service = ReportService(engine)
    owners: dict[str, str] = {}
    for name, actor in actors.items():
        if isinstance(actor, Principal) and Scope.REPORTS_SUBMIT in actor.scopes:
            accepted = service.accept_many([submitted(actor, f"a report from {name}")])[0]
            assert not isinstance(accepted, Exception)
            owners |= {report_id: actor.organisation.id for report_id in accepted.report_ids}
    assert len(set(owners.values())) >= 4  # reports of several organisations
    repository = ReportRepository(engine)
    for name, actor in actors.items():
        try:
            scope = rules.report_scope(actor)
        except (Forbidden, Unauthenticated):
            continue
        rows, total = repository.page(scope, None, 500, None)
        listed = {row.id for row in rows}
        readable = {report_id for report_id, owner in owners.items() if scope.admits(owner)}
        assert listed == readable and total == len(readable), name
        for report_id in owners:
            if report_id in readable:
                assert service.get(report_id, actor).id == report_id
            else:
                with pytest.raises(Exception, match="no report with id"):
                    service.get(report_id, actor)


def test_the_record_filter_agrees_with_single_reads(engine: sa.Engine, actors: dict[str, Actor]) -> None:
    ImportPipeline(RecordStore(engine)).run([SAMPLE])
    states = list(itertools.product(Tlp, RecordStatus))
    ids = [document["id"] for document in sample_documents()][: len(states)]
    with engine.begin() as conn:
        for record_id, (label, status) in zip(ids, states, strict=True):
            conn.execute(sa.update(records).where(records.c.id == record_id).values(tlp=label, status=status))
    for name, actor in actors.items():
        try:
            visibility = rules.record_visibility(actor)
        except Forbidden:
            continue
        with engine.connect() as conn:
            listed = set(
                conn.execute(
                    sa.select(records.c.id).where(
                        records.c.id.in_(ids), record_filter(visibility, records.c.tlp, records.c.status)
                    )
                ).scalars()
            )
        single = {
            record_id
            for record_id, (label, status) in zip(ids, states, strict=True)
            if visibility.admits(label, status)
        }
        assert listed == single, name
        red_embargoed = ids[states.index((Tlp.RED, RecordStatus.EMBARGOED))]
        assert (red_embargoed in single) == rules.is_staff(actor), name
