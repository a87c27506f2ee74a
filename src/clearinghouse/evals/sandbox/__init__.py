"""The `bwrap` Inspect sandbox: one bubblewrap container per sample, reached through an in-sandbox command server.

Isolation: every namespace is unshared (the network namespace has only its own loopback), the payload runs
as an unprivileged uid inside a user namespace with every capability dropped and no new privileges, the root
filesystem is an empty tmpfs with read-only binds of /usr (and the merged-/usr links) and a short allow-list of
/etc files, plus synthetic passwd/group/hosts, private /tmp, /proc and /dev, and one writable per-sample host
directory mounted at `/home/agent`. When the host process is root it first drops to an unprivileged host uid
(65534 by default) with `setpriv`, so the sandbox's kernel identity never is root; as any other user bwrap
runs directly. Resource limits (processes, address space, file size, open files, CPU per command) are set with
`prlimit`/`setrlimit` inside; wall-clock limits are enforced per command by the server and by the host.

Persistence: `sample_init` starts a single bwrap whose payload is `_agent.py`, a standard-library command
server listening on a unix socket in a bind-mounted control directory. Every later `exec`/`read_file`/
`write_file` is a request to that server, so they all share one set of namespaces: a service a challenge
starts at setup stays up and is reachable on the sandbox's 127.0.0.1 for later commands. Teardown kills bwrap;
bwrap is pid 1 of the sandbox's pid namespace, so the kernel kills everything left inside it.

gVisor (`runsc`) would add a syscall-filtering kernel boundary on top; it is a documented future option, not
implemented here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal, overload

import anyio
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    SandboxUserUnsupportedError,
    sandboxenv,
)
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import override

from clearinghouse.errors import SandboxUnavailable

__all__ = [
    "SANDBOX_NAME",
    "BwrapConfig",
    "BwrapSandboxEnvironment",
    "bwrap_path",
    "require_bwrap",
]

SANDBOX_NAME = "bwrap"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`; Fedora: `dnf install bubblewrap`)"

# Paths as the sandboxed payload sees them.
SANDBOX_HOME = "/home/agent"
SANDBOX_CONTROL = "/run/clearinghouse"
SANDBOX_PYTHON = "/usr/bin/python3"
_SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

_START_TIMEOUT = 20.0
# Extra host-side patience beyond a command's own timeout before the host gives up on the server.
_HOST_TIMEOUT_SLACK = 10.0


class BwrapConfig(BaseModel):
    """Limits and identity for one `bwrap` sandbox; every field has a safe default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = "agent"
    uid: int = 1000
    gid: int = 1000
    host_uid: int = Field(default=65534, description="Host uid the sandbox runs as when Inspect runs as root.")
    host_gid: int = 65534
    max_processes: int = 256
    memory_mb: int = Field(default=2048, description="Address-space limit per process (RLIMIT_AS).")
    file_size_mb: int = 256
    open_files: int = 1024
    cpu_seconds: int = Field(default=600, description="CPU time per command (RLIMIT_CPU).")
    tmp_size_mb: int = 512
    exec_timeout: int = Field(default=1800, description="Wall-clock limit for a command given no timeout.")
    hostname: str = "sandbox"


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


def _config(config: SandboxEnvironmentConfigType | None) -> BwrapConfig:
    if config is None:
        return BwrapConfig()
    if isinstance(config, BwrapConfig):
        return config
    if isinstance(config, str):
        # a path to a JSON file with BwrapConfig fields, as Inspect passes sandbox=("bwrap", "file.json")
        return BwrapConfig.model_validate_json(Path(config).read_text(encoding="utf-8"))
    return BwrapConfig.model_validate(config.model_dump())


def _bwrap_command(bwrap: str, root: Path, cfg: BwrapConfig) -> list[str]:
    cmd: list[str] = []
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
    cmd += [
        bwrap,
        "--unshare-all",
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
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--size", str(cfg.tmp_size_mb * 1024 * 1024), "--tmpfs", "/tmp"]  # noqa: S108 - the sandbox's own tmpfs
    cmd += ["--dir", "/etc"]
    for name in _ETC_ALLOWLIST:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name in _SYNTHETIC_ETC:
        cmd += ["--ro-bind", str(root / "etc" / name), f"/etc/{name}"]
    cmd += ["--bind", str(root / "work"), SANDBOX_HOME]
    cmd += ["--bind", str(root / "control"), SANDBOX_CONTROL]
    cmd += ["--ro-bind", str(root / "agent.py"), "/opt/clearinghouse-agent.py"]
    # the root tmpfs bwrap builds is otherwise writable by the sandbox user; only the explicit rw mounts stay rw
    cmd += ["--remount-ro", "/", "--chdir", SANDBOX_HOME]
    mb = 1024 * 1024
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
        "/opt/clearinghouse-agent.py",
        "--socket",
        f"{SANDBOX_CONTROL}/agent.sock",
        "--workdir",
        SANDBOX_HOME,
        "--cpu-seconds",
        str(cfg.cpu_seconds),
    ]
    for key, value in _base_env(cfg).items():
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
    """A private host directory: the sample's writable home, the control socket dir and synthetic /etc files."""
    root = Path(tempfile.mkdtemp(prefix="clearinghouse-bwrap-", dir=_base_dir()))
    # traversable, not listable: bwrap, running as host_uid, must reach the files it binds
    root.chmod(0o711)
    (root / "work").mkdir()
    (root / "control").mkdir()
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
    for path in (root / "agent.py", *(root / "etc").iterdir()):
        path.chmod(0o644)
    if os.geteuid() == 0:
        # the sandbox runs as host_uid: it must own its writable dirs, and nothing else here
        for path in (root / "work", root / "control"):
            os.chown(path, cfg.host_uid, cfg.host_gid)
    return root


