"""Runs a proof of concept against one built environment in the bubblewrap sandbox and reads the oracle.

Each run gets a fresh sandbox (no network beyond its own loopback, capped memory, processes, CPU and tmpfs
disk), the environment and the harness bound read-only, and values chosen for this run only: the evidence key
(on the harness's stdin, never in a file or the environment), a nonce, a secret and the path the PoC must not be
able to write. What fired is decided here from signed evidence and from what the sandbox itself reports (a
signal death), never from the PoC's own output except for the secret, which it cannot know in advance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from inspect_ai.util import OutputLimitExceededError

from clearinghouse.errors import ClearinghouseError
from clearinghouse.evals.sandbox import BwrapConfig, BwrapSandboxEnvironment, SandboxViolation
from clearinghouse.reproduce.environments import BuiltEnvironment
from clearinghouse.reproduce.rules import Ecosystem, Observation, OracleKind, PocKind, Request

ENV_MOUNT = "/opt/env"
HARNESS_MOUNT = "/opt/harness"
POC_DIR = "/home/agent/poc"
SECRET_PATH = "/home/agent/private/secret.txt"  # noqa: S105 - outside the PoC's directory; the target must be led to it
WRITE_DIR = "/tmp/reproduce-outside"  # noqa: S108 - inside the sandbox
CONFIG_PATH = "/home/agent/harness.json"
_OUTPUT_TAIL = 4000
_EVIDENCE = re.compile(r"^@@reproduce ([0-9a-f]{64}) (\{.*\})$", re.MULTILINE)
_FATAL_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}
_SANITISER = re.compile(r"==\d+==ERROR: (Address|Memory|Thread|UndefinedBehavior)Sanitizer")
_FAULT_FRAME = re.compile(r'^\s+File "([^"]+)", line (\d+) in (\S+)', re.MULTILINE)
# Imports and interpreter start-up on top of the oracle's budget before a run counts as stuck.
_START_SLACK = 5.0


@dataclass(frozen=True)
class RunnerLimits:
    """Sandbox limits of one reproduction run: small on purpose, so several runs and intake share 2 cores."""

    memory_mb: int = 1024
    processes: int = 64
    cpus: float = 0.5
    # a tenth of the default CFS weight: intake's processes get the CPU first (bench/reproduce.py measures it)
    cpu_weight: int = 10
    disk_mb: int = 128  # the work directory's tmpfs (the PoC, its files, the secret)
    tmp_mb: int = 64
    cpu_seconds: int = 120

    def sandbox_config(self) -> BwrapConfig:
        return BwrapConfig(
            memory_mb=self.memory_mb,
            max_processes=self.processes,
            cpus=self.cpus,
            cpu_weight=self.cpu_weight,
            work_size_mb=self.disk_mb,
            tmp_size_mb=self.tmp_mb,
            shm_size_mb=16,
            file_size_mb=min(64, self.disk_mb),
            cpu_seconds=self.cpu_seconds,
            exec_timeout=300,
            hostname="reproduction",
        )


@dataclass
class _RunValues:
    run: str = field(default_factory=lambda: secrets.token_hex(8))
    key: str = field(default_factory=lambda: secrets.token_hex(32))
    nonce: str = field(default_factory=lambda: "ch" + secrets.token_hex(12))
    secret: str = field(default_factory=lambda: secrets.token_hex(24))

    @property
    def write_path(self) -> str:
        return f"{WRITE_DIR}/{self.nonce}"


def harness_dir() -> Path:
    return Path(str(resources.files("clearinghouse.reproduce.harness")))


def target_modules(request: Request) -> list[str]:
    if request.target.modules:
        return list(request.target.modules)
    if request.target.ecosystem is Ecosystem.NPM:
        return [request.target.package]
    return [request.target.package.lower().replace("-", "_")]


async def run_once(
    request: Request, environment: BuiltEnvironment, version: str, limits: RunnerLimits | None = None
) -> Observation:
    """One run of the request's PoC against `environment` (the package at `version`)."""
    limits = limits or RunnerLimits()
    started = time.perf_counter()
    values = _RunValues()
    try:
        sandbox = await BwrapSandboxEnvironment.start(
            limits.sandbox_config(), read_only=((environment.path, ENV_MOUNT), (harness_dir(), HARNESS_MOUNT))
        )
    except ClearinghouseError as exc:
        return Observation(version, False, error=f"the sandbox did not start: {exc.message}")
    try:
        observation = await _run_in(sandbox, request, values, version)
    finally:
        await sandbox.stop()
    return _timed(observation, time.perf_counter() - started)


def _timed(observation: Observation, seconds: float) -> Observation:
    return Observation(
        observation.version,
        observation.fired,
        observation.where,
        observation.detail,
        observation.output,
        round(seconds, 3),
        observation.error,
    )


