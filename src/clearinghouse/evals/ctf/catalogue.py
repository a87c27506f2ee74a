"""The per-task table for closing notes: category, difficulty, reference steps, estimated human time, templates.

    python -m clearinghouse.evals.ctf.catalogue [SEEDS]     (markdown; steps and templates drawn over SEEDS seeds)

Reference steps are the tool calls the reference model makes before submitting (its reconnaissance commands and
the solution script), taken over the seeds since templates differ in length. Human time is the challenge's stated
first-solve estimate for a skilled player (Cybench-style calibration; an estimate, not a measurement).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from clearinghouse.evals.ctf.base import FlagKey
from clearinghouse.evals.ctf.registry import CHALLENGES


@dataclass(frozen=True)
class TaskRow:
    challenge: str
    category: str
    difficulty: int
    steps_min: int
    steps_max: int
    human_minutes: int
    templates: int
    templates_drawn: int


def task_table(seeds: int = 20) -> list[TaskRow]:
    rows = []
    key = FlagKey.generate()
    for challenge in CHALLENGES:
        # structure comes from the seed alone; any key will do for counting steps and templates
        instances = [challenge.instantiate(seed, key) for seed in range(seeds)]
        steps = [len(instance.steps) for instance in instances]
        rows.append(
            TaskRow(
                challenge=challenge.id,
                category=challenge.category.value,
                difficulty=challenge.difficulty,
                steps_min=min(steps),
                steps_max=max(steps),
                human_minutes=challenge.human_minutes,
                templates=challenge.templates,
                templates_drawn=len({instance.template for instance in instances}),
            )
        )
    return sorted(rows, key=lambda row: (row.difficulty, row.category, row.challenge))


def _minutes(value: int) -> str:
    return f"{value} min" if value < 60 else f"{value / 60:g} h"


def render_markdown(rows: list[TaskRow], seeds: int) -> str:
    lines = [
        f"| task | category | difficulty | reference steps | est. human time | templates (drawn in {seeds} seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        steps = str(row.steps_min) if row.steps_min == row.steps_max else f"{row.steps_min}-{row.steps_max}"
        lines.append(
            f"| {row.challenge} | {row.category} | {row.difficulty} | {steps} | {_minutes(row.human_minutes)} "
            f"| {row.templates} ({row.templates_drawn}) |"
        )
    hard = sum(1 for row in rows if row.difficulty >= 4)
    lines.append(f"\n{len(rows)} tasks, {hard} at difficulty 4-5.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    seeds = int(argv[0]) if argv else 20
    sys.stdout.write(render_markdown(task_table(seeds), seeds) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
