"""Command server that runs *inside* the bubblewrap sandbox as its long-lived init payload.

Every `exec`, `read_file` and `write_file` of a sample goes through this one process, so all of them share
the sample's namespaces (a service started at setup stays reachable on the sandbox loopback) and inherit its
uid, dropped capabilities and resource limits without the host having to re-enter any namespace.

It is copied into the sandbox and run by the sandbox's own `/usr/bin/python3`, so it must use the standard
library only and must not import anything from `clearinghouse`.

Wire format, one request per connection over a unix socket: a 4-byte big-endian length, a JSON header, then
`header["payload"]` raw bytes; the response has the same shape.
"""

# os.path and open() rather than pathlib: this runs under whatever python3 the sandbox has, kept minimal.
# ruff: noqa: PTH103, PTH117, PTH118, PTH120, PTH123

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from typing import Any

# After the command itself exits, how long to keep collecting output that background children may still be
# writing to the inherited pipes; they are then left running (a service started with `&` must survive).
_DRAIN_GRACE_SECONDS = 0.3
_CHUNK = 1 << 16


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        chunk = conn.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("client closed the connection mid-request")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


# The host's requests are bounded too: a header holds a command line (at most ARG_MAX, 2 MiB, JSON-escaped).
_MAX_HEADER = 16 << 20


def read_frame(conn: socket.socket) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack(">I", _recv_exact(conn, 4))
    if length > _MAX_HEADER:
        raise ValueError(f"request header of {length} bytes")
    header: dict[str, Any] = json.loads(_recv_exact(conn, length))
    payload = _recv_exact(conn, int(header.get("payload", 0)))
    return header, payload


def write_frame(conn: socket.socket, header: dict[str, Any], *payloads: bytes) -> None:
    header = dict(header, payload=sum(len(p) for p in payloads))
    encoded = json.dumps(header).encode()
    conn.sendall(struct.pack(">I", len(encoded)) + encoded)
    for payload in payloads:
        conn.sendall(payload)


def _error(exc: BaseException, path: str | None = None) -> dict[str, Any]:
    message = str(exc) if path is None or path in str(exc) else f"{exc}: {path}"
    kind = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EPERM):
        # to the caller a read-only mount is just another place it may not write
        kind = "PermissionError"
    return {"error": {"type": kind, "message": message}}


