"""Criteria files: schema validation with file, line and field; references, cycles; YAML 1.2 numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearinghouse.errors import InvalidCriteria
from clearinghouse.frontier.criteria import (
    AnyOf,
    BenchmarkThreshold,
    CriteriaStatus,
    Ref,
    TrainingCompute,
    load_file,
    parse,
    schema,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "frontier" / "criteria.yaml"

VALID = """\
id: test-criteria
version: 2
title: Test criteria
issuing_agencies: [DHS, Treasury, ONCD, NIST]
effective_date: 2026-08-01
status: published
supersedes: test-criteria@1
rule: covered
criteria:
  compute:
    training_compute:
      min_flop: 1e26
  cyber:
    benchmark:
      suite: clearinghouse-cyber
      metric: ctf_solve_rate
      comparison: ">="
      threshold: 0.5
  covered:
    any:
      - ref: compute
      - ref: cyber
"""


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_valid_file_builds_the_criteria() -> None:
    criteria = parse(VALID, "c.yaml")
    assert criteria.key == "test-criteria@2"
    assert criteria.status is CriteriaStatus.PUBLISHED and criteria.supersedes == "test-criteria@1"
    assert criteria.criteria["compute"] == TrainingCompute(1e26)  # `1e26` is a number, not PyYAML 1.1's string
    assert criteria.criteria["cyber"] == BenchmarkThreshold("clearinghouse-cyber", "ctf_solve_rate", ">=", 0.5)
    assert criteria.criteria["covered"] == AnyOf((Ref("compute"), Ref("cyber")))
    assert str(criteria.effective_date) == "2026-08-01"


def test_the_example_criteria_load() -> None:
    criteria = load_file(EXAMPLE)
    assert set(criteria.issuing_agencies) == {"DHS", "Treasury", "ONCD", "NIST"}
    assert criteria.rule == "covered"


def test_the_schema_is_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "words"),
    [
        ("      threshold: 0.5", "      threshold: high", "criteria.cyber.benchmark.threshold", "threshold:", "number"),
        (
            "      metric: ctf_solve_rate",
            "      metrik: ctf_solve_rate",
            "criteria.cyber.benchmark.metrik",
            "metrik",
            "unknown",
        ),
        ("status: published", "status: final", "status", "status:", "published"),
        ("version: 2", "version: two", "version", "version:", "integer"),
        ('      comparison: ">="', '      comparison: "=>"', "criteria.cyber.benchmark.comparison", "comparison", ">="),
    ],
)
def test_schema_errors_name_file_line_and_field(old: str, new: str, field: str, needle: str, words: str) -> None:
    text = replace_line(VALID, old, new)
    with pytest.raises(InvalidCriteria) as caught:
        parse(text, "bad.yaml")
    error = caught.value
    assert error.location.file == "bad.yaml"
    assert error.location.field == field
    assert error.location.line == line_of(text, needle)
    assert words in error.reason
    assert str(error).startswith(f"bad.yaml:{line_of(text, needle)}")


def test_a_criterion_with_two_kinds_is_refused() -> None:
    text = replace_line(VALID, "    training_compute:\n", "    ref: cyber\n    training_compute:\n")
    with pytest.raises(InvalidCriteria, match="exactly one of") as caught:
        parse(text, "c.yaml")
    assert caught.value.location.field == "criteria.compute"


def test_a_missing_field_is_named() -> None:
    text = replace_line(VALID, "rule: covered\n", "")
    with pytest.raises(InvalidCriteria, match="missing field: 'rule'"):
        parse(text, "c.yaml")


def test_an_unknown_ref_is_refused_at_its_line() -> None:
    text = replace_line(VALID, "      - ref: cyber", "      - ref: cybr")
    with pytest.raises(InvalidCriteria, match="unknown criterion 'cybr'") as caught:
        parse(text, "c.yaml")
    assert caught.value.location.line == line_of(text, "ref: cybr")
    assert caught.value.location.field == "criteria.covered.any[1].ref"


def test_cyclic_refs_are_refused() -> None:
    text = VALID + "  loop_a:\n    all:\n      - ref: loop_b\n  loop_b:\n    any:\n      - ref: loop_a\n"
    with pytest.raises(InvalidCriteria, match="cyclic ref: loop_a -> loop_b -> loop_a") as caught:
        parse(text, "c.yaml")
    assert caught.value.location.line == line_of(text, "ref: loop_a")


def test_a_criterion_referring_to_itself_is_a_cycle() -> None:
    text = VALID + "  selfish:\n    ref: selfish\n"
    with pytest.raises(InvalidCriteria, match="cyclic ref: selfish -> selfish"):
        parse(text, "c.yaml")


def test_the_rule_must_name_a_criterion() -> None:
    text = replace_line(VALID, "rule: covered", "rule: nothing")
    with pytest.raises(InvalidCriteria, match="rule names 'nothing'") as caught:
        parse(text, "c.yaml")
    assert caught.value.location.line == line_of(text, "rule:")


def test_yaml_syntax_errors_and_duplicate_keys_name_the_line() -> None:
    with pytest.raises(InvalidCriteria, match="not valid YAML") as caught:
        parse(VALID + "  broken: [unclosed\n", "c.yaml")
    assert caught.value.location.line is not None
    text = replace_line(VALID, "version: 2\n", "version: 2\nversion: 3\n")
    with pytest.raises(InvalidCriteria, match="duplicate key 'version'") as caught:
        parse(text, "c.yaml")
    assert caught.value.location.line == 3


def test_a_bad_date_is_refused() -> None:
    text = replace_line(VALID, "effective_date: 2026-08-01", "effective_date: 2026-13-45")
    with pytest.raises(InvalidCriteria) as caught:
        parse(text, "c.yaml")
    assert caught.value.location.field == "effective_date"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidCriteria, match="cannot read") as caught:
        load_file(tmp_path / "missing.yaml")
    assert caught.value.location.file == str(tmp_path / "missing.yaml")


def test_the_schema_itself_is_valid() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
