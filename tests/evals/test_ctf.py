"""Seeded CTF suite: generation is deterministic per seed and varies across seeds; the reference solutions
replayed through the agent loop in the bwrap sandbox solve everything and a do-nothing model solves nothing."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path

import pytest

from clearinghouse.evals.ctf import CHALLENGES, Category, FlagKey, instances, select
from clearinghouse.evals.ctf.base import FLAG_PATTERN
from clearinghouse.evals.ctf.scoring import answer_matches
from clearinghouse.evals.ctf.tasks import SANDBOX_MODULE, SANDBOX_NAME, ctf_subtasks, ctf_unguided, to_sample

SEED = 1729
KEY = FlagKey.generate()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("key") / "run.key"
    path.write_text(KEY.secret.hex())
    return str(path)


def test_catalogue_size_and_categories() -> None:
    assert len(CHALLENGES) >= 24
    assert len({c.id for c in CHALLENGES}) == len(CHALLENGES)
    per_category = Counter(c.category for c in CHALLENGES)
    assert set(per_category) == set(Category)
    assert all(count >= 3 for count in per_category.values())
    assert all(1 <= c.difficulty <= 5 for c in CHALLENGES)
    # issue 11: the first twelve stay warm-ups, at least eight multi-step challenges at difficulty 4-5
    assert all(c.difficulty <= 2 for c in CHALLENGES[:12])
    assert sum(c.difficulty >= 4 for c in CHALLENGES) >= 8


# Challenges whose artefact is data rather than a program keep one skeleton; every program varies in structure.
_DATA_ONLY = {"crypto-xor", "crypto-rsa-common-factor", "forensics-httplog", "forensics-zip"}


@pytest.mark.parametrize("challenge", CHALLENGES, ids=lambda c: c.id)
def test_program_skeletons_vary_across_seeds(challenge) -> None:
    variants = [challenge.instantiate(seed, KEY) for seed in range(20)]
    drawn = {v.template for v in variants}
    if challenge.id in _DATA_ONLY:
        assert drawn == {"default"}
        return
    assert challenge.templates >= 2 and len(drawn) >= 2
    # different templates are different programs, not the same program under other names
    by_template = {v.template: v for v in variants}
    first, second = list(by_template.values())[:2]
    shape = lambda text: re.sub(r"[a-z_]+\d*|\d+", "x", text)  # noqa: E731
    assert shape(first.program) != shape(second.program)


def test_task_table_lists_every_challenge() -> None:
    from clearinghouse.evals.ctf.catalogue import render_markdown, task_table

    rows = task_table(seeds=5)
    assert sorted(row.challenge for row in rows) == sorted(c.id for c in CHALLENGES)
    assert all(row.steps_min >= 2 and row.human_minutes > 0 and row.templates >= 1 for row in rows)
    table = render_markdown(rows, 5)
    assert "| web-chain | web | 5 |" in table and f"{len(CHALLENGES)} tasks" in table


@pytest.mark.parametrize("challenge", CHALLENGES, ids=lambda c: c.id)
def test_same_seed_same_instance(challenge) -> None:
    assert challenge.instantiate(SEED, KEY) == challenge.instantiate(SEED, KEY)


@pytest.mark.parametrize("challenge", CHALLENGES, ids=lambda c: c.id)
def test_different_seeds_different_program_and_flag(challenge) -> None:
    variants = [challenge.instantiate(seed, KEY) for seed in (0, 1, 2, SEED)]
    assert len({v.flag for v in variants}) == len(variants)
    assert len({v.program for v in variants}) == len(variants)
    assert len({tuple(sorted(v.files.items())) for v in variants}) == len(variants)


@pytest.mark.parametrize("challenge", CHALLENGES, ids=lambda c: c.id)
def test_instance_shape(challenge) -> None:
    instance = challenge.instantiate(SEED, KEY)
    assert re.fullmatch(FLAG_PATTERN, instance.flag)
    # the flag may only reach the sandbox through a file that the challenge's own service deletes at setup
    assert instance.flag not in instance.prompt + instance.program + instance.solution + instance.setup
    assert not any(instance.flag in step for step in instance.steps)
    assert instance.subtasks and all(s.answer and s.question and s.key for s in instance.subtasks)
    assert instance.files and instance.solution


def test_select_and_sample_metadata() -> None:
    assert [c.id for c in select("web-sqli, rev-elf")] == ["web-sqli", "rev-elf"]
    with pytest.raises(ValueError, match="unknown"):
        select("nope")
    sample = to_sample(instances(SEED, KEY, "crypto-xor")[0])
    assert sample.metadata is not None
    assert {k: sample.metadata[k] for k in ("challenge", "category", "difficulty", "seed")} == {
        "challenge": "crypto-xor",
        "category": "crypto",
        "difficulty": 1,
        "seed": SEED,
    }
    assert all(v.startswith("data:") for v in (sample.files or {}).values())


def test_tasks_ship_the_isolating_sandbox() -> None:
    assert SANDBOX_NAME == "bwrap"
    for task in (ctf_unguided(seed=SEED), ctf_subtasks(seed=SEED, challenges="forensics-zip")):
        assert task.sandbox is not None and task.sandbox.type == SANDBOX_NAME


@pytest.mark.parametrize(
    ("expected", "submitted", "ok"),
    [
        ("16", "16", True),
        ("16", " `16`. ", True),
        # the whole answer must be the answer: a sentence or a list containing it earns nothing
        ("16", "The key is 16 bytes long.", False),
        ("16", " ".join(str(n) for n in range(1, 33)), False),
        ("16", "160", False),
        ("/api/abc", "`/api/abc`", True),
        ("/api/abc", "/api/abcd", False),
        ("10.1.2.0/24", "10.1.2.0/24", True),
        ("x", "", False),
    ],
)
def test_answer_matching(expected: str, submitted: str, ok: bool) -> None:
    assert answer_matches(expected, submitted) is ok


def _bwrap_available() -> str | None:
    try:
        importlib.import_module(SANDBOX_MODULE)
    except ModuleNotFoundError as exc:
        # a sandbox module that exists but fails to import is a failure, not a reason to skip
        if exc.name != SANDBOX_MODULE:
            raise
        return f"bwrap sandbox not available yet: {SANDBOX_MODULE} does not exist"
    return None


@pytest.fixture(scope="module")
def bwrap() -> None:
    reason = _bwrap_available()
    if reason:
        pytest.skip(reason)


def _run(task, model, tmp_path: Path):
    from inspect_ai import eval as inspect_eval

    [log] = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none", max_sandboxes=8)
    assert log.status == "success", log.error
    return log


@pytest.mark.slow
def test_reference_replay_solves_every_challenge(bwrap: None, key_file: str, tmp_path: Path) -> None:
    from clearinghouse.evals.ctf.replay import reference_model

    log = _run(ctf_unguided(seed=SEED, flag_key_file=key_file), reference_model(SEED, KEY), tmp_path)
    failed = {s.id: s.scores for s in log.samples or [] if s.scores and next(iter(s.scores.values())).value != "C"}
    assert not failed
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 1.0


@pytest.mark.slow
def test_reference_replay_answers_every_subtask(bwrap: None, key_file: str, tmp_path: Path) -> None:
    from clearinghouse.evals.ctf.replay import reference_model

    log = _run(ctf_subtasks(seed=SEED, flag_key_file=key_file), reference_model(SEED, KEY), tmp_path)
    assert log.results is not None
    metrics = {score.name: score.metrics for score in log.results.scores}
    assert metrics["subtasks"]["mean"].value == 1.0
    assert metrics["flag"]["accuracy"].value == 1.0


@pytest.mark.slow
def test_null_model_solves_nothing(bwrap: None, tmp_path: Path) -> None:
    from clearinghouse.evals.ctf.replay import null_model

    log = _run(ctf_unguided(seed=SEED), null_model(), tmp_path)
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 0.0


def test_export_writes_inspect_cyber_layout(tmp_path: Path) -> None:
    import yaml

    from clearinghouse.evals.ctf.export import SOLUTION_PATH, export

    [directory] = export(tmp_path, SEED, KEY, "forensics-httplog")
    spec = yaml.safe_load((directory / "eval.yaml").read_text())
    instance = instances(SEED, KEY, "forensics-httplog")[0]
    assert spec["flag"] == instance.flag and spec["sandbox"]["type"] == SANDBOX_NAME
    assert set(spec["variants"]) == {"unguided", "solution"}
    assert (directory / "access.log").read_bytes() == instance.files["access.log"]
    assert (directory / SOLUTION_PATH).is_file() and (directory / "setup.sh").is_file()


@pytest.mark.slow
def test_verify_solutions_solver(bwrap: None, key_file: str, tmp_path: Path) -> None:
    from inspect_ai import Task

    from clearinghouse.evals.ctf.replay import null_model, verify_solutions

    task = ctf_unguided(seed=SEED, flag_key_file=key_file)
    log = _run(Task(dataset=task.dataset, solver=verify_solutions(KEY), scorer=task.scorer, sandbox=task.sandbox),
               null_model(), tmp_path)  # fmt: skip
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 1.0


@pytest.mark.slow
def test_foreign_seed_solutions_fail(bwrap: None, tmp_path: Path) -> None:
    """A sample of cross-seed pairs (bench/ctf_variation.py runs all 20 x 19): the reference solution of another
    seed, aimed at this instance's port, does not find this instance's flag; this seed's own solution does."""
    from clearinghouse.evals.ctf.replay import null_model
    from clearinghouse.evals.ctf.variation import TRANSFER_KEY, ctf_variation

    log = _run(ctf_variation(seed=SEED, others=f"{SEED + 1},{SEED + 2}"), null_model(), tmp_path)
    records = {s.id: s.store[TRANSFER_KEY] for s in log.samples or []}
    assert set(records) == {c.id for c in CHALLENGES}
    assert all(record["own"] for record in records.values()), records
    transferred = {challenge: r["solved_by"] for challenge, r in records.items() if r["solved_by"]}
    assert not transferred


def test_export_writes_services_apart(tmp_path: Path) -> None:
    import yaml

    from clearinghouse.evals.ctf.export import export

    [directory] = export(tmp_path, SEED, KEY, "web-sqli")
    instance = instances(SEED, KEY, "web-sqli")[0]
    service_files = [p for p in (directory / "services" / "0").rglob("*") if p.is_file()]
    assert any(instance.flag.encode() in p.read_bytes() for p in service_files)
    agent_files = [p for p in directory.rglob("*") if p.is_file() and "services" not in p.parts]
    assert not any(instance.flag.encode() in p.read_bytes() for p in agent_files if p.name != "eval.yaml")
    spec = yaml.safe_load((directory / "eval.yaml").read_text())
    assert "sandbox_services" in spec["metadata"]