def _config(request: Request, values: _RunValues, poc_path: str) -> dict[str, Any]:
    return {
        "run": values.run,
        "oracle": request.oracle.kind.value,
        "seconds": request.oracle.seconds,
        "memory_mb": request.oracle.memory_mb,
        "modules": target_modules(request),
        "env_dir": ENV_MOUNT,
        "poc_dir": POC_DIR,
        "poc_kind": request.poc.kind.value,
        "poc_path": poc_path,
        "command": list(request.poc.command),
        "nonce": values.nonce,
        "secret_path": SECRET_PATH,
        "write_path": values.write_path,
    }


def _poc_file(request: Request) -> str:
    if request.poc.kind is PocKind.INPUT:
        return f"{POC_DIR}/input"
    return f"{POC_DIR}/poc.js" if request.target.ecosystem is Ecosystem.NPM else f"{POC_DIR}/poc.py"


def _command(request: Request, values: _RunValues) -> tuple[list[str], dict[str, str]]:
    env = {
        "REPRODUCE_NONCE": values.nonce,
        "REPRODUCE_SECRET_PATH": SECRET_PATH,
        "REPRODUCE_WRITE_PATH": values.write_path,
        "REPRODUCE_INPUT": f"{POC_DIR}/input",
    }
    if request.target.ecosystem is Ecosystem.NPM:
        env["NODE_PATH"] = f"{ENV_MOUNT}/node_modules"
        return ["/usr/bin/node", f"{HARNESS_MOUNT}/nodeharness.js", CONFIG_PATH], env
    return [f"{ENV_MOUNT}/bin/python", "-I", f"{HARNESS_MOUNT}/pyharness.py", CONFIG_PATH], env


async def _run_in(sandbox: BwrapSandboxEnvironment, request: Request, values: _RunValues, version: str) -> Observation:
    poc_path = _poc_file(request)
    command_parts = [part.replace("{input}", f"{POC_DIR}/input") for part in request.poc.command]
    config = _config(request, values, poc_path) | {"command": command_parts}
    try:
        await sandbox.write_file(poc_path, request.poc.source)
        await sandbox.write_file(CONFIG_PATH, json.dumps(config))
        await sandbox.write_file(SECRET_PATH, values.secret + "\n")
        prepared = await sandbox.exec(["mkdir", "-p", WRITE_DIR], timeout=10)
        if not prepared.success:
            return Observation(version, False, error=f"preparing the sandbox failed: {prepared.stderr[-300:]}")
    except (OSError, SandboxViolation) as exc:
        return Observation(version, False, error=f"preparing the sandbox failed: {exc}")
    argv, env = _command(request, values)
    budget = request.oracle.seconds + (
        0 if request.target.ecosystem is Ecosystem.NPM and _is_timeout(request) else _START_SLACK
    )
    try:
        result = await sandbox.exec(argv, input=values.key + "\n", env=env, timeout=max(1, int(budget)))
    except TimeoutError:
        if _is_timeout(request) and request.target.ecosystem is Ecosystem.NPM:
            return Observation(version, True, "timeout", f"still running after {request.oracle.seconds:g} s")
        return Observation(version, False, detail=f"the run did not finish within {budget:g} s")
    except OutputLimitExceededError:
        return Observation(version, False, detail="the run's output exceeded the sandbox's output limit")
    except SandboxViolation as exc:
        return Observation(version, False, detail=f"the run broke the sandbox's control channel: {exc}")
    output = _tail(result.stdout, result.stderr)
    events = _verified(result.stderr, values)
    file_exists = False
    if request.oracle.kind is OracleKind.FILE_WRITE:
        checked = await sandbox.exec(["test", "-e", values.write_path], timeout=10)
        file_exists = checked.success
    fired, where, detail = decide(request, events, result.returncode, result.stdout, result.stderr, values, file_exists)
    return Observation(version, fired, where, detail, output)


def _is_timeout(request: Request) -> bool:
    return request.oracle.kind is OracleKind.TIMEOUT


def _tail(stdout: str, stderr: str) -> str:
    # evidence lines carry the run's MAC: keep them out of what is stored and shown
    cleaned = _EVIDENCE.sub("", stderr).strip()
    text = f"--- stdout\n{stdout.strip()}\n--- stderr\n{cleaned}"
    return text[-_OUTPUT_TAIL:]


