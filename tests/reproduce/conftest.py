"""Reproduction fixtures: a local index with the fixture package (vulnerable 1.0, fixed 1.1; npm 1.0.0/1.1.0), an
offline cache in a directory the sandbox's unprivileged host user can traverse, and the environment builders."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearinghouse.reproduce.environments import CacheSettings, EnvironmentBuilder
from clearinghouse.reproduce.jobs import builders as make_builders
from clearinghouse.reproduce.rules import Ecosystem, Request, parse_request
from tests.cli.conftest import cli  # noqa: F401 - the CLI runner fixture, for test_cli.py
from tests.reproduce.fixture_packages import build_index


@pytest.fixture(scope="session")
def reproduce_root() -> Iterator[Path]:
    # bwrap runs as an unprivileged host uid under root: every ancestor of a bound environment must be traversable
    root = Path(tempfile.mkdtemp(prefix="clearinghouse-reproduce-test-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def local_index(reproduce_root: Path) -> Path:
    return build_index(reproduce_root / "index")


@pytest.fixture(scope="session")
def cache_settings(reproduce_root: Path, local_index: Path) -> CacheSettings:
    return CacheSettings(root=reproduce_root / "home" / "reproduce", offline=True, index=str(local_index))


@pytest.fixture(scope="session")
def builders(cache_settings: CacheSettings) -> dict[Ecosystem, EnvironmentBuilder]:
    return make_builders(cache_settings)


def py_request(source: str, oracle: dict[str, Any], **target: Any) -> Request:
    return parse_request(
        {
            "target": {"ecosystem": "PyPI", "package": "chvuln", "vulnerable": "1.0", "fixed": "1.1", **target},
            "poc": {"kind": "script", "source": source},
            "oracle": oracle,
        }
    )


def js_request(source: str, oracle: dict[str, Any]) -> Request:
    return parse_request(
        {
            "target": {"ecosystem": "npm", "package": "chvuln-js", "vulnerable": "1.0.0", "fixed": "1.1.0"},
            "poc": {"kind": "script", "source": source},
            "oracle": oracle,
        }
    )
