"""`clearinghouse eval`: the smoke suite runs end to end with no network and leaves a readable Inspect log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clearinghouse.cli.evals import eval_app
from clearinghouse.evals import suite
from clearinghouse.evals.sandbox import INSTALL_HINT


def _offline_prefix() -> tuple[list[str], dict[str, str]]:
    """A network namespace with nothing in it when we may create one; otherwise proxies that go nowhere."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--net", "--"], {}
    dead = "http://127.0.0.1:9"
    return [], {"HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead, "http_proxy": dead, "NO_PROXY": ""}


@pytest.fixture
def bwrap() -> None:
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must provide bubblewrap: {INSTALL_HINT}")
        pytest.skip(f"bwrap is not installed: {INSTALL_HINT}")


ENTRY_POINTS = {
    # the real command
    "clearinghouse": ["-m", "clearinghouse", "eval"],
    # the eval sub-app alone: isolates this feature from import problems elsewhere in the CLI
    "eval-app": ["-c", "from clearinghouse.cli.evals import eval_app; eval_app(prog_name='clearinghouse eval')"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_smoke_suite_runs_offline_and_logs_under_home(bwrap: None, tmp_path: Path, entry: str) -> None:
    from inspect_ai.log import read_eval_log

    home = tmp_path / "home"
    prefix, extra_env = _offline_prefix()
    env = {
        **os.environ,
        **extra_env,
        "CLEARINGHOUSE_HOME": str(home),
        # an empty cache: the real o200k table cannot come from a previous online run
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"),
    }
    cmd = [sys.executable, *ENTRY_POINTS[entry], "run", "--suite", "smoke", "--model", "mockllm/model"]
    cmd += ["--limit", "1", "--display", "none"]
    result = subprocess.run(prefix + cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    [log_file] = list((home / "eval-logs").glob("*.eval"))
    log = read_eval_log(str(log_file))
    assert log.status == "success"
    assert log.eval.model == "mockllm/model"
    assert log.samples is not None and len(log.samples) == 1


def test_list_shows_suites() -> None:
    result = CliRunner().invoke(eval_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "sandbox_smoke" in result.output and "cyber" in result.output


def test_missing_tasks_are_skipped_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        suite.SUITES, "partial", ["clearinghouse.evals.not_written_yet:task", "clearinghouse.evals.smoke:sandbox_smoke"]
    )
    loaded = suite.load_suite("partial")
    assert loaded.loaded == ["clearinghouse.evals.smoke:sandbox_smoke"]
    assert "does not exist yet" in loaded.skipped["clearinghouse.evals.not_written_yet:task"]
    assert loaded.agentic


def test_unknown_suite_is_a_domain_error() -> None:
    from clearinghouse.errors import NotFound

    with pytest.raises(NotFound):
        suite.load_suite("nope")


def test_a_task_without_samples_in_the_source_is_skipped_with_a_reason() -> None:
    from clearinghouse.evals.suite import load_suite

    # The bundled 63-record sample has no advisory that states its CWE; the other knowledge tasks have samples.
    loaded = load_suite("cyber")
    assert "clearinghouse.evals.knowledge:cwe_prediction" in loaded.skipped
    assert "source=FILE" in loaded.skipped["clearinghouse.evals.knowledge:cwe_prediction"]
    assert "clearinghouse.evals.knowledge:cvss_prediction" in loaded.loaded
