"""A reproduction end to end on the store: an analyst asks for it, the job runs it, the verdict and its evidence
land on the report, and the report's pipeline turns it into a check and SSVC's Exploitation point."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import TypeAdapter

from clearinghouse.errors import Forbidden, InvalidReproduction, NotFound
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.service import PROCESS_REPORT, ReportService
from clearinghouse.intake.submission import Submission
from clearinghouse.intake.worker import report_processing
from clearinghouse.reproduce.environments import EnvironmentBuilder
from clearinghouse.reproduce.rules import Ecosystem
from clearinghouse.reproduce.service import REPRODUCE_REPORT, ReproductionService
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from clearinghouse.store.tables import jobs
from tests.api.test_reports_api import structured
from tests.reproduce.test_oracles import REPRODUCING

POC, _ = REPRODUCING["command"]


@pytest.fixture
def people(engine: sa.Engine) -> dict[str, Principal]:
    identity = IdentityStore(engine)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    identity.create_organisation("Finder Labs", OrgKind.REPORTER)
    identity.create_organisation("Other Finder", OrgKind.REPORTER)
    tokens = {
        "analyst": ("Clearinghouse", Role.ANALYST),
        "reporter": ("Finder Labs", Role.REPORTER),
        "stranger": ("Other Finder", Role.REPORTER),
    }
    return {
        name: identity.authenticate(identity.create_token(org, name, role).plaintext)
        for name, (org, role) in tokens.items()
    }


def _queued(engine: sa.Engine, kind: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [r.payload for r in conn.execute(sa.select(jobs).where(jobs.c.kind == kind, jobs.c.status == "queued"))]


def test_a_reproduced_report_gains_credibility_and_a_poc_exploitation_point(
    engine: sa.Engine, people: dict[str, Principal], builders: dict[Ecosystem, EnvironmentBuilder]
) -> None:
    reports = ReportService(engine)
    document = structured(
        title="Template expressions run code in chvuln.render",
        affected=[{"purl": "pkg:pypi/chvuln", "versions": ["1.0"]}],
        proof_of_concept=POC,
    )
    parsed = TypeAdapter(Submission).validate_python(document)
    report_id = reports.accept(
        people["reporter"], normalise(parsed), parsed.provenance.model_dump(mode="json")
    ).report_ids[0]
    pipeline, _ = report_processing(RecordStore(engine), reports)
    assert pipeline.process(report_id)
    before = reports.get(report_id, people["analyst"])

    service = ReproductionService(engine, builders)
    with pytest.raises(Forbidden):
        service.request(people["reporter"], report_id, {"oracle": {"kind": "command"}})
    with pytest.raises(InvalidReproduction, match="oracle"):
        service.request(people["analyst"], report_id, {})
    queued = service.request(people["analyst"], report_id, {"target": {"fixed": "1.1"}, "oracle": {"kind": "command"}})
    # the target and the PoC came from the report itself
    assert queued.state == "queued" and queued.request["target"]["package"] == "chvuln"
    assert queued.request["poc"]["source"] == POC
    assert {"reproduction_id": queued.id} in _queued(engine, REPRODUCE_REPORT)

    done = service.run(queued.id)
    assert done is not None and done.verdict == "reproduced" and done.state == "done"
    assert done.observations[0].fired and not done.observations[1].fired
    assert done.packages["1.0"][0].name == "chvuln" and len(done.packages["1.1"][0].sha256) == 64
    assert service.run(queued.id) is None  # a finished reproduction never runs again

    # the report's pipeline runs again and reads the verdict
    assert {"report_id": report_id} in _queued(engine, PROCESS_REPORT)
    assert pipeline.process(report_id)
    after = reports.get(report_id, people["analyst"])
    assert after.reproduction is not None and after.reproduction["verdict"] == "reproduced"
    check = next(c for c in after.checks or [] if c.name == "reproduced")
    assert check.passed is True and "reproduced in the sandbox" in check.explanation
    assert after.credibility is not None and before.credibility is not None
    assert after.credibility > before.credibility
    exploitation = next(p for p in (after.triage or {})["ssvc"]["points"] if p["name"] == "Exploitation")
    assert exploitation["value"] == "public poc" and "reproduced in the sandbox" in exploitation["source"]

    # the reporter reads its report's reproductions; another organisation learns nothing
    assert [r.id for r in service.list_for(people["reporter"], report_id).reproductions] == [queued.id]
    with pytest.raises(NotFound):
        service.list_for(people["stranger"], report_id)
    with pytest.raises(NotFound):
        service.request(people["analyst"], "no-such-report", {"oracle": {"kind": "command"}})
    assert service.audit.verify().ok


def test_a_poc_that_does_not_reproduce_lowers_credibility(
    engine: sa.Engine, people: dict[str, Principal], builders: dict[Ecosystem, EnvironmentBuilder]
) -> None:
    reports = ReportService(engine)
    document = structured(
        title="Code execution in chvuln (it only prints the nonce)",
        affected=[{"purl": "pkg:pypi/chvuln", "versions": ["1.0"]}],
        proof_of_concept="import os\nprint(os.environ['REPRODUCE_NONCE'])",
    )
    parsed = TypeAdapter(Submission).validate_python(document)
    report_id = reports.accept(
        people["reporter"], normalise(parsed), parsed.provenance.model_dump(mode="json")
    ).report_ids[0]
    pipeline, _ = report_processing(RecordStore(engine), reports)
    pipeline.process(report_id)
    before = reports.get(report_id, people["analyst"]).credibility
    service = ReproductionService(engine, builders)
    queued = service.request(people["analyst"], report_id, {"target": {"fixed": "1.1"}, "oracle": {"kind": "command"}})
    done = service.run(queued.id)
    assert done is not None and done.verdict == "not_reproduced"
    pipeline.process(report_id)
    after = reports.get(report_id, people["analyst"])
    assert after.credibility is not None and before is not None and after.credibility < before
    # a re-run takes the earlier request's oracle and target
    again = service.request(people["analyst"], report_id, None)
    assert again.request["oracle"]["kind"] == "command" and again.request["target"]["fixed"] == "1.1"
