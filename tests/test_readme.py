"""The README's examples, run as written from the working tree, so that they cannot rot.

Every `clearinghouse` command of its ``sh`` blocks runs in a shell, from a scratch directory laid out like a
clone (`examples/`, `.venv/bin/clearinghouse`), against a temporary home holding what `clearinghouse demo` puts
there from the bundled sample. Commands shown with their output (``console`` blocks) must print that output.
The examples build on each other as a reader types them (an organisation made by one is used by the next), so they
run as one sequence in the README's order, each once (`Transcript`): a test of one example gets its run after all
those above it, whichever tests ran before it and on whichever pytest-xdist worker.
The bodies of the `curl` examples are posted to the API. Left out, each for the reason given in `_NOT_RUN`:
commands that serve forever, run a model evaluation, or name placeholders (LOGS, MODEL_ID).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings
from clearinghouse.feeds.signing import KEY_DIRECTORY
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore
from tests.conftest import stop_gpg_agent

# One worker runs the sequence once, rather than each worker of pytest -n running it up to its share of the tests.
pytestmark = pytest.mark.xdist_group("readme")

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


def _blocks_in_order() -> list[tuple[str, str]]:
    """(kind, body) of every sh and console block, in the README's order."""
    return [
        (block_kind, "\n".join(line.removeprefix(indent) for line in body.splitlines()))
        for indent, block_kind, body in _BLOCK.findall(README)
    ]


def _blocks(kind: str) -> list[str]:
    return [body for block_kind, body in _blocks_in_order() if block_kind == kind]


def _commands(block: str) -> list[str]:
    """The block's lines, continuation lines joined."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _is_clearinghouse(command: str) -> bool:
    return shlex.split(command, comments=True)[0] in ("clearinghouse", ".venv/bin/clearinghouse")


def _runnable(command: str) -> bool:
    return _is_clearinghouse(command) and not any(marker in command for marker in _NOT_RUN)


@dataclass(frozen=True)
class Example:
    """A runnable command of the README, `position` in the order a reader meets them; `shown` is the output printed
    under it (``console`` blocks), None for an ``sh`` block's command."""

    position: int
    command: str
    shown: str | None


def _console_examples(block: str) -> list[tuple[str, str | None]]:
    """($ command, the output shown under it) from a console block, for the commands that can run."""
    examples: list[tuple[str, str | None]] = []
    pieces = re.split(r"^\$ ", block, flags=re.MULTILINE)
    for piece in pieces[1:]:
        command_lines: list[str] = []
        lines = piece.splitlines()
        while lines and (not command_lines or command_lines[-1].endswith("\\")):
            command_lines.append(lines.pop(0))
        command = " ".join(line.rstrip("\\").strip() for line in command_lines)
        if _runnable(command):
            examples.append((command, "\n".join(lines)))  # what is left under the command: its output
    return examples


def _examples() -> list[Example]:
    """Every runnable example of the README, of sh and console blocks alike, in the README's order."""
    found: list[tuple[str, str | None]] = []
    for kind, block in _blocks_in_order():
        if kind == "sh":
            found += [(command, None) for command in _commands(block) if _runnable(command)]
        else:
            found += _console_examples(block)
    return [Example(position, command, shown) for position, (command, shown) in enumerate(found)]


EXAMPLES = _examples()


class Transcript:
    """The README's examples run in one clone in the README's order, each once, on demand: asking for an example's
    run first runs every example above it that has not run yet. Every test thus sees what a reader typing the
    README in order sees, whichever of them run (`-k`, a single test) and however pytest-xdist shares them out."""

    def __init__(self, where: Path, env: dict[str, str]) -> None:
        self.where, self.env = where, env
        self.runs: list[subprocess.CompletedProcess[str]] = []

    def run_through(self, example: Example) -> subprocess.CompletedProcess[str]:
        while len(self.runs) <= example.position:
            command = EXAMPLES[len(self.runs)].command
            self.runs.append(
                subprocess.run(
                    ["bash", "-c", command], cwd=self.where, env=self.env, capture_output=True, text=True, timeout=300
                )
            )
        return self.runs[example.position]


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Transcript]:
    """A directory laid out like a fresh clone after the Quick start's first command (without --serve), and the
    examples' runs in it."""
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
    yield Transcript(where, env)
    stop_gpg_agent(where / ".clearinghouse" / KEY_DIRECTORY)  # the demo and `feeds csaf-build` sign with its key


def test_the_readme_runs_the_examples_it_names() -> None:
    commands = [c for block in _blocks("sh") for c in _commands(block) if _is_clearinghouse(c)]
    assert sum(_runnable(c) for c in commands) >= 5, "the README lost its examples, or this test lost track"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.shown is None], ids=lambda e: e.command[:60])
def test_a_readme_command_runs(transcript: Transcript, example: Example) -> None:
    done = transcript.run_through(example)
    assert done.returncode == 0, f"{example.command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.shown is not None], ids=lambda e: f"{e.command[:60]}-{str(e.shown)[:60]}"
)
def test_a_readme_console_example_prints_what_it_shows(transcript: Transcript, example: Example) -> None:
    done = transcript.run_through(example)
    assert (done.stdout + done.stderr).strip() == str(example.shown).strip()


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
