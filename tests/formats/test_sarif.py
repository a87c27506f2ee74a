"""SARIF 2.1.0 parsing on real bandit and semgrep output, and precise errors for broken logs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.errors import InvalidRecord
from clearinghouse.formats import sarif
from clearinghouse.intake.checks import KnownFacts, run_checks
from clearinghouse.intake.findings import from_sarif
from clearinghouse.intake.submission import SarifSubmission

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_bandit_results_resolve_rules_cwes_and_locations() -> None:
    findings = sarif.parse(load("bandit-1.9.4.sarif"))
    assert [(f.rule_id, f.cwes, f.locations, f.level) for f in findings] == [
        ("B403", ["CWE-502"], ["app.py:1"], "note"),
        ("B404", ["CWE-78"], ["app.py:2"], "note"),
        ("B301", ["CWE-502"], ["app.py:7"], "warning"),
        ("B602", ["CWE-78"], ["app.py:11"], "error"),
        ("B608", ["CWE-89"], ["app.py:15"], "warning"),
    ]
    assert all(f.tool == "Bandit" for f in findings)
    assert findings[3].title.startswith("B602: subprocess call with shell=True")


def test_semgrep_results_take_cwes_from_rule_tags() -> None:
    findings = sarif.parse(load("semgrep-1.182.0.sarif"))
    assert [(f.rule_id, f.cwes, f.locations) for f in findings] == [
        ("subprocess-shell-true", ["CWE-78"], ["app.py:11"]),
        ("sql-string-format", ["CWE-89"], ["app.py:15"]),
    ]
    assert "Semgrep Finding" not in findings[0].title


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda log: log.update(version="2.0.0"), "$.version", "2.1.0"),
        (lambda log: log["runs"][0]["tool"]["driver"].pop("name"), "$.runs[0].tool.driver.name", "required"),
        (lambda log: log["runs"][0]["results"][0].pop("message"), "$.runs[0].results[0].message", "required"),
        (lambda log: log["runs"][0]["results"][0].update(ruleIndex=99), "$.runs[0].results[0].ruleIndex", "past"),
        (lambda log: log["runs"][0]["results"][0].update(level="fatal"), "$.runs[0].results[0].level", ""),
    ],
)
def test_broken_logs_name_the_field(change: Any, field: str, words: str) -> None:
    log = copy.deepcopy(load("bandit-1.9.4.sarif"))
    change(log)
    with pytest.raises(InvalidRecord) as caught:
        sarif.parse(log)
    assert caught.value.location.field == field
    assert words in caught.value.message


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=15,
    )
)
def test_any_json_is_parsed_or_refused_cleanly(document: Any) -> None:
    try:
        sarif.parse(document)
    except InvalidRecord as error:
        assert error.message


def _plausibility(log: dict[str, Any]) -> list[tuple[bool | None, str]]:
    submission = SarifSubmission.model_validate({"kind": "sarif", "provenance": {"origin": "human"}, "sarif": log})
    signals = [run_checks(finding, KnownFacts()) for finding in from_sarif(submission)]
    return [(s.passed, s.explanation) for found in signals for s in found if s.name == "locations-plausible"]


def test_bandit_run_on_an_absolute_path_reads_as_the_relative_run_and_passes_the_checks() -> None:
    # `bandit -f sarif -r /tmp/scan/vulnapp` (bandit 1.9.4): every location is file:///tmp/scan/vulnapp/app.py.
    absolute = load("bandit-1.9.4-absolute.sarif")
    relative = load("bandit-1.9.4.sarif")
    assert [f.locations for f in sarif.parse(absolute)] == [f.locations for f in sarif.parse(relative)]
    assert {value for value, _ in _plausibility(absolute)} == {True}


def test_locations_are_resolved_against_the_runs_original_uri_base_ids() -> None:
    log = copy.deepcopy(load("semgrep-1.182.0.sarif"))
    run = log["runs"][0]
    run["originalUriBaseIds"] = {
        "REPO": {"uri": "file:///home/dev/project/"},
        "%SRCROOT%": {"uri": "src/", "uriBaseId": "REPO"},
    }
    run["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"] = {
        "uri": "file:///home/dev/project/src/db%20layer/query.py"
    }
    assert [f.locations for f in sarif.parse(log)] == [["src/app.py:11"], ["src/db layer/query.py:15"]]
    # A location outside every base and the scanned tree stays absolute, and the check still says so.
    run["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"] = {"uri": "file:///etc/passwd"}
    assert sarif.parse(log)[1].locations == ["/etc/passwd:15"]
    assert _plausibility(log)[1][0] is False
