"""A one-sample agentic task that exercises the whole path (model, tool calls, bwrap sandbox, scoring) in seconds.

The model must read a file that exists only inside the sandbox and report the word in it.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, system_message, use_tools
from inspect_ai.tool import bash
from inspect_ai.util import SandboxEnvironmentSpec

from clearinghouse.evals.sandbox import SANDBOX_NAME, describe

__all__ = ["SECRET", "sandbox_smoke"]

SECRET = "periwinkle"  # noqa: S105 - the word the model must find, not a credential
PROMPT = "A file named note.txt is in your working directory. Read it and reply with the secret word it contains."


@task
def sandbox_smoke() -> Task:
    return Task(
        dataset=[
            Sample(
                id="read-note",
                input=PROMPT,
                target=SECRET,
                files={"note.txt": f"the secret word is {SECRET}\n"},
            )
        ],
        solver=[
            system_message("You are in an isolated Linux sandbox. Use the bash tool to inspect files."),
            use_tools(bash(timeout=30)),
            generate(),
        ],
        scorer=includes(),
        sandbox=SandboxEnvironmentSpec(SANDBOX_NAME),
        message_limit=12,
        metadata={"sandbox": describe()},
    )
