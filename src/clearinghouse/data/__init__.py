"""Bundled sample data (see README.md here for sources and licences)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_path(name: str) -> Path:
    """Path of a bundled file: ``osv-sample.jsonl`` or ``kev-sample.json``."""
    return Path(str(resources.files(__name__) / name))
