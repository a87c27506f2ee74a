"""The real pip-audit, pointed at our OSV API on a real uvicorn server, reports what `clearinghouse affected` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from packaging.version import InvalidVersion, Version

from clearinghouse.cli.main import run
from clearinghouse.store.records import RecordStore
from tests.conftest import sample_documents
from tests.feeds.conftest import LiveServer

PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def _pypi_pins(store: RecordStore) -> dict[str, str]:
    """One pin per PyPI package of the sample: a version something affects where there is one."""
    candidates: dict[str, list[str]] = {}
    for document in sample_documents():
        for entry in document.get("affected") or ():
            package = entry.get("package") or {}
            if package.get("ecosystem") != "PyPI":
                continue
            bounds = [v for r in entry.get("ranges") or () for e in r["events"] for v in e.values() if v != "0"]
            for version in [*(entry.get("versions") or ()), *bounds]:
                try:
                    Version(version)
                except InvalidVersion:
                    continue  # pip-audit cannot pin it
                candidates.setdefault(package["name"].lower(), []).append(version)
    pins: dict[str, str] = {}
    for name, versions in sorted(candidates.items()):
        affected = [v for v in versions if store.affected("PyPI", name, v)]
        pins[name] = (affected or versions)[0]
    return pins


def _affected_cli(name: str, version: str, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch) -> list[dict]:  # type: ignore[type-arg]
    mp.setattr(sys, "argv", ["clearinghouse", "affected", "-e", "PyPI", "-p", name, "-v", version, "--json"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code in (0, None)
    return [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow
def test_pip_audit_reports_what_affected_reports(
    sample_store: RecordStore,
    live: LiveServer,
    cli_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not PIP_AUDIT.exists():
        pytest.skip("pip-audit is not installed (pip install -e '.[dev]' provides it)")
    pins = _pypi_pins(sample_store)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    audit = subprocess.run(
        [
            str(PIP_AUDIT),
            "--vulnerability-service", "osv",
            "--osv-url", f"{live.url}/v1/query",
            "-r", str(requirements),
            "--no-deps", "--disable-pip",  # the pins are exact: nothing to resolve, no package index needed
            "--format", "json", "--progress-spinner", "off",
            "--cache-dir", str(tmp_path / "pip-audit-cache"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    assert audit.returncode in (0, 1), audit.stderr[-3000:]  # 1: vulnerabilities found
    reported = {d["name"]: d["vulns"] for d in orjson.loads(audit.stdout)["dependencies"]}
    assert set(reported) == set(pins)
    found_any = False
    for name, version in pins.items():
        # OSV.dev, and so pip-audit through any OSV API, leaves withdrawn records out; so does ours.
        expected = {r["id"] for r in _affected_cli(name, version, capsys, monkeypatch) if "withdrawn" not in r}
        ids = {v["id"] for v in reported[name]}
        # pip-audit reports one of records that alias each other; every record `affected` lists is reported or
        # is an alias of one reported, and nothing else is.
        assert ids <= expected, (name, version)
        assert expected <= ids | {alias for v in reported[name] for alias in v["aliases"]}, (name, version)
        found_any |= bool(expected)
    assert found_any
