"""Who acts: every decision in `clearinghouse.policy` is about one of these three kinds of actor.

- `Anonymous`: a request without a token (sees only what is public).
- `Principal` (`clearinghouse.identity.model`): a user holding a token, with its organisation, role and scopes.
- `Operator`: a trusted local action (the CLI's admin commands, the demo, imports, the job worker). It is named
  and explicit: no code path treats a missing principal as "skip the checks".
"""

from __future__ import annotations

from dataclasses import dataclass

from clearinghouse.identity.model import Principal


@dataclass(frozen=True)
class Anonymous:
    """A caller without credentials."""

    def __str__(self) -> str:
        return "anonymous"


@dataclass(frozen=True)
class Operator:
    """Someone with the machine's own authority: shell access to the store. `purpose` names the action (for the
    audit log), e.g. "cli", "demo", "import", "worker", "eval-harness"."""

    purpose: str

    def __str__(self) -> str:
        return self.purpose


ANONYMOUS = Anonymous()

Actor = Principal | Anonymous | Operator


def actor_name(actor: Actor) -> str:
    """How the audit log names the actor."""
    if isinstance(actor, Principal):
        return f"{actor.user}@{actor.organisation.name}"
    return str(actor)
