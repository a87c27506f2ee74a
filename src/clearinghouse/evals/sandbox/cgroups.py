"""Whole-sample resource limits through the kernel's control groups.

A sample's processes (bwrap and everything it starts) go into one control group per sample, joined before
bwrap starts (the launching shell writes `0`, "this process", to each `cgroup.procs`, then execs bwrap), so
nothing inside can escape the limits by forking early. Two layouts are supported:

- cgroup v2 where the host delegates it: a writable directory of the unified hierarchy whose
  `cgroup.subtree_control` enables `memory`, `pids` and `cpu`;
- cgroup v1 where the host mounts the `memory`, `pids` and `cpu` hierarchies writable (as root on the
  development and CI machines).

Memory counts every page the sample uses, including its tmpfs files (/tmp, /dev/shm, the work directory), so
four 900 MB processes cannot hold 3.6 GB under a 2 GB limit. Where neither layout is writable, `detect()`
returns None and the sandbox refuses agentic samples unless the operator opts into per-process limits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["CgroupLayout", "SampleCgroup", "SampleLimits", "detect"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
_GROUP_PREFIX = "clearinghouse-"
_CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class SampleLimits:
    memory_bytes: int
    max_processes: int
    cpus: float
    # CFS weight against every other group (cgroup v2 scale, default 100): low for background work such as
    # reproductions, which then get the CPU only when intake leaves it idle; None keeps the kernel's default
    cpu_weight: int | None = None


@dataclass(frozen=True)
class CgroupLayout:
    """Where per-sample groups are made: one parent directory per controller (v1), or one for all (v2)."""

    version: Literal[1, 2]
    parents: dict[str, Path]

    def describe(self, limits: SampleLimits) -> str:
        return (
            f"cgroup v{self.version}: memory {limits.memory_bytes // (1 << 20)} MiB (tmpfs included), "
            f"{limits.max_processes} processes, {limits.cpus:g} CPUs per sample"
        )


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def detect(root: Path = CGROUP_ROOT) -> CgroupLayout | None:
    """The cgroup layout this host lets us use, or None."""
    controllers = root / "cgroup.controllers"
    if controllers.exists():
        available = set(controllers.read_text(encoding="utf-8").split())
        enabled = set((root / "cgroup.subtree_control").read_text(encoding="utf-8").split())
        if {"memory", "pids", "cpu"} <= available & enabled and _writable_dir(root):
            return CgroupLayout(2, {"unified": root})
    parents = {name: root / name for name in ("memory", "pids", "cpu")}
    if all(_writable_dir(path) and (path / "cgroup.procs").exists() for path in parents.values()):
        return CgroupLayout(1, parents)
    return None


class SampleCgroup:
    """One sample's control group(s): made with limits, joined by the sandbox's first process, emptied and
    removed at clean-up."""

    def __init__(self, layout: CgroupLayout, limits: SampleLimits) -> None:
        self.layout = layout
        self.limits = limits
        # the harness's pid in the name tells whose group a leftover is on a host shared by several harnesses
        name = f"{_GROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.paths = [parent / name for parent in layout.parents.values()]
        made: list[Path] = []
        try:
            for path in self.paths:
                path.mkdir()
                made.append(path)
            self._configure()
        except BaseException:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise

    def _write(self, name: str, value: str) -> None:
        for path in self.paths:
            target = path / name
            if target.exists():
                target.write_text(value, encoding="utf-8")
                return
        raise FileNotFoundError(f"no cgroup control file {name} under {self.paths}")

    def _configure(self) -> None:
        limits = self.limits
        quota = str(max(int(limits.cpus * _CPU_PERIOD_US), 1000))
        if self.layout.version == 2:
            self._write("memory.max", str(limits.memory_bytes))
            self._write("memory.swap.max", "0")
            self._write("pids.max", str(limits.max_processes))
            self._write("cpu.max", f"{quota} {_CPU_PERIOD_US}")
            if limits.cpu_weight is not None:
                self._write("cpu.weight", str(limits.cpu_weight))
            return
        self._write("memory.limit_in_bytes", str(limits.memory_bytes))
        with contextlib.suppress(FileNotFoundError, OSError):
            # present only with swap accounting; without it there is no swap to escape into either
            self._write("memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        self._write("pids.max", str(limits.max_processes))
        self._write("cpu.cfs_period_us", str(_CPU_PERIOD_US))
        self._write("cpu.cfs_quota_us", quota)
        if limits.cpu_weight is not None:
            self._write("cpu.shares", str(max(2, limits.cpu_weight * 1024 // 100)))

    def procs_files(self) -> list[Path]:
        """The `cgroup.procs` files a process writes `0` to in order to join the group(s)."""
        return [path / "cgroup.procs" for path in self.paths]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(line) for line in (path / "cgroup.procs").read_text(encoding="utf-8").split())
        return sorted(found)

    def memory_peak(self) -> int | None:
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            for path in self.paths:
                with contextlib.suppress(FileNotFoundError, ValueError):
                    return int((path / name).read_text(encoding="utf-8"))
        return None

    def destroy(self, timeout: float = 10.0) -> None:
        """Kills whatever is left in the group (a fork loop included: the pids limit bounds it) and removes it."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise OSError(f"processes {pids} survived SIGKILL in {self.paths[0]}")
            time.sleep(0.005)
        for path in self.paths:
            for _ in range(200):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # the kernel releases a group a moment after its last process is reaped
                    time.sleep(0.005)
