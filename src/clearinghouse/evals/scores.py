"""Scores with confidence intervals from Inspect logs, model-to-model comparisons, and the evaluation summary
the frontier determination consumes.

Intervals come from a cluster bootstrap: a sample (challenge, advisory) is the unit that is resampled, and all
of its epochs travel with it. Epochs of one sample are strongly correlated (same challenge, same model), so
treating them as independent observations would give intervals that are too narrow. The point estimate is
the mean over samples of each sample's mean over epochs, so every sample weighs the same whatever its number
of epochs. Optionally (``within_epochs=True``) epochs are also resampled inside each drawn sample, a two-stage
bootstrap that adds the epoch-to-epoch noise for runs with few samples and many epochs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from inspect_ai.log import EvalLog

__all__ = [
    "DEFAULT_RESAMPLES",
    "SUITE",
    "TASK_METRICS",
    "Difference",
    "Estimate",
    "SampleResult",
    "bootstrap_difference",
    "bootstrap_mean",
    "compare_logs",
    "metric_estimates",
    "metric_name",
    "sample_results",
    "score_to_float",
    "task_name",
    "to_evaluation_summary",
]

SUITE = "clearinghouse-cyber"
DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95

# Inspect task name -> metric name in the evaluation summary.
TASK_METRICS: dict[str, str] = {
    "ctf_unguided": "ctf_solve_rate",
    "ctf_subtasks": "ctf_subtasks_solve_rate",
    "cwe_prediction": "cwe_accuracy",
    "cvss_prediction": "cvss_metric_accuracy",
    "fixed_version": "fixed_version_accuracy",
}
# Tasks whose per-category scores are reported (as "<metric>/<category>").
CATEGORY_TASKS = frozenset({"ctf_unguided", "ctf_subtasks"})
# For scorers whose value is a dict (ctf_subtasks: {"subtasks": ..., "flag": ...}), the key read by default:
# solving means capturing the flag.
DICT_VALUE_KEYS = ("flag",)

_LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
_WORDS = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}


def score_to_float(value: Any, key: str | None = None) -> float | None:
    """A score value as a number in the way Inspect reads them: "C" 1, "I" 0, "P" 0.5, "N" 0, booleans, numbers
    and numeric strings. A dict is read at ``key`` (else the first of `DICT_VALUE_KEYS` it has). Anything else
    (a list, an unknown string, NaN) is None: the sample has no usable score and is left out."""
    if isinstance(value, Mapping):
        keys = [key] if key else [k for k in DICT_VALUE_KEYS if k in value]
        return score_to_float(value[keys[0]]) if keys and keys[0] in value else None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if text in _LETTERS:
            return _LETTERS[text]
        if text.lower() in _WORDS:
            return _WORDS[text.lower()]
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def task_name(log: EvalLog) -> str:
    """The bare task name: registry prefixes ("clearinghouse/") and file prefixes ("tasks.py@") removed."""
    return log.eval.task.rsplit("/", 1)[-1].rsplit("@", 1)[-1]


def metric_name(task: str) -> str:
    return TASK_METRICS.get(task, task)


@dataclass(frozen=True)
class SampleResult:
    """One scored (sample, epoch) of one task."""

    task: str
    sample_id: str
    epoch: int
    value: float
    category: str | None = None
    challenge: str | None = None
    difficulty: str | None = None


def sample_results(log: EvalLog, scorer: str | None = None, key: str | None = None) -> list[SampleResult]:
    """The scored samples of ``log``: ``scorer``'s score (default: the sample's first scorer), read with
    `score_to_float`. Samples with no usable score (errors, unscored) are skipped."""
    task = task_name(log)
    results: list[SampleResult] = []
    for sample in log.samples or ():
        scores = sample.scores or {}
        if not scores:
            continue
        chosen = scores.get(scorer) if scorer else next(iter(scores.values()))
        if chosen is None:
            continue
        value = score_to_float(chosen.value, key)
        if value is None:
            continue
        meta = sample.metadata or {}
        results.append(
            SampleResult(
                task=task,
                sample_id=str(sample.id),
                epoch=sample.epoch,
                value=value,
                category=_text(meta.get("category")),
                challenge=_text(meta.get("challenge")),
                difficulty=_text(meta.get("difficulty")),
            )
        )
    return results


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A mean score with its bootstrap confidence interval."""

    value: float
    ci_low: float
    ci_high: float
    samples: int
    epochs: int  # the largest number of epochs any sample has

    def as_metric(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


Clusters = Sequence[Sequence[float]]


def _matrix(clusters: Clusters) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Clusters as an (n, max epochs) matrix padded with NaN, plus each cluster's size."""
    sizes = np.array([len(c) for c in clusters], dtype=np.int64)
    if len(clusters) == 0 or sizes.min() == 0:
        raise ValueError("every cluster needs at least one score, and there must be at least one cluster")
    matrix = np.full((len(clusters), int(sizes.max())), np.nan)
    for i, cluster in enumerate(clusters):
        matrix[i, : len(cluster)] = cluster
    return matrix, sizes


def _replicates(
    clusters: Clusters, rng: np.random.Generator, resamples: int, within_epochs: bool
) -> npt.NDArray[np.float64]:
    """``resamples`` bootstrap replicates of the mean of cluster means."""
    matrix, sizes = _matrix(clusters)
    n = len(sizes)
    means = np.nanmean(matrix, axis=1)
    out = np.empty(resamples)
    # Chunked so that the two-stage draw (resamples x n x epochs) stays small in memory.
    chunk = max(1, min(resamples, 4_000_000 // max(1, n * matrix.shape[1])))
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        picked = rng.integers(0, n, size=(count, n))
        if not within_epochs:
            out[start : start + count] = means[picked].mean(axis=1)
            continue
        k = sizes[picked]  # (count, n) epochs of each drawn cluster
        draws = np.floor(rng.random((count, n, matrix.shape[1])) * k[..., None]).astype(np.int64)
        values = matrix[picked[..., None], draws]
        used = np.arange(matrix.shape[1])[None, None, :] < k[..., None]
        cluster_means = np.where(used, values, 0.0).sum(axis=2) / k
        out[start : start + count] = cluster_means.mean(axis=1)
    return out


def _interval(replicates: npt.NDArray[np.float64], confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_mean(
    clusters: Clusters,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    within_epochs: bool = False,
) -> Estimate:
    """Mean of cluster means with a percentile cluster-bootstrap interval; ``clusters`` holds one sequence of
    epoch scores per sample."""
    matrix, sizes = _matrix(clusters)
    value = float(np.nanmean(matrix, axis=1).mean())
    replicates = _replicates(clusters, np.random.default_rng(seed), resamples, within_epochs)
    low, high = _interval(replicates, confidence)
    # Percentiles of replicates can miss the point estimate by float rounding; an interval must contain it.
    return Estimate(value, min(low, value), max(high, value), len(clusters), int(sizes.max()))


@dataclass(frozen=True)
class Difference:
    """``a`` minus ``b``, with a bootstrap interval; `significant` when the interval excludes 0."""

    metric: str
    a: Estimate
    b: Estimate
    value: float
    ci_low: float
    ci_high: float
    paired: bool

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def bootstrap_difference(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    metric: str = "",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Difference:
    """Difference of mean scores between two runs, clusters keyed by sample id.

    When both runs scored the same samples the comparison is paired: the same resampled sample ids are used on
    both sides, which removes the between-sample variance that both runs share (a hard challenge is hard for
    both models). Otherwise the two runs are resampled independently.
    """
    est_a = bootstrap_mean(list(a.values()), resamples=resamples, seed=seed, confidence=confidence)
    est_b = bootstrap_mean(list(b.values()), resamples=resamples, seed=seed, confidence=confidence)
    value = est_a.value - est_b.value
    paired = set(a) == set(b)
    rng = np.random.default_rng(seed)
    if paired:
        ids = sorted(a)
        diffs = np.array([np.mean(a[i]) - np.mean(b[i]) for i in ids])
        picked = rng.integers(0, len(ids), size=(resamples, len(ids)))
        replicates = diffs[picked].mean(axis=1)
    else:
        replicates = _replicates(list(a.values()), rng, resamples, False) - _replicates(
            list(b.values()), rng, resamples, False
        )
    low, high = _interval(replicates, confidence)
    return Difference(metric, est_a, est_b, value, min(low, value), max(high, value), paired)


# --------------------------------------------------------------------------------------------------------
# From logs
# --------------------------------------------------------------------------------------------------------


def _grouped(logs: Iterable[EvalLog]) -> dict[str, dict[str, list[float]]]:
    """metric name -> sample id -> epoch scores. A later log's (sample, epoch) replaces an earlier one's, so a
    retried run can be passed together with the run it retries."""
    by_epoch: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for log in logs:
        for result in sample_results(log):
            metric = metric_name(result.task)
            by_epoch[metric][result.sample_id][result.epoch] = result.value
            if result.task in CATEGORY_TASKS and result.category:
                by_epoch[f"{metric}/{result.category}"][result.sample_id][result.epoch] = result.value
    return {
        metric: {sample: [epochs[e] for e in sorted(epochs)] for sample, epochs in sorted(samples.items())}
        for metric, samples in by_epoch.items()
    }


def metric_estimates(
    logs: Iterable[EvalLog],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    within_epochs: bool = False,
) -> dict[str, Estimate]:
    """Per-task metrics (``ctf_solve_rate``, ``cwe_accuracy``, ...) and per-category CTF metrics
    (``ctf_solve_rate/web``), sorted by name."""
    return {
        metric: bootstrap_mean(
            list(samples.values()),
            resamples=resamples,
            seed=seed,
            confidence=confidence,
            within_epochs=within_epochs,
        )
        for metric, samples in sorted(_grouped(logs).items())
        if samples
    }


def compare_logs(
    logs_a: Iterable[EvalLog],
    logs_b: Iterable[EvalLog],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[Difference]:
    """Run A minus run B for every metric both have."""
    a, b = _grouped(logs_a), _grouped(logs_b)
    return [
        bootstrap_difference(a[m], b[m], metric=m, resamples=resamples, seed=seed, confidence=confidence)
        for m in sorted(set(a) & set(b))
        if a[m] and b[m]
    ]


def _one(values: Iterable[str | None], what: str) -> str | None:
    found = sorted({v for v in values if v})
    if len(found) > 1:
        raise ValueError(f"the logs come from more than one {what}: {', '.join(found)}")
    return found[0] if found else None


def _log_location(logs: Sequence[EvalLog]) -> str | None:
    locations = [log.location for log in logs if log.location]
    if not locations:
        return None
    if len(locations) == 1:
        return locations[0]
    # Logs of one run share a directory; name it rather than one arbitrary file.
    parents = {str(Path(loc).parent) if "://" not in loc else loc.rsplit("/", 1)[0] for loc in locations}
    return parents.pop() if len(parents) == 1 else ";".join(sorted(locations))


def to_evaluation_summary(
    logs: Iterable[EvalLog],
    suite: str = SUITE,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """The record of one run of the suite against one model, as the frontier ``evaluation_runs`` table stores
    it: ``{"suite", "run_id", "log_location", "model", "metrics": {name: {"value", "ci_low", "ci_high"}}}``.

    Raises ValueError when the logs mix models (a determination must name the one model the run measured).
    Logs of several Inspect runs (retries) are accepted; their run ids are joined with ",".
    """
    logs = list(logs)
    model = _one((log.eval.model for log in logs), "model")
    run_ids = sorted({log.eval.run_id for log in logs if log.eval.run_id})
    estimates = metric_estimates(logs, resamples=resamples, seed=seed, confidence=confidence)
    return {
        "suite": suite,
        "run_id": ",".join(run_ids) or None,
        "log_location": _log_location(logs),
        "model": model,
        "metrics": {name: estimate.as_metric() for name, estimate in estimates.items()},
    }
