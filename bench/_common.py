"""Shared set-up for the benchmarks: which dataset to read."""

from __future__ import annotations

import sys
from pathlib import Path

from clearinghouse.data import sample_path

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "advisories-dev.jsonl.gz"


def dataset() -> Path:
    """The full dev set when it is there (the team's machines), else the bundled sample, said out loud."""
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    if DEV_SET.is_file():
        return DEV_SET
    print(f"note: {DEV_SET} not found; using the bundled 63-record sample (figures will not be comparable)")
    return sample_path("osv-sample.jsonl")
