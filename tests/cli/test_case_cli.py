"""`clearinghouse case` and `clearinghouse vendor` on each back end: the demo walk, step commands with a token, and
refusals as one error line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from clearinghouse.config import Settings
from clearinghouse.identity.model import OrgKind, Role
from clearinghouse.schemas import schema_errors
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import IdentityStore
from tests.cli.conftest import Cli


def test_the_demo_walks_a_case_to_published_files(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("case", "demo", "--out", tmp_path / "published")
    assert code == 0, err
    assert "no vendor on file: pkg:npm/demo-unclaimed" in out
    assert "early publication: publication refused: the gate is closed until the public date" in out
    assert "patch tracking: flagged: 3.1.1 is inside an affected range of PyPI/demo-templates" in out
    [osv_file] = (tmp_path / "published" / "osv").iterdir()
    [csaf_file] = (tmp_path / "published" / "csaf").iterdir()
    [cve_file] = (tmp_path / "published" / "cve5").iterdir()
    assert schema_errors("osv", json.loads(osv_file.read_text())) == []
    assert schema_errors("csaf-2.0", json.loads(csaf_file.read_text())) == []
    assert schema_errors("cve5", json.loads(cve_file.read_text())) == []
    code, out, _ = cli("case", "list", "--json")
    [case] = json.loads(out)["cases"]
    assert (case["state"], case["tlp"]) == ("published", "CLEAR")


def test_a_vendor_acts_with_its_token_and_is_refused_what_it_may_not(cli: Cli, tmp_path: Path) -> None:
    assert cli("case", "demo", "--out", tmp_path / "published")[0] == 0
    identity = IdentityStore(open_engine(Settings.from_env()))
    identity.create_organisation("Gamma Corp", OrgKind.VENDOR)
    outsider = identity.create_token("Gamma Corp", "gamma", Role.VENDOR).plaintext
    pallets = identity.create_token("Pallets (demo)", "pallets", Role.VENDOR).plaintext
    case_id = json.loads(cli("case", "list", "--json")[1])["cases"][0]["id"]

    code, out, _ = cli("case", "show", case_id, "--zone", "Asia/Tokyo", "--json", "--token", pallets)
    shown = json.loads(out)
    assert code == 0 and [s["organisation"] for s in shown["vendor_statuses"]] == ["Pallets (demo)"]
    assert [m["to"] for m in shown["messages"]] == [shown["vendor_statuses"][0]["organisation_id"]]

    code, _, err = cli("case", "show", case_id, "--token", outsider)
    assert (code, err.strip()) == (2, f"error: no case with id {case_id!r}")
    code, _, err = cli("case", "message", case_id, "hello", "--token", outsider)
    assert (code, err.strip()) == (2, f"error: no case with id {case_id!r}")
    code, _, err = cli("vendor", "declare", "purl", "pkg:*", "--token", outsider)
    assert code == 2 and "matches every package type" in err
    code, _, err = cli("case", "embargo", case_id, "next tuesday", "--zone", "UTC")
    assert code == 2 and "field PUBLIC_AT" in err
    code, out, _ = cli("vendor", "list", "--json", "--token", pallets)
    assert [d["pattern"] for d in json.loads(out)["declarations"]] == ["pkg:pypi/demo-templates"]
