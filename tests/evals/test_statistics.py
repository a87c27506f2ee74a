"""Statistics that cannot flip (issue 11 item 6): samples pooled by (task, sample, seed, epoch), intervals
clustered by template and exact where n is small or the rate is 0 or 1, paired comparisons, and a coverage
simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rich.console import Console

from clearinghouse.evals import scores as s
from clearinghouse.evals.report import render_scores
from tests.evals.test_scores import make_log

CHALLENGES = [f"chal-{i}" for i in range(12)]


def _run(model_solves: bool, seed: int) -> object:
    return make_log(
        "ctf_unguided",
        {c: ["C" if model_solves else "I"] for c in CHALLENGES},
        seed=seed,
        location=f"/logs/seed-{seed}.eval",
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_logs_of_several_seeds_pool_in_any_order(order: tuple[int, ...]) -> None:
    # null model on seeds 0 and 1, the reference on seed 2: the truth is a third, whatever the file order
    logs = [_run(False, 0), _run(False, 1), _run(True, 2)]
    estimate = s.metric_estimates([logs[i] for i in order])["ctf_solve_rate"]
    assert estimate.value == pytest.approx(1 / 3)
    assert estimate.samples == 36 and estimate.clusters == 12
    assert estimate.ci_low is not None and estimate.ci_high is not None
    assert estimate.ci_low < 1 / 3 < estimate.ci_high


def test_an_all_zero_run_of_twelve_gets_an_exact_interval_not_zero_width() -> None:
    estimate = s.metric_estimates([_run(False, 0)])["ctf_solve_rate"]
    assert estimate.value == 0.0 and estimate.ci_low == 0.0
    assert estimate.method == "clopper-pearson"
    assert estimate.ci_high == pytest.approx(1 - 0.025 ** (1 / 12))  # 26.5 %


def test_the_method_is_printed() -> None:
    console = Console(width=250, record=True)
    console.print(render_scores([_run(False, 0), _run(True, 1)]))
    text = console.export_text()
    assert "clopper-pearson" in text and "12 templates" in text


def test_no_category_interval_below_five_samples() -> None:
    log = make_log(
        "ctf_unguided",
        {f"web-{i}": ["C"] for i in range(4)} | {f"pwn-{i}": ["I"] for i in range(5)},
        categories={f"web-{i}": "web" for i in range(4)} | {f"pwn-{i}": "pwn" for i in range(5)},
    )
    estimates = s.metric_estimates([log])
    assert estimates["ctf_solve_rate/web"].ci_low is None and "fewer than 5" in estimates["ctf_solve_rate/web"].method
    assert estimates["ctf_solve_rate/pwn"].ci_high is not None


def test_seeds_of_one_template_count_less_than_independent_samples() -> None:
    # 6 templates x 5 seeds, each template all-solved or all-failed: 30 samples carry the information of 6
    units = [s.Unit(key=f"t{t}@{k}", cluster=f"t{t}", value=float(t % 2)) for t in range(6) for k in range(5)]
    clustered = s.estimate_rate(units)
    independent = s.estimate_rate([s.Unit(key=u.key, cluster=u.key, value=u.value) for u in units])
    assert clustered.effective_n < 7 and "6 templates" in clustered.method
    assert clustered.ci_high - clustered.ci_low > 1.5 * (independent.ci_high - independent.ci_low)  # type: ignore[operator]


def _coverage(rng: np.random.Generator, draw, truth: float, runs: int = 1000) -> float:  # type: ignore[no-untyped-def]
    covered = 0
    for _ in range(runs):
        estimate = s.estimate_rate(draw(rng))
        assert estimate.ci_low is not None and estimate.ci_high is not None
        covered += estimate.ci_low <= truth <= estimate.ci_high
    return covered / runs


def _independent(n: int, p: float):  # type: ignore[no-untyped-def]
    def draw(rng: np.random.Generator) -> list[s.Unit]:
        return [s.Unit(key=str(i), cluster=str(i), value=float(v)) for i, v in enumerate(rng.binomial(1, p, n))]

    return draw


def _templated(templates: int, seeds: int, mean: float, concentration: float):  # type: ignore[no-untyped-def]
    # each template has its own solve rate (Beta around `mean`); seeds of a template share it
    def draw(rng: np.random.Generator) -> list[s.Unit]:
        rates = rng.beta(mean * concentration, (1 - mean) * concentration, templates)
        return [
            s.Unit(key=f"{t}@{k}", cluster=str(t), value=float(rng.random() < rates[t]))
            for t in range(templates)
            for k in range(seeds)
        ]

    return draw


@pytest.mark.parametrize(
    ("name", "draw", "truth"),
    [
        ("n=12 p=0.05", _independent(12, 0.05), 0.05),
        ("n=12 p=0.5", _independent(12, 0.5), 0.5),
        ("n=12 p=0.95", _independent(12, 0.95), 0.95),
        ("n=40 p=0.3", _independent(40, 0.3), 0.3),
        ("n=200 p=0.1", _independent(200, 0.1), 0.1),
        ("24 templates x 3 seeds", _templated(24, 3, 0.3, 2.0), 0.3),
    ],
)
def test_interval_coverage_at_nominal_95(name: str, draw, truth: float) -> None:  # type: ignore[no-untyped-def]
    coverage = _coverage(np.random.default_rng(20261206), draw, truth)
    assert coverage >= 0.93, f"{name}: coverage {coverage:.3f}"


def _units(values: dict[str, float]) -> list[s.Unit]:
    return [s.Unit(key=k, cluster=k.split("@")[0], value=v) for k, v in values.items()]


def test_comparison_is_paired_on_shared_samples_and_says_so() -> None:
    a = _units({f"c{i}@0": 1.0 for i in range(20)} | {"extra@0": 0.0})
    b = _units({f"c{i}@0": float(i % 2) for i in range(20)})
    difference = s.paired_difference(a, b)
    assert difference.paired and difference.shared == 20
    assert difference.value == pytest.approx(0.5)
    assert difference.note == "paired on 20 shared samples; left out 1 scored only by A and 0 only by B"


def test_comparison_without_shared_samples_says_it_is_unpaired() -> None:
    a = _units({f"c{i}@0": 1.0 for i in range(20)})
    b = _units({f"c{i}@1": 0.0 for i in range(20)})
    difference = s.paired_difference(a, b)
    assert not difference.paired and difference.note.startswith("unpaired")
    assert difference.significant


def test_score_is_reported_beside_its_baseline_and_normalised() -> None:
    # a constant CVSS vector that scores 0.68 on average: a model at 0.84 has closed half the gap
    units = [s.Unit(key=str(i), cluster=str(i), value=0.84, baseline=0.68) for i in range(40)]
    estimate = s.estimate_rate(units)
    assert estimate.baseline == pytest.approx(0.68)
    assert estimate.normalised == pytest.approx(0.5)
    constant = s.estimate_rate([s.Unit(key=u.key, cluster=u.cluster, value=0.68, baseline=0.68) for u in units])
    assert constant.normalised == pytest.approx(0.0)
