"""`clearinghouse asset` and `clearinghouse alert` on each back end: upload an SBOM for a partner, see what matched
and why, export the VEX, list and acknowledge alerts; refusals name the file and the field."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.cli.conftest import Cli
from tests.partners.conftest import GO_RECORDS, PROTON_BRIDGE


def test_asset_upload_matches_vex_and_alerts(cli: Cli, tmp_path: Path) -> None:
    assert cli("import", GO_RECORDS)[0] == 0
    assert (
        cli("admin", "create-org", "Mercy Hospital", "--kind", "critical-infrastructure", "--sector", "energy")[0] == 0
    )
    code, out, err = cli("asset", "upload", PROTON_BRIDGE, "--org", "Mercy Hospital", "--name", "bridge", "--json")
    assert code == 0, err
    uploaded = orjson.loads(out)
    asset_id = uploaded["asset"]["id"]
    assert uploaded["kept"] == 201 and uploaded["alerts"] > 0

    code, out, _ = cli("asset", "list")
    assert code == 0 and asset_id in out and "bridge" in out
    code, out, _ = cli("asset", "matches", asset_id)
    assert code == 0 and "GO-2021-0113" in out and "SEMVER range" in out  # golang.org/x/text, with its range

    vex = tmp_path / "vex.json"
    assert cli("asset", "vex", asset_id, "--format", "csaf", "--out", vex)[0] == 0
    document = orjson.loads(vex.read_bytes())
    assert document["document"]["category"] == "csaf_vex"

    code, out, _ = cli("alert", "list", "--json")
    alerts = orjson.loads(out)
    assert code == 0 and len(alerts) == uploaded["alerts"]
    code, out, _ = cli("alert", "ack", alerts[0]["id"], "--note", "upgraded x/text")
    assert code == 0 and "acknowledged" in out
    code, out, _ = cli("alert", "list", "--state", "open", "--json")
    assert len(orjson.loads(out)) == len(alerts) - 1


def test_upload_refusals_name_the_file_and_field(cli: Cli, tmp_path: Path) -> None:
    assert (
        cli("admin", "create-org", "Mercy Hospital", "--kind", "critical-infrastructure", "--sector", "energy")[0] == 0
    )
    assert cli("admin", "create-org", "Acme Software", "--kind", "vendor")[0] == 0
    bad = tmp_path / "bad.cdx.json"
    bad.write_text('{"bomFormat": "CycloneDX", "specVersion": "3.0", "components": []}', "utf-8")
    code, _, err = cli("asset", "upload", bad, "--org", "Mercy Hospital")
    assert code != 0 and str(bad) in err and "specVersion" in err
    code, _, err = cli("asset", "upload", PROTON_BRIDGE, "--org", "Acme Software")
    assert code != 0 and "not a critical-infrastructure" in err
    code, _, err = cli("asset", "matches", "no-such-asset")
    assert code != 0 and "no asset" in err
