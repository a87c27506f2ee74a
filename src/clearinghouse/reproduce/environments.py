"""Reproduction environments: one interface, one module per ecosystem (`pypi.py`, `npm.py`).

An environment is a host directory holding the package at one version with its dependencies, built once and
mounted read-only into every sandbox that needs it (reports about the same version share it). Packages are
fetched at build time only, through the ecosystem's own client, and kept in a content-addressed cache under
`CLEARINGHOUSE_HOME/reproduce/` (artifacts by SHA-256); offline mode builds only from that cache or a local index.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from clearinghouse.errors import EnvironmentBuildFailed
from clearinghouse.reproduce.rules import Ecosystem

# No single artifact of a reproduction environment may exceed this (a 2 GB package is refused while downloading).
DEFAULT_MAX_ARTIFACT_MB = 300
DEFAULT_BUILD_TIMEOUT = 600.0
_OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class CacheSettings:
    root: Path  # CLEARINGHOUSE_HOME/reproduce
    offline: bool = False  # build only from the cache or the local index
    index: str | None = None  # a local index: a directory of artifacts (find-links / tarballs) or an index URL
    max_artifact_mb: int = DEFAULT_MAX_ARTIFACT_MB
    build_timeout: float = DEFAULT_BUILD_TIMEOUT

    @classmethod
    def from_env(cls, home: Path, environ: Mapping[str, str] | None = None) -> CacheSettings:
        env = os.environ if environ is None else environ
        return cls(
            root=(home / "reproduce").resolve(),
            offline=env.get("CLEARINGHOUSE_REPRODUCE_OFFLINE", "0") in {"1", "true", "yes"},
            index=env.get("CLEARINGHOUSE_REPRODUCE_INDEX") or None,
            max_artifact_mb=int(env.get("CLEARINGHOUSE_REPRODUCE_MAX_ARTIFACT_MB", DEFAULT_MAX_ARTIFACT_MB)),
        )


@dataclass(frozen=True)
class InstalledArtifact:
    name: str
    version: str
    file: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class BuiltEnvironment:
    ecosystem: Ecosystem
    path: Path  # host directory, mounted read-only at the harness's environment path
    artifacts: tuple[InstalledArtifact, ...]
    cache_hit: bool  # built before (reused as is) or built from cached artifacts only


class EnvironmentBuilder(Protocol):
    ecosystem: Ecosystem

    def build(self, package: str, version: str, extras: Sequence[str] = ()) -> BuiltEnvironment:
        """The environment holding `package` at `version` (and the pinned `extras`); `EnvironmentBuildFailed`
        names what failed (download, install, size cap, offline miss)."""
        ...


class ArtifactCache:
    """Artifacts by SHA-256 (`blobs/`), per-ecosystem views by file name for the clients' find-links, built
    environments by the hash of their artifacts, and each requested spec's manifest (which environment it is)."""

    def __init__(self, settings: CacheSettings) -> None:
        self.settings = settings
        self.root = settings.root

    def _ensure(self) -> None:
        # made on first build, not when a worker starts: a process that never reproduces writes nothing
        for sub in ("blobs", "envs", "specs", "files"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def files(self, ecosystem: Ecosystem) -> Path:
        self._ensure()
        path = self.root / "files" / ecosystem.value.lower()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def keep(self, ecosystem: Ecosystem, artifact: Path) -> str:
        """Store an artifact by its hash and under its name in the ecosystem's view; its SHA-256."""
        digest = sha256_file(artifact)
        blob = self.root / "blobs" / digest[:2] / digest
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            partial = blob.with_suffix(".partial")
            shutil.copyfile(artifact, partial)
            partial.replace(blob)
        named = self.files(ecosystem) / artifact.name
        if not named.exists():
            partial = named.with_name(named.name + ".partial")
            partial.unlink(missing_ok=True)
            os.link(blob, partial)
            partial.replace(named)
        return digest

    def spec_key(self, ecosystem: Ecosystem, requirements: Sequence[str]) -> str:
        return hashlib.sha256(json.dumps([ecosystem.value, sorted(requirements)]).encode()).hexdigest()

    def lookup(self, ecosystem: Ecosystem, requirements: Sequence[str]) -> BuiltEnvironment | None:
        """The environment built earlier for these requirements, when it is still there."""
        manifest = self.root / "specs" / f"{self.spec_key(ecosystem, requirements)}.json"
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path = self.root / "envs" / str(data["env"])
        if not (path / ".ready").exists():
            return None
        artifacts = tuple(InstalledArtifact(**item) for item in data["artifacts"])
        return BuiltEnvironment(ecosystem, path, artifacts, cache_hit=True)

    def env_dir(self, artifacts: Sequence[InstalledArtifact]) -> Path:
        key = hashlib.sha256(json.dumps(sorted(a.sha256 for a in artifacts)).encode()).hexdigest()[:32]
        return self.root / "envs" / key

    def remember(
        self, ecosystem: Ecosystem, requirements: Sequence[str], path: Path, artifacts: Sequence[InstalledArtifact]
    ) -> None:
        manifest = self.root / "specs" / f"{self.spec_key(ecosystem, requirements)}.json"
        partial = manifest.with_suffix(".partial")
        payload = {"env": path.name, "artifacts": [a.to_json() for a in artifacts]}
        partial.write_text(json.dumps(payload), encoding="utf-8")
        partial.replace(manifest)

    def staging(self) -> Path:
        self._ensure()
        return Path(tempfile.mkdtemp(prefix="staging-", dir=self.root / "envs"))

    def install_atomically(self, staged: Path, target: Path) -> Path:
        """Move a finished environment into place; another build that got there first wins and ours goes."""
        (staged / ".ready").write_text("", encoding="utf-8")
        try:
            staged.rename(target)
        except OSError:
            if not (target / ".ready").exists():
                raise
            shutil.rmtree(staged, ignore_errors=True)
        # readable by the sandbox's unprivileged host user (the sandbox binds it in by itself); nothing in it is secret
        for directory, _dirs, names in os.walk(target):
            Path(directory).chmod(0o755)  # read-only mount, nothing secret
            for name in names:
                path = Path(directory) / name
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o444)
        return target


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ClientRun:
    ok: bool
    output: str


def run_client(argv: Sequence[str], settings: CacheSettings, cwd: Path | None = None) -> ClientRun:
    """Run a package client with a cap on every file it writes (RLIMIT_FSIZE) and a wall-clock limit, from a
    small environment: an oversized artifact fails the write instead of filling the disk."""
    cap = settings.max_artifact_mb * 1024 * 1024

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)

    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "http_proxy", "https_proxy", "no_proxy"}
        or key.startswith(("PIP_", "npm_config_"))
    }
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=settings.build_timeout,
            preexec_fn=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ClientRun(False, f"{Path(argv[0]).name} did not finish within {settings.build_timeout:g} s")
    output = (done.stdout + done.stderr).decode("utf-8", "replace")
    if done.returncode == -signal.SIGXFSZ or "File too large" in output:
        return ClientRun(False, f"an artifact is larger than the {settings.max_artifact_mb} MiB cap")
    return ClientRun(done.returncode == 0, output[-_OUTPUT_TAIL:])


def refuse(step: str, package: str, version: str, detail: str) -> EnvironmentBuildFailed:
    last = " ".join(line.strip() for line in detail.strip().splitlines()[-3:])
    return EnvironmentBuildFailed(f"{step} of {package} {version} failed: {last or 'no output'}")
