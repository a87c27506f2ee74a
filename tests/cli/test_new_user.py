"""What a new user runs into first: commands run outside the project, a port already taken, the demo on data
without known-exploited records, and what the import shows while it runs."""

from __future__ import annotations

import gzip
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from clearinghouse.cli.main import run
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore
from tests.conftest import SAMPLE, sample_documents


def clearinghouse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["clearinghouse", *map(str, args)])
    try:
        run()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory outside any project, with no CLEARINGHOUSE_* settings: the default home is ./.clearinghouse."""
    for variable in ("CLEARINGHOUSE_HOME", "CLEARINGHOUSE_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["show", "CVE-2021-3177"],
        ["affected", "-e", "PyPI", "-p", "jinja2", "-v", "2.10"],
        ["stats"],
        ["export", "--format", "osv", "--out", "out"],
        ["audit", "verify"],
    ],
)
def test_commands_that_only_read_refuse_to_create_a_store(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, _, err = clearinghouse(monkeypatch, capsys, *command)
    assert code == 2 and "Traceback" not in err
    assert f"no store at {elsewhere / '.clearinghouse' / 'clearinghouse.db'}" in err and "CLEARINGHOUSE_HOME" in err
    assert not (elsewhere / ".clearinghouse").exists() and not (elsewhere / "out").exists()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", [["serve"], ["demo", "--serve"]])
def test_a_port_in_use_is_one_message_and_an_exit_status(
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    taken_port: int,
    command: list[str],
) -> None:
    code, out, err = clearinghouse(monkeypatch, capsys, *command, "--host", "127.0.0.1", "--port", str(taken_port))
    assert code == 2
    assert err.strip() == (
        f"error: port {taken_port} on 127.0.0.1 is already in use (another server, or an earlier `clearinghouse "
        "serve` or `demo --serve`?): stop it, or choose another port with --port"
    )
    assert "token" not in out and "Traceback" not in err
    assert not (elsewhere / ".clearinghouse").exists()  # refused before anything was imported


def test_the_demo_on_data_without_known_exploited_records_exports_nothing(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = elsewhere / "go.jsonl"
    dataset.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in sample_documents() if d["id"].startswith("GO-")))
    empty_kev = elsewhere / "kev.json"
    empty_kev.write_bytes(
        orjson.dumps(
            {
                "title": "t",
                "catalogVersion": "2026.01.01",
                "dateReleased": "2026-01-01T00:00:00.000Z",
                "count": 0,
                "vulnerabilities": [],
            }
        )
    )
    code, out, err = clearinghouse(monkeypatch, capsys, "demo", "--dataset", dataset, "--kev", empty_kev)
    assert code == 0, err
    assert "No record is known exploited: nothing to export" in out
    assert "Export the" not in out and not (elsewhere / "export").exists()


def test_the_demo_reports_kev_marks_once_the_records_are_there_and_exports_what_it_says(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = clearinghouse(monkeypatch, capsys, "demo", "--dataset", SAMPLE)
    assert code == 0, err
    assert "0 known exploited" not in out and "0 records marked known exploited" not in out
    (line,) = [line for line in out.splitlines() if "Export the" in line]
    exported = int(line.split("Export the ")[1].split()[0])
    assert exported > 0
    assert len(list((elsewhere / "export" / "osv").iterdir())) == exported
    assert f"wrote {exported} osv file{'s' if exported > 1 else ''} to" in out


def test_the_import_reports_progress_in_bytes_of_the_input_up_to_its_size(tmp_path: Path) -> None:
    packed = tmp_path / "sample.jsonl.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    store = RecordStore(create_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    migrate(store.engine)
    seen: list[int] = []
    ImportPipeline(store, workers=0, batch_size=10, on_bytes=seen.append).run([packed])
    assert seen == sorted(seen) and len(seen) > 1
    assert seen[-1] == packed.stat().st_size  # the bar's total: the file's size as stored
