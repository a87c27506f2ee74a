"""Runs one proof of concept inside the sandbox and reports what the target did (never what the PoC claims).

Started as `/opt/env/bin/python -I /opt/harness/pyharness.py CONFIG`: the first line on stdin is this run's
evidence key, read before any PoC code runs and kept only in the audit hook's closure. Evidence lines go to
stderr as `@@reproduce <HMAC-SHA256> <json>`; the host accepts only lines signed with the key, so a PoC that
prints the expected output or a fake evidence line proves nothing.

Attribution: an event counts for the target when the innermost frame that is neither the standard library nor
dynamic code (`<string>`, templates) lies inside the target package's directories. A PoC that does the effect
itself (opens the secret, runs the command, raises the exception) is attributed to itself, which never fires.
The audit hook also refuses, from PoC frames, the introspection that could reach the key or fake attribution
(frames, code objects, gc, tracing, ctypes, other audit hooks, process memory, signals to itself).
"""

# os.path rather than pathlib: this runs before the PoC under the sandbox's interpreter, with few imports.
# ruff: noqa: PTH100, PTH118, PTH120, PTH123

import faulthandler
import hashlib
import hmac
import json
import os
import resource
import runpy
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Any

# Refused when the PoC's own code makes the call (the standard library uses them for itself, e.g. enum, socket):
# frames, code objects, the heap and tracing could reach the harness's state or dress code up as the target's.
_INTROSPECTION = frozenset(
    {
        "sys._getframe",
        "sys._current_frames",
        "object.__getattr__",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "code.__new__",
    }
)
# Refused whenever they act for the PoC, through the standard library too: raw memory and signals to itself.
_NATIVE = frozenset(
    {
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.addressof",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.call_function",
    }
)
_SPAWN = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Refused(PermissionError):
    pass


def _stdlib_dirs() -> tuple[str, ...]:
    # the base interpreter's library (a virtual environment's own lib/ holds site-packages, not the stdlib)
    return (os.path.join(os.path.dirname(os.__file__), ""),)


def _target_dirs(modules: list[str]) -> tuple[str, ...]:
    import importlib.util

    found: list[str] = []
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found.extend(os.path.join(location, "") for location in spec.submodule_search_locations)
        elif spec.origin:
            found.append(spec.origin)
    return tuple(found)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    evidence = os.dup(2)
    _install(sys.stdin.buffer.readline().strip(), config, evidence)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    faulthandler.enable(file=evidence, all_threads=False)
    _run(config)


