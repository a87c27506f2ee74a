# ruff: noqa: F811  (the frontier API fixtures are imported, then requested by name)
"""Evaluation results feed the frontier review: a real Inspect run (mockllm, offline) is summarised with
intervals, stored against a registered model with `clearinghouse eval record`, and a determination whose
criteria name that metric cites the run. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from clearinghouse.evals import knowledge
from clearinghouse.evals.sandbox import INSTALL_HINT
from clearinghouse.frontier.service import FrontierService
from clearinghouse.policy import Operator
from tests.cli.test_frontier_cli import invoke
from tests.frontier.test_frontier_api import API, CRITERIA, client, ok, orgs, people  # noqa: F401  (fixtures)

# The example criteria, with the benchmark criterion on a knowledge metric a mockllm run can produce.
KNOWLEDGE_CRITERIA = CRITERIA.replace("id: eo-covered-frontier-models", "id: knowledge-criteria").replace(
    "metric: ctf_solve_rate", "metric: cvss_metric_accuracy"
)


def _answers(texts: list[str]) -> list[ModelOutput]:
    outputs = []
    for text in texts:
        output = ModelOutput.from_content("mockllm/model", f"ANSWER: {text}")
        output.usage = ModelUsage(input_tokens=100, output_tokens=10, total_tokens=110)  # no tiktoken needed
        outputs.append(output)
    return outputs


def cvss_run(log_dir: Path, right: bool) -> Path:
    task = knowledge.cvss_prediction(limit=4, seed=5)
    targets = [str(sample.target) for sample in task.dataset]
    model = get_model("mockllm/model", custom_outputs=_answers(targets if right else ["not a vector"] * 4))
    (log,) = inspect_eval(task, model=model, log_dir=str(log_dir), display="none")
    assert log.status == "success", log.error
    return log_dir


def register(client: TestClient, people: dict[str, dict[str, str]], version: str) -> str:
    model = client.post(
        f"{API}/models",
        json={"name": "Meridian", "version": version, "modality": "text", "training_compute_flop": 1e24},
        headers=people["developer"],
    )
    return str(ok(model, 201)["id"])


@pytest.mark.usefixtures("cli_env")
def test_a_stored_run_decides_the_benchmark_criterion(
    client: TestClient,
    people: dict[str, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evaluator = people["evaluator"]
    ok(client.post(f"{API}/criteria", json={"yaml": KNOWLEDGE_CRITERIA}, headers=evaluator), 201)
    strong, weak = register(client, people, "strong"), register(client, people, "weak")
    strong_logs, weak_logs = cvss_run(tmp_path / "strong", right=True), cvss_run(tmp_path / "weak", right=False)

    code, out, _ = invoke(capsys, monkeypatch, "eval", "scores", strong_logs, "--json")
    assert code == 0
    summary = orjson.loads(out)
    metric = summary["metrics"]["cvss_metric_accuracy"]
    assert metric["value"] == 1.0 and metric["ci_low"] <= 1.0 <= metric["ci_high"]
    assert summary["suite"] == "clearinghouse-cyber" and summary["model"] == "mockllm/model"

    for model_id, logs in ((strong, strong_logs), (weak, weak_logs)):
        code, out, err = invoke(capsys, monkeypatch, "eval", "record", model_id, logs)
        assert code == 0, err
        assert f"against frontier model {model_id}" in out

    decisions = {}
    for model_id in (strong, weak):
        decided = client.post(
            f"{API}/models/{model_id}/determinations", json={"criteria_id": "knowledge-criteria"}, headers=evaluator
        )
        cyber = next(r for r in ok(decided, 201)["results"] if r["name"] == "offensive_cyber_capability")
        decisions[model_id] = (cyber["outcome"], cyber["observed"], cyber["run_id"])
    assert decisions[strong] == ("met", 1.0, summary["run_id"])
    assert decisions[weak][:2] == ("not_met", 0.0)


@pytest.mark.usefixtures("cli_env")
def test_recording_against_an_unknown_model_or_without_logs_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = cvss_run(tmp_path / "logs", right=True)
    code, _, err = invoke(capsys, monkeypatch, "eval", "record", "no-such-model", logs)
    assert code != 0 and "no-such-model" in err
    (tmp_path / "empty").mkdir()
    code, _, err = invoke(capsys, monkeypatch, "eval", "scores", tmp_path / "empty")
    assert code != 0 and "no Inspect evaluation logs" in err


@pytest.mark.usefixtures("cli_env")
def test_the_latest_run_decides_and_runs_compare(
    client: TestClient,
    people: dict[str, dict[str, str]],
    engine: sa.Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evaluator = people["evaluator"]
    ok(client.post(f"{API}/criteria", json={"yaml": KNOWLEDGE_CRITERIA}, headers=evaluator), 201)
    model_id = register(client, people, "retested")
    weak_logs, strong_logs = cvss_run(tmp_path / "weak", right=False), cvss_run(tmp_path / "strong", right=True)
    run_ids = {}
    for name, logs in (("weak", weak_logs), ("strong", strong_logs)):
        code, out, err = invoke(capsys, monkeypatch, "eval", "record", model_id, logs)
        assert code == 0, err
        run_ids[name] = orjson.loads(invoke(capsys, monkeypatch, "eval", "scores", logs, "--json")[1])["run_id"]
        assert f"stored evaluation run {run_ids[name]}" in out

    stored = FrontierService(engine).evaluation_runs(Operator("test"), model_id)
    assert [run["run_id"] for run in stored] == [run_ids["weak"], run_ids["strong"]]
    assert all(run["recorded_by"].startswith("cli:") for run in stored)
    assert set(stored[1]["metrics"]["cvss_metric_accuracy"]) == {"value", "ci_low", "ci_high"}

    decided = client.post(
        f"{API}/models/{model_id}/determinations", json={"criteria_id": "knowledge-criteria"}, headers=evaluator
    )
    cyber = next(r for r in ok(decided, 201)["results"] if r["name"] == "offensive_cyber_capability")
    assert (cyber["outcome"], cyber["observed"], cyber["run_id"]) == ("met", 1.0, run_ids["strong"])

    code, out, _ = invoke(capsys, monkeypatch, "eval", "scores", strong_logs)
    assert code == 0 and "cvss_metric_accuracy" in out and "100.0%" in out
    code, out, _ = invoke(capsys, monkeypatch, "eval", "compare", "--a", strong_logs, "--b", weak_logs)
    row = next(line for line in out.splitlines() if "cvss_metric_accuracy" in line)
    assert code == 0 and "+100.0 pts" in row and row.rstrip(" │").endswith("yes")


def test_eval_run_stores_its_scores_with_frontier_model(
    cli_env: Path,
    client: TestClient,
    people: dict[str, dict[str, str]],
    engine: sa.Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip(f"bwrap is not installed: {INSTALL_HINT}")
    model_id = register(client, people, "smoke")
    args = ("eval", "run", "--suite", "smoke", "--model", "mockllm/model", "--limit", "1", "--display", "none")
    code, out, err = invoke(capsys, monkeypatch, *args, "--frontier-model", model_id)
    assert code == 0, err
    (stored,) = FrontierService(engine).evaluation_runs(Operator("test"), model_id)
    assert f"stored evaluation run {stored['run_id']}" in out
    assert stored["suite"] == "clearinghouse-cyber" and "sandbox_smoke" in stored["metrics"]

    assert len(list((cli_env / "eval-logs").glob("*.eval"))) == 1

    # An unknown model is refused before the suite runs: no second log.
    code, _, err = invoke(capsys, monkeypatch, *args, "--frontier-model", "no-such-model")
    assert code != 0 and "no frontier model with id 'no-such-model'" in err
    assert len(list((cli_env / "eval-logs").glob("*.eval"))) == 1