def _remove_tree(root: Path) -> None:
    if not root.exists():
        return

    def make_writable(func: Any, path: str, _exc: Any) -> None:
        # the sandbox may leave read-only dirs behind (chmod -w) that a non-root host must reopen to delete;
        # never touch anything at or above root itself
        target = Path(path)
        if target == root or root not in target.parents:
            return
        with contextlib.suppress(OSError):
            if target.parent != root:
                target.parent.chmod(0o700)
            if target.is_dir() and not target.is_symlink():
                target.chmod(0o700)
            func(path)

    shutil.rmtree(root, onerror=make_writable)


async def _request(socket_path: str, header: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
    header = dict(header, payload=len(payload))
    encoded = json.dumps(header).encode()
    try:
        stream = await anyio.connect_unix(socket_path)
    except OSError as exc:
        from inspect_ai.util import SandboxUnavailableError

        raise SandboxUnavailableError(f"the bwrap sandbox is not running ({exc})") from exc
    async with stream:
        await stream.send(struct.pack(">I", len(encoded)) + encoded)
        for start in range(0, len(payload), 1 << 20):
            await stream.send(payload[start : start + (1 << 20)])
        buffered = bytearray()

        async def need(size: int) -> bytes:
            while len(buffered) < size:
                try:
                    buffered.extend(await stream.receive(1 << 20))
                except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                    from inspect_ai.util import SandboxUnavailableError

                    raise SandboxUnavailableError("the bwrap sandbox closed the connection") from exc
            chunk = bytes(buffered[:size])
            del buffered[:size]
            return chunk

        (length,) = struct.unpack(">I", await need(4))
        response: dict[str, Any] = json.loads(await need(length))
        body = await need(int(response.get("payload", 0)))
    return response, body


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

    def __init__(self, cfg: BwrapConfig, root: Path, process: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.config = cfg
        self.root = root
        self.process = process
        self.socket_path = str(root / "control" / "agent.sock")

    # -- lifecycle -------------------------------------------------------------------------------------

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        require_bwrap()
        _config(config)

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        return {"default": await cls.start(_config(config))}

    @classmethod
    async def start(cls, cfg: BwrapConfig | None = None) -> BwrapSandboxEnvironment:
        """Start one sandbox outside Inspect's lifecycle (tests, tools); stop it with `stop()`."""
        cfg = cfg or BwrapConfig()
        bwrap = require_bwrap()
        if not Path(SANDBOX_PYTHON).exists():
            raise SandboxUnavailable(f"the bwrap sandbox runs its command server with {SANDBOX_PYTHON}, not found")
        root = _prepare_root(cfg)
        log = (root / "bwrap.log").open("wb")
        try:
            # started from the event-loop thread: --die-with-parent ties the sandbox to this (long-lived) thread
            process = subprocess.Popen(
                _bwrap_command(bwrap, root, cfg),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        env = cls(cfg, root, process)
        cls._live[id(env)] = env
        try:
            await env._wait_ready()
        except BaseException:
            await env.stop()
            raise
        return env

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if Path(self.socket_path).exists():
                with contextlib.suppress(Exception):
                    response, _ = await _request(self.socket_path, {"op": "ping"})
                    if response.get("ok"):
                        return
            await anyio.sleep(0.02)
        detail = (self.root / "bwrap.log").read_text(encoding="utf-8", errors="replace").strip()
        raise SandboxUnavailable(
            f"the bwrap sandbox did not start (exit status {self.process.poll()}): {detail or 'no output'}; "
            "unprivileged user namespaces must be enabled (sysctl user.max_user_namespaces > 0, and on Ubuntu "
            "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)"
        )

    async def stop(self) -> None:
        """Kill every process of the sandbox and delete its host directory."""
        type(self)._live.pop(id(self), None)
        if self.process.poll() is None:
            # bwrap is the pid namespace's init (via --die-with-parent on its child): killing it kills them all
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        for _ in range(500):
            if self.process.poll() is not None:
                break
            await anyio.sleep(0.01)
        await anyio.to_thread.run_sync(_remove_tree, self.root)

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
