"""`clearinghouse eval`: run the cyber-capability suites on Inspect and list what they contain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import ClearinghouseError, EvalFailed
from clearinghouse.frontier.views import RunView
from clearinghouse.safeparse import yaml_load

__all__ = ["eval_app"]

eval_app = typer.Typer(help="Cyber-capability evaluations (Inspect).", no_args_is_help=True)
console = render.console()
errors = render.console(stderr=True)


def default_log_dir(settings: Settings | None = None) -> Path:
    return (settings or Settings.from_env()).home / "eval-logs"


def _parse_task_args(values: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ClearinghouseError(f"task argument {item!r} is not KEY=VALUE")
        # YAML scalars, as `inspect eval -T` does: numbers and booleans arrive typed
        parsed[key] = yaml_load(raw, f"task argument {key}").data if raw.strip() else None
    return parsed


def _default_api_key(model: str, base_url: str | None) -> None:
    # Local OpenAI-compatible servers (vLLM, llama.cpp, a test's stub) usually ignore the key, but Inspect refuses
    # to start without <SERVICE>_API_KEY; a real key in the environment always wins.
    parts = model.split("/")
    if base_url and parts[0] == "openai-api" and len(parts) >= 3:
        os.environ.setdefault(f"{parts[1].upper().replace('-', '_')}_API_KEY", "unused")
    elif parts[0] == "openai" and (base_url or os.environ.get("OPENAI_BASE_URL")):
        os.environ.setdefault("OPENAI_API_KEY", "unused")


@eval_app.command("run")
def run(
    model: Annotated[
        str,
        typer.Option(help="Inspect model: mockllm/model, openai/<model>, anthropic/<model>, openai-api/<svc>/<model>."),
    ],
    suite: Annotated[str, typer.Option(help="Suite to run (see `clearinghouse eval list`).")] = "cyber",
    model_base_url: Annotated[
        str | None,
        typer.Option(help="Base URL of the model's API, e.g. an OpenAI-compatible server for openai/<model>."),
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--model-arg",
            "-M",
            help="KEY=VALUE for the model provider, e.g. responses_api=false for a chat-completions-only server.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Samples per task.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs per sample.")] = None,
    max_connections: Annotated[int, typer.Option(min=1, help="Concurrent model requests.")] = 10,
    max_sandboxes: Annotated[int | None, typer.Option(min=1, help="Concurrent sandboxes.")] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="Where logs go [default: $CLEARINGHOUSE_HOME/eval-logs].")
    ] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("--task-arg", "-T", help="KEY=VALUE passed to every task accepting KEY.")
    ] = None,
    display: Annotated[str | None, typer.Option(help="Inspect display: full, rich, plain, log or none.")] = None,
    frontier_model: Annotated[
        str | None, typer.Option(help="Store the scores against this registered frontier model (its id).")
    ] = None,
) -> None:
    """Run an evaluation suite; every task writes an Inspect log (open with `inspect view --log-dir DIR`)."""
    from clearinghouse.evals.offline import install_offline_tokenizer
    from clearinghouse.evals.sandbox import require_bwrap
    from clearinghouse.evals.suite import load_suite

    install_offline_tokenizer()
    loaded = load_suite(suite, _parse_task_args(task_arg or []))
    for dotted, why in loaded.skipped.items():
        errors.print(f"[yellow]skipped[/yellow] {dotted}: {why}", highlight=False)
    if not loaded.tasks:
        raise ClearinghouseError(f"suite {suite!r} has no runnable task yet")
    if loaded.agentic:
        require_bwrap()
    if frontier_model is not None:
        from clearinghouse.evals.results import require_model

        require_model(_engine(), frontier_model)  # before the run: an unknown id must not cost a whole run

    target = (log_dir or default_log_dir()).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    _default_api_key(model, model_base_url)

    from inspect_ai import eval as inspect_eval

    logs = inspect_eval(
        loaded.tasks,
        model=model,
        model_base_url=model_base_url,
        model_args=_parse_task_args(model_arg or []),
        limit=limit,
        epochs=epochs,
        max_connections=max_connections,
        max_sandboxes=max_sandboxes,
        log_dir=str(target),
        display=display,  # type: ignore[arg-type]
    )

    table = Table(title=f"suite {suite} · {model}")
    for column in ("task", "status", "samples", "metrics", "log"):
        table.add_column(column)
    failed = []
    for log in logs:
        metrics = ""
        if log.results is not None:
            metrics = ", ".join(
                f"{score.name}/{name}={metric.value:.3f}"
                for score in log.results.scores
                for name, metric in score.metrics.items()
            )
        samples = str(len(log.samples)) if log.samples is not None else "-"
        table.add_row(log.eval.task, log.status, samples, metrics, log.location)
        if log.status != "success":
            failed.append(f"{log.eval.task}: {log.error.message if log.error else log.status}")
    console.print(table)
    if failed:
        raise EvalFailed("evaluation did not complete: " + "; ".join(failed))
    from clearinghouse.evals.report import render_scores

    console.print(render_scores(logs))
    if frontier_model is not None:
        from clearinghouse.evals.results import record_run

        _print_recorded(record_run(_engine(), frontier_model, list(logs)))


def _engine() -> Any:
    from clearinghouse.store.db import open_engine

    return open_engine(Settings.from_env())


def _print_recorded(stored: RunView) -> None:
    console.print(
        f"stored evaluation run {stored['run_id']} ({len(stored['metrics'])} metrics) against frontier model "
        f"{stored['model_id']}: determinations with benchmark criteria on suite {stored['suite']} now cite it",
        highlight=False,
    )


@eval_app.command("scores")
def scores(
    logs: Annotated[list[Path], typer.Argument(help="Inspect log files or directories of them.")],
    json_: Annotated[bool, typer.Option("--json", help="The summary a frontier determination uses, as JSON.")] = False,
) -> None:
    """Per-task and per-category scores with 95 % bootstrap intervals (samples and epochs resampled together)."""
    from clearinghouse.errors import NoEvalLogs
    from clearinghouse.evals.report import render_scores
    from clearinghouse.evals.results import read_logs
    from clearinghouse.evals.scores import to_evaluation_summary

    loaded = read_logs(logs)
    if json_:
        try:
            summary = to_evaluation_summary(loaded)
        except ValueError as exc:
            raise NoEvalLogs(str(exc)) from None
        typer.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(render_scores(loaded))


@eval_app.command("compare")
def compare(
    a: Annotated[list[Path], typer.Option("--a", help="Logs of the first model or version (repeatable).")],
    b: Annotated[list[Path], typer.Option("--b", help="Logs of the second (repeatable).")],
) -> None:
    """Difference between two runs per metric, with a bootstrap interval and whether it excludes zero."""
    from clearinghouse.evals.report import compare as compare_runs
    from clearinghouse.evals.results import read_logs

    _, table = compare_runs(read_logs(a), read_logs(b), label_a="A", label_b="B")
    console.print(table)


@eval_app.command("record")
def record(
    model_id: Annotated[str, typer.Argument(help="The registered frontier model the run measured.")],
    logs: Annotated[list[Path], typer.Argument(help="Inspect log files or directories (e.g. from `inspect eval`).")],
) -> None:
    """Store an existing run's scores against a frontier model under review."""
    from clearinghouse.evals.results import read_logs, record_run

    _print_recorded(record_run(_engine(), model_id, read_logs(logs)))


@eval_app.command("list")
def list_() -> None:
    """List suites and their tasks, marking tasks not importable yet."""
    from clearinghouse.evals.suite import SUITES, task_status

    table = Table()
    for column in ("suite", "task", "status"):
        table.add_column(column)
    for suite in SUITES:
        for dotted, why in task_status(suite).items():
            table.add_row(suite, dotted, "ok" if why is None else f"unavailable ({why})")
    console.print(table)
