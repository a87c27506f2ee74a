"""Read OSV documents from files, directories, JSON Lines (plain or gzip) and zip archives.

Readers yield one `RawDocument` per record, or an `InvalidRecord` for a record (or a whole file) that cannot be
read, and keep going: one bad record never stops a run. Every read is bounded: a record over
`Limits.max_record_bytes`, a zip member that expands past its limit (whatever its header claims) or an archive
with a suspicious compression ratio is refused before it is held in memory.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from clearinghouse.errors import InputTooLarge, InvalidRecord, Location

SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".zip")


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 16 * 1024 * 1024
    max_archive_bytes: int = 8 * 1024 * 1024 * 1024  # total expanded size of one zip
    max_archive_members: int = 2_000_000
    max_compression_ratio: int = 200  # JSON compresses ~10-20x; bombs compress thousands of times


DEFAULT_LIMITS = Limits()


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class RawDocument:
    location: Location
    data: bytes


Item = RawDocument | InvalidRecord


def input_files(path: Path) -> Iterator[Path]:
    """`path` itself, or every readable file under a directory, in a stable order."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.name.endswith(SUFFIXES):
                yield child
    else:
        yield path


def read_path(path: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Item]:
    for file in input_files(path):
        yield from read_file(file, limits)


def read_file(file: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Item]:
    name = str(file)
    try:
        if name.endswith(".zip"):
            yield from _read_zip(file, limits)
        elif name.endswith(".jsonl.gz") or name.endswith(".gz"):
            with gzip.open(file, "rb") as stream:
                yield from _read_lines(stream, name, limits)
        elif name.endswith(".jsonl"):
            with file.open("rb") as stream:
                yield from _read_lines(stream, name, limits)
        else:
            with file.open("rb") as stream:
                yield _read_whole(stream, Location(file=name), limits)
    except FileNotFoundError:
        yield InvalidRecord("no such file or directory", Location(file=name))
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        # A truncated gzip or zip ends here after the good records before it were yielded.
        yield InvalidRecord(f"cannot read the rest of the file: {_describe(exc)}", Location(file=name))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it is truncated (compressed stream ended early)"
    return str(exc) or type(exc).__name__


def _read_whole(stream: _Stream, location: Location, limits: Limits) -> Item:
    data = stream.read(limits.max_record_bytes + 1)
    if len(data) > limits.max_record_bytes:
        return InputTooLarge(f"record is larger than the {limits.max_record_bytes:,}-byte limit", location)
    return RawDocument(location, data)


def _read_lines(stream: _Stream, name: str, limits: Limits) -> Iterator[Item]:
    line_number = 0
    while True:
        line = stream.readline(limits.max_record_bytes + 1)
        if not line:
            return
        line_number += 1
        location = Location(file=name, line=line_number)
        if len(line) > limits.max_record_bytes and not line.endswith(b"\n"):
            skipped = len(line) + _skip_to_newline(stream)
            yield InputTooLarge(
                f"record is {skipped:,} bytes, over the {limits.max_record_bytes:,}-byte limit", location
            )
            continue
        if line.strip():
            yield RawDocument(location, line)


def _skip_to_newline(stream: _Stream) -> int:
    skipped = 0
    while True:
        chunk = stream.readline(1024 * 1024)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _read_zip(file: Path, limits: Limits) -> Iterator[Item]:
    with zipfile.ZipFile(file) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > limits.max_archive_members:
            yield InputTooLarge(
                f"archive has {len(members):,} members, over the {limits.max_archive_members:,} limit",
                Location(file=str(file)),
            )
            return
        expanded = 0
        for member in members:
            location = Location(file=f"{file}!{member.filename}")
            if not member.filename.endswith(".json"):
                continue
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > limits.max_compression_ratio and member.file_size > 1024 * 1024:
                yield InputTooLarge(
                    f"member expands {ratio:,.0f} times (limit {limits.max_compression_ratio}): refusing a "
                    "likely zip bomb",
                    location,
                )
                continue
            with archive.open(member) as stream:
                # Read at most the limit whatever the header says: headers can lie.
                item = _read_whole(stream, location, limits)
            if isinstance(item, RawDocument):
                expanded += len(item.data)
                if expanded > limits.max_archive_bytes:
                    yield InputTooLarge(f"archive expands past the {limits.max_archive_bytes:,}-byte limit", location)
                    return
            yield item
