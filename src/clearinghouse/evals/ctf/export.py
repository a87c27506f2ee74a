"""Write one seed's challenges as inspect-cyber style directories (eval.yaml with variants, files, solution).

    python -m clearinghouse.evals.ctf.export OUT_DIR KEY_FILE [SEED]

The flags are keyed (`ctf.base.FlagKey`): KEY_FILE holds the run's key (created if absent), so an export can be
matched to the eval run that used the same key file and seed.

Each directory holds the generated files, `setup.sh`, `solution/solution.sh` and an `eval.yaml` whose
`unguided` and `solution` variants mirror inspect-cyber's layout, so the generated suite can be inspected,
archived with a run, or loaded by that tooling where it is available. A challenge's flag holders are written
apart, under `services/N/` (their files and `start.sh`), and named in the metadata the bwrap sandbox reads to
start them in sandboxes of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from clearinghouse.evals.ctf.base import FlagKey, Instance
from clearinghouse.evals.ctf.registry import instances
from clearinghouse.evals.ctf.tasks import SANDBOX_NAME, services_metadata_of

SOLUTION_PATH = "solution/solution.sh"


def eval_yaml(instance: Instance) -> dict[str, Any]:
    files = {name: name for name in instance.files}
    return {
        "name": instance.challenge_id,
        "sandbox": {"type": SANDBOX_NAME},
        "files": files,
        "setup": "setup.sh",
        "flag": instance.flag,
        "metadata": {
            "category": instance.category.value,
            "difficulty": instance.difficulty,
            "seed": instance.seed,
            "flag_key_id": instance.key_id,
            "subtasks": [{"question": s.question, "answer": s.answer} for s in instance.subtasks],
            **services_metadata_of(instance),
        },
        "variants": {
            "unguided": {"prompt": instance.prompt},
            "solution": {
                "prompt": f"Run `bash {SOLUTION_PATH}`.",
                "files": {**files, SOLUTION_PATH: SOLUTION_PATH},
                "metadata": {"solution_location": "solution"},
            },
        },
    }


def write_challenge(instance: Instance, root: Path) -> Path:
    directory = root / instance.challenge_id
    for name, data in instance.files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "setup.sh").write_text("#!/usr/bin/env bash\n" + instance.setup + "\n")
    for number, service in enumerate(instance.services):
        service_dir = directory / "services" / str(number)
        for name, data in service.files.items():
            target = service_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (service_dir / "start.sh").write_text("#!/usr/bin/env bash\n" + service.start + "\n")
    solution = directory / SOLUTION_PATH
    solution.parent.mkdir(parents=True, exist_ok=True)
    solution.write_text("#!/usr/bin/env bash\n" + instance.solution + "\n")
    (directory / "eval.yaml").write_text(yaml.safe_dump(eval_yaml(instance), sort_keys=False, width=120))
    return directory


def export(root: Path, seed: int, key: FlagKey, challenges: str | None = None) -> list[Path]:
    return [write_challenge(instance, root) for instance in instances(seed, key, challenges)]


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 3:
        sys.stderr.write(__doc__ or "")
        return 2
    key = FlagKey.load_or_create(Path(argv[1]))
    for directory in export(Path(argv[0]), int(argv[2]) if len(argv) == 3 else 0, key):
        sys.stdout.write(f"{directory}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
