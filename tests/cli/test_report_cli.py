"""`clearinghouse report` and `admin list-tokens`: the API's service and access rules, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tests.api.test_reports_api import structured
from tests.cli.conftest import Cli
from tests.conftest import sample_documents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _token(cli: Cli, org: str, kind: str, user: str, role: str) -> str:
    cli("admin", "create-org", org, "--kind", kind)
    code, out, err = cli("admin", "create-token", "--org", org, "--user", user, "--role", role)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def _listed(cli: Cli, *args: str) -> dict[str, object]:
    code, out, err = cli("report", "list", "--json", *args)
    assert code == 0, err
    listed: dict[str, object] = json.loads(out)
    return listed


def test_submit_list_show_and_move_a_report(cli: Cli, tmp_path: Path) -> None:
    finder = _token(cli, "Finder Labs", "reporter", "fin", "reporter")
    other = _token(cli, "Other Lab", "reporter", "oli", "reporter")
    analyst = _token(cli, "Clearinghouse", "clearinghouse", "ana", "analyst")

    report = tmp_path / "report.json"
    report.write_bytes(orjson.dumps(structured()["report"]))  # a bare structured report
    osv_record = tmp_path / "osv.json"
    osv_record.write_bytes(orjson.dumps(sample_documents()[0]))
    code, out, err = cli("report", "submit", report, "--token", finder, "--origin", "ai", "--model", "m-1", "--json")
    assert code == 0, err
    (report_id,) = json.loads(out)["report_ids"]
    assert cli("report", "submit", osv_record, "--token", finder)[0] == 0
    code, out, err = cli(
        "report", "submit", FIXTURES / "bandit-1.9.4.sarif", "--token", other, "--origin", "ai", "--tool", "bandit",
        "--product", "pkg:pypi/vulnapp", "--product-version", "1.0",
    )  # fmt: skip
    assert code == 0 and out.count("received ") == 5, err

    assert _listed(cli, "--token", finder)["total"] == 2  # its own organisation's only
    assert _listed(cli, "--token", analyst)["total"] == 7  # the analysts' queue
    assert _listed(cli)["total"] == 7  # the operator of the store
    code, _, err = cli("report", "show", report_id, "--token", other)
    assert code == 2 and "no report with id" in err  # the same answer as for a report that does not exist

    assert cli("worker", "--until-idle")[0] == 0
    code, out, _ = cli("report", "show", report_id, "--token", finder, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["state"] == "triaged" and shown["provenance"]["model"] == "m-1"
    code, out, _ = cli("report", "show", report_id)
    assert code == 0 and "Credibility" in out and report_id in out

    code, _, err = cli("report", "state", report_id, "validated", "--reason", "reproduced", "--token", finder)
    assert code == 2 and "may not do this (needs scope reports:triage)" in err
    code, out, err = cli("report", "state", report_id, "validated", "--reason", "reproduced", "--token", analyst)
    assert code == 0 and "is now validated" in out, err
    code, _, err = cli("report", "state", report_id, "published", "--reason", "skip ahead")
    assert code == 2 and "validated" in err and "published" in err  # the transition table refuses it
    assert [r["id"] for r in _listed(cli, "--state", "validated")["reports"]] == [report_id]  # type: ignore[index]


def test_list_pages_with_a_cursor(cli: Cli, tmp_path: Path) -> None:
    finder = _token(cli, "Finder Labs", "reporter", "fin", "reporter")
    for n in range(3):
        path = tmp_path / f"r{n}.json"
        path.write_bytes(orjson.dumps(structured(title=f"Report number {n}")["report"]))
        assert cli("report", "submit", path, "--token", finder)[0] == 0
    first = _listed(cli, "--limit", "2")
    rest = _listed(cli, "--limit", "2", "--cursor", str(first["next_cursor"]))
    assert first["total"] == rest["total"] == 3 and rest["next_cursor"] is None
    assert len(first["reports"]) + len(rest["reports"]) == 3  # type: ignore[arg-type]
    assert cli("report", "list", "--limit", "501")[0] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"title": "x",\n  oops}', "bad.json:2"),
        (b'{"kind": "structured", "provenance": {"origin": "human"}, "report": {"title": "Short"}}', "bad.json"),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file(cli: Cli, tmp_path: Path, content: bytes, expected: str) -> None:
    finder = _token(cli, "Finder Labs", "reporter", "fin", "reporter")
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, _, err = cli("report", "submit", bad, "--token", finder)
    assert code == 2 and expected in err
    assert _listed(cli)["total"] == 0  # nothing half-written


def test_submitting_needs_a_token_and_a_bad_one_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps(structured()["report"]))
    code, _, err = cli("report", "submit", path)
    assert code == 2 and "needs --token" in err
    code, _, err = cli("report", "submit", path, "--token", "chk_nope_nope")
    assert code == 2 and "token" in err


def test_admin_list_tokens_shows_status_but_never_the_secret(cli: Cli) -> None:
    kept = _token(cli, "Finder Labs", "reporter", "fin", "reporter")
    revoked = _token(cli, "Other Lab", "reporter", "oli", "reporter")
    assert cli("admin", "revoke-token", revoked.split("_")[1])[0] == 0
    code, out, _ = cli("admin", "list-tokens", "--json")
    listed = {t["token_id"]: t for t in json.loads(out)}
    assert code == 0 and len(listed) == 2
    assert listed[kept.split("_")[1]]["status"] == "active" and listed[kept.split("_")[1]]["user"] == "fin"
    assert listed[revoked.split("_")[1]]["status"] == "revoked"
    code, out, _ = cli("admin", "list-tokens", "--org", "Finder Labs")
    assert code == 0 and kept.split("_")[1] in out and revoked.split("_")[1] not in out
    # The whole secret (after the second underscore): a url-safe secret may itself hold '_', and its last piece
    # alone can be one character that the table shows anyway.
    assert kept not in out and kept.split("_", 2)[2] not in out
