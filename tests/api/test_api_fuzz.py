"""Property-based requests from the served OpenAPI document (schemathesis) against every operation.

Whatever a client sends, within the schema or just outside it, no endpoint answers with a server error, every
refusal is an `application/problem+json` body with a stable `code`, and every success matches the response schema
the OpenAPI document declares for it.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.identity import IdentityStore

EXAMPLES_PER_OPERATION = 30


def test_no_operation_fails_or_answers_outside_problem_json(database_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, database_url=database_url, embedded_worker=False))
    identity = IdentityStore(app.state.engine)
    identity.create_organisation("Clearinghouse", OrgKind.CLEARINGHOUSE)
    analyst = {"Authorization": f"Bearer {identity.create_token('Clearinghouse', 'ana', Role.ANALYST).plaintext}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # reports, records, clusters, frontier review

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=analyst)
            content_type = (response.headers.get("content-type") or [""])[0]
            if response.status_code >= 500:
                problems.append(f"{case.operation.label}: {response.status_code} for {case.body!r}")
            elif response.status_code >= 400 and (
                content_type != "application/problem+json" or "code" not in response.json()
            ):
                problems.append(f"{case.operation.label}: {response.status_code} {content_type} {response.text[:200]}")
            elif response.status_code < 300:
                try:
                    case.operation.validate_response(response, case=case)
                except (AssertionError, BaseExceptionGroup) as failure:  # schemathesis's Failure, FailureGroup
                    problems.append(f"{case.operation.label}: {response.status_code} off its schema: {failure}"[:500])

        call()
    assert problems == []
