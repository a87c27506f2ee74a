"""The `clearinghouse` command line, end to end on each store back end."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from clearinghouse.schemas import schema_errors
from tests.cli.conftest import Cli
from tests.conftest import KEV_SAMPLE, SAMPLE, sample_documents


def test_import_show_stats(cli: Cli) -> None:
    code, out, _ = cli("import", SAMPLE)
    assert code == 0, out
    assert f"read {len(sample_documents())} records: {len(sample_documents())} new" in out

    code, out, _ = cli("show", "CVE-2022-21736", "--json")
    assert code == 0
    assert {d["id"] for d in orjson.loads(out)} == {
        "BIT-tensorflow-2022-21736",
        "PYSEC-2022-115",
        "PYSEC-2022-60",
    }

    code, out, _ = cli("show", "PYSEC-2022-60")
    assert code == 0 and "PYSEC-2022-60" in out and "BIT-tensorflow-2022-21736" in out  # same vulnerability

    code, out, _ = cli("stats", "--json")
    stats = orjson.loads(out)
    assert stats["records"] == len(sample_documents())
    assert stats["by_source"]["Go Vulnerability Database"] == sum(d["id"].startswith("GO-") for d in sample_documents())
    assert stats["processing"] == {"queued_reports": 0, "oldest_queued_seconds": 0.0, "steps": []}


def test_reimport_is_idempotent_and_kev_marks_records(cli: Cli) -> None:
    cli("import", SAMPLE)
    code, out, _ = cli("import", SAMPLE)
    assert code == 0 and "0 new, 0 updated" in out
    code, out, _ = cli("import-kev", KEV_SAMPLE)
    assert code == 0 and "records marked known exploited" in out
    marked = int(out.split("; ")[1].split()[0])
    assert marked > 0
    code, out, _ = cli("stats", "--json")
    assert orjson.loads(out)["known_exploited"] == marked


def test_a_bad_record_is_reported_with_file_line_and_field_and_the_rest_kept(cli: Cli, tmp_path: Path) -> None:
    documents = sample_documents()[:3]
    bad = dict(documents[1], modified="2023-02-30T00:00:00Z")
    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(gzip.compress(b"".join(orjson.dumps(d) + b"\n" for d in [documents[0], bad, documents[2]])))
    code, out, err = cli("import", feed)
    assert code == 1
    assert f"{feed}:2, record {bad['id']}, field $.modified" in err and "not a real date" in err
    assert "2 new" in out and "1 failed" in out
    assert cli("show", documents[0]["id"], "--json")[0] == 0
    assert cli("show", bad["id"], "--json")[0] == 2


def test_unknown_things_get_one_clear_message(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("affected", "--ecosystem", "Foo", "--package", "x", "--version", "1")
    assert code == 2 and "unknown ecosystem 'Foo'" in err and "Traceback" not in err
    cli("db", "upgrade")
    code, _, err = cli("show", "CVE-1999-0001")
    assert code == 2 and "no record has the id or alias 'CVE-1999-0001'" in err
    code, _, err = cli("import-kev", tmp_path / "missing.json")
    assert code == 2 and "missing.json" in err
    broken = tmp_path / "kev.json"
    broken.write_text('{"title": "x"}')
    code, _, err = cli("import-kev", broken)
    assert code == 2 and "kev.json" in err and "required" in err


def test_affected_uses_ecosystem_version_rules(cli: Cli) -> None:
    cli("import", SAMPLE)
    document = next(
        d
        for d in sample_documents()
        if d["id"].startswith("PYSEC")
        and any(
            e.get("introduced", "0") != "0" for a in d["affected"] for r in a.get("ranges", []) for e in r["events"]
        )
    )
    entry = next(
        a
        for a in document["affected"]
        if any(e.get("introduced", "0") != "0" for r in a.get("ranges", []) for e in r["events"])
    )
    introduced = next(e["introduced"] for r in entry["ranges"] for e in r["events"] if e.get("introduced", "0") != "0")
    code, out, _ = cli("affected", "-e", "pypi", "-p", entry["package"]["name"].upper(), "-v", introduced, "--json")
    assert code == 0
    assert document["id"] in {orjson.loads(line)["id"] for line in out.splitlines()}
    code, out, _ = cli("affected", "-e", "PyPI", "-p", entry["package"]["name"], "-v", "0.0.0.dev0", "--json")
    assert document["id"] not in {orjson.loads(line)["id"] for line in out.splitlines()}


@pytest.mark.parametrize(("export_format", "schema"), [("osv", "osv"), ("csaf", "csaf-2.0"), ("cve5", "cve5")])
def test_export_writes_valid_files(cli: Cli, tmp_path: Path, export_format: str, schema: str) -> None:
    cli("import", SAMPLE)
    out_dir = tmp_path / export_format
    code, out, _ = cli("export", "--format", export_format, "--out", out_dir)
    assert code == 0, out
    files = sorted(out_dir.glob("*.json"))
    assert files and f"wrote {len(files)} {export_format} files" in out
    for file in files:
        assert schema_errors(schema, orjson.loads(file.read_bytes())) == [], file.name
    if export_format == "osv":
        assert {f.stem for f in files} == {d["id"] for d in sample_documents()}


def test_export_of_a_record_that_cannot_be_cve5_fails_by_name(cli: Cli, tmp_path: Path) -> None:
    cli("import", SAMPLE)
    no_cve = next(d["id"] for d in sample_documents() if not any(a.startswith("CVE-") for a in d.get("aliases") or []))
    code, _, err = cli("export", "--format", "cve5", "--out", tmp_path, no_cve)
    assert code == 1 and no_cve in err


def test_export_of_an_id_osv_does_not_know_fails_by_name(cli: Cli, tmp_path: Path) -> None:
    private = {**sample_documents()[0], "id": "ACME-2026-17", "aliases": []}
    feed = tmp_path / "private.json"
    feed.write_bytes(orjson.dumps(private))
    assert cli("import", feed)[0] == 0  # the store keeps a private database's ids
    code, _, err = cli("export", "--format", "osv", "--out", tmp_path / "out", "ACME-2026-17")
    assert code == 1 and "ACME-2026-17 has no OSV id" in err
    assert not (tmp_path / "out" / "ACME-2026-17.json").exists()


def test_a_50_mb_record_is_refused_by_name_and_its_neighbours_kept(cli: Cli, tmp_path: Path) -> None:
    good = sample_documents()[0]
    huge = {"id": "PYSEC-2099-50", "modified": "2024-01-01T00:00:00Z", "details": "A" * (50 * 1024 * 1024)}
    feed = tmp_path / "huge.jsonl"
    feed.write_bytes(orjson.dumps(huge) + b"\n" + orjson.dumps(good) + b"\n")
    code, out, err = cli("import", feed)
    assert code == 1
    assert f"{feed}:1" in err and "over the 16,777,216-byte limit" in err
    assert "1 new" in out
    assert cli("show", good["id"], "--json")[0] == 0


def test_admin_creates_organisations_and_tokens_shown_once(cli: Cli) -> None:
    code, out, _ = cli("admin", "create-org", "Water Co", "--kind", "critical-infrastructure", "--sector", "energy")
    assert code == 0 and "critical-infrastructure organisation 'Water Co'" in out
    code, _, err = cli("admin", "create-org", "Grid", "--kind", "critical-infrastructure")
    assert code == 2 and "needs a sector" in err
    code, out, _ = cli("admin", "create-token", "--org", "Water Co", "--user", "pat", "--role", "partner")
    assert code == 0
    token = out.strip().splitlines()[-1]
    token_id = token.split("_")[1]
    assert token.startswith("chk_") and f"token id {token_id}" in out
    code, _, err = cli("admin", "create-token", "--org", "Water Co", "--user", "pat", "--role", "analyst")
    assert code == 2 and "not analyst" in err
    assert cli("admin", "revoke-token", token_id)[0] == 0
    code, _, err = cli("admin", "revoke-token", token_id)
    assert code == 2 and "no active token" in err
