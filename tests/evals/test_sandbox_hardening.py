"""The sandbox holds (issue 11, item 1): no harness secret inside, a control channel the inside cannot reach or
forge, whole-sample cgroup limits, size-capped tmpfs, seccomp, clean-up of hostile trees, a declared tool set."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from clearinghouse.errors import SandboxUnavailable
from clearinghouse.evals.sandbox import (
    INSTALL_HINT,
    PER_PROCESS_OPT_IN,
    BwrapConfig,
    BwrapSandboxEnvironment,
    SandboxViolation,
    _request,
    cgroups,
    describe,
    require_limits,
)
from clearinghouse.evals.sandbox.cleanup import remove_tree
from clearinghouse.evals.sandbox.seccomp import DENIED_SYSCALLS
from clearinghouse.evals.sandbox.toolset import TOOLS, require_tools

pytestmark = pytest.mark.anyio

if shutil.which("bwrap") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must provide bubblewrap for the sandbox tests: {INSTALL_HINT}")
    pytest.skip(f"bwrap is not installed: {INSTALL_HINT}", allow_module_level=True)

CANARY = "canary-5f1d7c0e9a2b4e3f8d6c"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def sandbox() -> AsyncIterator[BwrapSandboxEnvironment]:
    env = await BwrapSandboxEnvironment.start(
        BwrapConfig(max_processes=64, memory_mb=512, cpu_seconds=20, tmp_size_mb=64, shm_size_mb=16, work_size_mb=128)
    )
    yield env
    await env.stop()


@pytest.fixture(autouse=True, scope="module")
def _no_leaked_sandboxes() -> Iterator[None]:
    yield
    assert not BwrapSandboxEnvironment._live
    assert not list(Path("/sys/fs/cgroup/memory").glob(f"clearinghouse-{os.getpid()}-*"))


# -- 1. environment ------------------------------------------------------------------------------------------


async def test_harness_secrets_appear_nowhere_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{CANARY}")
    monkeypatch.setenv("CLEARINGHOUSE_DATABASE_URL", f"postgresql://u:{CANARY}@db/x")
    env = await BwrapSandboxEnvironment.start()
    try:
        # the canary is split so that the sweep's own command line does not contain it
        head, tail = CANARY[:10], CANARY[10:]
        sweep = (
            "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n'; env; "
            f'c={head}; grep -rsl "$c{tail}" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr; echo done'
        )
        result = await env.exec(["bash", "-c", sweep], timeout=120)
        assert result.stdout.endswith("done\n")
        assert CANARY not in result.stdout + result.stderr
        assert "PATH=" in result.stdout  # the sweep did read environments
        assert CANARY not in (env.root / "bwrap.log").read_text()
    finally:
        await env.stop()


# -- 2. control channel --------------------------------------------------------------------------------------


async def test_control_channel_cannot_be_reached_replaced_or_bound(sandbox: BwrapSandboxEnvironment) -> None:
    probe = (
        "import os, socket\n"
        "print('run exists', os.path.exists('/run/clearinghouse'))\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "for path in ('/run/clearinghouse/agent.sock', '/home/agent/agent.sock'):\n"
        "    try: s.bind(path); print('bound', path)\n"
        "    except OSError as e: print('bind refused', path, e.errno)\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try: print('fds', pid, os.listdir(f'/proc/{pid}/fd'))\n"
        "        except OSError: pass\n"
    )
    result = await sandbox.exec(["python3", "-c", probe])
    out = result.stdout
    assert "run exists False" in out
    assert "bind refused /run/clearinghouse/agent.sock" in out
    # a socket planted in the work dir is simply never used: the host talks to its own listener
    assert "socket:" not in out, out  # no process the sandbox user can inspect holds the control socket
    again = await sandbox.exec(["id", "-un"])
    assert again.stdout == "agent\n"


async def test_the_command_server_cannot_be_traced_or_read(sandbox: BwrapSandboxEnvironment) -> None:
    probe = (
        "import os\n"
        "server = b'/opt/clearinghouse-agent.py'\n"
        "for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):\n"
        "    try: cmd = open(f'/proc/{pid}/cmdline','rb').read()\n"
        "    except OSError: continue\n"
        "    if cmd.startswith(b'/usr/bin/python3') and server in cmd.split(b'\\0'):\n"
        "        for name in ('environ', 'mem', 'fd'):\n"
        "            try:\n"
        "                os.listdir(f'/proc/{pid}/fd') if name == 'fd' else open(f'/proc/{pid}/{name}','rb').read(1)\n"
        "                print('READ', name)\n"
        "            except OSError as e: print('refused', name, e.errno)\n"
    )
    result = await sandbox.exec(["python3", "-c", probe])
    assert "READ" not in result.stdout
    assert result.stdout.count("refused") == 3, result.stdout


def _hostile_server(path: str, announced: int) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            (length,) = struct.unpack(">I", conn.recv(4))
            conn.recv(length)
            header = json.dumps({"returncode": 0, "stdout_len": 0, "payload": announced}).encode()
            conn.sendall(struct.pack(">I", len(header)) + header)
            try:
                for _ in range(announced // (1 << 20)):
                    conn.sendall(b"x" * (1 << 20))
            except OSError:
                return  # the host hung up, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


async def test_an_oversized_reply_is_refused_unread(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    thread = _hostile_server(path, 300 * 1024 * 1024)
    header = {"op": "exec", "argv": ["id"], "output_limit": 10 * 1024 * 1024}
    with pytest.raises(SandboxViolation, match=r"reply of 314,572,800 bytes refused \(limit 20,971,520 for exec\)"):
        await _request(path, header)
    await anyio.to_thread.run_sync(thread.join, 10)
    assert not thread.is_alive()


async def test_killing_the_command_server_ends_the_sample_with_the_reason(sandbox: BwrapSandboxEnvironment) -> None:
    # the server is the sandbox user's own process: it can kill it, and the sample then ends (never a hang)
    with pytest.raises(SandboxViolation, match="command server closed the connection"):
        await sandbox.exec(["sh", "-c", "pkill -KILL -f clearinghouse-agent; sleep 5"], timeout=20)
    with pytest.raises(SandboxViolation, match="command server is gone"):
        await sandbox.exec(["id"])


# -- 3. limits ---------------------------------------------------------------------------------------------


async def test_whole_sample_memory_holds_across_processes() -> None:
    env = await BwrapSandboxEnvironment.start(BwrapConfig(memory_mb=2048, max_processes=64))
    try:
        assert env.cgroup is not None
        hog = (
            "python3 -c 'import time; x = bytearray(900 << 20); x[::4096] = b\"y\" * len(x[::4096]); time.sleep(20)' &"
        )
        result = await env.exec(["bash", "-c", f"for i in 1 2 3 4; do {hog} done; wait; echo finished"], timeout=60)
        peak = env.cgroup.memory_peak()
        assert peak is not None and peak <= 2048 << 20, peak
        assert result.stdout.endswith("finished\n")  # some hogs were killed, the sample went on
    finally:
        await env.stop()


async def test_tmpfs_mounts_are_size_capped_and_off_the_host_disk(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(
        [
            "sh",
            "-c",
            "for d in /home/agent /tmp /dev/shm; do head -c 2000M /dev/zero > $d/fill; echo $?; done",
        ],
        timeout=120,
    )
    assert result.stdout.split()[:3] == ["1", "1", "1"], result.stdout  # ENOSPC, never 2 GB
    assert "No space left on device" in result.stderr or "File size limit" in result.stderr
    assert not any(p.name == "work" for p in sandbox.root.iterdir())


async def test_dev_is_minimal_and_read_only(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(["sh", "-c", "ls /dev; touch /dev/evil"])
    assert not result.success and "Read-only" in result.stderr
    assert set(result.stdout.split()) <= {
        "core",
        "fd",
        "full",
        "null",
        "ptmx",
        "pts",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "tty",
        "urandom",
        "zero",
    }


def test_without_cgroups_samples_refuse_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "detect", lambda root=cgroups.CGROUP_ROOT: None)
    monkeypatch.delenv(PER_PROCESS_OPT_IN, raising=False)
    with pytest.raises(SandboxUnavailable, match=PER_PROCESS_OPT_IN):
        require_limits()
    assert describe()["whole_sample_limits"] == "unavailable"
    monkeypatch.setenv(PER_PROCESS_OPT_IN, "1")
    assert require_limits() is None
    assert describe()["whole_sample_limits"].startswith("none: per-process limits only")


def test_the_log_header_says_which_limits_held() -> None:
    header = describe(BwrapConfig(memory_mb=2048, max_processes=256, cpus=1))
    assert (
        header["whole_sample_limits"] == "cgroup v1: memory 2048 MiB (tmpfs included), 256 processes, 1 CPUs per sample"
    )
    assert "ptrace" in header["seccomp_denied"]
    assert header["tools"]["gcc"] != "unknown"


# -- 4. seccomp ----------------------------------------------------------------------------------------------


async def test_seccomp_denies_introspection_and_namespace_calls(sandbox: BwrapSandboxEnvironment) -> None:
    probe = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'ptrace': (101, 16, 1, 0, 0), 'process_vm_readv': (310, 1, 0, 0, 0), 'unshare': (272, 0x10000000),\n"
        "         'setns': (308, 0, 0), 'keyctl': (250, 0, 0), 'bpf': (321, 0, 0, 0),\n"
        "         'perf_event_open': (298, 0, 0, 0, 0, 0),\n"
        "         'mount': (165, 0, 0, 0, 0), 'clone_newuser': (56, 0x10000000 | 17, 0, 0, 0, 0)}\n"
        "for name, (nr, *args) in calls.items():\n"
        "    ctypes.set_errno(0)\n"
        "    rc = libc.syscall(nr, *args)\n"
        "    print(name, rc, ctypes.get_errno())\n"
    )
    result = await sandbox.exec(["python3", "-c", probe])
    lines = dict((line.split()[0], line.split()[1:]) for line in result.stdout.splitlines())
    assert set(lines) == {
        "ptrace",
        "process_vm_readv",
        "unshare",
        "setns",
        "keyctl",
        "bpf",
        "perf_event_open",
        "mount",
        "clone_newuser",
    }
    for name, (rc, errno_) in lines.items():
        assert (rc, errno_) == ("-1", "1"), (name, rc, errno_)  # EPERM from the filter
    assert {"ptrace", "process_vm_readv", "mount", "unshare", "setns", "keyctl", "bpf", "perf_event_open"} <= set(
        DENIED_SYSCALLS
    )
    ordinary = await sandbox.exec(
        [
            "sh",
            "-c",
            "gcc --version >/dev/null && python3 -c 'import subprocess; print(subprocess.run([\"true\"]).returncode)'",
        ]
    )
    assert ordinary.stdout == "0\n"


# -- 5. clean-up ---------------------------------------------------------------------------------------------


async def test_a_deep_hostile_tree_is_removed_without_following_links(sandbox: BwrapSandboxEnvironment) -> None:
    build = (
        "d=deep; for i in $(seq 1500); do d=$d/d; done; mkdir -p $d; touch $d/f; chmod 0 $d/f; chmod 0 deep; echo made"
    )
    result = await sandbox.exec(["bash", "-c", build], timeout=60)
    assert result.stdout == "made\n"
    root = sandbox.root
    await sandbox.stop()
    assert not root.exists()


def test_remove_tree_handles_depth_permissions_and_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    root = tmp_path / "root"
    root.mkdir()
    deep = root
    for _ in range(1500):
        deep = deep / "d"
        deep.mkdir()
    (deep / "f").write_text("x")
    (deep / "f").chmod(0)
    (deep / "out").symlink_to(outside)
    (root / "out").symlink_to(outside)
    (root / "ro").mkdir()
    (root / "ro" / "a").write_text("x")
    (root / "ro").chmod(0o500)
    (root / "none").mkdir()
    (root / "none" / "sub").mkdir()
    (root / "none").chmod(0)
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep").read_text() == "kept"


# -- 6. tools ------------------------------------------------------------------------------------------------


def test_missing_tools_are_refused_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TOOLS, "no-such-disassembler", "radare2")
    with pytest.raises(SandboxUnavailable, match="apt-get install -y radare2"):
        require_tools()


async def test_no_host_python_packages_inside(sandbox: BwrapSandboxEnvironment) -> None:
    probe = (
        "import sys\n"
        "for name in ('clearinghouse', 'inspect_ai', 'yaml', 'cryptography'):\n"
        "    try: __import__(name); print('imported', name)\n"
        "    except ImportError: print('absent', name)\n"
    )
    result = await sandbox.exec(["python3", "-c", probe])
    assert result.stdout.split("\n")[:4] == [
        "absent clearinghouse",
        "absent inspect_ai",
        "absent yaml",
        "absent cryptography",
    ]
