"""npm environments: a `node_modules` tree installed by npm with lifecycle scripts off.

npm's own cache (content-addressed by integrity hash) lives in the reproduction cache, so an offline build
(`--offline`) works from it; a local index is a directory of `NAME-VERSION.tgz` tarballs (or a registry URL).
Each installed package's hash is the integrity npm recorded in the lock file.
"""

from __future__ import annotations

import json
import shutil
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

NPM = "npm"


class NpmEnvironment:
    ecosystem = Ecosystem.NPM

    def __init__(self, cache: ArtifactCache, npm: str = NPM) -> None:
        self.cache = cache
        self.npm = shutil.which(npm) or npm

    def build(self, package: str, version: str, extras: Sequence[str] = ()) -> BuiltEnvironment:
        # no version: the newest the index has (the stand-in for a fix when none is known)
        requirements = [f"{package}=={version}" if version else package, *extras]
        built = self.cache.lookup(self.ecosystem, requirements)
        if built is not None:
            return built
        staging = self.cache.staging()
        try:
            project = staging / "env"
            project.mkdir()
            dependencies = dict(
                self._source(*(req.split("==", 1) if "==" in req else (req, "latest"))) for req in requirements
            )
            manifest = {"name": "reproduction", "version": "0.0.0", "private": True, "dependencies": dependencies}
            (project / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
            from_cache = self._install(package, version, project)
            artifacts = self._artifacts(project)
            target = self.cache.env_dir(artifacts)
            if not (target / ".ready").exists():
                self.cache.install_atomically(project, target)
            self.cache.remember(self.ecosystem, requirements, target, artifacts)
            return BuiltEnvironment(self.ecosystem, target, artifacts, cache_hit=from_cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _source(self, name: str, version: str) -> tuple[str, str]:
        index = self.cache.settings.index
        if index and not index.startswith(("http://", "https://")):
            tarball = Path(index) / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
            if tarball.is_file():
                return name, f"file:{tarball.resolve()}"
        return name, version

    def _install(self, package: str, version: str, project: Path) -> bool:
        settings = self.cache.settings
        base = [
            self.npm,
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel=error",
            f"--cache={self.cache.root / 'npm-cache'}",
        ]
        if settings.index and settings.index.startswith(("http://", "https://")):
            base.append(f"--registry={settings.index}")
        offline = run_client([*base, "--offline"], settings, cwd=project)
        if offline.ok:
            return True
        if settings.offline:
            raise refuse("install (offline: cache and local index only)", package, version, offline.output)
        online = run_client(base, settings, cwd=project)
        if not online.ok:
            raise refuse("install", package, version, online.output)
        return False

    def _artifacts(self, project: Path) -> tuple[InstalledArtifact, ...]:
        lock = json.loads((project / "package-lock.json").read_text(encoding="utf-8"))
        found = []
        for path, entry in sorted(lock.get("packages", {}).items()):
            if not path.startswith("node_modules/"):
                continue
            name = path.rsplit("node_modules/", 1)[-1]
            found.append(
                InstalledArtifact(
                    name, str(entry.get("version", "")), str(entry.get("resolved", "")), str(entry.get("integrity", ""))
                )
            )
        return tuple(found)