def _verified(stderr: str, values: _RunValues) -> list[dict[str, Any]]:
    """Evidence lines signed with this run's key and naming this run; anything else is the PoC talking."""
    events = []
    for mac, line in _EVIDENCE.findall(stderr):
        expected = hmac.new(values.key.encode(), line.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            continue
        event = json.loads(line)
        if event.get("run") == values.run:
            events.append(event)
    return events


def _by_target(events: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((e for e in events if e.get("event") == name and e.get("who") == "target"), None)


def _attributed_elsewhere(events: list[dict[str, Any]], name: str) -> str:
    other = next((e for e in events if e.get("event") == name), None)
    if other is None:
        return "no such event"
    return f"done by the proof of concept itself ({other.get('where') or 'no frame'}), not by the target"


def decide(
    request: Request,
    events: list[dict[str, Any]],
    returncode: int,
    stdout: str,
    stderr: str,
    values: _RunValues,
    file_exists: bool,
) -> tuple[bool, str | None, str]:
    """(fired, where, why) for the request's oracle from one run's verified evidence."""
    kind = request.oracle.kind
    if kind is OracleKind.SECRET:
        opened = _by_target(events, "secret_opened")
        if opened is None:
            return False, None, f"the target never opened the secret: {_attributed_elsewhere(events, 'secret_opened')}"
        if values.secret not in stdout:
            return False, None, "the target opened the secret but the PoC did not return it"
        return True, opened["where"], "the target read the planted secret and the PoC returned it"
    if kind is OracleKind.FILE_WRITE:
        written = _by_target(events, "file_written")
        if written is None or not file_exists:
            reason = "the file is not there" if written else _attributed_elsewhere(events, "file_written")
            return False, None, f"the target did not write the forbidden path: {reason}"
        return True, written["where"], f"the target wrote {values.write_path}"
    if kind is OracleKind.COMMAND:
        started = _by_target(events, "command")
        if started is None:
            return False, None, f"the target ran no command with the nonce: {_attributed_elsewhere(events, 'command')}"
        return True, started["where"], f"the target ran {started.get('detail', '')}"
    if kind is OracleKind.PROTOTYPE_POLLUTION:
        polluted = _by_target(events, "polluted")
        if polluted is None:
            return (
                False,
                None,
                f"Object.prototype was not polluted by the target: {_attributed_elsewhere(events, 'polluted')}",
            )
        return True, polluted["where"], "the target set the harness-chosen key on Object.prototype"
    if kind is OracleKind.TIMEOUT:
        stalled = _by_target(events, "stalled")
        if stalled is None:
            return False, None, f"no stall inside the target: {_attributed_elsewhere(events, 'stalled')}"
        return True, stalled["where"], f"still running inside the target after {request.oracle.seconds:g} s"
    if kind is OracleKind.CRASH:
        return _crashed(request, returncode, stderr)
    expected = "MemoryError" if kind is OracleKind.MEMORY else str(request.oracle.exception)
    raised = next((e for e in events if e.get("event") == "exception"), None)
    if raised is None:
        return False, None, "no exception escaped from the run"
    if expected not in raised.get("types", []):
        return False, None, f"{raised.get('types', ['?'])[0]} escaped, not {expected}"
    if raised.get("who") != "target":
        return False, None, f"{expected} was raised by the proof of concept itself ({raised.get('where')})"
    return True, raised["where"], f"{expected} raised inside the target: {raised.get('message', '')[:200]}"


def _crashed(request: Request, returncode: int, stderr: str) -> tuple[bool, str | None, str]:
    signal_number = returncode - 128 if returncode > 128 else 0
    sanitiser = _SANITISER.search(stderr)
    if signal_number not in _FATAL_SIGNALS and not (sanitiser and returncode != 0):
        return False, None, f"the target did not crash (exit status {returncode})"
    what = _FATAL_SIGNALS.get(signal_number) or f"{sanitiser.group(1) if sanitiser else ''}Sanitizer report"
    if request.target.ecosystem is Ecosystem.NPM:
        return True, what, f"the process died of {what}"
    # faulthandler's dump (the last one; most recent call first) says whose code was running
    dumps = stderr.rsplit("Fatal Python error", 1)
    frames = _FAULT_FRAME.findall(dumps[-1]) if len(dumps) > 1 else []
    site = f"{ENV_MOUNT}/lib/"
    innermost = next((f for f in frames if not f[0].startswith("/usr/lib/python3")), None)
    if innermost is None or not innermost[0].startswith(site):
        where = f"{innermost[0]}:{innermost[1]}" if innermost else "no Python frame"
        return False, None, f"{what}, but not inside the target ({where})"
    modules = target_modules(request)
    if not any(f"/site-packages/{module}" in innermost[0] for module in modules):
        return False, None, f"{what} inside another package ({innermost[0]})"
    return True, f"{innermost[0]}:{innermost[1]} in {innermost[2]}", f"the target crashed with {what}"
