"""Bad input (issue 11): a 10 MB model output, a tool call with 1 MB of arguments, a sample that fills its disk,
forks without end, rewrites or deletes its own tree, or binds the control socket. Each sample is scored 0 (with
the reason where the sandbox ended it), the run goes on (a reference sample in the same run is solved), and
nothing is left on the host: no sample directory, mount or control group."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessage, ChatMessageTool, GenerateConfig, Model, ModelOutput, get_model
from inspect_ai.tool import ToolChoice, ToolInfo

from clearinghouse.evals.ctf import FlagKey, instances
from clearinghouse.evals.ctf.replay import MOCK_MODEL, _challenge_of
from clearinghouse.evals.ctf.tasks import ctf_unguided
from clearinghouse.evals.sandbox import INSTALL_HINT

if shutil.which("bwrap") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must provide bubblewrap for the sandbox tests: {INSTALL_HINT}")
    pytest.skip(f"bwrap is not installed: {INSTALL_HINT}", allow_module_level=True)

SEED = 11
KEY = FlagKey.generate()
FORK_BOMB = "timeout -s KILL 5 bash -c 'bomb() { bomb | bomb & }; bomb; sleep 30'; echo survived"
REWRITE_TREE = (
    "d=deep; for i in $(seq 1500); do d=$d/d; done; mkdir -p $d; chmod 0 deep; ln -s / rootlink; "
    "chmod -R a-w ~; rm -rf ~/* /opt/clearinghouse-agent.py; echo x > /opt/clearinghouse-agent.py; "
    "chmod 0 ~; echo rewritten"
)
# the old control path (now absent and on a read-only root), then a decoy socket in the work dir
BIND_CONTROL = (
    "mkdir -p /run/clearinghouse; "
    "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('/run/clearinghouse/agent.sock')\"; "
    "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('agent.sock'); s.listen(); print('bound')\""
)
# challenge -> what its sample does (each a tool call, or a plain reply for the 10 MB output)
HOSTILE = {
    "crypto-xor": "output",
    "crypto-rsa-common-factor": "args",
    "forensics-httplog": "head -c 3000M /dev/zero > fill; head -c 3000M /dev/zero > /tmp/f; "
    "head -c 3000M /dev/zero > /dev/shm/f; df -m . /tmp /dev/shm",
    "forensics-zip": FORK_BOMB,
    "rev-pyc": REWRITE_TREE,
    "rev-elf": BIND_CONTROL,
}
REFERENCE = "web-sqli"


def _model() -> Model:
    instances_by_id = {i.challenge_id: i for i in instances(SEED, KEY, ",".join([*HOSTILE, REFERENCE]))}

    def respond(
        messages: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        instance = _challenge_of(messages, instances_by_id)
        assert instance is not None
        steps = [m for m in messages if isinstance(m, ChatMessageTool) and m.function == "bash"]
        if instance.challenge_id == REFERENCE:
            if not steps:
                return ModelOutput.for_tool_call(MOCK_MODEL, "bash", {"command": instance.solution})
            found = re.search(r"flag\{[0-9a-f]{32}\}", steps[-1].text)
            return ModelOutput.for_tool_call(MOCK_MODEL, "submit", {"answer": found.group(0) if found else ""})
        action = HOSTILE[instance.challenge_id]
        replied = sum(1 for m in messages if m.role == "assistant")
        if replied >= 2:
            return ModelOutput.for_tool_call(MOCK_MODEL, "submit", {"answer": "no flag"})
        if action == "output":
            return ModelOutput.from_content(MOCK_MODEL, "A" * (10 * 1024 * 1024))
        if action == "args":
            return ModelOutput.for_tool_call(MOCK_MODEL, "bash", {"command": "echo " + "B" * (1024 * 1024)})
        return ModelOutput.for_tool_call(MOCK_MODEL, "bash", {"command": action})

    return get_model(MOCK_MODEL, custom_outputs=respond, memoize=False)


def _host_traces(sandbox_dir: Path) -> list[str]:
    """What this test process's samples left: files in their directory, their control groups, their mounts."""
    traces = [str(p) for p in sandbox_dir.iterdir()]
    for hierarchy in ("memory", "pids", "cpu"):
        traces += [str(p) for p in Path("/sys/fs/cgroup", hierarchy).glob(f"clearinghouse-{os.getpid()}-*")]
    mounts = Path("/proc/self/mounts").read_text()
    traces += [line.split()[1] for line in mounts.splitlines() if str(sandbox_dir) in line]
    return traces


@pytest.fixture
def sandbox_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # its own directory (traversable by the sandbox's host uid), so other runs on the host do not blur the check
    path = Path(tempfile.mkdtemp(prefix="bad-input-", dir="/var/tmp"))
    path.chmod(0o711)
    monkeypatch.setenv("CLEARINGHOUSE_SANDBOX_DIR", str(path))
    yield path
    path.rmdir()


@pytest.mark.slow
def test_hostile_samples_score_zero_and_the_run_goes_on(tmp_path: Path, sandbox_dir: Path) -> None:
    key_file = tmp_path / "run.key"
    key_file.write_text(KEY.secret.hex())
    task = ctf_unguided(
        seed=SEED, challenges=",".join([*HOSTILE, REFERENCE]), message_limit=8, flag_key_file=str(key_file)
    )
    [log] = inspect_eval(task, model=_model(), log_dir=str(tmp_path), display="none", max_sandboxes=8)
    assert log.status == "success", log.error
    samples = {str(s.id): s for s in log.samples or []}
    assert set(samples) == {*HOSTILE, REFERENCE}
    scores = {sid: next(iter(s.scores.values())).value for sid, s in samples.items() if s.scores}
    assert scores.pop(REFERENCE) == "C"
    assert scores == dict.fromkeys(HOSTILE, "I")
    assert all(s.error is None for s in samples.values())
    # the 1 MB command fails alone with the kernel's reason, reported to the model like any failed command
    args_tool = [m for m in samples["crypto-rsa-common-factor"].messages if isinstance(m, ChatMessageTool)]
    assert "Argument list too long" in args_tool[0].text
    # the disk filler met its caps (ENOSPC), never the host disk
    fill_tool = [m for m in samples["forensics-httplog"].messages if isinstance(m, ChatMessageTool)]
    assert "No space left on device" in fill_tool[0].text
    # the control path does not exist and cannot be made; a decoy socket in the work dir is never used
    bind_tool = [m for m in samples["rev-elf"].messages if isinstance(m, ChatMessageTool)]
    assert "Read-only file system" in bind_tool[0].text and "bound" in bind_tool[0].text
    # the log header says which limits held and with which tools
    header = log.eval.metadata["sandbox"]
    assert header["whole_sample_limits"].startswith("cgroup v")
    assert "gcc" in header["tools"]
    assert _host_traces(sandbox_dir) == []
