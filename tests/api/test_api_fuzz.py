"""Property-based requests from the served OpenAPI document (schemathesis) against every operation.

Whatever a client sends, within the schema or just outside it, no endpoint answers with a server error, every
refusal is an `application/problem+json` body with a stable `code`, and every success matches the response schema
the OpenAPI document declares for it. Each operation is called as a principal the permission table
(`permission_table.py`) admits to it, so the examples reach the operation's own code: every operation answers at
least one example with something other than 401 or 403 (a body may still be refused, e.g. a restricted
self-assessment), and none answers 401.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.store.identity import IdentityStore
from tests.api import permission_table as table

EXAMPLES_PER_OPERATION = 30


def test_no_operation_fails_or_answers_outside_problem_json(database_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path, database_url=database_url, embedded_worker=False, rate_limits=False))
    identity = IdentityStore(app.state.engine)
    for name, kind, sector in table.ORGANISATIONS.values():
        identity.create_organisation(name, kind, sector)
    headers: dict[str, dict[str, str]] = {}
    for principal, (org, role, scopes) in table.TOKENS.items():
        grant = identity.create_token(table.ORGANISATIONS[org][0], principal, role, scopes)
        headers[principal] = {"Authorization": f"Bearer {grant.plaintext}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    problems: list[str] = []
    refused: list[str] = []
    reached: set[str] = set()
    callers: dict[str, dict[str, str]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # reports, records, clusters, frontier review

    for operation in operations:
        row = table.TABLE[f"{operation.method.upper()} {operation.path}"]
        # The first token the table admits (with no header, schemathesis would make up a bearer token).
        callers[operation.label] = headers[next(p for p in table.TOKENS if p in row.callers)]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=callers[case.operation.label])
            content_type = (response.headers.get("content-type") or [""])[0]
            if response.status_code == 401:
                refused.append(f"{case.operation.label}: {response.status_code} {response.text[:200]}")
            elif response.status_code != 403:
                reached.add(case.operation.label)
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
    assert refused == []
    assert sorted({operation.label for operation in operations} - reached) == [], "operations never reached"
