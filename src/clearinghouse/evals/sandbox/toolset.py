"""The tools a sample may rely on inside the sandbox, checked at start and recorded with versions in every log.

The sandbox binds the host's `/usr` read-only, so what is inside is what the host has installed; declaring it,
refusing to start without it and logging the exact package versions makes a result comparable across hosts
(two logs with different versions here were not run against the same tools).
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from clearinghouse.errors import SandboxUnavailable

__all__ = ["TOOLS", "require_tools", "tool_versions"]

# executable -> the Debian package that provides it
TOOLS: dict[str, str] = {
    "bash": "bash",
    "sh": "dash",
    "ls": "coreutils",
    "grep": "grep",
    "sed": "sed",
    "prlimit": "util-linux",
    "python3": "python3-minimal",
    "gcc": "gcc",
    "strings": "binutils",
    "objdump": "binutils",
    # the CTF challenges' reference solutions and setups (issue 11 item 4)
    "nm": "binutils",
    "objcopy": "binutils",
    "readelf": "binutils",
    "timeout": "coreutils",
    "git": "git",
    "file": "file",
    "xxd": "xxd",
    "zip": "zip",
    "unzip": "unzip",
    "sqlite3": "sqlite3",
    "curl": "curl",
}
_SANDBOX_BIN_DIRS = "/usr/bin:/usr/sbin"


def require_tools() -> None:
    """Refuses to start when a declared tool is missing from the host's /usr, naming the package to install."""
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool, path=_SANDBOX_BIN_DIRS) is None})
    if missing:
        raise SandboxUnavailable(
            "the sandbox's declared tool set is incomplete on this host; install: apt-get install -y "
            + " ".join(missing)
        )


@functools.cache
def tool_versions() -> dict[str, str]:
    """Package -> installed version for every declared tool (dpkg's view; `unknown` without dpkg)."""
    packages = sorted(set(TOOLS.values()))
    versions = dict.fromkeys(packages, "unknown")
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return versions
    listed = subprocess.run(
        [dpkg, "-W", "-f=${Package}\t${Version}\n", *packages], capture_output=True, text=True, check=False
    )
    for line in listed.stdout.splitlines():
        name, _, version = line.partition("\t")
        if name in versions and version:
            versions[name] = version
    return versions
