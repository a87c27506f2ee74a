"""Rich tables of evaluation scores and run comparisons, for the ``clearinghouse eval`` commands."""

from __future__ import annotations

from collections.abc import Iterable

from inspect_ai.log import EvalLog
from rich.table import Table

from clearinghouse.evals.scores import DEFAULT_RESAMPLES, PairedDifference, compare_logs, metric_estimates

__all__ = ["compare", "render_comparison", "render_scores"]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def render_scores(logs: Iterable[EvalLog], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Table:
    """One row per metric: the score, its 95% interval and the method that gave it, and the task's
    constant-answer baseline beside the normalised score ``(score - baseline) / (1 - baseline)``."""
    del resamples, seed  # the intervals are closed-form
    table = Table(title="Evaluation scores (95% CI; samples pooled by task, sample, seed and epoch)")
    for column in ("Metric", "Score", "95% CI", "Method", "Samples", "Templates", "Epochs", "Baseline", "Normalised"):
        table.add_column(column, justify="left" if column in ("Metric", "Method") else "right")
    for name, estimate in metric_estimates(logs).items():
        interval = "-" if estimate.ci_low is None or estimate.ci_high is None else (
            f"{_pct(estimate.ci_low)} to {_pct(estimate.ci_high)}"
        )  # fmt: skip
        normalised = estimate.normalised
        table.add_row(
            name,
            _pct(estimate.value),
            interval,
            estimate.method,
            str(estimate.samples),
            str(estimate.clusters),
            str(estimate.epochs),
            "-" if estimate.baseline is None else _pct(estimate.baseline),
            "-" if normalised is None else f"{normalised:+.3f}",
        )
    return table


def render_comparison(differences: Iterable[PairedDifference], label_a: str = "A", label_b: str = "B") -> Table:
    table = Table(title=f"{label_a} minus {label_b} (95% CI)")
    table.add_column("Metric")
    table.add_column(label_a, justify="right")
    table.add_column(label_b, justify="right")
    table.add_column("Difference", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("Pairing")
    table.add_column("Significant")
    for d in differences:
        table.add_row(
            d.metric,
            _pct(d.a.value),
            _pct(d.b.value),
            f"{d.value * 100:+.1f} pts",
            f"{d.ci_low * 100:+.1f} to {d.ci_high * 100:+.1f}",
            d.note,
            "[bold]yes[/bold]" if d.significant else "no",
        )
    return table


def compare(
    logs_a: Iterable[EvalLog],
    logs_b: Iterable[EvalLog],
    *,
    label_a: str = "A",
    label_b: str = "B",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[list[PairedDifference], Table]:
    """The differences (for programmatic use and exit codes) and their table."""
    differences = compare_logs(logs_a, logs_b, resamples=resamples, seed=seed)
    return differences, render_comparison(differences, label_a, label_b)
