"""The `bwrap` Inspect sandbox: one bubblewrap container per sample, reached through an in-sandbox command server.

Isolation: every namespace is unshared (the network namespace has only its own loopback), the payload runs
as an unprivileged uid inside a user namespace with every capability dropped, no new privileges and a seccomp
filter (`seccomp.py`: ptrace, process_vm_*, mount, unshare, setns, keyctl, bpf, perf_event_open and the like
fail). The root filesystem is an empty read-only tmpfs with read-only binds of /usr (host Python package
directories hidden) and a short allow-list of /etc files, plus synthetic passwd/group/hosts, a minimal
read-only /dev, and size-capped tmpfs mounts for /tmp, /dev/shm and the work directory `/home/agent` (the
sample's files never touch the host's disk). When the host process is root it first drops to an unprivileged
host uid (65534 by default) with `setpriv`, so the sandbox's kernel identity never is root. bwrap starts from
an empty environment and the payload gets only an explicit allow-list (`_base_env`): nothing of the harness's
environment (API keys, database URLs) is visible inside.

Limits: the whole sample (every process, tmpfs pages included) sits in its own control group (`cgroups.py`,
v2 where delegated, else the v1 memory/pids/cpu hierarchies); without either, a sample refuses to start
unless the operator opts into per-process limits only (`CLEARINGHOUSE_SANDBOX_PER_PROCESS_LIMITS=1`).
Per-process rlimits (processes, address space, file size, open files, CPU per command) hold in every case.

Control channel: the host makes a listening unix socket in its private per-sample directory, which is never
mounted inside, and hands only its descriptor to the command server (`_agent.py`), which marks itself not
dumpable (no ptrace, no /proc/<pid>/fd or mem for the sandbox user). Code inside can neither reach nor replace
it; replies are bounded in size, and a reply beyond its bound ends the sample (`SandboxViolation`, scored with
the reason) rather than being read.

Persistence: `sample_init` starts a single bwrap whose payload is the command server; every later `exec`/
`read_file`/`write_file` is a request to it, so they all share one set of namespaces: a service a challenge
starts at setup stays up and is reachable on the sandbox's 127.0.0.1 for later commands. Teardown kills the
control group (or bwrap, the pid namespace's init) and removes the host directory (`cleanup.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, overload

import anyio
from inspect_ai._util.exception import TerminateSampleError
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUserUnsupportedError,
    sandboxenv,
)
from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, model_validator
from typing_extensions import override

from clearinghouse.errors import SandboxUnavailable
from clearinghouse.evals.sandbox import cgroups, seccomp
from clearinghouse.evals.sandbox.cleanup import remove_tree
from clearinghouse.evals.sandbox.toolset import require_tools, tool_versions

__all__ = [
    "PER_PROCESS_OPT_IN",
    "SANDBOX_NAME",
    "SERVICES_METADATA_KEY",
    "BwrapConfig",
    "BwrapSandboxEnvironment",
    "SandboxViolation",
    "ServiceSpec",
    "bwrap_path",
    "describe",
    "require_bwrap",
    "services_metadata",
]

SANDBOX_NAME = "bwrap"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`; Fedora: `dnf install bubblewrap`)"
# Without cgroups a sample's processes together can exceed every per-process limit; running anyway is a choice.
PER_PROCESS_OPT_IN = "CLEARINGHOUSE_SANDBOX_PER_PROCESS_LIMITS"

# Paths as the sandboxed payload sees them.
SANDBOX_HOME = "/home/agent"
SANDBOX_PYTHON = "/usr/bin/python3"
SANDBOX_AGENT = "/opt/clearinghouse-agent.py"
_SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The only variables bwrap and setpriv themselves see (bwrap is pid 1 inside: its environ is readable there).
_LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

# Only what programs need to run: name resolution stays local, no host secrets (shadow, ssh, database configs).
_ETC_ALLOWLIST = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "magic",
    "magic.mime",
    "mime.types",
    "nsswitch.conf",
    "profile",
    "protocols",
    "python3",
    "python3.11",
    "services",
    "ssl",
    "terminfo",
    "timezone",
)
_SYNTHETIC_ETC = ("passwd", "group", "hosts", "hostname")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Host Python packages (Debian's and pip's system-wide ones) are hidden: code inside sees the standard library only.
_HIDDEN_PYTHON_DIRS = ("/usr/lib/python3/dist-packages", "/usr/local/lib")

# In a service sandbox, Python imports this at start (PYTHONPATH): the flag holder's memory, environment and
# descriptors are then out of reach of any other process of its uid (no ptrace, no /proc/<pid>/mem).
_SERVICE_PYTHON_DIR = "/opt/clearinghouse-service"
_NOT_DUMPABLE_SITECUSTOMIZE = "import ctypes\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0\n"

_START_TIMEOUT = 20.0
# Extra host-side patience beyond a command's own timeout before the host gives up on the server.
_HOST_TIMEOUT_SLACK = 10.0
# Bounds on what the host reads from the command server: a reply's header, and its payload per operation.
MAX_REPLY_HEADER = 64 * 1024
# A command line beyond the kernel's own ARG_MAX (2 MiB with the default 8 MiB stack) could never run; below it,
# one argument over MAX_ARG_STRLEN (128 KiB) fails alone with E2BIG, reported to the model like any failed command.
MAX_EXEC_ARGV_BYTES = 2 * 1024 * 1024


_PROCESS_HEADROOM_MB = 256


class SandboxViolation(TerminateSampleError):
    """The sample broke a bound of the sandbox (control channel, request size): it ends and is scored as it stands,
    with this reason in its log; the run goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"sandbox: {reason}")


