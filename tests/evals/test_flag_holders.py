"""The flag holder is separated from the agent (issue 11, item 2): the generic sweeps that found the flag of every
service task (other processes' memory, environments and command lines, every readable file) now find nothing,
while the reference solutions still reach the services (tests/evals/test_ctf.py)."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator

import pytest

from clearinghouse.evals.ctf import CHALLENGES, FlagKey, instances
from clearinghouse.evals.ctf.base import Instance
from clearinghouse.evals.ctf.tasks import to_sample
from clearinghouse.evals.sandbox import INSTALL_HINT, BwrapSandboxEnvironment

pytestmark = pytest.mark.anyio

if shutil.which("bwrap") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must provide bubblewrap for the sandbox tests: {INSTALL_HINT}")
    pytest.skip(f"bwrap is not installed: {INSTALL_HINT}", allow_module_level=True)

SEED = 7
KEY = FlagKey.generate()
# The challenges whose flag lives in a running program rather than in a file the agent must analyse.
SERVICE_TASKS = [c.id for c in CHALLENGES if c.instantiate(SEED, KEY).services]


# A generic sweep, with no challenge-specific logic: hold a connection open to every listening port (so
# per-connection children exist), then read every process's environment, command line and readable memory,
# and every readable file outside /proc, /sys and /usr.
SWEEP = r"""
import os, re, socket
pattern = re.compile(rb"fl" rb"ag\{[0-9a-f]{32}\}")
found = set()
held = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        fields = line.split()
        if fields[3] == "0A":
            port = int(fields[1].rsplit(":", 1)[1], 16)
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                held.append(conn)
                conn.recv(1)  # a banner means the per-connection child is running
            except OSError:
                pass
readable = 0
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    if int(pid) == os.getpid():
        continue
    for name in ("environ", "cmdline"):
        try:
            found.update(pattern.findall(open(f"/proc/{pid}/{name}", "rb").read()))
        except OSError:
            pass
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        with open(f"/proc/{pid}/mem", "rb") as mem:
            for line in maps:
                span, perms = line.split()[:2]
                start, end = (int(x, 16) for x in span.split("-"))
                if "r" not in perms or end - start > (256 << 20):
                    continue
                try:
                    mem.seek(start)
                    found.update(pattern.findall(mem.read(end - start)))
                    readable += 1
                except (OSError, ValueError, OverflowError):
                    pass
    except OSError:
        pass
for top in ("/home", "/tmp", "/dev/shm", "/etc", "/opt", "/run", "/var", "/srv", "/root"):
    for dirpath, dirs, files in os.walk(top):
        for name in files:
            try:
                found.update(pattern.findall(open(os.path.join(dirpath, name), "rb").read()))
            except OSError:
                pass
print("processes", len([p for p in os.listdir("/proc") if p.isdigit()]), "held", len(held), "regions", readable)
print("found", sorted(f.decode() for f in found))
"""


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def _sample_sandbox(instance: Instance) -> BwrapSandboxEnvironment:
    """The sandbox exactly as Inspect sets it up for the sample: init from its metadata, files, setup script."""
    sample = to_sample(instance)
    envs = await BwrapSandboxEnvironment.sample_init("ctf", None, dict(sample.metadata or {}))
    env = envs["default"].as_type(BwrapSandboxEnvironment)
    for name, uri in (sample.files or {}).items():
        await env.write_file(name, base64.b64decode(uri.split(",", 1)[1]))
    setup = await env.exec(["bash", "-c", sample.setup or "true"], timeout=120)
    assert setup.success, setup.stderr
    return env


@pytest.fixture(params=SERVICE_TASKS)
async def service_task(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Instance, BwrapSandboxEnvironment]]:
    (instance,) = instances(SEED, KEY, request.param)
    env = await _sample_sandbox(instance)
    yield instance, env
    await env.stop()


def test_every_service_task_is_separated() -> None:
    ids = set(SERVICE_TASKS)
    assert {"web-sqli", "web-idor", "pwn-overflow", "pwn-funcptr", "misconfig-xff", "misconfig-cron-hook"} <= ids
    for instance in instances(SEED, KEY, ",".join(SERVICE_TASKS)):
        assert not any(instance.flag.encode() in data for data in instance.files.values()), instance.challenge_id


async def test_generic_sweeps_do_not_find_the_flag(service_task: tuple[Instance, BwrapSandboxEnvironment]) -> None:
    instance, env = service_task
    result = await env.exec(["python3", "-c", SWEEP], timeout=120)
    assert "found []" in result.stdout, result.stdout
    assert instance.flag not in result.stdout + result.stderr
    if instance.challenge_id != "misconfig-cron-hook":
        assert "held 0" not in result.stdout  # the sweep did reach the service's port


async def test_services_leave_nothing_behind() -> None:
    (instance,) = instances(SEED, KEY, "misconfig-cron-hook")
    env = await _sample_sandbox(instance)
    service_roots = [service.root for service in env.services]
    assert service_roots and env.shared_mount is not None
    shared = env.shared_mount
    await env.stop()
    assert not env.root.exists() and not shared.exists()
    assert not any(root.exists() for root in service_roots)
    assert not BwrapSandboxEnvironment._live
