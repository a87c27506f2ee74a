"""`clearinghouse reproduce`: an analyst runs a report's reproduction from the command line and reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tests.api.test_reports_api import structured
from tests.cli.conftest import Cli
from tests.cli.test_report_cli import _token
from tests.reproduce.test_oracles import REPRODUCING


def test_an_analyst_reproduces_a_report_from_the_command_line(
    cli: Cli, tmp_path: Path, local_index: Path, reproduce_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the environments live under a home the sandbox's unprivileged host user can traverse
    monkeypatch.setenv("CLEARINGHOUSE_REPRODUCE_OFFLINE", "1")
    monkeypatch.setenv("CLEARINGHOUSE_REPRODUCE_INDEX", str(local_index))
    finder = _token(cli, "Finder Labs", "reporter", "fin", "reporter")
    analyst = _token(cli, "Clearinghouse", "clearinghouse", "ana", "analyst")
    poc, _ = REPRODUCING["secret"]
    report = tmp_path / "report.json"
    report.write_bytes(
        orjson.dumps(
            structured(affected=[{"purl": "pkg:pypi/chvuln", "versions": ["1.0"]}], proof_of_concept=poc)["report"]
        )
    )
    code, out, err = cli("report", "submit", report, "--token", finder, "--origin", "human", "--json")
    assert code == 0, err
    (report_id,) = json.loads(out)["report_ids"]
    monkeypatch.setenv("CLEARINGHOUSE_HOME", str(reproduce_root / "cli-home"))  # the store stays where it is

    code, _, err = cli("reproduce", "run", report_id, "--oracle", "secret", "--token", finder)
    assert code != 0 and "needs scope reports:triage" in err
    code, out, err = cli(
        "reproduce", "run", report_id, "--oracle", "secret", "--fixed", "1.1", "--now", "--token", analyst, "--json"
    )
    assert code == 0, err
    (done,) = json.loads(out)
    assert done["verdict"] == "reproduced", done["reason"]
    assert "read_page" in done["observations"][0]["where"]
    code, out, err = cli("reproduce", "list", report_id, "--token", finder)
    assert code == 0 and "reproduced" in out and "1.0: fired" in out, err