class _Collector:
    """Reads one pipe to EOF, keeping at most `limit` bytes (and noting whether more arrived)."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.buffer = bytearray()
        self.truncated = False
        self._limit = limit
        self._lock = threading.Lock()
        self._frozen = False
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: Any) -> None:
        # Keeps draining after the response is sent so a background writer never blocks on a full pipe.
        with contextlib.suppress(OSError, ValueError):
            while True:
                chunk = stream.read1(_CHUNK)
                if not chunk:
                    break
                with self._lock:
                    if self._frozen:
                        continue
                    room = self._limit - len(self.buffer)
                    if len(chunk) > room:
                        self.truncated = True
                    self.buffer += chunk[: max(room, 0)]

    def snapshot(self) -> tuple[bytes, bool]:
        with self._lock:
            self._frozen = True
            return bytes(self.buffer), self.truncated


def _kill_group(pgid: int) -> None:
    # A fork loop can add members while the signal is delivered, so repeat until the group is empty.
    for _ in range(50):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.01)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    workdir: str
    base_env: dict[str, str]
    cpu_seconds: int


class Handler(socketserver.BaseRequestHandler):
    server: Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        try:
            header, payload = read_frame(conn)
        except (ConnectionError, ValueError, struct.error):
            return
        op = header.get("op")
        try:
            if op == "ping":
                write_frame(conn, {"ok": True, "pid": os.getpid()})
            elif op == "exec":
                self._exec(conn, header, payload)
            elif op == "read":
                self._read(conn, header)
            elif op == "write":
                self._write(conn, header, payload)
            else:
                write_frame(conn, {"error": {"type": "ValueError", "message": f"unknown op {op!r}"}})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _path(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.server.workdir, path)

    def _read(self, conn: socket.socket, header: dict[str, Any]) -> None:
        path = self._path(str(header["path"]))
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > int(header["max_size"]):
                    write_frame(conn, {"error": {"type": "OutputLimitExceededError", "message": path}})
                    return
                data = f.read()
        except OSError as exc:
            write_frame(conn, _error(exc, str(header["path"])))
            return
        write_frame(conn, {"ok": True}, data)

    def _write(self, conn: socket.socket, header: dict[str, Any], payload: bytes) -> None:
        path = self._path(str(header["path"]))
        try:
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            with open(path, "wb") as f:
                f.write(payload)
        except OSError as exc:
            write_frame(conn, _error(exc, str(header["path"])))
            return
        write_frame(conn, {"ok": True})

    def _exec(self, conn: socket.socket, header: dict[str, Any], payload: bytes) -> None:
        argv = [str(a) for a in header["argv"]]
        env = dict(self.server.base_env)
        env.update({str(k): str(v) for k, v in (header.get("env") or {}).items()})
        cwd = self._path(str(header["cwd"])) if header.get("cwd") else self.server.workdir
        timeout = header.get("timeout")
        limit = int(header["output_limit"])
        has_input = bool(header.get("has_input"))
        cpu = self.server.cpu_seconds

        def limit_child() -> None:
            # CPU time is per process, so it is set per command rather than on this long-lived server.
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

        # Every helper thread exists before the command does: a fork loop inside it can exhaust the sample's
        # process budget (threads count) and must not stop this server from collecting, watching and answering.
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        in_read, in_write = os.pipe() if has_input else (-1, -1)
        out = _Collector(os.fdopen(out_read, "rb"), limit)
        err = _Collector(os.fdopen(err_read, "rb"), limit)
        started: list[subprocess.Popen[bytes]] = []
        ready = threading.Event()
        finished = threading.Event()
        threading.Thread(target=_watch_client, args=(conn, started, ready, finished), daemon=True).start()
        if has_input:
            threading.Thread(target=_feed, args=(in_write, payload), daemon=True).start()
        try:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=in_read if has_input else subprocess.DEVNULL,
                    stdout=out_write,
                    stderr=err_write,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    preexec_fn=limit_child,
                )
            finally:
                for fd in (out_write, err_write, in_read):
                    if fd >= 0:
                        os.close(fd)
        except FileNotFoundError as exc:
            finished.set()
            ready.set()
            missing = argv[0] if exc.filename in (None, argv[0]) else str(exc.filename)
            write_frame(conn, {"returncode": 127, "timed_out": False}, b"", f"{missing}: {exc.strerror}\n".encode())
            return
        except PermissionError as exc:
            finished.set()
            ready.set()
            write_frame(conn, _error(exc, argv[0]))
            return
        except OSError as exc:
            finished.set()
            ready.set()
            write_frame(conn, {"returncode": 126, "timed_out": False}, b"", f"{argv[0]}: {exc}\n".encode())
            return
        started.append(proc)
        ready.set()

        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.wait()
        deadline = time.monotonic() + _DRAIN_GRACE_SECONDS
        for collector in (out, err):
            collector.thread.join(max(deadline - time.monotonic(), 0))
        finished.set()
        stdout, out_truncated = out.snapshot()
        stderr, err_truncated = err.snapshot()
        response = {
            "returncode": proc.returncode,
            "timed_out": timed_out,
            "truncated": out_truncated or err_truncated,
            "stdout_len": len(stdout),
        }
        write_frame(conn, response, stdout, stderr)


def _feed(fd: int, payload: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError), os.fdopen(fd, "wb") as stdin:
        stdin.write(payload)


def _watch_client(
    conn: socket.socket, started: list[subprocess.Popen[bytes]], ready: threading.Event, finished: threading.Event
) -> None:
    # The host closes the connection when it gives up (cancellation, its own deadline): kill the command too.
    with contextlib.suppress(OSError):
        conn.recv(1)
    ready.wait()
    if not finished.is_set() and started and started[0].poll() is None:
        _kill_group(started[0].pid)


def _not_dumpable() -> None:
    """No ptrace, no /proc/<pid>/{mem,fd,environ} of this process for the sandbox user: the listening socket
    (the control channel) stays out of reach of the commands this server runs, which share its uid."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_dumpable = 4
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _parse_args(argv: list[str]) -> dict[str, list[str]]:
    """`--name value` pairs (repeatable); argparse is not used because its imports cost start-up time."""
    if len(argv) % 2:
        raise SystemExit(f"expected --name value pairs, got {argv!r}")
    parsed: dict[str, list[str]] = {}
    for name, value in zip(argv[::2], argv[1::2], strict=True):
        parsed.setdefault(name, []).append(value)
    for required in ("--listen-fd", "--workdir", "--cpu-seconds"):
        if required not in parsed:
            raise SystemExit(f"missing {required}")
    return parsed


def main() -> None:
    args = _parse_args(sys.argv[1:])
    _not_dumpable()
    # Orphans reparent to bwrap (pid 1), not here, so no zombie reaping is needed in this process.
    # The host made and bound the listening socket; it is reachable only through this inherited descriptor.
    server = Server("", Handler, bind_and_activate=False)
    server.socket.close()
    listen_fd = int(args["--listen-fd"][0])
    server.socket = socket.socket(fileno=listen_fd)
    os.set_inheritable(listen_fd, False)
    server.workdir = args["--workdir"][0]
    server.base_env = dict(item.split("=", 1) for item in args.get("--env", []))
    server.cpu_seconds = int(args["--cpu-seconds"][0])
    server.serve_forever()


if __name__ == "__main__":
    main()
