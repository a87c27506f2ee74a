"""The pure rules: requests are refused field by field, and two observations make exactly one verdict."""

from __future__ import annotations

from typing import Any

import pytest

from clearinghouse.errors import InvalidReproduction
from clearinghouse.reproduce.rules import MAX_POC_BYTES, Observation, Verdict, judge, parse_request


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "target": {"ecosystem": "PyPI", "package": "chvuln", "vulnerable": "1.0", "fixed": "1.1"},
        "poc": {"kind": "script", "source": "import chvuln"},
        "oracle": {"kind": "command"},
    }
    for key, value in changes.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    return body


def test_a_valid_request_parses() -> None:
    request = parse_request(_body(oracle={"kind": "exception", "exception": "yaml.YAMLError", "seconds": 2}))
    assert request.oracle.exception == "yaml.YAMLError" and request.oracle.seconds == 2.0
    assert request.target.fixed == "1.1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"oracle": None}, "oracle: an object is required"),
        ({"oracle": {"kind": "vibes"}}, "oracle.kind"),
        ({"oracle": {"kind": "exception"}}, "oracle.exception"),
        ({"oracle": {"kind": "command", "exception": "ValueError"}}, "oracle.exception"),
        ({"oracle": {"kind": "timeout", "seconds": 3600}}, "oracle.seconds"),
        ({"oracle": {"kind": "memory", "memory_mb": True}}, "oracle.memory_mb"),
        ({"oracle": {"kind": "prototype_pollution"}}, "no harness for PyPI"),
        ({"target": {"ecosystem": "Maven"}}, "target.ecosystem"),
        ({"target": {"package": "../../etc"}}, "target.package"),
        ({"target": {"vulnerable": "1.0; rm -rf /"}}, "target.vulnerable"),
        ({"target": {"extras": ["requests>=2"]}}, "target.extras"),
        ({"poc": {"source": "   "}}, "poc.source"),
        ({"poc": {"source": "x" * (MAX_POC_BYTES + 1)}}, "poc.source: larger than"),
        ({"poc": {"source": "a\x00b"}}, "NUL"),
        ({"poc": {"kind": "input", "source": "data"}}, "poc.command"),
        ({"poc": {"kind": "input", "source": "data", "command": ["sh", "-c", "cat {input}"]}}, "poc.command"),
        ({"poc": {"command": ["python", "-c", "1"]}}, "only an input PoC"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidReproduction, match=field.replace(".", r"\.").replace("(", r"\(")):
        parse_request(_body(**changes))


def test_an_input_poc_needs_python_or_node_running_code_on_the_input() -> None:
    request = parse_request(
        _body(poc={"kind": "input", "source": "[[[[", "command": ["python", "-c", "import chvuln", "{input}"]})
    )
    assert request.poc.command[-1] == "{input}"


def _seen(version: str, fired: bool, error: str | None = None) -> Observation:
    return Observation(version, fired, where="chvuln/__init__.py:3" if fired else None, detail="d", error=error)


@pytest.mark.parametrize(
    ("vulnerable", "fixed", "verdict"),
    [
        (_seen("1.0", True), _seen("1.1", False), Verdict.REPRODUCED),
        (_seen("1.0", True), _seen("1.1", True), Verdict.REPRODUCED_NOT_FIXED),
        (_seen("1.0", False), _seen("1.1", False), Verdict.NOT_REPRODUCED),
        (_seen("1.0", False), _seen("1.1", True), Verdict.NOT_REPRODUCED),
        (_seen("1.0", True), _seen("1.1", False, error="sandbox died"), Verdict.ERROR),
    ],
)
def test_two_observations_make_one_verdict(vulnerable: Observation, fixed: Observation, verdict: Verdict) -> None:
    outcome = judge(vulnerable, fixed)
    assert outcome.verdict is verdict
    if verdict is Verdict.ERROR:
        assert outcome.step is not None and "sandbox died" in outcome.reason


def test_a_fix_verification_that_still_fires_is_not_fixed() -> None:
    assert judge(_seen("1.1", True), None).verdict is Verdict.REPRODUCED_NOT_FIXED
    assert judge(_seen("1.1", False), None).verdict is Verdict.NOT_REPRODUCED
