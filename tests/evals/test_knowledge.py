"""Knowledge tasks from real advisories: reproducible seeded draws, no answer in any prompt, per-task scorers,
and an end-to-end Inspect run with mockllm giving right and wrong answers.

mockllm counts tokens with tiktoken, which downloads its encoding on first use and so fails offline. The
outputs given to mockllm here carry their own token usage, and mockllm only counts tokens when it is missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from clearinghouse.data import sample_path
from clearinghouse.evals import knowledge as k
from clearinghouse.formats import osv
from clearinghouse.records.model import OsvRecord

DEV_SET = Path("/work/shared/data/advisories-dev.jsonl.gz")
SampleBuilder = Callable[..., list[Sample]]
BUILDERS: dict[str, SampleBuilder] = {
    "cwe": k.cwe_samples,
    "cvss": k.cvss_samples,
    "fixed": k.fixed_version_samples,
}

_GHSA_ALPHABET = "23456789cfghjmpqrvwx"


def _ghsa_id(i: int) -> str:
    chars = [_GHSA_ALPHABET[(i * 7 + j * 3) % len(_GHSA_ALPHABET)] for j in range(12)]
    return "GHSA-" + "-".join("".join(chars[n : n + 4]) for n in (0, 4, 8))


VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N",
]
CWES = [
    ("CWE-79", "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"),
    ("CWE-22", "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')"),
    ("CWE-400", "Uncontrolled Resource Consumption"),
]


def ghsa_document(i: int) -> dict[str, Any]:
    """A record shaped like a GitHub reviewed advisory, whose text names its CWE, vector and fix as real
    advisories often do."""
    cwe, name = CWES[i % len(CWES)]
    vector = VECTORS[i % len(VECTORS)]
    ghsa = _ghsa_id(i)
    return {
        "schema_version": "1.4.0",
        "id": ghsa,
        "modified": "2024-05-01T00:00:00Z",
        "published": f"2024-{1 + i % 12:02d}-15T10:00:00Z",
        "aliases": [f"CVE-2024-{31000 + i}"],
        "summary": f"{cwe}: {name} in package{i}",
        "details": (
            f"package{i} before 2.{i}.0 contains a {cwe}: {name} vulnerability in its request handler "
            f"(CVE-2024-{31000 + i}, {ghsa}). The issue has a CVSS score of 7.5 ({vector}). "
            f"Users should upgrade to version 2.{i}.0 or v2.{i}.0.0. See https://github.com/advisories/{ghsa}."
        ),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": f"package{i}"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f"2.{i}.0"}]}],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "database_specific": {"cwe_ids": [cwe], "github_reviewed": True, "severity": "HIGH"},
    }


@pytest.fixture(scope="module")
def sample_records() -> list[OsvRecord]:
    return k.load_records()


@pytest.fixture(scope="module")
def ghsa_records() -> list[OsvRecord]:
    return [osv.parse(ghsa_document(i)) for i in range(12)]


@pytest.fixture(scope="module")
def records(sample_records: list[OsvRecord], ghsa_records: list[OsvRecord]) -> list[OsvRecord]:
    return sample_records + ghsa_records


# --------------------------------------------------------------------------------------------------------
# Ground truth and selection
# --------------------------------------------------------------------------------------------------------


def test_bundled_sample_qualifying_counts(sample_records: list[OsvRecord]) -> None:
    # The bundled sample has no structured CWE ids, so the CWE task needs another source; it does carry CVSS
    # v3.1 vectors and fixed versions, upstream releases and distribution builds apart.
    assert len(sample_records) == 63
    assert k.cwe_samples(sample_records) == []
    assert len(k.cvss_samples(sample_records)) >= 10
    upstream = k.fixed_version_samples(sample_records)
    distro = k.fixed_version_samples(sample_records, variant="distro")
    assert len(upstream) >= 25 and len(distro) >= 10
    assert all(not re.search(r"\.el\d|module_el", str(s.target)) for s in upstream)
    assert all(s.metadata and s.metadata["ecosystem"].startswith("AlmaLinux") for s in distro)


def test_ground_truth_extraction(ghsa_records: list[OsvRecord]) -> None:
    record = ghsa_records[0]
    assert k.record_cwes(record) == ["CWE-79"]
    assert k.cvss_vector(record) == VECTORS[0]
    target = k.fixed_target(record)
    assert target is not None
    assert (target.ecosystem, target.package, target.fixed) == ("PyPI", "package0", "2.0.0")


def test_cwe_named_only_in_text_is_never_ground_truth() -> None:
    document = ghsa_document(1)
    del document["database_specific"]
    record = osv.parse(document)
    assert "CWE-22" in (record.details or "")
    assert k.record_cwes(record) == []
    assert k.cwe_samples([record]) == []


def test_cwe_from_cve_problem_types() -> None:
    document = ghsa_document(1)
    document["database_specific"] = {
        "problemTypes": [{"descriptions": [{"lang": "en", "cweId": "CWE-22", "type": "CWE"}]}]
    }
    assert k.record_cwes(osv.parse(document)) == ["CWE-22"]


def test_withdrawn_records_never_enter(sample_records: list[OsvRecord]) -> None:
    withdrawn = {r.id for r in sample_records if r.withdrawn}
    assert withdrawn
    chosen = {s.id for builder in BUILDERS.values() for s in builder(sample_records)}
    assert not chosen & withdrawn


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_reproducible_for_a_seed_and_different_across_seeds(kind: str, records: list[OsvRecord]) -> None:
    build = BUILDERS[kind]
    first = [(s.id, s.input) for s in build(records, seed=11, limit=8)]
    again = [(s.id, s.input) for s in build(records, seed=11, limit=8)]
    assert first == again
    assert len(first) == 8
    assert [s.id for s in build(records, seed=12, limit=8)] != [i for i, _ in first]
    # The source's order does not matter, only the seed.
    assert [s.id for s in build(list(reversed(records)), seed=11, limit=8)] == [i for i, _ in first]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), limit=st.integers(min_value=0, max_value=80))
def test_limit_and_seed_properties(seed: int, limit: int) -> None:
    records = k.load_records()
    by_id = {r.id: r for r in records}
    with_answer = {r.id for r in records if k.fixed_target(r) and not r.withdrawn}
    available = k.fixed_version_samples(records, seed=seed, limit=None)
    chosen = [str(s.id) for s in k.fixed_version_samples(records, seed=seed, limit=limit)]
    assert chosen == [s.id for s in available][:limit]
    assert len(chosen) == min(limit, len(available))
    assert set(chosen) <= with_answer
    # One record per vulnerability: no two samples share an id or alias.
    identifiers = [i.upper() for c in chosen for i in by_id[c].identifiers()]
    assert len(identifiers) == len(set(identifiers))


def _published(sample: Sample) -> str:
    assert sample.metadata is not None
    return str(sample.metadata["published"])


@pytest.mark.parametrize("cut_off", ["2021-01-01", "2023-06-30T12:00:00Z", "2024-07-15"])
def test_published_after(cut_off: str, records: list[OsvRecord]) -> None:
    limit = k.parse_cut_off(cut_off)
    dropped = 0
    for build in BUILDERS.values():
        everything = build(records)
        chosen = build(records, published_after=cut_off, seed=3)
        assert all(k.parse_cut_off(_published(s)) > limit for s in chosen)
        later = [r for r in records if r.published_at is not None and r.published_at > limit]
        assert [s.id for s in chosen] == [s.id for s in build(later, seed=3)]
        dropped += len(everything) - len(chosen)
    assert dropped > 0


def test_published_after_is_strict(ghsa_records: list[OsvRecord]) -> None:
    exact = ghsa_records[0].published
    assert exact is not None
    chosen = {s.id for s in k.cvss_samples(ghsa_records, published_after=exact)}
    assert ghsa_records[0].id not in chosen


# --------------------------------------------------------------------------------------------------------
# No answer in any prompt
# --------------------------------------------------------------------------------------------------------


def _leaks(sample: Sample, record: OsvRecord) -> list[str]:
    text = sample.input
    assert isinstance(text, str)
    found = [i for i in [record.id, *(record.aliases or ())] if i.lower() in text.lower()]
    found += [c for c in k.record_cwes(record) if re.search(re.escape(c) + r"(?!\d)", text, re.IGNORECASE)]
    vector = k.cvss_vector(record)
    if vector and (vector in text or vector.split("/", 1)[1] in text):
        found.append(vector)
    target = k.fixed_target(record)
    if target and re.search(r"(?<![\w.])v?" + re.escape(target.fixed) + r"(?![\w]|\.\d)", text):
        found.append(target.fixed)
    return found


def _check_no_leaks(records: list[OsvRecord], limit: int | None = None) -> int:
    by_id = {r.id: r for r in records}
    checked = 0
    for build in BUILDERS.values():
        for sample in build(records, limit=limit):
            assert _leaks(sample, by_id[str(sample.id)]) == [], sample.input
            checked += 1
    return checked


def test_prompts_never_contain_answers_or_ids(records: list[OsvRecord]) -> None:
    assert _check_no_leaks(records) > 60


def test_redaction_of_a_record_that_states_everything(ghsa_records: list[OsvRecord]) -> None:
    (sample,) = k.cwe_samples(ghsa_records[:1])
    assert isinstance(sample.input, str)
    for leaked in ("Improper Neutralization", "CVE-2024", "GHSA-", "7.5", "2.0.0", "AV:N"):
        assert leaked not in sample.input
    assert "request handler" in sample.input  # the description itself survives


@pytest.mark.skipif(not DEV_SET.exists(), reason=f"development set not present at {DEV_SET}")
def test_dev_set_prompts_never_contain_answers_or_ids() -> None:
    records = k.load_records(str(DEV_SET))
    assert len(records) > 16_000
    # the dev set names CWEs only in advisory prose (PYSEC, Bitnami), which is never ground truth
    assert k.cwe_samples(records) == []
    assert _check_no_leaks(records, limit=400) > 600
    for sample in k.fixed_version_samples(records, limit=400):
        assert isinstance(sample.input, str)
        assert not re.search(r"\d\S*\s*\(?(?:and|or) (?:earlier|older|prior)", sample.input, re.I), sample.input
        assert "/compare/" not in sample.input


@pytest.mark.skipif(not DEV_SET.exists(), reason=f"development set not present at {DEV_SET}")
def test_dev_set_constant_cvss_vector_is_the_baseline_shown() -> None:
    records = k.load_records(str(DEV_SET))
    samples = k.cvss_samples(records, limit=1000)
    answer = samples[0].metadata["baseline_answer"]  # type: ignore[index]
    assert answer == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
    baseline = sum(s.metadata["baseline_score"] for s in samples) / len(samples)  # type: ignore[index]
    assert baseline == pytest.approx(0.68, abs=0.01)


@functools.cache
def _catalogue_terms(cwe: str) -> list[str]:
    from cwe2.database import Database

    weakness = Database().get(int(cwe.split("-")[1]))
    terms = [weakness.name, *re.findall(r"\('([^']+)'\)", weakness.name)]
    chunks = (weakness.alternate_terms or "").split("::")
    return terms + [c[5:].split(":DESCRIPTION:")[0] for c in chunks if c.startswith("TERM:")]


def test_cwe_prompts_name_no_weakness_or_synonym(ghsa_records: list[OsvRecord]) -> None:
    # prose that names the weakness without its CWE id, as 5 of 15 prompts did
    plain = ghsa_document(13)  # CWE-22 in the structured field
    plain["details"] = "A stored cross-site scripting (XSS) flaw lets a comment run script in the request handler."
    samples = k.cwe_samples([*ghsa_records, osv.parse(plain)])
    assert len(samples) == len(ghsa_records) + 1
    for sample in samples:
        assert isinstance(sample.input, str)
        prompt = re.sub(r"[\s-]+", " ", sample.input.lower())
        for cwe in sample.target:
            for term in _catalogue_terms(cwe):
                assert re.sub(r"[\s-]+", " ", term.lower()) not in prompt, (term, sample.input)
        assert "request handler" in sample.input  # the behaviour described survives
    [rewritten] = [sample for sample in samples if "A stored" in str(sample.input)]
    assert "A stored [WEAKNESS] ([WEAKNESS]) flaw" in str(rewritten.input)


def test_weakness_synonyms_in_free_text_are_redacted() -> None:
    text = "A cross site scripting (XSS) bug and a directory-traversal issue; also Zip Slip and SQL injections."
    redacted = k.redact_weaknesses(text)
    for term in ("cross site", "XSS", "directory", "Zip Slip", "SQL injection"):
        assert term.lower() not in redacted.lower()
    assert redacted.startswith("A [WEAKNESS]")


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("Versions 2.4.2 (and earlier) and 2.3.6 (and earlier) are affected.", "2.4.2"),
        ("foo 1.2.2 and earlier is vulnerable", "1.2.2"),
        ("Users of `v0.7.0` and prior versions should upgrade", "0.7.0"),
        ("See https://github.com/o/r/compare/v1.2.2...v1.2.3 for the fix.", "compare"),
        ("All versions before 1.2.3 and <= 1.2.2 are affected", "1.2"),
    ],
)
def test_fixed_version_prompts_drop_affected_range_phrasing(text: str, gone: str) -> None:
    assert gone not in k.redact_version_hints(text)


def test_release_candidates_of_the_fix_are_redacted() -> None:
    target = k.FixedTarget("PyPI", "x", "ECOSYSTEM", "1.2.3", ("1.2.3",))
    text = k.redact("Fixed in 1.2.3rc1, 1.2.3-rc.2 and v1.2.3b1; not in 1.2.30.", fixed=[target])
    assert text == "Fixed in [VERSION], [VERSION] and [VERSION]; not in 1.2.30."


def test_distro_builds_are_a_variant_of_their_own() -> None:
    assert k.is_distro_build(k.FixedTarget("AlmaLinux:8", "x", "ECOSYSTEM", "2.1.0-11.el8", ()))
    assert k.is_distro_build(k.FixedTarget("PyPI", "x", "ECOSYSTEM", "2.1.0-11.el8", ()))
    assert not k.is_distro_build(k.FixedTarget("PyPI", "x", "ECOSYSTEM", "2.1.0", ()))
    with pytest.raises(ValueError, match="variant"):
        k.fixed_version_samples([], variant="nope")


def test_every_task_carries_its_constant_baseline(ghsa_records: list[OsvRecord]) -> None:
    cwe = k.cwe_samples(ghsa_records)
    # 12 records cycling through 3 CWEs: the majority answer is right on 4 of 12
    assert {s.metadata["baseline_answer"] for s in cwe} == {"CWE-22"}  # type: ignore[index]
    assert sum(s.metadata["baseline_score"] for s in cwe) == 4  # type: ignore[index]
    cvss_ = k.cvss_samples(ghsa_records)
    answer = cvss_[0].metadata["baseline_answer"]  # type: ignore[index]
    for sample in cvss_:
        assert sample.metadata["baseline_score"] == k.compare_cvss(answer, str(sample.target)).fraction  # type: ignore[index]
    task = k.cvss_prediction(source=None)
    assert task.metadata is not None and 0 < task.metadata["baseline_score"] < 1


def test_redact_equal_versions_and_vectors() -> None:
    target = k.FixedTarget("PyPI", "x", "ECOSYSTEM", "1.0", ("1.0",))
    text = k.redact(
        "Fixed in 1.0.0. Also v1.0, but not 1.0.1 or 11.0. AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", fixed=[target]
    )
    assert "1.0.0" not in text and "v1.0" not in text
    assert "1.0.1" in text and "11.0" in text
    assert "AV:N" not in text


# --------------------------------------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------------------------------------


def test_cwe_scoring() -> None:
    assert k.score_cwe("It is XSS.\nANSWER: CWE-79", ["CWE-79"])
    assert k.score_cwe("ANSWER: cwe-22", ["CWE-79", "CWE-22"])  # any of the record's CWEs
    assert not k.score_cwe("ANSWER: CWE-80", ["CWE-79"])
    assert not k.score_cwe("ANSWER: CWE-790", ["CWE-79"])
    assert not k.score_cwe("no idea", ["CWE-79"])
    # Only the first CWE of the answer counts: listing many cannot game the score.
    assert not k.score_cwe("ANSWER: CWE-20, CWE-79", ["CWE-79"])


def test_cvss_scoring() -> None:
    official = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    perfect = k.compare_cvss(f"ANSWER: {official}", official)
    assert (perfect.fraction, perfect.base_score_match) == (1.0, True)
    two_off = k.compare_cvss("ANSWER: CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:H", official)
    assert two_off.metrics_correct == 6
    assert two_off.fraction == 6 / 8
    assert not two_off.base_score_match
    assert k.compare_cvss("ANSWER: something severe", official).fraction == 0
    assert k.compare_cvss("ANSWER: CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", official).fraction == 0
    assert k.compare_cvss("ANSWER: CVSS:3.1/AV:N/AC:L", official).fraction == 0  # incomplete is invalid
    # v3.0 label or no prefix: same base metrics, read as v3.1.
    assert k.compare_cvss("ANSWER: AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", official).fraction == 1.0
    assert k.compare_cvss("ANSWER: CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N.", official).fraction == 7 / 8


def test_fixed_version_scoring() -> None:
    pypi = k.FixedTarget("PyPI", "django", "ECOSYSTEM", "1.0", ("1.0",))
    assert k.score_fixed_version("ANSWER: 1.0", pypi)
    assert k.score_fixed_version("ANSWER: 1.0.0", pypi)  # equal under PEP 440
    assert k.score_fixed_version("ANSWER: `1.0.0`.", pypi)
    assert not k.score_fixed_version("ANSWER: 1.0.1", pypi)
    assert not k.score_fixed_version("ANSWER: I am not sure", pypi)
    assert not k.score_fixed_version("", pypi)
    go = k.FixedTarget("Go", "golang.org/x/net", "SEMVER", "0.17.0", ("0.17.0",))
    assert k.score_fixed_version("ANSWER: v0.17.0", go)
    alma = k.FixedTarget("AlmaLinux:8", "yajl", "ECOSYSTEM", "2.1.0-11.el8", ("2.1.0-11.el8",))
    assert k.score_fixed_version("ANSWER: 2.1.0-11.el8", alma)
    assert not k.score_fixed_version("ANSWER: 2.1.0-10.el8", alma)


# --------------------------------------------------------------------------------------------------------
# End to end with Inspect
# --------------------------------------------------------------------------------------------------------


def _output(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    # With usage given, mockllm does not count tokens with tiktoken (which would download its encoding).
    output.usage = ModelUsage(input_tokens=100, output_tokens=10, total_tokens=110)
    return output


def _run(task: Task, answers: list[str], log_dir: Path) -> float:
    model = get_model("mockllm/model", custom_outputs=[_output(f"Thinking.\nANSWER: {a}") for a in answers])
    (log,) = inspect_eval(task, model=model, log_dir=str(log_dir), display="none")
    assert log.status == "success", log.error
    stored = read_eval_log(log.location)
    assert stored.results is not None
    return float(next(iter(stored.results.scores[0].metrics.values())).value)


def test_end_to_end_cvss_right_and_wrong(tmp_path: Path) -> None:
    task = k.cvss_prediction(limit=4, seed=5)
    targets = [str(s.target) for s in task.dataset]
    assert len(targets) == 4
    assert _run(task, targets, tmp_path) == 1.0
    assert _run(k.cvss_prediction(limit=4, seed=5), ["not a vector"] * 4, tmp_path) == 0.0


def test_end_to_end_cwe_and_fixed_from_a_file(tmp_path: Path) -> None:
    source = tmp_path / "ghsa.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(ghsa_document(i)) for i in range(6)) + b"\n")
    task = k.cwe_prediction(source=str(source), limit=3)
    right = [s.target[0] if isinstance(s.target, list) else s.target for s in task.dataset]
    assert _run(task, right, tmp_path) == 1.0
    assert _run(k.cwe_prediction(source=str(source), limit=3), ["CWE-1"] * 3, tmp_path) == 0.0
    fixed = k.fixed_version(source=str(source), limit=3)
    # "2.N.0" answered as "2.N": equal under PyPI's version rules.
    spelt_differently = [str(s.target).removesuffix(".0") for s in fixed.dataset]
    assert _run(fixed, spelt_differently, tmp_path) == 1.0


def test_records_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clearinghouse.ingest.pipeline import ImportPipeline
    from clearinghouse.store.db import open_engine
    from clearinghouse.store.records import RecordStore

    monkeypatch.setenv("CLEARINGHOUSE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    ImportPipeline(RecordStore(open_engine())).run([sample_path("osv-sample.jsonl")])
    from_store = k.load_records("store")
    assert sorted(r.id for r in from_store) == sorted(r.id for r in k.load_records())
    # Same records, same draw, wherever they come from.
    assert [s.id for s in k.cvss_samples(from_store, seed=2)] == [
        s.id for s in k.cvss_samples(k.load_records(), seed=2)
    ]