class BwrapConfig(BaseModel):
    """Limits and identity for one `bwrap` sandbox; every field has a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = "agent"
    uid: int = 1000
    gid: int = 1000
    host_uid: int = Field(default=65534, description="Host uid the sandbox runs as when Inspect runs as root.")
    host_gid: int = 65534
    max_processes: int = Field(default=256, description="Processes per sample (cgroup) and per uid (RLIMIT_NPROC).")
    memory_mb: int = Field(
        default=2048, description="Memory of the whole sample, tmpfs included (cgroup); also RLIMIT_AS per process."
    )
    cpus: float = Field(default=1.0, gt=0, description="CPU share of the whole sample (cgroup CPU quota).")
    cpu_weight: int | None = Field(
        default=None, ge=1, le=10000, description="CFS weight of the sample's group (v2 scale, default 100)."
    )
    file_size_mb: int = 256
    open_files: int = 1024
    cpu_seconds: int = Field(default=600, description="CPU time per command (RLIMIT_CPU).")
    tmp_size_mb: int = Field(default=512, description="Size of the /tmp tmpfs.")
    shm_size_mb: int = Field(default=64, description="Size of the /dev/shm tmpfs.")
    work_size_mb: int = Field(default=1024, description="Size of the work directory's tmpfs (/home/agent).")
    exec_timeout: int = Field(default=1800, description="Wall-clock limit for a command given no timeout.")
    hostname: str = "sandbox"

    @model_validator(mode="after")
    def _tmpfs_fits_in_memory(self) -> BwrapConfig:
        # tmpfs pages are charged to the sample's memory: full tmpfs mounts alone must leave room for processes,
        # so filling them ends in ENOSPC, never in the out-of-memory killer taking the command server
        tmpfs = self.tmp_size_mb + self.shm_size_mb + self.work_size_mb
        if tmpfs > self.memory_mb - _PROCESS_HEADROOM_MB:
            raise ValueError(
                f"tmpfs sizes (/tmp {self.tmp_size_mb} + /dev/shm {self.shm_size_mb} + work {self.work_size_mb} MiB) "
                f"must leave {_PROCESS_HEADROOM_MB} MiB of the {self.memory_mb} MiB memory limit to processes"
            )
        return self


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def require_bwrap() -> str:
    """The bwrap executable, or the domain error saying how to install it (never a fallback to `local`)."""
    found = bwrap_path()
    if found is None:
        raise SandboxUnavailable(
            "agentic evaluations run only inside the bubblewrap sandbox and `bwrap` is not on PATH: " + INSTALL_HINT
        )
    return found


def _per_process_opt_in() -> bool:
    return os.environ.get(PER_PROCESS_OPT_IN, "") == "1"


def require_limits() -> cgroups.CgroupLayout | None:
    """The cgroup layout whole-sample limits go through; None only when the operator opted into per-process
    limits; otherwise the refusal saying what to do."""
    layout = cgroups.detect()
    if layout is None and not _per_process_opt_in():
        raise SandboxUnavailable(
            "no writable cgroup hierarchy for whole-sample limits (cgroup v2 with memory, pids and cpu delegated, "
            "or the v1 memory, pids and cpu hierarchies): run as root or delegate a cgroup, or set "
            f"{PER_PROCESS_OPT_IN}=1 to run with per-process limits only"
        )
    return layout


def _limits(cfg: BwrapConfig) -> cgroups.SampleLimits:
    return cgroups.SampleLimits(
        memory_bytes=cfg.memory_mb << 20, max_processes=cfg.max_processes, cpus=cfg.cpus, cpu_weight=cfg.cpu_weight
    )


def describe(cfg: BwrapConfig | None = None) -> dict[str, Any]:
    """What every eval log records about the sandbox: which limits held, the filesystem caps, the seccomp
    deny-list and the declared tools with their installed versions."""
    cfg = cfg or BwrapConfig()
    layout = cgroups.detect()
    if layout is not None:
        whole_sample = layout.describe(_limits(cfg))
    else:
        whole_sample = "none: per-process limits only (operator opt-in)" if _per_process_opt_in() else "unavailable"
    return {
        "sandbox": SANDBOX_NAME,
        "whole_sample_limits": whole_sample,
        "per_process_limits": (
            f"RLIMIT_NPROC {cfg.max_processes}, RLIMIT_AS {cfg.memory_mb} MiB, RLIMIT_FSIZE {cfg.file_size_mb} MiB, "
            f"RLIMIT_NOFILE {cfg.open_files}, RLIMIT_CPU {cfg.cpu_seconds} s per command"
        ),
        "filesystem": (
            f"tmpfs /home/agent {cfg.work_size_mb} MiB, /tmp {cfg.tmp_size_mb} MiB, /dev/shm {cfg.shm_size_mb} MiB; "
            "read-only /usr, /etc allow-list, /dev"
        ),
        "seccomp_denied": list(seccomp.DENIED_SYSCALLS),
        "tools": tool_versions(),
    }


def _config(config: SandboxEnvironmentConfigType | None) -> BwrapConfig:
    if config is None:
        return BwrapConfig()
    if isinstance(config, BwrapConfig):
        return config
    if isinstance(config, str):
        # a path to a JSON file with BwrapConfig fields, as Inspect passes sandbox=("bwrap", "file.json")
        return BwrapConfig.model_validate_json(Path(config).read_text(encoding="utf-8"))
    return BwrapConfig.model_validate(config.model_dump())


@dataclass(frozen=True)
class _Placement:
    """Where a sandbox sits relative to others: a service sandbox joins its agent sandbox's network namespace
    (`network_pid`, a host pid inside it) and both may bind one shared host directory at `shared_path`."""

    network_pid: int | None = None
    shared_dir: Path | None = None
    shared_path: str | None = None
    # a flag holder's sandbox: every Python process in it marks itself not dumpable as it starts
    service: bool = False
    # (host path, sandbox path) pairs bound read-only: prepared trees a sample uses but must not change. Under
    # root they are first bind-mounted into the sample's own directory, so they may sit in an owner-only home.
    read_only: tuple[tuple[Path, str], ...] = ()


def _bwrap_command(
    bwrap: str, root: Path, cfg: BwrapConfig, control_fd: int, seccomp_fd: int, info_fd: int, placement: _Placement
) -> list[str]:
    """The launch command; `control_fd` (the listening control socket) and `seccomp_fd` (the compiled filter)
    are inherited at the same numbers."""
    cmd: list[str] = []
    if placement.network_pid is not None:
        # root enters the agent's network namespace; everything else (user, pid, ipc, uts, mounts) is bwrap's own
        cmd += [shutil.which("nsenter") or "/usr/bin/nsenter", f"--net=/proc/{placement.network_pid}/ns/net", "--"]
    if os.geteuid() == 0:
        # bwrap started by root would map the sandbox user onto host root; drop to an unprivileged host uid first
        cmd += [
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={cfg.host_uid}",
            f"--regid={cfg.host_gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]
    mb = 1024 * 1024
    namespaces = (
        ["--unshare-all"]
        if placement.network_pid is None
        else ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    )
    cmd += [
        bwrap,
        *namespaces,
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(cfg.uid),
        "--gid",
        str(cfg.gid),
        "--hostname",
        cfg.hostname,
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in _ROOT_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            cmd += ["--symlink", str(host.readlink()), f"/{name}"]
        elif host.is_dir():
            cmd += ["--ro-bind", str(host), f"/{name}"]
    for hidden in _HIDDEN_PYTHON_DIRS:
        if Path(hidden).is_dir():
            cmd += ["--tmpfs", hidden, "--remount-ro", hidden]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--size", str(cfg.shm_size_mb * mb), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]  # noqa: S108
    cmd += ["--size", str(cfg.tmp_size_mb * mb), "--tmpfs", "/tmp"]  # noqa: S108 - the sandbox's own tmpfs
    cmd += ["--perms", "0700", "--size", str(cfg.work_size_mb * mb), "--tmpfs", SANDBOX_HOME]
    cmd += ["--dir", "/etc"]
    for name in _ETC_ALLOWLIST:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name in _SYNTHETIC_ETC:
        cmd += ["--ro-bind", str(root / "etc" / name), f"/etc/{name}"]
    if placement.shared_dir is not None and placement.shared_path is not None:
        cmd += ["--bind", str(placement.shared_dir), placement.shared_path]
    cmd += ["--ro-bind", str(root / "agent.py"), SANDBOX_AGENT]
    for host_path, sandbox_path in placement.read_only:
        cmd += ["--ro-bind", str(host_path), sandbox_path]
    env = _base_env(cfg)
    if placement.service:
        cmd += ["--ro-bind", str(root / "service-python"), _SERVICE_PYTHON_DIR]
        env["PYTHONPATH"] = _SERVICE_PYTHON_DIR
    # the root tmpfs bwrap builds is otherwise writable by the sandbox user; only the explicit rw mounts stay rw
    cmd += ["--remount-ro", "/", "--chdir", SANDBOX_HOME, "--seccomp", str(seccomp_fd), "--info-fd", str(info_fd)]
    cmd += [
        "--",
        "/usr/bin/prlimit",
        f"--nproc={cfg.max_processes}",
        f"--as={cfg.memory_mb * mb}",
        f"--fsize={cfg.file_size_mb * mb}",
        f"--nofile={cfg.open_files}",
        "--core=0",
        "--",
        SANDBOX_PYTHON,
        "-I",
        "-S",  # the standard library only: no site module (its start-up cost, and no site-packages at all)
        SANDBOX_AGENT,
        "--listen-fd",
        str(control_fd),
        "--workdir",
        SANDBOX_HOME,
        "--cpu-seconds",
        str(cfg.cpu_seconds),
    ]
    for key, value in env.items():
        cmd += ["--env", f"{key}={value}"]
    return cmd


def _base_env(cfg: BwrapConfig) -> dict[str, str]:
    return {
        "PATH": _SANDBOX_PATH,
        "HOME": SANDBOX_HOME,
        "USER": cfg.user,
        "LOGNAME": cfg.user,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "SHELL": "/bin/bash",
        "TERM": "dumb",
        "TMPDIR": "/tmp",  # noqa: S108 - inside the sandbox
        "PYTHONIOENCODING": "utf-8",
    }


def _traversable(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents))


def _base_dir() -> str:
    """Where sample directories go: bwrap runs as an unprivileged host uid when we are root, so every ancestor
    must be traversable by others (a 0700 /tmp is not); CLEARINGHOUSE_SANDBOX_DIR overrides."""
    override = os.environ.get("CLEARINGHOUSE_SANDBOX_DIR")
    if override:
        Path(override).mkdir(parents=True, exist_ok=True)
        return override
    default = tempfile.gettempdir()
    if os.geteuid() != 0:
        return default
    for candidate in (default, "/var/tmp", "/dev/shm"):  # noqa: S108 - mkdtemp makes a private dir in it
        path = Path(candidate)
        if path.is_dir() and _traversable(path):
            return candidate
    raise SandboxUnavailable(
        "no directory traversable by the sandbox's unprivileged host user for per-sample directories "
        f"(tried {default}, /var/tmp, /dev/shm); set CLEARINGHOUSE_SANDBOX_DIR to one"
    )


def _prepare_root(cfg: BwrapConfig) -> Path:
    """A private host directory: the synthetic /etc files and the command server bwrap binds read-only, and the
    control socket, which is never mounted inside."""
    root = Path(tempfile.mkdtemp(prefix="clearinghouse-bwrap-", dir=_base_dir()))
    # traversable, not listable: bwrap, running as host_uid, must reach the files it binds
    root.chmod(0o711)
    (root / "etc").mkdir()
    users = f"root:x:0:0:root:/root:/usr/sbin/nologin\n{cfg.user}:x:{cfg.uid}:{cfg.gid}::{SANDBOX_HOME}:/bin/bash\n"
    users += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    (root / "etc" / "passwd").write_text(users, encoding="utf-8")
    groups = f"root:x:0:\n{cfg.user}:x:{cfg.gid}:\nnogroup:x:65534:\n"
    (root / "etc" / "group").write_text(groups, encoding="utf-8")
    hosts = f"127.0.0.1 localhost {cfg.hostname}\n::1 localhost ip6-localhost ip6-loopback\n"
    (root / "etc" / "hosts").write_text(hosts, encoding="utf-8")
    (root / "etc" / "hostname").write_text(cfg.hostname + "\n", encoding="utf-8")
    agent = resources.files("clearinghouse.evals.sandbox").joinpath("_agent.py").read_text(encoding="utf-8")
    (root / "agent.py").write_text(agent, encoding="utf-8")
    (root / "service-python").mkdir(mode=0o755)
    (root / "service-python" / "sitecustomize.py").write_text(_NOT_DUMPABLE_SITECUSTOMIZE, encoding="utf-8")
    for path in (root / "agent.py", root / "service-python" / "sitecustomize.py", *(root / "etc").iterdir()):
        path.chmod(0o644)
    return root


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        path.chmod(0o600)
        listener.listen(64)
    except BaseException:
        listener.close()
        raise
    return listener


def _reply_bound(header: dict[str, Any]) -> int:
    """The largest payload a genuine reply to this request can carry."""
    op = header.get("op")
    if op == "exec":
        return 2 * int(header["output_limit"])  # stdout and stderr, each capped by the server
    if op == "read":
        return int(header["max_size"])
    return 0


async def _request(socket_path: str, header: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
    bound = _reply_bound(header)
    header = dict(header, payload=len(payload))
    encoded = json.dumps(header).encode()
    try:
        stream = await anyio.connect_unix(socket_path)
    except OSError as exc:
        raise SandboxViolation(f"the command server is gone ({exc}); the sample stopped it or exhausted it") from exc
    async with stream:
        try:
            await stream.send(struct.pack(">I", len(encoded)) + encoded)
            for start in range(0, len(payload), 1 << 20):
                await stream.send(payload[start : start + (1 << 20)])
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise SandboxViolation("the command server closed the connection mid-request") from exc
        buffered = bytearray()

        async def need(size: int) -> bytes:
            while len(buffered) < size:
                try:
                    buffered.extend(await stream.receive(min(1 << 20, size - len(buffered))))
                except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                    raise SandboxViolation("the command server closed the connection mid-reply") from exc
            chunk = bytes(buffered[:size])
            del buffered[:size]
            return chunk

        (length,) = struct.unpack(">I", await need(4))
        if length > MAX_REPLY_HEADER:
            raise SandboxViolation(f"reply header of {length:,} bytes refused (limit {MAX_REPLY_HEADER:,})")
        try:
            response = json.loads(await need(length))
            announced = int(response.get("payload", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            raise SandboxViolation("malformed reply from the command server") from exc
        if not 0 <= announced <= bound:
            raise SandboxViolation(f"reply of {announced:,} bytes refused (limit {bound:,} for {header['op']})")
        body = await need(announced)
    return dict(response), body


# Moves itself into each named control group ("0" is "the writing process"), then becomes the command: the
# sandbox is inside its groups from its first instruction. A shell rather than a preexec_fn, so that Popen can
# vfork: forking the whole harness process costs tens of milliseconds per sample.
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@"'


def _launch(argv: list[str], log_path: Path, inherited: tuple[int, ...], join: list[Path]) -> subprocess.Popen[bytes]:
    """Starts bwrap from a minimal environment, with the `inherited` fds, inside the sample's control groups."""
    command = ["/bin/sh", "-c", _JOIN_CGROUPS, "join-cgroups", *map(str, join), "--", *argv]
    with log_path.open("wb") as log:
        # started from the event-loop thread: --die-with-parent ties the sandbox to this (long-lived) thread
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_LAUNCH_ENV,
            start_new_session=True,
            pass_fds=inherited,
        )


