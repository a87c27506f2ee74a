"""PyPI environments: a virtual environment of the sandbox's own interpreter with the package's wheels.

pip resolves and builds wheels (sdists are built once, and the built wheel is what the cache keeps); the
virtual environment is made by the interpreter the sandbox runs (`/usr/bin/python3`), so it works when mounted
read-only at another path, and bytecode is compiled at install time (the sandbox cannot write it later).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from clearinghouse.reproduce.environments import (
    ArtifactCache,
    BuiltEnvironment,
    InstalledArtifact,
    refuse,
    run_client,
)
from clearinghouse.reproduce.rules import Ecosystem

SANDBOX_PYTHON = "/usr/bin/python3"
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


class PypiEnvironment:
    ecosystem = Ecosystem.PYPI

    def __init__(self, cache: ArtifactCache, python: str = SANDBOX_PYTHON) -> None:
        self.cache = cache
        self.python = python

    def build(self, package: str, version: str, extras: Sequence[str] = ()) -> BuiltEnvironment:
        # no version: the newest the index has (the stand-in for a fix when none is known)
        requirements = [f"{package}=={version}" if version else package, *extras]
        built = self.cache.lookup(self.ecosystem, requirements)
        if built is not None:
            return built
        staging = self.cache.staging()
        try:
            wheels, from_cache = self._wheels(package, version, requirements, staging / "wheels")
            artifacts = tuple(self._keep(wheel) for wheel in wheels)
            target = self.cache.env_dir(artifacts)
            if not (target / ".ready").exists():
                self._install(package, version, wheels, staging / "venv")
                self.cache.install_atomically(staging / "venv", target)
            self.cache.remember(self.ecosystem, requirements, target, artifacts)
            return BuiltEnvironment(self.ecosystem, target, artifacts, cache_hit=from_cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _wheels(self, package: str, version: str, requirements: list[str], into: Path) -> tuple[list[Path], bool]:
        """Wheels for the requirements and their dependencies: from the cache (and local index) alone first, then,
        unless offline, from the index."""
        settings = self.cache.settings
        local = ["--find-links", str(self.cache.files(self.ecosystem))]
        if settings.index and not settings.index.startswith(("http://", "https://")):
            local += ["--find-links", settings.index]
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(into)]
        offline = run_client([*pip, "--no-index", *local, *requirements], settings)
        if offline.ok:
            return sorted(into.glob("*.whl")), True
        if settings.offline or (settings.index and not settings.index.startswith(("http://", "https://"))):
            raise refuse("download (offline: cache and local index only)", package, version, offline.output)
        index = ["--index-url", settings.index] if settings.index else []
        online = run_client([*pip, *index, *local, *requirements], settings)
        if not online.ok:
            raise refuse("download", package, version, online.output)
        return sorted(into.glob("*.whl")), False

    def _keep(self, wheel: Path) -> InstalledArtifact:
        digest = self.cache.keep(self.ecosystem, wheel)
        match = _WHEEL_NAME.match(wheel.name)
        name, version = (match["name"], match["version"]) if match else (wheel.name, "")
        return InstalledArtifact(name, version, wheel.name, digest)

    def _install(self, package: str, version: str, wheels: list[Path], venv: Path) -> None:
        made = subprocess.run([self.python, "-m", "venv", "--without-pip", str(venv)], capture_output=True, check=False)
        if made.returncode != 0:
            raise refuse("virtual environment", package, version, made.stderr.decode("utf-8", "replace"))
        install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
        done = run_client([*install, "--no-index", "--no-deps", *map(str, wheels)], self.cache.settings)
        if not done.ok:
            raise refuse("install", package, version, done.output)
