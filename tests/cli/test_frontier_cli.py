"""`clearinghouse frontier`: offline self-assessment on the examples, malformed criteria, and the store commands."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from clearinghouse.cli.main import run
from clearinghouse.frontier.service import AccessOffer, FrontierService, ModelRegistration
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.identity import IdentityStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "frontier"
CRITERIA = EXAMPLES / "criteria.yaml"


def invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str | Path
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["clearinghouse", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        run()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_assess_the_covered_example(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = invoke(
        capsys, monkeypatch, "frontier", "assess", "--criteria", CRITERIA, "--model", EXAMPLES / "covered-model.yaml"
    )
    assert code == 0
    assert "Meridian 4.0: COVERED under eo-covered-frontier-models@1" in out
    assert "ctf_solve_rate = 0.62 in run ctf-2026-11-20-meridian-4" in out
    assert "never" in out or "nothing here blocks a release" in out


def test_assess_the_not_covered_example_as_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = invoke(
        capsys,
        monkeypatch,
        "frontier",
        "assess",
        "--criteria",
        CRITERIA,
        "--model",
        EXAMPLES / "not-covered-model.yaml",
        "--json",
    )
    assert code == 0
    result = orjson.loads(out)
    assert result["coverage"] == "not_covered" and result["criteria"] == "eo-covered-frontier-models@1"
    compute = next(r for r in result["results"] if r["kind"] == "training_compute")
    assert (compute["observed"], compute["threshold"], compute["outcome"]) == (4.0e24, 1e26, "not_met")


def test_a_model_without_results_needs_evaluation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = tmp_path / "m.yaml"
    model.write_text("name: Quiet\nversion: '1'\ndeveloper: Lab\ntraining_compute_flop: 1e25\n")
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "assess", "--criteria", CRITERIA, "--model", model)
    assert code == 0 and "NEEDS_EVALUATION" in out and "needed: needs a clearinghouse-cyber ctf_solve_rate" in out


def test_malformed_criteria_name_file_line_and_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-criteria.yaml"
    text = CRITERIA.read_text().replace("      threshold: 0.5", "      threshold: half")
    bad.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "threshold: half" in row)
    code, out, err = invoke(
        capsys, monkeypatch, "frontier", "assess", "--criteria", bad, "--model", EXAMPLES / "covered-model.yaml"
    )
    assert code != 0 and out == ""
    message = " ".join(err.split())
    assert f"{bad}:{line}" in message
    assert "field criteria.offensive_cyber_capability.benchmark.threshold" in message


def test_a_malformed_model_file_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = tmp_path / "m.yaml"
    model.write_text("name: X\nversion: '1'\ndeveloper: Lab\ntraining_compute_flop: lots\n")
    code, _, err = invoke(capsys, monkeypatch, "frontier", "assess", "--criteria", CRITERIA, "--model", model)
    assert code != 0 and f"{model}:4" in " ".join(err.split()) and "training_compute_flop" in err


def test_demo_then_reminders_and_report(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, err = invoke(capsys, monkeypatch, "frontier", "demo")
    assert code == 0, err
    assert "government determination: covered" in out and "partner uses its grant" in out
    assert (cli_env / "frontier-demo" / "final-report.pdf").read_bytes().startswith(b"%PDF")
    model_id = orjson.loads(out.split("register model: ", 1)[1].splitlines()[0])["id"]
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "report", model_id, "--out", tmp_path / "r.pdf")
    assert code == 0 and (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "report", model_id, "--out", tmp_path / "r.html")
    assert code == 0 and "Meridian" in (tmp_path / "r.html").read_text()
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "reminders", "--json")
    assert code == 0 and orjson.loads(out) == []  # the demo's window ended in a final report: nothing open


def test_reminders_for_an_open_window(
    cli_env: Path, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(database_url)
    migrate(engine)
    identity = IdentityStore(engine)
    identity.create_organisation("Northwind AI", OrgKind.AI_DEVELOPER)
    developer = identity.authenticate(identity.create_token("Northwind AI", "dev", Role.VENDOR).plaintext)
    service = FrontierService(engine)
    model = service.register_model(developer, ModelRegistration("Meridian", "5.0", "text"))
    release = datetime.now(UTC).date() + timedelta(days=10)
    service.offer(developer, model["id"], AccessOffer(release, "https://api.example/preview"))
    engine.dispose()
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "reminders")
    assert code == 0
    assert "Meridian 5.0: access_confirmed is due in 2 days" in out
    later = (release - timedelta(days=1)).isoformat()
    code, out, _ = invoke(capsys, monkeypatch, "frontier", "reminders", "--on", later, "--json")
    due = {r["milestone"]: r for r in orjson.loads(out)}
    assert due["final_report"]["days_left"] == 0 and due["access_confirmed"]["overdue"] is True
