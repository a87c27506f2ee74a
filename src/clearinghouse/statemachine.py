"""One transition table per lifecycle: every lifecycle in the system (reports, cases, review windows) is an
Enum of states plus a table of allowed moves, checked in one place instead of nested ifs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from clearinghouse.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Transition(Generic[S]):
    """One accepted change: who moved what from where to where, when and why (goes to the audit log)."""

    source: S
    target: S
    actor: str
    reason: str
    at: datetime


class StateMachine(Generic[S]):
    def __init__(self, subject: str, table: Mapping[S, frozenset[S]]) -> None:
        self.subject = subject
        self.table = dict(table)

    def allowed(self, source: S) -> frozenset[S]:
        return self.table.get(source, frozenset())

    def is_terminal(self, state: S) -> bool:
        return not self.allowed(state)

    def transition(self, source: S, target: S, actor: str, reason: str, at: datetime) -> Transition[S]:
        if not actor.strip():
            raise IllegalTransition(f"a {self.subject} change needs an actor")
        if not reason.strip():
            raise IllegalTransition(f"a {self.subject} change needs a reason (it is kept in the audit log)")
        if target not in self.allowed(source):
            options = ", ".join(sorted(s.value for s in self.allowed(source))) or "none: it is final"
            raise IllegalTransition(
                f"a {self.subject} cannot go from {source.value!r} to {target.value!r}; allowed from "
                f"{source.value!r}: {options}"
            )
        return Transition(source, target, actor, reason.strip(), at)
