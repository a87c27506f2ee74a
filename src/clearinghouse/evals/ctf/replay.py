"""Scripted models for testing the suite end to end through the real model -> tool -> submit loop.

`reference_model` replays each challenge's reference solution through the `bash` tool (its reconnaissance
commands, then the solution script, one tool call each) and then submits what that script printed (the flag,
or a subtask's `key=value` answer); it never reads the expected flag itself.
`null_model` submits an empty answer at once. Both are `mockllm/model` with a callable `custom_outputs`.

Token counting is overridden with a length estimate: the stock estimate loads a tiktoken encoding, which is
downloaded on first use and so fails in the offline test environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from inspect_ai.model import (
    ChatMessage,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelAPI,
    ModelOutput,
    get_model,
    modelapi,
)
from inspect_ai.model._providers.mockllm import MockLLM
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import ToolChoice, ToolInfo
from inspect_ai.util import sandbox

from clearinghouse.evals.ctf.base import FLAG_PATTERN, FlagKey, Instance
from clearinghouse.evals.ctf.registry import instances

MOCK_MODEL = "ctf-mockllm/model"
_CHALLENGE_HEADER = re.compile(r"CTF challenge `([\w-]+)`")


Responder = Callable[[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput]


class _OfflineMockLLM(MockLLM):
    async def count_text_tokens(self, text: str) -> int:
        return len(text) // 4 + 1


@modelapi(name="ctf-mockllm")
def _offline_mockllm() -> type[ModelAPI]:
    return _OfflineMockLLM


def _scripted(respond: Responder) -> Model:
    # not memoised: each call carries its own script
    return get_model(MOCK_MODEL, custom_outputs=respond, memoize=False)


def _submit(answer: str) -> ModelOutput:
    return ModelOutput.for_tool_call(MOCK_MODEL, "submit", {"answer": answer})


def _challenge_of(messages: list[ChatMessage], known: dict[str, Instance]) -> Instance | None:
    for message in messages:
        if isinstance(message, ChatMessageUser):
            found = _CHALLENGE_HEADER.search(message.text)
            if found and found.group(1) in known:
                return known[found.group(1)]
    return None


def _answer_for(instance: Instance, question: str, script_output: str) -> str:
    printed: dict[str, str] = dict(re.findall(r"^(\w+)=(.*)$", script_output, re.M))
    for subtask in instance.subtasks:
        if subtask.question in question:
            return printed.get(subtask.key, "").strip()
    flag = re.search(FLAG_PATTERN, script_output)
    return flag.group(0) if flag else ""


def reference_model(seed: int, key: FlagKey, challenges: str | None = None) -> Model:
    """Needs the run's key only to rebuild the instances; it submits what the solution printed, never `flag`."""
    known = {instance.challenge_id: instance for instance in instances(seed, key, challenges)}

    def respond(
        messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        instance = _challenge_of(messages, known)
        if instance is None:
            return _submit("")
        outputs = [m.text for m in messages if isinstance(m, ChatMessageTool) and m.function == "bash"]
        steps = instance.steps
        if len(outputs) < len(steps):
            return ModelOutput.for_tool_call(MOCK_MODEL, "bash", {"command": steps[len(outputs)]})
        question = next(m.text for m in reversed(messages) if isinstance(m, ChatMessageUser))
        # answers come from the solution's own output, never from what reconnaissance happened to print
        return _submit(_answer_for(instance, question, outputs[len(steps) - 1]))

    return _scripted(respond)


def null_model() -> Model:
    def respond(
        messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        return _submit("")

    return _scripted(respond)


@solver
def verify_solutions(key: FlagKey) -> Solver:
    """Runs the sample's reference solution straight in the sandbox (no model), as inspect-cyber's solver does."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        [instance] = instances(int(meta["seed"]), key, str(meta["challenge"]))
        result = await sandbox().exec(["bash", "-c", instance.solution], timeout=120)
        found = re.search(FLAG_PATTERN, result.stdout)
        state.output = ModelOutput.from_content(MOCK_MODEL, found.group(0) if found else "")
        state.completed = True
        return state

    return solve
