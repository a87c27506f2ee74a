"""The CLI tests' runner: `clearinghouse` in process, on the test store of each back end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from clearinghouse.cli.main import run


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["clearinghouse", *map(str, args)])
        try:
            run()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys, monkeypatch)