SERVICES_METADATA_KEY = "sandbox_services"
_SHARED_DIR_BYTES = 16 << 20
_SERVICE_START_TIMEOUT = 120


class ServiceSpec(BaseModel):
    """A flag holder a sample needs (a challenge's web server, pwn front end, scheduled job), started in a sandbox
    of its own: `files` are written into its private work dir, then `start` (a bash script) runs there and must
    return once the service is up. `shared_dir`, when set, names a directory of the agent's work dir that the
    service sees at the same path (for a challenge whose path into the service is a directory)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: dict[str, Base64Bytes] = Field(default_factory=dict)
    start: str
    shared_dir: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


def services_metadata(services: list[ServiceSpec]) -> str:
    """The sample-metadata value that asks the sandbox for these services."""
    return json.dumps([spec.model_dump(mode="json") for spec in services])


def _service_specs(metadata: dict[str, Any]) -> list[ServiceSpec]:
    raw = metadata.get(SERVICES_METADATA_KEY)
    if not raw:
        return []
    return [ServiceSpec.model_validate(item) for item in json.loads(raw)]


def _unmount(mount_point: Path) -> None:
    """Unmounts a shared directory's host tmpfs (what is in it goes with it) and removes the mount point."""
    subprocess.run(["/usr/bin/umount", str(mount_point)], check=True)
    mount_point.rmdir()


