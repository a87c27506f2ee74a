"""The README's examples, run as written from the working tree, so that they cannot rot.

Every `clearinghouse` command of its ``sh`` blocks runs in a shell, from a scratch directory laid out like a
clone (`examples/`, `.venv/bin/clearinghouse`), against a temporary home holding what `clearinghouse demo` puts
there from the bundled sample. Commands shown with their output (``console`` blocks) must print that output.
The bodies of the `curl` examples are posted to the API. Left out, each for the reason given in `_NOT_RUN`:
commands that serve forever, run a model evaluation, or name placeholders (LOGS, MODEL_ID).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
_BLOCK = re.compile(r"^( *)```(sh|console)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
_NOT_RUN = {
    "--serve": "serves until stopped (the demo it starts is run without it)",
    "eval run": "runs a model evaluation (tests/evals run the suite)",
    "LOGS": "a placeholder for log files",
    "MODEL_ID": "a placeholder for a frontier model id",
    "eval record": "needs a frontier model registered by an earlier example",
    "ASSET_ID": "a placeholder for an asset id",
    "ALERT_ID": "a placeholder for an alert id",
    "REPORT_ID": "a placeholder for a report id",
}


def _blocks(kind: str) -> list[str]:
    found = []
    for indent, block_kind, body in _BLOCK.findall(README):
        if block_kind == kind:
            found.append("\n".join(line.removeprefix(indent) for line in body.splitlines()))
    return found


def _commands(block: str) -> list[str]:
    """The block's lines, continuation lines joined."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _is_clearinghouse(command: str) -> bool:
    return shlex.split(command, comments=True)[0] in ("clearinghouse", ".venv/bin/clearinghouse")


def _runnable(command: str) -> bool:
    return _is_clearinghouse(command) and not any(marker in command for marker in _NOT_RUN)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A directory laid out like a fresh clone after the Quick start's first command (without --serve)."""
    where = tmp_path_factory.mktemp("clone")
    (where / "examples").symlink_to(ROOT / "examples")
    (where / ".venv" / "bin").mkdir(parents=True)
    (where / ".venv" / "bin" / "clearinghouse").symlink_to(Path(sys.executable).parent / "clearinghouse")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")},
        "CLEARINGHOUSE_HOME": str(where / ".clearinghouse"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "200",
    }
    demo = subprocess.run(
        [".venv/bin/clearinghouse", "demo"], cwd=where, env=env, capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stderr
    return where, env


def test_the_readme_runs_the_examples_it_names() -> None:
    commands = [c for block in _blocks("sh") for c in _commands(block) if _is_clearinghouse(c)]
    assert sum(_runnable(c) for c in commands) >= 5, "the README lost its examples, or this test lost track"


@pytest.mark.parametrize(
    "command", [c for block in _blocks("sh") for c in _commands(block) if _runnable(c)], ids=lambda c: c[:60]
)
def test_a_readme_command_runs(clone: tuple[Path, dict[str, str]], command: str) -> None:
    where, env = clone
    done = subprocess.run(["bash", "-c", command], cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def _console_examples() -> list[tuple[str, str]]:
    """($ command, the output shown under it) from the console blocks, for the commands that can run."""
    examples = []
    for block in _blocks("console"):
        pieces = re.split(r"^\$ ", block, flags=re.MULTILINE)
        for piece in pieces[1:]:
            command_lines, output = [], []
            lines = piece.splitlines()
            while lines and (not command_lines or command_lines[-1].endswith("\\")):
                command_lines.append(lines.pop(0))
            output = lines
            command = " ".join(line.rstrip("\\").strip() for line in command_lines)
            if _runnable(command):
                examples.append((command, "\n".join(output)))
    return examples


@pytest.mark.parametrize(("command", "shown"), _console_examples(), ids=lambda c: str(c)[:60])
def test_a_readme_console_example_prints_what_it_shows(
    clone: tuple[Path, dict[str, str]], command: str, shown: str
) -> None:
    where, env = clone
    done = subprocess.run(["bash", "-c", command], cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert (done.stdout + done.stderr).strip() == shown.strip()


def _curl_bodies() -> list[str]:
    return [
        body
        for block in _blocks("sh")
        if block.lstrip().startswith("curl")
        for body in re.findall(r"<<'EOF'\n(.*?)\nEOF", block, flags=re.DOTALL)
    ]


def test_the_readme_shows_one_submission_of_each_kind() -> None:
    assert sorted(orjson.loads(body)["kind"] for body in _curl_bodies()) == ["osv", "sarif", "structured"]


@pytest.mark.parametrize("body", _curl_bodies(), ids=lambda b: orjson.loads(b)["kind"])
def test_a_readme_submission_is_accepted_with_the_demo_token(tmp_path: Path, body: str) -> None:
    settings = Settings.from_env({"CLEARINGHOUSE_HOME": str(tmp_path / "home")})
    identity = IdentityStore(open_engine(settings))
    identity.create_organisation("Demo Clearinghouse", OrgKind.CLEARINGHOUSE)
    token = identity.create_token("Demo Clearinghouse", "demo-analyst", Role.ANALYST).plaintext  # as the demo does
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/api/v1/reports",
            content=body.encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "received"
