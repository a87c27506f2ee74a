"""Removing a sample's host directory, whatever the sandbox left in it.

Iterative (no recursion, so no depth limit) and descriptor-relative: every entry is opened or unlinked through
its parent's dir fd with O_NOFOLLOW, so a symlink planted inside is removed as a link and never followed out of
the tree. Only one directory fd is open at a time (a 1,500-level tree would otherwise exhaust the fd limit):
the walk climbs back with `..` and checks it arrived at the directory it came from (device and inode). Read-only
or permission-less directories are opened up first (the owner may always chmod), so a non-root host removes
them too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["remove_tree"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str, parent_fd: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        # the sandbox may chmod 000 its dirs; the owner (or root) can always open them up again
        os.chmod(name, 0o700, dir_fd=parent_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _unlink_entries(fd: int) -> str | None:
    """Unlinks every non-directory in the directory `fd`; returns the name of one subdirectory left, if any."""
    with contextlib.suppress(PermissionError):
        os.fchmod(fd, 0o700)  # a read-only directory refuses unlink until it is writable again
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name, dir_fd=fd)
    return None


def remove_tree(root: Path) -> None:
    """Deletes `root` and everything under it; a symlink as `root` is removed, never followed."""
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        root.unlink()
        return
    parent_fd = os.open(root.parent, _DIR_FLAGS)
    try:
        fd = _open_dir(root.name, parent_fd)
    finally:
        os.close(parent_fd)
    # (device, inode, name) of each directory from root down to the one `fd` is open on
    chain = [(info.st_dev, info.st_ino, root.name)]
    try:
        while True:
            child = _unlink_entries(fd)
            if child is not None:
                child_fd = _open_dir(child, fd)
                os.close(fd)
                fd = child_fd
                child_info = os.fstat(fd)
                chain.append((child_info.st_dev, child_info.st_ino, child))
                continue
            if len(chain) == 1:
                break
            # empty: climb to the parent through `..`, check it is the one we came from, and remove this one
            _, _, name = chain.pop()
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            here = os.fstat(fd)
            if (here.st_dev, here.st_ino) != chain[-1][:2]:
                raise OSError(f"directory tree under {root} moved while it was being removed")
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    root.rmdir()