def _install(key: bytes, config: dict[str, Any], evidence: int) -> None:
    """The audit hook, and the only reference to the key: once this returns, no frame holds it."""
    run = config["run"]
    oracle = config["oracle"]
    targets = _target_dirs(config["modules"])
    stdlib = _stdlib_dirs()
    harness = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")
    secret_path = config.get("secret_path")
    write_path = config.get("write_path")
    nonce = config.get("nonce", "")
    inside = threading.local()

    def report(event: str, who: str, where: str, **fields: Any) -> None:
        line = json.dumps({"run": run, "event": event, "who": who, "where": where, **fields}, sort_keys=True)
        mac = hmac.new(key, line.encode(), hashlib.sha256).hexdigest()
        os.write(evidence, f"\n@@reproduce {mac} {line}\n".encode())

    def origin(frame: FrameType | None) -> tuple[str, str]:
        """(who, where) of the innermost frame that is neither the standard library nor dynamic code."""
        while frame is not None:
            name = frame.f_code.co_filename
            if not name.startswith("<") and (not name.startswith(stdlib) or "/site-packages/" in name):
                where = f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
                if name.startswith(targets):
                    return "target", where
                if name.startswith(harness):
                    return "harness", where
                return "poc", where
            frame = frame.f_back
        return "none", ""

    def caller_is_poc(frame: FrameType | None) -> bool:
        # the standard library acting for the PoC counts as the PoC
        return origin(frame)[0] == "poc"

    def called_by_poc(frame: FrameType | None) -> bool:
        # the PoC's own code made the call (dynamic code it compiled counts as its own)
        while frame is not None and frame.f_code.co_filename.startswith("<"):
            frame = frame.f_back
        return frame is not None and origin_of(frame) == "poc"

    def is_path(value: Any, wanted: str | None) -> bool:
        if wanted is None or isinstance(value, int):
            return False
        try:
            return os.path.realpath(os.fsdecode(value)) == wanted
        except (TypeError, ValueError):
            return False

    def spawned(args: tuple[Any, ...]) -> bool:
        return bool(nonce) and nonce in repr(args)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if getattr(inside, "busy", False):
            return
        inside.busy = True
        try:
            _observe(event, args, sys._getframe(1))
        finally:
            inside.busy = False

    def _observe(event: str, args: tuple[Any, ...], frame: FrameType | None) -> None:
        if event.startswith("reproduce."):
            # the harness's own reports: honoured only when the harness file itself raised them
            if frame is not None and frame.f_code.co_filename.startswith(harness):
                _harness_event(event, args)
            return
        if (event in _INTROSPECTION and called_by_poc(frame)) or (event in _NATIVE and caller_is_poc(frame)):
            raise Refused(f"reproduction harness: {event} is not available to a proof of concept")
        if event == "open":
            path, mode, flags = args
            text = os.fsdecode(path) if isinstance(path, (str, bytes)) else ""
            if text.startswith("/proc/") and text.endswith(("/mem", "/environ")):
                raise Refused("reproduction harness: process memory is not available")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
            if oracle == "secret" and not writing and is_path(path, secret_path):
                report("secret_opened", *origin(frame))
            elif oracle == "file_write" and writing and is_path(path, write_path):
                report("file_written", *origin(frame))
        elif oracle == "file_write" and event in {"os.rename", "os.link", "os.symlink", "shutil.move"}:
            if is_path(args[1], write_path):
                report("file_written", *origin(frame))
        elif oracle == "command" and event in _SPAWN and spawned(args):
            report("command", *origin(frame), detail=repr(args)[:300])
        elif (
            event == "compile"
            and len(args) > 1
            and isinstance(args[1], str)
            and args[1].startswith((*targets, harness))
            and caller_is_poc(frame)
        ):
            # code compiled under a target's or the harness's file name would pass for their frames
            raise Refused("reproduction harness: compiling code under the target's file names")

    def _harness_event(event: str, args: tuple[Any, ...]) -> None:
        if event == "reproduce.exception":
            exc = args[0]
            tb = exc.__traceback__
            innermost = None
            while tb is not None:
                innermost = tb.tb_frame
                tb = tb.tb_next
            names = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__]
            names += [cls.__qualname__ for cls in type(exc).__mro__]
            report("exception", *origin(innermost), types=names, message=str(exc)[:300])
        elif event == "reproduce.sample":
            sample(args[0])
        elif event == "reproduce.exited":
            report("exited", "harness", "", code=str(args[0]))

    def entry(frame: FrameType | None) -> FrameType | None:
        """The outermost frame of the target call the PoC is in (its entry into the package), if any."""
        found = None
        while frame is not None:
            who = origin_of(frame)
            if who == "target":
                found = frame
            elif who == "poc":
                break
            frame = frame.f_back
        return found

    def origin_of(frame: FrameType) -> str:
        name = frame.f_code.co_filename
        if name.startswith("<") or (name.startswith(stdlib) and "/site-packages/" not in name):
            return "skip"
        return "target" if name.startswith(targets) else "harness" if name.startswith(harness) else "poc"

    held: list[FrameType] = []

    def sample(frame: FrameType | None) -> None:
        # A stall is one call into the target still running at half and at the whole budget: calling a cheap
        # target function over and over makes a new call each time, which does not count.
        if not held:
            first = entry(frame)
            if first is not None:
                held.append(first)
                return
            report("stalled", *origin(frame))
            os._exit(0)
        stack = frame
        while stack is not None and stack is not held[0]:
            stack = stack.f_back
        report("stalled", *(origin(frame) if stack is not None else ("poc", "the target call had returned")))
        os._exit(0)

    sys.addaudithook(hook)


def _run(config: dict[str, Any]) -> None:
    oracle = config["oracle"]
    if oracle == "memory":
        budget = int(config["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    if oracle == "timeout":
        # sampled in the main thread by a signal handler: the regex engine and other C loops check for signals
        # while holding the GIL, so a watchdog thread would never run
        half = float(config["seconds"]) / 2

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            sys.audit("reproduce.sample", frame)

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, half, half)
    poc_dir = config["poc_dir"]
    sys.path.insert(0, poc_dir)
    os.chdir(poc_dir)
    command = config["command"]
    try:
        if config["poc_kind"] == "input" and command[1] == "-m":
            sys.argv = [command[2], *command[3:]]
            runpy.run_module(command[2], run_name="__main__", alter_sys=True)
        elif config["poc_kind"] == "input":
            sys.argv = ["-c", *command[3:]]
            exec(compile(command[2], "<harness command>", "exec"), {"__name__": "__main__"})  # noqa: S102
        else:
            sys.argv = [config["poc_path"]]
            runpy.run_path(config["poc_path"], run_name="__main__")
    except SystemExit as exc:
        sys.audit("reproduce.exited", exc.code)
    except BaseException as exc:  # every escape from the PoC is an observation
        traceback.print_exc(limit=-20)  # as the interpreter would: the analyst reads it in the run's output
        sys.audit("reproduce.exception", exc)
    else:
        sys.audit("reproduce.exited", 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
