"""Read OSV documents from files, directories, JSON Lines (plain or gzip) and zip archives.

Readers yield one `RawDocument` per record, or an `InvalidRecord` for a record (or a whole file) that cannot be
read, and keep going: one bad record never stops a run. Every read is bounded: a record over
`Limits.max_record_bytes`, a zip member that expands past its limit (whatever its header claims), and an archive
member or gzip stream with a suspicious compression ratio or past the total expansion limit is refused before it
is held in memory. Blank lines are counted and skipped a run at a time, and links out of an imported directory
are not followed.
"""

from __future__ import annotations

import contextlib
import gzip
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from clearinghouse.errors import InputTooLarge, InvalidRecord, Location

SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".zip")


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 16 * 1024 * 1024
    max_archive_bytes: int = 8 * 1024 * 1024 * 1024  # total expanded size of one zip or gzip stream
    max_archive_members: int = 2_000_000
    max_compression_ratio: int = 200  # JSON compresses ~10-20x; bombs compress thousands of times


# Below this many decompressed bytes a stream's ratio is not judged: a small file of repeated text compresses
# well without being a bomb, and this much costs nothing to read.
RATIO_FLOOR_BYTES = 16 * 1024 * 1024


DEFAULT_LIMITS = Limits()


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class RawDocument:
    location: Location
    data: bytes


Item = RawDocument | InvalidRecord


@dataclass
class ReadCounts:
    """What a read skipped without it being an error: blank and whitespace-only lines of JSON Lines inputs."""

    blank_lines: int = 0
    bytes_read: int = 0  # of the input files as stored (compressed bytes for .gz and .zip), for progress


def input_files(path: Path) -> Iterator[Path]:
    """`path` itself, or every readable file under a directory, in a stable order.

    Symbolic links under a directory are followed only while they stay inside it: a link to `/etc/passwd` in a
    downloaded tree must not be read as a record (a link named on the command line is the user's choice).
    """
    if path.is_dir():
        root = path.resolve()
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.name.endswith(SUFFIXES) and child.resolve().is_relative_to(root):
                yield child
    else:
        yield path


def outside_links(path: Path) -> Iterator[Path]:
    """Files under directory `path` that `input_files` leaves out because a link leads outside it."""
    if not path.is_dir():
        return
    root = path.resolve()
    for child in sorted(path.rglob("*")):
        if child.is_file() and child.name.endswith(SUFFIXES) and not child.resolve().is_relative_to(root):
            yield child


def read_path(path: Path, limits: Limits = DEFAULT_LIMITS, counts: ReadCounts | None = None) -> Iterator[Item]:
    for outside in outside_links(path):
        yield InvalidRecord(
            f"not read: a symbolic link to {outside.resolve()}, outside the directory being imported",
            Location(file=str(outside)),
        )
    for file in input_files(path):
        yield from read_file(file, limits, counts)


def read_file(file: Path, limits: Limits = DEFAULT_LIMITS, counts: ReadCounts | None = None) -> Iterator[Item]:
    name = str(file)
    counts = counts if counts is not None else ReadCounts()
    before = counts.bytes_read
    try:
        if name.endswith(".zip"):
            yield from _read_zip(file, limits)
        elif name.endswith(".jsonl.gz") or name.endswith(".gz"):
            with file.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                for item in _read_lines(_metered_chunks(stream, raw, name, limits), name, limits, counts):
                    counts.bytes_read = before + raw.tell()
                    yield item
        elif name.endswith(".jsonl"):
            with file.open("rb") as plain:
                for item in _read_lines(iter(lambda: plain.read(_CHUNK_BYTES), b""), name, limits, counts):
                    counts.bytes_read = before + plain.tell()
                    yield item
        else:
            with file.open("rb") as stream:
                yield _read_whole(stream, Location(file=name), limits)
    except _Expansion as refusal:
        yield refusal.error
    except FileNotFoundError:
        yield InvalidRecord("no such file or directory", Location(file=name))
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        # A truncated gzip or zip ends here after the good records before it were yielded.
        yield InvalidRecord(f"cannot read the rest of the file: {_describe(exc)}", Location(file=name))
    finally:
        with contextlib.suppress(OSError):
            counts.bytes_read = before + file.stat().st_size


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it is truncated (compressed stream ended early)"
    return str(exc) or type(exc).__name__


def _read_whole(stream: _Stream, location: Location, limits: Limits) -> Item:
    data = stream.read(limits.max_record_bytes + 1)
    if len(data) > limits.max_record_bytes:
        return InputTooLarge(f"record is larger than the {limits.max_record_bytes:,}-byte limit", location)
    return RawDocument(location, data)


class _Expansion(Exception):
    """Raised inside a compressed read to abandon the rest of the file; carries the refusal to report."""

    def __init__(self, error: InputTooLarge) -> None:
        super().__init__(error.message)
        self.error = error