def _mount_read_only(root: Path, placement: _Placement, bound: list[Path]) -> _Placement:
    """Under root (bwrap then runs as an unprivileged host uid that may not traverse the harness's home), each
    read-only tree is bind-mounted read-only into the sample's directory first; `bound` collects the mount
    points for `stop` to unmount."""
    if os.geteuid() != 0 or not placement.read_only:
        return placement
    entries: list[tuple[Path, str]] = []
    for number, (host_path, sandbox_path) in enumerate(placement.read_only):
        mount_point = root / f"read-only-{number}"
        mount_point.mkdir(mode=0o755)
        subprocess.run(["/usr/bin/mount", "--bind", "-o", "ro", str(host_path), str(mount_point)], check=True)
        bound.append(mount_point)
        entries.append((mount_point, sandbox_path))
    return dataclasses.replace(placement, read_only=tuple(entries))


def _read_child_pid(info_fd: int) -> int:
    """bwrap's `--info-fd` report: the host pid of the sandbox's pid 1, written before the payload starts."""
    info = json.loads(os.read(info_fd, 4096))
    return int(info["child-pid"])


_ERRORS: dict[str, type[OSError]] = {
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "IsADirectoryError": IsADirectoryError,
    "NotADirectoryError": NotADirectoryError,
    "FileExistsError": FileExistsError,
}


