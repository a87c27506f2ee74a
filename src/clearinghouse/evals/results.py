"""Evaluation results between Inspect's logs and the frontier review: read logs from paths, summarise them with
confidence intervals, and store the summary against a registered model (the run a determination then cites)."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log

from clearinghouse.errors import NoEvalLogs, NotFound
from clearinghouse.evals.scores import SUITE, to_evaluation_summary
from clearinghouse.frontier.views import RunView
from clearinghouse.policy import Operator


def read_logs(paths: Iterable[Path]) -> list[EvalLog]:
    """Every Inspect log in the given files and directories (directories are searched recursively)."""
    logs: list[EvalLog] = []
    for path in paths:
        if path.is_dir():
            logs.extend(read_eval_log(info) for info in list_eval_logs(str(path.resolve())))
        elif path.is_file():
            logs.append(read_eval_log(str(path)))
        else:
            raise NotFound(f"{path}: no such log file or directory")
    if not logs:
        raise NoEvalLogs(f"no Inspect evaluation logs in {', '.join(str(p) for p in paths)}")
    return logs


def require_model(engine: sa.Engine, model_id: str) -> None:
    """NotFound unless `model_id` is a registered frontier model: checked before a run, not after it."""
    from clearinghouse.frontier.service import FrontierService

    FrontierService(engine).model(Operator("eval-harness"), model_id)


def record_run(
    engine: sa.Engine, model_id: str, logs: list[EvalLog], recorded_by: str | None = None, suite: str = SUITE
) -> RunView:
    """Store the run's summary against frontier model `model_id`; returns the stored evaluation run."""
    from clearinghouse.frontier.service import FrontierService

    try:
        summary = to_evaluation_summary(logs, suite)
    except ValueError as exc:  # logs of several models: a determination must cite one model's run
        raise NoEvalLogs(str(exc)) from None
    return FrontierService(engine).record_evaluation_run(
        Operator(recorded_by or f"cli:{getpass.getuser()}"),
        model_id,
        suite=summary["suite"],
        run_id=summary["run_id"] or "unknown",
        metrics=summary["metrics"],
        log_location=summary["log_location"],
    )
