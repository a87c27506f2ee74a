"""Named evaluation suites: lists of Inspect task factories, imported lazily by dotted name.

Lazy so that listing suites costs nothing and so a task still being written (or failing to import) is skipped
with a reason instead of breaking every other task in the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspect_ai import Task

from clearinghouse.errors import NoSamples, NotFound

__all__ = ["AGENTIC", "SUITES", "LoadedSuite", "load_suite", "task_status"]

SUITES: dict[str, list[str]] = {
    "cyber": [
        "clearinghouse.evals.ctf.tasks:ctf_unguided",
        "clearinghouse.evals.ctf.tasks:ctf_subtasks",
        "clearinghouse.evals.knowledge:cwe_prediction",
        "clearinghouse.evals.knowledge:cvss_prediction",
        "clearinghouse.evals.knowledge:fixed_version",
    ],
    "smoke": ["clearinghouse.evals.smoke:sandbox_smoke"],
}

# Tasks that run model-chosen commands and therefore need the bwrap sandbox.
AGENTIC = frozenset(
    {
        "clearinghouse.evals.ctf.tasks:ctf_unguided",
        "clearinghouse.evals.ctf.tasks:ctf_subtasks",
        "clearinghouse.evals.smoke:sandbox_smoke",
    }
)


@dataclass(frozen=True)
class LoadedSuite:
    name: str
    tasks: list[Task]
    loaded: list[str]
    skipped: dict[str, str]  # dotted name -> why it was skipped

    @property
    def agentic(self) -> bool:
        return any(name in AGENTIC for name in self.loaded)


def task_status(name: str) -> dict[str, str | None]:
    """Each task of a suite mapped to None when importable, else why not (without instantiating anything)."""
    if name not in SUITES:
        raise NotFound(f"no evaluation suite {name!r}; known suites: {', '.join(sorted(SUITES))}")
    status: dict[str, str | None] = {}
    for dotted in SUITES[name]:
        try:
            _factory(dotted)
            status[dotted] = None
        except (ImportError, AttributeError, TypeError) as exc:
            status[dotted] = f"{type(exc).__name__}: {exc}"
    return status


def _factory(dotted: str) -> Callable[..., Task]:
    module_name, _, attr = dotted.partition(":")
    module = importlib.import_module(module_name)
    factory: Any = getattr(module, attr)
    if not callable(factory):
        raise TypeError(f"{dotted} is not a task factory")
    return factory  # type: ignore[no-any-return]


def load_suite(name: str, task_args: dict[str, Any] | None = None) -> LoadedSuite:
    """Instantiate a suite's tasks; `task_args` go to every factory that accepts them (by name)."""
    if name not in SUITES:
        raise NotFound(f"no evaluation suite {name!r}; known suites: {', '.join(sorted(SUITES))}")
    tasks: list[Task] = []
    loaded: list[str] = []
    skipped: dict[str, str] = {}
    for dotted in SUITES[name]:
        try:
            factory = _factory(dotted)
        except ModuleNotFoundError as exc:
            # only the task's own module being absent is "not written yet"; a missing dependency is a real error
            if not exc.name or not (dotted.partition(":")[0] + ".").startswith(exc.name + "."):
                raise
            skipped[dotted] = f"module {exc.name} does not exist yet"
            continue
        except AttributeError:
            skipped[dotted] = "task factory does not exist yet"
            continue
        try:
            task = factory(**_accepted(factory, task_args or {}))
        except NoSamples as exc:
            skipped[dotted] = f"{exc.message} (try -T source=FILE or -T source=store)"
            continue
        tasks.append(task)
        loaded.append(dotted)
    return LoadedSuite(name=name, tasks=tasks, loaded=loaded, skipped=skipped)


def _accepted(factory: Callable[..., Task], args: dict[str, Any]) -> dict[str, Any]:
    import inspect

    # @task wraps the factory; the wrapped signature names the task's parameters
    params = inspect.signature(inspect.unwrap(factory)).parameters
    return {key: value for key, value in args.items() if key in params}