def _raise_for(response: dict[str, Any]) -> None:
    error = response.get("error")
    if not error:
        return
    kind, message = str(error["type"]), str(error["message"])
    if kind == "OutputLimitExceededError":
        raise OutputLimitExceededError(SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, None)
    raise _ERRORS.get(kind, OSError)(message)


@sandboxenv(name=SANDBOX_NAME)
class BwrapSandboxEnvironment(SandboxEnvironment):
    """A sample's bubblewrap container (see the module docstring for how isolation and persistence work)."""

    _live: dict[int, BwrapSandboxEnvironment] = {}

    def __init__(
        self,
        cfg: BwrapConfig,
        root: Path,
        process: subprocess.Popen[bytes],
        cgroup: cgroups.SampleCgroup | None,
    ) -> None:
        super().__init__()
        self.config = cfg
        self.root = root
        self.process = process
        self.cgroup = cgroup
        self.socket_path = str(root / "control.sock")
        # host pid of the sandbox's pid 1 (bwrap's namespace child): the handle on its network namespace
        self.init_pid: int | None = None
        # flag holders started for this sample in sandboxes of their own, stopped with this one
        self.services: list[BwrapSandboxEnvironment] = []
        self.shared_mount: Path | None = None
        self.read_only_mounts: list[Path] = []

    # -- lifecycle -------------------------------------------------------------------------------------

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        require_bwrap()
        require_tools()
        require_limits()
        _config(config)

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        cfg = _config(config)
        services = _service_specs(metadata)
        if not services:
            return {"default": await cls.start(cfg)}
        return {"default": await cls.start_with_services(cfg, services)}

    @classmethod
    async def start_with_services(cls, cfg: BwrapConfig, services: list[ServiceSpec]) -> BwrapSandboxEnvironment:
        """The agent's sandbox, and each service in a sandbox of its own (another host and sandbox uid, its own
        pid, mount, ipc and user namespaces and cgroup) sharing only the agent's network namespace and, where a
        service declares one, a small shared directory."""
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                "services run in sandboxes of their own, joined to the agent's network namespace, which needs the "
                "harness to run as root"
            )
        shared = next((spec.shared_dir for spec in services if spec.shared_dir), None)
        mount_point: Path | None = None
        placement = _Placement()
        if shared is not None:
            mount_point = Path(tempfile.mkdtemp(prefix="clearinghouse-shared-", dir=_base_dir()))
            subprocess.run(
                [
                    "/usr/bin/mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size={_SHARED_DIR_BYTES},mode=0777,nosuid,nodev",
                    "tmpfs",
                    str(mount_point),
                ],
                check=True,
            )
            placement = _Placement(shared_dir=mount_point, shared_path=f"{SANDBOX_HOME}/{shared}")
        try:
            agent = await cls.start(cfg, placement=placement)
        except BaseException:
            if mount_point is not None:
                _unmount(mount_point)
            raise
        agent.shared_mount = mount_point
        try:
            for number, spec in enumerate(services):
                service_cfg = cfg.model_copy(
                    update={
                        "user": "service",
                        "uid": cfg.uid + 1 + number,
                        "gid": cfg.gid + 1 + number,
                        "host_uid": cfg.host_uid - 1 - number,
                        "host_gid": cfg.host_gid - 1 - number,
                        "hostname": f"service{number}",
                    }
                )
                service_placement = _Placement(
                    service=True,
                    network_pid=agent.init_pid,
                    shared_dir=mount_point if spec.shared_dir else None,
                    shared_path=f"{SANDBOX_HOME}/{spec.shared_dir}" if spec.shared_dir else None,
                )
                service = await cls.start(service_cfg, placement=service_placement)
                agent.services.append(service)
                for name, data in spec.files.items():
                    await service.write_file(name, data)
                started = await service.exec(["bash", "-c", spec.start], timeout=_SERVICE_START_TIMEOUT)
                if not started.success:
                    raise SandboxUnavailable(f"service {number} did not start: {started.stderr.strip()[-500:]}")
        except BaseException:
            await agent.stop()
            raise
        return agent

    @classmethod
    async def start(
        cls,
        cfg: BwrapConfig | None = None,
        *,
        placement: _Placement | None = None,
        read_only: tuple[tuple[Path, str], ...] = (),
    ) -> BwrapSandboxEnvironment:
        """Start one sandbox outside Inspect's lifecycle (tests, tools); stop it with `stop()`. `read_only` binds
        host trees (host path, sandbox path) read-only inside, e.g. a reproduction's prepared environment."""
        cfg = cfg or BwrapConfig()
        placement = placement or _Placement(read_only=read_only)
        bwrap = require_bwrap()
        if not Path(SANDBOX_PYTHON).exists():
            raise SandboxUnavailable(f"the bwrap sandbox runs its command server with {SANDBOX_PYTHON}, not found")
        layout = require_limits()
        root = _prepare_root(cfg)
        cgroup: cgroups.SampleCgroup | None = None
        opened: list[int] = []
        bound: list[Path] = []
        info_read = -1
        try:
            cgroup = cgroups.SampleCgroup(layout, _limits(cfg)) if layout is not None else None
            listener = _listen(root / "control.sock")
            opened.append(listener.detach())
            opened.append(seccomp.filter_fd())
            info_read, info_write = os.pipe()
            opened.append(info_write)
            placement = _mount_read_only(root, placement, bound)
            join = cgroup.procs_files() if cgroup is not None else []
            control_fd, seccomp_fd, info_fd = opened[:3]
            argv = _bwrap_command(bwrap, root, cfg, control_fd, seccomp_fd, info_fd, placement)
            process = _launch(argv, root / "bwrap.log", tuple(opened[:3]), join)
        except BaseException:
            if info_read >= 0:
                os.close(info_read)
            if cgroup is not None:
                cgroup.destroy()
            for mount_point in bound:
                _unmount(mount_point)
            remove_tree(root)
            raise
        finally:
            # the command server holds the only other copy of the listener: once it is gone, connecting fails
            for fd in opened:
                os.close(fd)
        env = cls(cfg, root, process, cgroup)
        env.read_only_mounts = bound
        cls._live[id(env)] = env
        try:
            await env._wait_ready()
            env.init_pid = _read_child_pid(info_read)
        except BaseException:
            await env.stop()
            raise
        finally:
            os.close(info_read)
        return env

    async def _wait_ready(self) -> None:
        try:
            with anyio.fail_after(_START_TIMEOUT):
                response, _ = await _request(self.socket_path, {"op": "ping"})
            if response.get("ok"):
                return
        except (SandboxViolation, TimeoutError):
            pass
        detail = (self.root / "bwrap.log").read_text(encoding="utf-8", errors="replace").strip()
        raise SandboxUnavailable(
            f"the bwrap sandbox did not start (exit status {self.process.poll()}): {detail or 'no output'}; "
            "unprivileged user namespaces must be enabled (sysctl user.max_user_namespaces > 0, and on Ubuntu "
            "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)"
        )

    async def stop(self) -> None:
        """Kill every process of the sandbox (and of its services) and delete its host directory."""
        type(self)._live.pop(id(self), None)
        for service in self.services:
            await service.stop()
        if self.process.poll() is None:
            # bwrap is the pid namespace's init (via --die-with-parent on its child): killing it kills them all
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await anyio.to_thread.run_sync(self._finish)

    def _finish(self) -> None:
        self.process.wait()
        if self.cgroup is not None:
            self.cgroup.destroy()
        if self.shared_mount is not None:
            _unmount(self.shared_mount)
        for mount_point in self.read_only_mounts:  # before the tree goes: never delete through a mount
            _unmount(mount_point)
        remove_tree(self.root)

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        for environment in environments.values():
            await environment.as_type(BwrapSandboxEnvironment).stop()

    @override
    @classmethod
    async def task_cleanup(cls, task_name: str, config: SandboxEnvironmentConfigType | None, cleanup: bool) -> None:
        # last resort for samples whose cleanup never ran (e.g. a crash between init and cleanup)
        if cleanup:
            for env in list(cls._live.values()):
                await env.stop()

    @override
    @classmethod
    async def cli_cleanup(cls, id: str | None) -> None:
        for env in list(cls._live.values()):
            await env.stop()

    @override
    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return BwrapConfig.model_validate(config)

    @override
    @classmethod
    def default_concurrency(cls) -> int | None:
        return max(4, 2 * (os.cpu_count() or 2))

    @override
    def default_polling_interval(self) -> float:
        return 0.2

    # -- operations ------------------------------------------------------------------------------------

    def _check_user(self, user: str | None) -> None:
        if user is None or user in (self.config.user, str(self.config.uid)):
            return
        raise SandboxUserUnsupportedError(
            f"the bwrap sandbox runs every command as the unprivileged user {self.config.user!r} "
            f"(uid {self.config.uid}); it has no root and cannot run as {user!r}"
        )

    @override
    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        # timeout_retry exists for remote transports; re-running a local command that timed out only repeats it
        self._check_user(user)
        argv_bytes = sum(len(str(arg).encode("utf-8", "surrogateescape")) for arg in cmd)
        if argv_bytes > MAX_EXEC_ARGV_BYTES:
            raise SandboxViolation(
                f"a command of {argv_bytes:,} bytes of arguments refused (limit {MAX_EXEC_ARGV_BYTES:,})"
            )
        limit = timeout if timeout is not None else self.config.exec_timeout
        payload = input.encode("utf-8") if isinstance(input, str) else (input or b"")
        header = {
            "op": "exec",
            "argv": list(cmd),
            "cwd": cwd,
            "env": env or {},
            "timeout": limit,
            "has_input": input is not None,
            "output_limit": SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE,
        }
        try:
            with anyio.fail_after(limit + _HOST_TIMEOUT_SLACK):
                response, body = await _request(self.socket_path, header, payload)
        except TimeoutError as exc:
            raise TimeoutError(f"command timed out after {limit} s: {cmd!r}") from exc
        _raise_for(response)
        if response.get("timed_out"):
            raise TimeoutError(f"command timed out after {limit} s: {cmd!r}")
        split = int(response.get("stdout_len", len(body)))
        stdout = body[:split].decode("utf-8", errors="replace")
        stderr = body[split:].decode("utf-8", errors="replace")
        if response.get("truncated"):
            raise OutputLimitExceededError(SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR, stdout)
        returncode = int(response["returncode"])
        # a signal death reports as the shell convention 128+N, as docker exec does
        if returncode < 0:
            returncode = 128 - returncode
        return ExecResult(success=returncode == 0, returncode=returncode, stdout=stdout, stderr=stderr)

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode("utf-8") if isinstance(contents, str) else contents
        response, _ = await _request(self.socket_path, {"op": "write", "path": file}, data)
        _raise_for(response)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> str | bytes:
        header = {"op": "read", "path": file, "max_size": SandboxEnvironmentLimits.MAX_READ_FILE_SIZE}
        response, body = await _request(self.socket_path, header)
        _raise_for(response)
        # newline="" semantics: bytes are decoded as-is, so CRLF survives
        return body.decode("utf-8") if text else body
