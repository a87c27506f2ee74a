"""Rich tables of evaluation scores and run comparisons, for the ``clearinghouse eval`` commands."""

from __future__ import annotations

from collections.abc import Iterable

from inspect_ai.log import EvalLog
from rich.table import Table

from clearinghouse.evals.scores import DEFAULT_RESAMPLES, Difference, compare_logs, metric_estimates

__all__ = ["compare", "render_comparison", "render_scores"]


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def render_scores(logs: Iterable[EvalLog], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Table:
    """One row per metric: the score and its 95% cluster-bootstrap interval."""
    table = Table(title="Evaluation scores (95% CI, bootstrap over samples)")
    table.add_column("Metric")
    table.add_column("Score", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("Samples", justify="right")
    table.add_column("Epochs", justify="right")
    for name, estimate in metric_estimates(logs, resamples=resamples, seed=seed).items():
        table.add_row(
            name,
            _pct(estimate.value),
            f"{_pct(estimate.ci_low)} to {_pct(estimate.ci_high)}",
            str(estimate.samples),
            str(estimate.epochs),
        )
    return table


def render_comparison(differences: Iterable[Difference], label_a: str = "A", label_b: str = "B") -> Table:
    table = Table(title=f"{label_a} minus {label_b} (95% CI)")
    table.add_column("Metric")
    table.add_column(label_a, justify="right")
    table.add_column(label_b, justify="right")
    table.add_column("Difference", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("Paired")
    table.add_column("Significant")
    for d in differences:
        table.add_row(
            d.metric,
            _pct(d.a.value),
            _pct(d.b.value),
            f"{d.value * 100:+.1f} pts",
            f"{d.ci_low * 100:+.1f} to {d.ci_high * 100:+.1f}",
            "yes" if d.paired else "no",
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
) -> tuple[list[Difference], Table]:
    """The differences (for programmatic use and exit codes) and their table."""
    differences = compare_logs(logs_a, logs_b, resamples=resamples, seed=seed)
    return differences, render_comparison(differences, label_a, label_b)
