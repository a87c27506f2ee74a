"""Seeded capture-the-flag challenges (issue 5): generators, Inspect tasks, scorers and scripted test models."""

from clearinghouse.evals.ctf.base import Category, Challenge, FlagKey, Instance, Subtask, derive_flag, random_seed
from clearinghouse.evals.ctf.registry import CHALLENGES, instances, select

__all__ = [
    "CHALLENGES",
    "Category",
    "Challenge",
    "FlagKey",
    "Instance",
    "Subtask",
    "derive_flag",
    "instances",
    "random_seed",
    "select",
]