def _metered_chunks(stream: gzip.GzipFile, raw: BinaryIO, name: str, limits: Limits) -> Iterator[bytes]:
    """The decompressed chunks of `stream`, checked against the expansion limits as they come.

    The ratio is measured on what was really read (decompressed bytes over the compressed bytes consumed from
    `raw` so far, which includes gzip's read-ahead), so a lying header or many concatenated members change
    nothing; it is checked only past `RATIO_FLOOR_BYTES` so that small, repetitive inputs are not refused.
    """
    expanded = 0
    # read1: what one read of the compressed input gives, so that a truncated stream still yields what came
    # before the break (a read of the whole chunk would raise and lose it).
    while chunk := stream.read1(_CHUNK_BYTES):
        expanded += len(chunk)
        if expanded > limits.max_archive_bytes:
            raise _Expansion(
                InputTooLarge(
                    f"expands past the {limits.max_archive_bytes:,}-byte limit: refusing the rest of the file",
                    Location(file=name),
                )
            )
        if expanded > RATIO_FLOOR_BYTES:
            ratio = expanded / max(raw.tell(), 1)
            if ratio > limits.max_compression_ratio:
                raise _Expansion(
                    InputTooLarge(
                        f"expands {ratio:,.0f} times (limit {limits.max_compression_ratio}) after "
                        f"{expanded:,} bytes: refusing a likely compression bomb",
                        Location(file=name),
                    )
                )
        yield chunk


_CHUNK_BYTES = 1024 * 1024
_WHITESPACE = frozenset(b" \t\r\n\f\v")  # what bytes.lstrip() strips
_WINDOW = 64 * 1024


def _next_content(buffer: bytes, position: int) -> int:
    """The index of the first byte at or after `position` that is not whitespace, or -1.

    A line usually starts with its content (one look); a run of blank lines is skipped a window at a time by
    `lstrip`, which runs at memory speed (a regular expression for "not whitespace" took 24 ns a byte).
    """
    end = len(buffer)
    if position < end and buffer[position] not in _WHITESPACE:
        return position
    while position < end:
        window = buffer[position : position + _WINDOW]
        rest = window.lstrip()
        if rest:
            return position + len(window) - len(rest)
        position += _WINDOW
    return -1


def _read_lines(chunks: Iterator[bytes], name: str, limits: Limits, counts: ReadCounts) -> Iterator[Item]:
    """One document per non-blank line of `chunks`, read a chunk at a time.

    Runs of blank or whitespace-only lines are counted (`counts.blank_lines`, and in the line numbers) with one
    search and one count per run, not a call per line: a file of a billion newlines costs what reading it costs.
    """
    line_number = 0  # lines ended so far
    buffer = b""  # the unfinished line (from its first non-blank byte)
    oversized = 0  # > 0 while skipping the rest of a line over the limit: the bytes skipped so far
    for chunk in chunks:
        if oversized:
            end = chunk.find(b"\n")
            if end == -1:
                oversized += len(chunk)
                continue
            line_number += 1
            yield _too_large(oversized + end + 1, name, line_number, limits)
            oversized, chunk = 0, chunk[end + 1 :]
        buffer = buffer + chunk if buffer else chunk
        position = 0
        while True:
            start = _next_content(buffer, position)
            if start == -1:
                skipped = buffer.count(b"\n", position)
                line_number += skipped
                counts.blank_lines += skipped
                buffer = b""
                break
            skipped = buffer.count(b"\n", position, start)
            line_number += skipped
            counts.blank_lines += skipped
            end = buffer.find(b"\n", start)
            if end == -1:
                buffer = buffer[start:]
                if len(buffer) > limits.max_record_bytes:
                    oversized, buffer = len(buffer), b""
                break
            line_number += 1
            if end + 1 - start > limits.max_record_bytes:
                yield _too_large(end + 1 - start, name, line_number, limits)
            else:
                yield RawDocument(Location(file=name, line=line_number), buffer[start : end + 1])
            position = end + 1
    if oversized:
        yield _too_large(oversized, name, line_number + 1, limits)
    elif buffer:
        yield RawDocument(Location(file=name, line=line_number + 1), buffer)


def _too_large(size: int, name: str, line: int, limits: Limits) -> InputTooLarge:
    return InputTooLarge(
        f"record is {size:,} bytes, over the {limits.max_record_bytes:,}-byte limit", Location(file=name, line=line)
    )


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
                # Judged again on what was read: the stream consumed at most `compress_size` compressed bytes.
                ratio = len(item.data) / max(member.compress_size, 1)
                if ratio > limits.max_compression_ratio and len(item.data) > 1024 * 1024:
                    yield InputTooLarge(
                        f"member expands {ratio:,.0f} times (limit {limits.max_compression_ratio}) although its "
                        "header says otherwise: refusing a likely zip bomb",
                        location,
                    )
                    continue
                expanded += len(item.data)
                if expanded > limits.max_archive_bytes:
                    yield InputTooLarge(f"archive expands past the {limits.max_archive_bytes:,}-byte limit", location)
                    return
            yield item
