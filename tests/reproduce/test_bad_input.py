"""Hostile proofs of concept and impossible targets: each ends `not_reproduced` or `error` naming the step and
the reason, the host is untouched, and the next reproduction runs as usual."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from clearinghouse.reproduce.environments import CacheSettings, EnvironmentBuilder
from clearinghouse.reproduce.jobs import builders as make_builders
from clearinghouse.reproduce.rules import Ecosystem, Observation, Step, Verdict
from clearinghouse.reproduce.runner import run_once
from clearinghouse.reproduce.service import ReproductionService
from tests.reproduce.conftest import py_request
from tests.reproduce.fixture_packages import build_wheel
from tests.reproduce.test_oracles import REPRODUCING, execute

HOSTILE = {
    "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "disk fill": "with open('/home/agent/fill', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))",
    "endless loop": "while True:\n    pass",
    "network attempt": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)",
    "reads the harness's frames": "import sys\nprint(sys._getframe().f_back.f_locals)",
    "walks the heap for the key": "import gc\nprint(len(gc.get_objects()))",
    "loads ctypes to poke memory": "import ctypes\nctypes.string_at(ctypes.addressof(ctypes.c_int()), 8)",
    "reads its own memory": "open('/proc/self/mem', 'rb')",
    "floods its output": "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)",
    "kills its harness": "import os\nos.kill(os.getppid(), 9)\nos.kill(1, 9)",
}


def run_vulnerable(builders: dict[Ecosystem, EnvironmentBuilder], source: str) -> Observation:
    request = py_request(source, {"kind": "command", "seconds": 2})
    return asyncio.run(run_once(request, builders[Ecosystem.PYPI].build("chvuln", "1.0"), "1.0"))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_poc_does_not_fire(builders: dict[Ecosystem, EnvironmentBuilder], case: str) -> None:
    observation = run_vulnerable(builders, HOSTILE[case])
    assert not observation.fired and observation.error is None, observation
    assert observation.detail  # says why


def test_after_every_hostile_poc_the_sandbox_is_gone_and_the_next_reproduction_runs(
    builders: dict[Ecosystem, EnvironmentBuilder], reproduce_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandboxes = reproduce_root / "sandboxes"
    sandboxes.mkdir(mode=0o711, exist_ok=True)
    monkeypatch.setenv("CLEARINGHOUSE_SANDBOX_DIR", str(sandboxes))
    for source in HOSTILE.values():
        run_vulnerable(builders, source)
        assert not list(sandboxes.iterdir())  # every sandbox's host directory was removed
    source, spec = REPRODUCING["command"]
    assert execute(builders, py_request(source, spec)).verdict is Verdict.REPRODUCED


def test_a_disk_fill_ends_in_enospc_inside_the_sandbox(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    observation = run_vulnerable(builders, HOSTILE["disk fill"])
    assert "No space left on device" in observation.output or "File too large" in observation.output


def test_the_harness_refuses_introspection_by_the_poc(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    observation = run_vulnerable(builders, HOSTILE["reads the harness's frames"])
    assert "sys._getframe is not available to a proof of concept" in observation.output


def test_the_network_is_unreachable(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    observation = run_vulnerable(builders, HOSTILE["network attempt"])
    assert "Network is unreachable" in observation.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"package": "chvuln-does-not-exist"},
            "download (offline: cache and local index only) of chvuln-does-not-exist",
        ),
        ({"vulnerable": "9.9"}, "of chvuln 9.9 failed"),
        ({"fixed": "7.0"}, "of chvuln 7.0 failed"),
    ],
)
def test_a_missing_package_or_version_is_an_environment_error(
    builders: dict[Ecosystem, EnvironmentBuilder], target: dict[str, str], message: str
) -> None:
    outcome = execute(builders, py_request("import chvuln", {"kind": "command"}, **target))
    assert outcome.verdict is Verdict.ERROR and outcome.step is Step.ENVIRONMENT
    assert message in outcome.reason


def test_an_oversized_package_is_refused_while_downloading(reproduce_root: Path, local_index: Path) -> None:
    index = reproduce_root / "oversized-index"
    index.mkdir(exist_ok=True)
    build_wheel(index, "2.0", "x = 1\n", name="chbig", padding=3 << 20)
    settings = CacheSettings(root=reproduce_root / "oversized-home", offline=True, index=str(index), max_artifact_mb=1)
    service = ReproductionService(sa.create_engine("sqlite://"), make_builders(settings))
    outcome = service.execute(
        py_request("import chbig", {"kind": "command"}, package="chbig", vulnerable="2.0", fixed="2.0")
    )
    assert outcome.verdict is Verdict.ERROR and outcome.step is Step.ENVIRONMENT
    assert "larger than the 1 MiB cap" in outcome.reason
    assert not list((reproduce_root / "oversized-home" / "reproduce" / "blobs").rglob("*"))


def test_environments_are_reused_and_their_hashes_kept(builders: dict[Ecosystem, EnvironmentBuilder]) -> None:
    first = builders[Ecosystem.PYPI].build("chvuln", "1.0")
    again = builders[Ecosystem.PYPI].build("chvuln", "1.0")
    assert again.path == first.path and again.cache_hit
    assert (first.path / "bin" / "python").exists() and first.artifacts[0].file == "chvuln-1.0-py3-none-any.whl"
