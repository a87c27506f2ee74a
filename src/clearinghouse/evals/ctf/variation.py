"""Does a memorised solution carry over to another seed? (issue 11: structure, not just names, must vary.)

For a target seed s', each sample's sandbox (instance s') runs the reference solutions of other seeds s, given
the target's port (the one thing the prompt tells everyone), and finally its own solution as a control. A
challenge varies enough when the solution of s finds the flag of s' for at most 10 % of pairs s != s'.

    python -m clearinghouse.evals.ctf.variation [--seeds 20] [--challenges IDS]    (see also bench/ctf_variation.py)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from inspect_ai import Task, task
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import SandboxEnvironmentSpec, sandbox

from clearinghouse.evals.ctf.base import FLAG_PATTERN, FlagKey, Instance
from clearinghouse.evals.ctf.registry import instances, select
from clearinghouse.evals.ctf.tasks import SANDBOX_NAME, _dataset, _register_sandbox

SOLUTION_TIMEOUT = 60
TRANSFER_KEY = "ctf_transfer"


def transplant(solution_of: Instance, target: Instance) -> str:
    """`solution_of`'s reference solution aimed at `target`'s service port; nothing else is adapted."""
    script = solution_of.solution
    if solution_of.port is not None and target.port is not None:
        head, found, tail = script.rpartition(str(solution_of.port))
        if found:
            script = head + str(target.port) + tail
    return script


@dataclass(frozen=True)
class Transfer:
    """Which foreign seeds' solutions found this instance's flag, and whether its own solution did."""

    seed: int
    solved_by: tuple[int, ...]
    tried: tuple[int, ...]
    own_solved: bool


async def _finds_flag(script: str, flag: str) -> bool:
    try:
        result = await sandbox().exec(["bash", "-c", script], timeout=SOLUTION_TIMEOUT)
    except TimeoutError:
        return False
    return flag in re.findall(FLAG_PATTERN, result.stdout + result.stderr)


@solver
def foreign_solutions(others: tuple[int, ...], key: FlagKey) -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        challenge, seed = str(state.metadata["challenge"]), int(state.metadata["seed"])
        [target] = instances(seed, key, challenge)
        solved_by = []
        for other in others:
            foreign = instances(other, key, challenge)[0]
            if other != seed and await _finds_flag(transplant(foreign, target), target.flag):
                solved_by.append(other)
        # the control runs last, after whatever the foreign solutions did to the instance
        own = await _finds_flag(target.solution, target.flag)
        tried = tuple(o for o in others if o != seed)
        state.store.set(TRANSFER_KEY, {"solved_by": solved_by, "tried": list(tried), "own": own})
        state.output = ModelOutput.from_content("none", "")
        state.completed = True
        return state

    return solve


@scorer(metrics=[mean()])
def transfer_scorer() -> Scorer:
    """The share of foreign solutions that solved this instance (lower is better); own solution in metadata."""

    async def score(state: TaskState, target: Target) -> Score:
        record: dict[str, Any] = state.store.get(TRANSFER_KEY, {})
        tried = record.get("tried", [])
        rate = len(record.get("solved_by", [])) / len(tried) if tried else 0.0
        return Score(value=rate, metadata=record)

    return score


@task
def ctf_variation(seed: int, others: str, challenges: str | None = None) -> Task:
    _register_sandbox()
    key = FlagKey.generate()  # the measurement's own key: the foreign instances are rebuilt under it
    return Task(
        dataset=_dataset(seed, key, challenges),
        solver=foreign_solutions(tuple(int(s) for s in others.split(",")), key),
        scorer=transfer_scorer(),
        sandbox=SandboxEnvironmentSpec(SANDBOX_NAME),
    )


def measure(seeds: list[int], challenges: str | None = None, max_sandboxes: int = 8) -> dict[str, list[Transfer]]:
    """Every target seed against every other seed's solutions; results per challenge."""
    import tempfile

    from inspect_ai import eval as inspect_eval

    from clearinghouse.evals.ctf.replay import null_model

    others = ",".join(map(str, seeds))
    tasks = [ctf_variation(seed=seed, others=others, challenges=challenges) for seed in seeds]
    results: dict[str, list[Transfer]] = {c.id: [] for c in select(challenges)}
    with tempfile.TemporaryDirectory() as log_dir:
        logs = inspect_eval(tasks, model=null_model(), log_dir=log_dir, display="none",
                            max_sandboxes=max_sandboxes, max_tasks=len(tasks))  # fmt: skip
        for log in logs:
            if log.status != "success":
                raise RuntimeError(f"variation run failed: {log.error}")
            for sample in log.samples or []:
                record: dict[str, Any] = sample.store.get(TRANSFER_KEY, {})
                results[str(sample.metadata["challenge"])].append(
                    Transfer(
                        seed=int(sample.metadata["seed"]),
                        solved_by=tuple(record.get("solved_by", ())),
                        tried=tuple(record.get("tried", ())),
                        own_solved=bool(record.get("own")),
                    )
                )
    return results
