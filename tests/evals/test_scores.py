"""Scores with bootstrap intervals from Inspect logs: interval properties, the cluster bootstrap keeping epochs
together, comparisons, and the evaluation summary the frontier determination stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, read_eval_log
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import Score, match
from inspect_ai.solver import generate
from rich.console import Console

from clearinghouse.evals import scores as s
from clearinghouse.evals.report import compare, render_scores

RESAMPLES = 1000


def make_log(
    task: str,
    values: dict[str, list[Any]],
    *,
    model: str = "provider/model-a",
    run_id: str = "run-1",
    location: str | None = "/logs/run-1/task.eval",
    categories: dict[str, str] | None = None,
    scorer: str = "scorer",
    seed: int | None = None,
) -> EvalLog:
    """A synthetic EvalLog: sample id -> one score value per epoch."""
    samples = [
        EvalSample(
            id=sample_id,
            epoch=epoch,
            input="question",
            target="answer",
            scores={scorer: Score(value=value)},
            metadata={
                "category": (categories or {}).get(sample_id, "misc"),
                "challenge": sample_id,
                **({"seed": seed} if seed is not None else {}),
            },
        )
        for sample_id, epochs in values.items()
        for epoch, value in enumerate(epochs, start=1)
    ]
    spec = EvalSpec(
        created="2026-11-23T00:00:00+00:00",
        task=task,
        run_id=run_id,
        dataset=EvalDataset(),
        model=model,
        config=EvalConfig(),
    )
    return EvalLog(eval=spec, samples=samples, location=location or "")


def binary_clusters(rng: np.random.Generator, n: int, p: float, epochs: int = 1) -> list[list[float]]:
    return [list(rng.binomial(1, p, size=epochs).astype(float)) for _ in range(n)]


# --------------------------------------------------------------------------------------------------------
# Score values
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("C", 1.0),
        ("I", 0.0),
        ("P", 0.5),
        ("N", 0.0),
        (True, 1.0),
        (False, 0.0),
        (0.75, 0.75),
        (1, 1.0),
        ("0.25", 0.25),
        ("yes", 1.0),
        ({"subtasks": 0.5, "flag": 1.0}, 1.0),
        ("garbage", None),
        (float("nan"), None),
        ([1, 0], None),
        ({"other": 1.0}, None),
    ],
)
def test_score_to_float(value: Any, expected: float | None) -> None:
    assert s.score_to_float(value) == expected


def test_dict_value_with_a_named_key() -> None:
    assert s.score_to_float({"subtasks": 0.5, "flag": 1.0}, key="subtasks") == 0.5


# --------------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    clusters=st.lists(
        st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.25]), min_size=1, max_size=5), min_size=1, max_size=40
    ),
    seed=st.integers(min_value=0, max_value=2**16),
    within=st.booleans(),
)
def test_interval_contains_the_point_estimate(clusters: list[list[float]], seed: int, within: bool) -> None:
    estimate = s.bootstrap_mean(clusters, resamples=200, seed=seed, within_epochs=within)
    assert estimate.ci_low <= estimate.value <= estimate.ci_high
    assert estimate.ci_low >= 0.0 and estimate.ci_high <= 1.0
    assert estimate.value == pytest.approx(np.mean([np.mean(c) for c in clusters]))


def test_seeded_and_reproducible() -> None:
    clusters = binary_clusters(np.random.default_rng(1), 50, 0.4, epochs=3)
    assert s.bootstrap_mean(clusters, seed=7) == s.bootstrap_mean(clusters, seed=7)
    assert s.bootstrap_mean(clusters, seed=7) != s.bootstrap_mean(clusters, seed=8)


def test_interval_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(2)
    small = s.bootstrap_mean(binary_clusters(rng, 20, 0.5), resamples=RESAMPLES)
    large = s.bootstrap_mean(binary_clusters(rng, 500, 0.5), resamples=RESAMPLES)
    assert large.ci_high - large.ci_low < (small.ci_high - small.ci_low) / 2


def test_cluster_bootstrap_keeps_epochs_together() -> None:
    rng = np.random.default_rng(3)
    one_epoch = binary_clusters(rng, 12, 0.5)
    # The same samples with ten identical epochs each: no new information, so the same interval...
    ten_epochs = [c * 10 for c in one_epoch]
    clustered = s.bootstrap_mean(ten_epochs, resamples=RESAMPLES, seed=4)
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx(
        (
            s.bootstrap_mean(one_epoch, resamples=RESAMPLES, seed=4).ci_low,
            s.bootstrap_mean(one_epoch, resamples=RESAMPLES, seed=4).ci_high,
        )
    )
    assert (clustered.samples, clustered.epochs) == (12, 10)
    # ...whereas treating the 120 scores as independent would claim a much narrower one.
    naive = s.bootstrap_mean([[v] for c in ten_epochs for v in c], resamples=RESAMPLES, seed=4)
    assert naive.ci_high - naive.ci_low < (clustered.ci_high - clustered.ci_low) / 2


def test_every_sample_weighs_the_same_whatever_its_epochs() -> None:
    estimate = s.bootstrap_mean([[1.0, 1.0, 1.0, 1.0], [0.0]], resamples=100)
    assert estimate.value == 0.5


def test_two_stage_bootstrap_adds_epoch_noise() -> None:
    # Every sample is solved half the time: between samples nothing varies, within them everything does.
    clusters = [[0.0, 1.0] for _ in range(30)]
    assert s.bootstrap_mean(clusters, resamples=RESAMPLES).ci_high - 0.5 == pytest.approx(0.0)
    two_stage = s.bootstrap_mean(clusters, resamples=RESAMPLES, within_epochs=True)
    assert two_stage.ci_low < 0.5 < two_stage.ci_high


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError):
        s.bootstrap_mean([])
    with pytest.raises(ValueError):
        s.bootstrap_mean([[1.0], []])


# --------------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------------


def _keyed(clusters: list[list[float]]) -> dict[str, list[float]]:
    return {f"s{i}": c for i, c in enumerate(clusters)}


def test_comparison_detects_a_real_difference() -> None:
    rng = np.random.default_rng(5)
    strong = _keyed(binary_clusters(rng, 80, 0.8, epochs=2))
    weak = _keyed(binary_clusters(rng, 80, 0.3, epochs=2))
    difference = s.bootstrap_difference(strong, weak, resamples=RESAMPLES)
    assert difference.paired
    assert difference.significant
    assert difference.ci_low <= difference.value <= difference.ci_high
    assert difference.value == pytest.approx(difference.a.value - difference.b.value)
    assert 0.3 < difference.value < 0.7


def test_comparison_of_equal_models_is_not_significant() -> None:
    rng = np.random.default_rng(6)
    a = _keyed(binary_clusters(rng, 80, 0.5, epochs=2))
    b = _keyed(binary_clusters(rng, 80, 0.5, epochs=2))
    difference = s.bootstrap_difference(a, b, resamples=RESAMPLES)
    assert not difference.significant
    assert difference.ci_low < 0 < difference.ci_high


def test_comparison_over_different_samples_is_unpaired() -> None:
    rng = np.random.default_rng(7)
    a = _keyed(binary_clusters(rng, 60, 0.9))
    b = {f"other{i}": c for i, c in enumerate(binary_clusters(rng, 60, 0.1))}
    difference = s.bootstrap_difference(a, b, resamples=RESAMPLES)
    assert not difference.paired
    assert difference.significant


def test_pairing_narrows_the_interval_when_samples_differ_in_difficulty() -> None:
    # Half the samples are easy for both models, half hard for both; model A is slightly better on each.
    easy_hard = [0.9] * 30 + [0.1] * 30
    a = {f"s{i}": [p + 0.05] for i, p in enumerate(easy_hard)}
    b = {f"s{i}": [p] for i, p in enumerate(easy_hard)}
    paired = s.bootstrap_difference(a, b, resamples=RESAMPLES)
    unpaired = s.bootstrap_difference(a, {f"x{k}": v for k, v in b.items()}, resamples=RESAMPLES)
    assert paired.significant and not unpaired.significant
    assert paired.value == pytest.approx(unpaired.value)


# --------------------------------------------------------------------------------------------------------
# From logs
# --------------------------------------------------------------------------------------------------------


def test_metrics_per_task_and_category() -> None:
    ctf = make_log(
        "clearinghouse/ctf_unguided",
        {"web-sqli": ["C", "C"], "web-xss": ["I", "C"], "rev-elf": ["I", "I"], "crypto-rsa": [1, 1]},
        categories={"web-sqli": "web", "web-xss": "web", "rev-elf": "rev", "crypto-rsa": "crypto"},
    )
    cvss = make_log("cvss_prediction", {"PYSEC-1": [0.75], "PYSEC-2": [0.25]})
    estimates = s.metric_estimates([ctf, cvss], resamples=RESAMPLES)
    assert set(estimates) == {
        "ctf_solve_rate",
        "ctf_solve_rate/web",
        "ctf_solve_rate/rev",
        "ctf_solve_rate/crypto",
        "cvss_metric_accuracy",
    }
    assert estimates["ctf_solve_rate"].value == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert estimates["ctf_solve_rate/web"].value == pytest.approx(0.75)
    assert estimates["ctf_solve_rate/rev"].value == 0.0
    assert estimates["cvss_metric_accuracy"].value == 0.5


def test_subtask_scores_read_the_flag() -> None:
    log = make_log("ctf_subtasks", {"a": [{"subtasks": 0.5, "flag": 1.0}], "b": [{"subtasks": 1.0, "flag": 0.0}]})
    assert s.metric_estimates([log])["ctf_subtasks_solve_rate"].value == 0.5


def test_summary_shape() -> None:
    logs = [
        make_log("ctf_unguided", {"web-1": ["C"], "pwn-1": ["I"]}, categories={"web-1": "web", "pwn-1": "pwn"}),
        make_log("cwe_prediction", {"x": ["C"], "y": ["I"]}, location="/logs/run-1/cwe.eval"),
        make_log("fixed_version", {"x": ["C"]}, location="/logs/run-1/fixed.eval"),
    ]
    summary = s.to_evaluation_summary(logs, resamples=200)
    assert set(summary) == {"suite", "run_id", "log_location", "model", "metrics"}
    assert summary["suite"] == "clearinghouse-cyber"
    assert summary["run_id"] == "run-1"
    assert summary["model"] == "provider/model-a"
    assert summary["log_location"] == "/logs/run-1"
    assert set(summary["metrics"]) == {
        "ctf_solve_rate",
        "ctf_solve_rate/web",
        "ctf_solve_rate/pwn",
        "cwe_accuracy",
        "fixed_version_accuracy",
    }
    for name, metric in summary["metrics"].items():
        assert set(metric) == {"value", "ci_low", "ci_high"}
        if "/" in name:  # one sample per category: below the 5 a category interval needs
            assert metric["ci_low"] is None and metric["ci_high"] is None
            continue
        assert all(isinstance(v, float) for v in metric.values())
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
    assert s.to_evaluation_summary(logs[:1], suite="other")["log_location"] == "/logs/run-1/task.eval"


def test_summary_refuses_mixed_models() -> None:
    logs = [make_log("ctf_unguided", {"a": ["C"]}), make_log("ctf_unguided", {"a": ["I"]}, model="other/model")]
    with pytest.raises(ValueError, match="more than one model"):
        s.to_evaluation_summary(logs)


def test_a_sample_in_two_logs_is_refused_naming_both() -> None:
    first = make_log("ctf_unguided", {"a": ["I"], "b": ["I"]}, run_id="r1", location="/logs/first.eval")
    retry = make_log("ctf_unguided", {"a": ["C"]}, run_id="r2", location="/logs/retry.eval")
    both = r"sample a of task ctf_unguided .* /logs/first.eval and /logs/retry.eval"
    with pytest.raises(s.DuplicateSample, match=both):
        s.metric_estimates([first, retry])
    other = make_log("ctf_unguided", {"c": ["C"]}, run_id="r2", location="/logs/other.eval")
    assert s.to_evaluation_summary([first, other])["run_id"] == "r1,r2"


def test_render_and_compare() -> None:
    a = [make_log("cwe_prediction", {f"s{i}": ["C"] for i in range(40)})]
    b = [make_log("cwe_prediction", {f"s{i}": ["I"] for i in range(40)}, model="other/model")]
    console = Console(width=200, record=True)
    console.print(render_scores(a, resamples=200))
    assert "cwe_accuracy" in console.export_text()
    differences, table = compare(a, b, label_a="model-a", label_b="model-b", resamples=200)
    (difference,) = differences
    assert difference.metric == "cwe_accuracy" and difference.value == 1.0 and difference.significant
    console.print(table)
    assert "+100.0 pts" in console.export_text()


def _output(text: str) -> ModelOutput:
    output = ModelOutput.from_content("mockllm/model", text)
    # With usage given, mockllm does not count tokens with tiktoken (which would download its encoding).
    output.usage = ModelUsage(input_tokens=10, output_tokens=1, total_tokens=11)
    return output


def test_real_logs_from_a_mockllm_run(tmp_path: Path) -> None:
    samples = [
        Sample(id=f"web-{i}", input="flag?", target="FLAG", metadata={"category": "web", "challenge": f"web-{i}"})
        for i in range(3)
    ] + [Sample(id="rev-0", input="flag?", target="FLAG", metadata={"category": "rev", "challenge": "rev-0"})]
    task = Task(dataset=samples, solver=generate(), scorer=match(), name="ctf_unguided", epochs=2)
    # Inspect runs samples concurrently, so the answers cannot be tied to particular samples; 5 of 8 are right.
    outputs = [_output("FLAG" if i < 5 else "nope") for i in range(8)]
    model = get_model("mockllm/model", custom_outputs=outputs)
    (log,) = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none", max_samples=1)
    assert log.status == "success", log.error
    stored = read_eval_log(log.location)
    results = s.sample_results(stored)
    assert len(results) == 8
    assert {r.epoch for r in results} == {1, 2}
    summary = s.to_evaluation_summary([stored], resamples=200)
    assert summary["model"] == "mockllm/model"
    assert summary["run_id"] == stored.eval.run_id
    assert summary["log_location"] == stored.location
    assert set(summary["metrics"]) == {"ctf_solve_rate", "ctf_solve_rate/web", "ctf_solve_rate/rev"}
    per_sample = [
        np.mean([r.value for r in results if r.sample_id == i]) for i in sorted({r.sample_id for r in results})
    ]
    assert summary["metrics"]["ctf_solve_rate"]["value"] == pytest.approx(np.mean(per_sample))
