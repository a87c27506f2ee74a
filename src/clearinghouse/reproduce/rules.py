"""Pure rules of a reproduction: what a proof of concept and its oracle are, what one run observed, and the
verdict two runs (vulnerable and fixed version) add up to. No I/O here.

The harness, never the proof of concept, decides whether an oracle fired: every oracle needs a value the harness
chose for this run (a secret, a nonce, a path) or an observation made outside the PoC's own code (an exception or
a stall inside the target package's frames, a signal death), and the verdict is differential: an effect the PoC
fakes by itself also fires on the fixed version, which makes the verdict `reproduced_not_fixed`, never
`reproduced`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from clearinghouse.errors import InvalidReproduction
from clearinghouse.statemachine import StateMachine

E = TypeVar("E", bound=StrEnum)


class Verdict(StrEnum):
    REPRODUCED = "reproduced"  # fires on the vulnerable version, not on the fixed one
    REPRODUCED_NOT_FIXED = "reproduced_not_fixed"  # fires on both
    NOT_REPRODUCED = "not_reproduced"  # does not fire on the vulnerable version
    ERROR = "error"  # a step failed (environment, sandbox, harness): see the step and the reason


class OracleKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - a harness-planted secret, opened by the target, returned by the PoC on stdout
    FILE_WRITE = "file_write"  # a harness-chosen path outside the PoC's directory, written by the target
    COMMAND = "command"  # a command holding a harness-chosen nonce, started by the target
    CRASH = "crash"  # the target process died of a fatal signal or a sanitiser report
    TIMEOUT = "timeout"  # the target was still running inside the package when the time budget ran out
    MEMORY = "memory"  # the target ran out of its memory budget inside the package
    EXCEPTION = "exception"  # an exception of the named type escaped from a frame inside the target package
    PROTOTYPE_POLLUTION = "prototype_pollution"  # npm: the target set a harness-chosen key on Object.prototype


class PocKind(StrEnum):
    SCRIPT = "script"  # a Python or JavaScript program using the package
    TEST = "test"  # a test module: run like a script, a failing assertion is not an oracle
    INPUT = "input"  # an input file plus a harness command that feeds it to the target


class Ecosystem(StrEnum):
    PYPI = "PyPI"
    NPM = "npm"


class Step(StrEnum):
    """Where a reproduction can fail: named in an `error` verdict."""

    REQUEST = "request"
    ENVIRONMENT = "environment"
    SANDBOX = "sandbox"
    HARNESS = "harness"


# Oracles that only make sense for one ecosystem's harness.
_ECOSYSTEM_ORACLES: dict[Ecosystem, frozenset[OracleKind]] = {
    Ecosystem.PYPI: frozenset(OracleKind) - {OracleKind.PROTOTYPE_POLLUTION},
    Ecosystem.NPM: frozenset(OracleKind) - {OracleKind.MEMORY},
}

MAX_POC_BYTES = 256 * 1024
MAX_INPUT_BYTES = 4 * 1024 * 1024
MAX_COMMAND_ARGS = 32
MIN_BUDGET_SECONDS, MAX_BUDGET_SECONDS = 1.0, 60.0
MIN_MEMORY_MB, MAX_MEMORY_MB = 32, 1024
_PACKAGE_NAME = re.compile(r"^(@[a-z0-9][\w.\-]*/)?[A-Za-z0-9][\w.\-]{0,213}$")
_VERSION = re.compile(r"^[A-Za-z0-9][\w.+!\-]{0,63}$")
_EXCEPTION_NAME = re.compile(r"^[A-Za-z_][\w.]{0,199}$")
_MODULE = re.compile(r"^[A-Za-z_][\w]{0,99}$")


@dataclass(frozen=True)
class Oracle:
    kind: OracleKind
    exception: str | None = None  # EXCEPTION: the type's name, qualified or not ("yaml.YAMLError", "RecursionError")
    seconds: float = 5.0  # TIMEOUT: the target's time budget; every oracle's run ends at its own budget
    memory_mb: int = 256  # MEMORY: the address-space budget

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "exception": self.exception,
            "seconds": self.seconds,
            "memory_mb": self.memory_mb,
        }


@dataclass(frozen=True)
class ProofOfConcept:
    kind: PocKind
    source: str  # the script or test, or for INPUT the input file's content (text)
    command: tuple[str, ...] = ()  # INPUT: the harness command, `{input}` replaced by the input file's path

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "source": self.source, "command": list(self.command)}


@dataclass(frozen=True)
class Target:
    ecosystem: Ecosystem
    package: str
    vulnerable: str
    fixed: str | None  # None: fix not known; the newest version stands in for it
    modules: tuple[str, ...] = ()  # the package's top-level import names (PyPI) when they differ from its name
    extras: tuple[str, ...] = ()  # further requirements pinned beside it ("markupsafe==2.0.1")

    def to_json(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem.value,
            "package": self.package,
            "vulnerable": self.vulnerable,
            "fixed": self.fixed,
            "modules": list(self.modules),
            "extras": list(self.extras),
        }


@dataclass(frozen=True)
class Request:
    """Everything a reproduction needs: the package and its versions, the PoC and the oracle."""

    target: Target
    poc: ProofOfConcept
    oracle: Oracle

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target.to_json(), "poc": self.poc.to_json(), "oracle": self.oracle.to_json()}


@dataclass(frozen=True)
class Observation:
    """One run of the PoC against one version: whether the oracle fired, where, and what the harness saw."""

    version: str
    fired: bool
    where: str | None = None  # the target's file:line (or the signal) that fired it
    detail: str = ""  # why it fired or did not
    output: str = ""  # the run's stdout and stderr, tail-capped
    seconds: float = 0.0
    error: str | None = None  # the harness itself failed: the observation says nothing about the target

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "fired": self.fired,
            "where": self.where,
            "detail": self.detail,
            "output": self.output,
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str
    step: Step | None = None
    observations: tuple[Observation, ...] = ()
    packages: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)  # version -> installed + sha256

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "step": self.step.value if self.step else None,
            "observations": [o.to_json() for o in self.observations],
            "packages": dict(self.packages),
        }


def judge(vulnerable: Observation, fixed: Observation | None) -> Outcome:
    """The verdict of a vulnerable run and a fixed run (None for fix verification, where only one version runs)."""
    observations = (vulnerable,) if fixed is None else (vulnerable, fixed)
    failed = next((o for o in observations if o.error is not None), None)
    if failed is not None:
        return Outcome(Verdict.ERROR, f"version {failed.version}: {failed.error}", Step.HARNESS, observations)
    if not vulnerable.fired:
        return Outcome(
            Verdict.NOT_REPRODUCED,
            f"the oracle did not fire on {vulnerable.version}: {vulnerable.detail}",
            None,
            observations,
        )
    if fixed is None:
        return Outcome(Verdict.REPRODUCED_NOT_FIXED, f"still fires on {vulnerable.version}", None, observations)
    if fixed.fired:
        return Outcome(
            Verdict.REPRODUCED_NOT_FIXED,
            f"fires on {vulnerable.version} and on {fixed.version} too ({fixed.where or fixed.detail})",
            None,
            observations,
        )
    return Outcome(
        Verdict.REPRODUCED,
        f"fires on {vulnerable.version} ({vulnerable.where}), not on {fixed.version}",
        None,
        observations,
    )


def failure(step: Step, reason: str) -> Outcome:
    return Outcome(Verdict.ERROR, reason, step)


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


RUN_LIFECYCLE = StateMachine[RunState](
    "reproduction",
    {
        RunState.QUEUED: frozenset({RunState.RUNNING}),
        # a worker that dies mid-run leaves it running; after a while it is queued again and starts over
        RunState.RUNNING: frozenset({RunState.DONE, RunState.QUEUED}),
        RunState.DONE: frozenset(),  # a re-run is a new reproduction
    },
)


def parse_request(data: Mapping[str, Any]) -> Request:
    """A reproduction request from its JSON form (API body, CLI file, report's `reproduction` field), every field
    checked: a bad one is refused naming it."""
    target = _mapping(data, "target")
    poc = _mapping(data, "poc")
    oracle = _mapping(data, "oracle")
    ecosystem = _choice(target, "target.ecosystem", Ecosystem)
    package = _text(target.get("package"), "target.package", _PACKAGE_NAME)
    vulnerable = _text(target.get("vulnerable"), "target.vulnerable", _VERSION)
    fixed = _text(target.get("fixed"), "target.fixed", _VERSION) if target.get("fixed") is not None else None
    modules = tuple(_text(m, "target.modules[]", _MODULE) for m in _list(target, "target.modules"))
    extras = tuple(_requirement(e) for e in _list(target, "target.extras"))
    kind = _choice(oracle, "oracle.kind", OracleKind)
    if kind not in _ECOSYSTEM_ORACLES[ecosystem]:
        raise InvalidReproduction(f"oracle.kind: {kind.value} has no harness for {ecosystem.value}")
    exception = oracle.get("exception")
    if kind is OracleKind.EXCEPTION:
        exception = _text(exception, "oracle.exception", _EXCEPTION_NAME)
    elif exception is not None:
        raise InvalidReproduction("oracle.exception: only the exception oracle names an exception type")
    seconds = _number(oracle, "oracle.seconds", 5.0, MIN_BUDGET_SECONDS, MAX_BUDGET_SECONDS)
    memory_mb = int(_number(oracle, "oracle.memory_mb", 256, MIN_MEMORY_MB, MAX_MEMORY_MB))
    poc_kind = _choice(poc, "poc.kind", PocKind)
    source = poc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InvalidReproduction("poc.source: the proof of concept's text is required")
    limit = MAX_INPUT_BYTES if poc_kind is PocKind.INPUT else MAX_POC_BYTES
    if len(source.encode("utf-8", "surrogateescape")) > limit:
        raise InvalidReproduction(f"poc.source: larger than {limit:,} bytes")
    if "\x00" in source:
        raise InvalidReproduction("poc.source: contains a NUL character")
    command = tuple(str(part) for part in _list(poc, "poc.command"))
    if poc_kind is PocKind.INPUT:
        if not command or "{input}" not in " ".join(command):
            raise InvalidReproduction("poc.command: an input PoC needs a harness command naming {input}")
        if len(command) > MAX_COMMAND_ARGS or any("\x00" in part or len(part) > 4096 for part in command):
            raise InvalidReproduction(f"poc.command: at most {MAX_COMMAND_ARGS} arguments of 4,096 characters")
        interpreter = "node" if ecosystem is Ecosystem.NPM else "python"
        flags = {"-e"} if ecosystem is Ecosystem.NPM else {"-c", "-m"}
        if len(command) < 3 or command[0] != interpreter or command[1] not in flags:
            # the harness runs the command in its own interpreter, where the oracles watch the target
            raise InvalidReproduction(
                f"poc.command: {interpreter} {' or '.join(sorted(flags))} CODE_OR_MODULE [ARGS...], naming {{input}}"
            )
    elif command:
        raise InvalidReproduction("poc.command: only an input PoC has a harness command")
    return Request(
        Target(ecosystem, package, vulnerable, fixed, modules, extras),
        ProofOfConcept(poc_kind, source, command),
        Oracle(kind, exception, seconds, memory_mb),
    )


def _mapping(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise InvalidReproduction(f"{name}: an object is required")
    return value


def _text(value: Any, name: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidReproduction(f"{name}: {value!r} is not valid here")
    return value


def _choice(data: Mapping[str, Any], name: str, enum: type[E]) -> E:
    value = data.get(name.rsplit(".", 1)[-1])
    try:
        return enum(str(value))
    except ValueError:
        options = ", ".join(e.value for e in enum)
        raise InvalidReproduction(f"{name}: {value!r} is not one of {options}") from None


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name.rsplit(".", 1)[-1])
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_COMMAND_ARGS:
        raise InvalidReproduction(f"{name}: a list of at most {MAX_COMMAND_ARGS} items is required")
    return value


def _number(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = data.get(name.rsplit(".", 1)[-1])
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidReproduction(f"{name}: {value!r} is not a number from {low:g} to {high:g}")
    return float(value)


_REQUIREMENT = re.compile(r"^([A-Za-z0-9][\w.\-]{0,99})==([A-Za-z0-9][\w.+!\-]{0,63})$")


def _requirement(value: Any) -> str:
    if not isinstance(value, str) or not _REQUIREMENT.fullmatch(value):
        raise InvalidReproduction(f"target.extras[]: {value!r} is not a pinned requirement NAME==VERSION")
    return value
