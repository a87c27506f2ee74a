"""File modes: what is shared is written as any file is (the process umask); what is private is owner-only.

Exports are public data meant to be read by others, so they are created 0666 less the umask (0644 by default),
where `tempfile.mkstemp` would make them 0600. The store holds AMBER reports and token hashes: its file, the
SQLite WAL and shared-memory files beside it and its lock file are created 0600, in a data directory created 0700.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
PUBLIC_FILE = 0o666  # less the umask


def new_public_file(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new, empty file in `directory` with an unused random name (for writing then renaming into place),
    open for writing, created with the process umask applied; returns its descriptor and path."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(8)}.tmp"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PUBLIC_FILE), path
        except FileExistsError:
            continue


def private_directory(path: Path) -> None:
    """Create `path` (and missing parents) owner-only; a directory that exists already is left as it is."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
        path.chmod(PRIVATE_DIRECTORY)  # mkdir's mode is filtered by the umask; parents are made as usual


def private_file(path: Path) -> None:
    """Create `path` empty and owner-only if it is missing; make an existing one owner-only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)
