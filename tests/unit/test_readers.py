"""Readers: every input layout, and hostile or broken files rejected with a precise location."""

from __future__ import annotations

import gzip
import time
import zipfile
from pathlib import Path

import orjson

from clearinghouse.errors import InputTooLarge, InvalidRecord
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.ingest.readers import Limits, RawDocument, ReadCounts, read_path
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore
from tests.conftest import sample_documents


def write_jsonl(path: Path, documents: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in documents))
    return path


def test_every_layout_yields_the_same_records(tmp_path: Path) -> None:
    documents = sample_documents()[:10]
    write_jsonl(tmp_path / "plain.jsonl", documents)
    with gzip.open(tmp_path / "packed.jsonl.gz", "wb") as stream:
        stream.write((tmp_path / "plain.jsonl").read_bytes())
    folder = tmp_path / "tree" / "PyPI"
    folder.mkdir(parents=True)
    for document in documents:
        (folder / f"{document['id']}.json").write_bytes(orjson.dumps(document))
    with zipfile.ZipFile(tmp_path / "all.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for document in documents:  # OSV's all.zip: one <id>.json per record at the top level
            archive.writestr(f"{document['id']}.json", orjson.dumps(document))
    ids = sorted(d["id"] for d in documents)
    for source in ("plain.jsonl", "packed.jsonl.gz", "tree", "all.zip"):
        items = list(read_path(tmp_path / source))
        assert all(isinstance(i, RawDocument) for i in items), source
        assert sorted(orjson.loads(i.data)["id"] for i in items if isinstance(i, RawDocument)) == ids


def test_a_truncated_gzip_keeps_the_records_before_the_break(tmp_path: Path) -> None:
    payload = gzip.compress(b"".join(orjson.dumps(d) + b"\n" for d in sample_documents()))
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(payload[: len(payload) // 2])
    items = list(read_path(broken))
    assert isinstance(items[-1], InvalidRecord)
    assert "truncated" in items[-1].message and "cut.jsonl.gz" in items[-1].message
    assert sum(isinstance(i, RawDocument) for i in items) > 5


def test_an_oversized_line_is_refused_and_the_next_line_still_read(tmp_path: Path) -> None:
    small = {"id": "PYSEC-1", "modified": "2024-01-01T00:00:00Z"}
    huge = {"id": "PYSEC-2", "modified": "2024-01-01T00:00:00Z", "details": "x" * 5000}
    path = write_jsonl(tmp_path / "mixed.jsonl", [small, huge, small])
    items = list(read_path(path, Limits(max_record_bytes=1000)))
    assert [type(i) for i in items] == [RawDocument, InputTooLarge, RawDocument]
    assert items[1].location.line == 2 and "limit" in items[1].message


def test_a_zip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BOMB-1.json", b"{" + b" " * (200 * 1024 * 1024) + b"}")
    assert bomb.stat().st_size < 1024 * 1024
    items = list(read_path(bomb))
    assert len(items) == 1 and isinstance(items[0], InputTooLarge)
    assert "zip bomb" in items[0].message and "BOMB-1.json" in items[0].message


def test_a_zip_member_whose_header_lies_about_its_size_is_cut_at_the_limit(tmp_path: Path) -> None:
    archive_path = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("BIG-1.json", b"[" + b"1," * 600_000 + b"1]")
    items = list(read_path(archive_path, Limits(max_record_bytes=100_000)))
    assert isinstance(items[0], InputTooLarge)


def test_a_corrupt_zip_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "not.zip"
    path.write_bytes(b"PK\x03\x04 this is not an archive")
    items = list(read_path(path))
    assert len(items) == 1 and isinstance(items[0], InvalidRecord) and "not.zip" in items[0].message


def test_missing_file(tmp_path: Path) -> None:
    items = list(read_path(tmp_path / "absent.jsonl"))
    assert isinstance(items[0], InvalidRecord) and "no such file" in items[0].message


def test_directory_walk_ignores_unrelated_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a record")
    (tmp_path / "a.json").write_bytes(orjson.dumps(sample_documents()[0]))
    assert len(list(read_path(tmp_path))) == 1


def _gzip_bomb_of_newlines(path: Path, members: int) -> Path:
    """`members` gzip members of 1 MiB of newlines each, written one by one: about 1 KB per MiB expanded."""
    member = gzip.compress(b"\n" * (1024 * 1024), compresslevel=9)
    with path.open("wb") as out:
        for _ in range(members):
            out.write(member)
    return path


def test_a_gzip_bomb_of_newlines_is_refused_in_under_two_seconds(tmp_path: Path) -> None:
    bomb = _gzip_bomb_of_newlines(tmp_path / "bomb.jsonl.gz", 1024)  # expands to 1 GiB
    assert bomb.stat().st_size < 1_100_000
    store = RecordStore(create_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    migrate(store.engine)
    started = time.perf_counter()
    report = ImportPipeline(store, workers=0).run([bomb])
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"took {elapsed:.1f} s"
    assert report.failed == 1 and report.outcome.inserted == 0
    (refusal,) = report.errors
    assert isinstance(refusal, InputTooLarge)
    assert "bomb.jsonl.gz" in refusal.message and "compression bomb" in refusal.message


def test_a_gzip_stream_is_cut_at_the_total_expansion_limit(tmp_path: Path) -> None:
    documents = b"".join(orjson.dumps(d) + b"\n" for d in sample_documents())
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(documents * 4))
    items = list(read_path(path, Limits(max_archive_bytes=len(documents))))
    assert isinstance(items[-1], InputTooLarge) and "expands past" in items[-1].message
    assert all(isinstance(i, RawDocument) for i in items[:-1])


def test_blank_and_whitespace_lines_are_counted_and_line_numbers_stay_true(tmp_path: Path) -> None:
    first, second = (orjson.dumps(d) for d in sample_documents()[:2])
    path = tmp_path / "gaps.jsonl"
    path.write_bytes(b"\n  \n" + first + b"\n\t\r\n\n" + b"  " + second + b"\n\n")
    counts = ReadCounts()
    items = list(read_path(path, counts=counts))
    assert [i.location.line for i in items] == [3, 6]
    assert all(isinstance(i, RawDocument) for i in items)
    assert counts.blank_lines == 5


def test_blank_runs_across_chunk_boundaries_keep_the_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    blank = 3 * 1024 * 1024 + 17  # spans several 1 MiB reads and 64 KiB windows
    with path.open("wb") as out:
        out.write(b"\n" * blank)
        out.write(b" \t " + orjson.dumps(sample_documents()[0]) + b"\n \n")
    counts = ReadCounts()
    items = list(read_path(path, counts=counts))
    assert [i.location.line for i in items] == [blank + 1]
    assert counts.blank_lines == blank + 1


def test_a_directory_import_does_not_follow_a_link_out_of_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_bytes(orjson.dumps(sample_documents()[0]))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "inside.json").write_bytes(orjson.dumps(sample_documents()[1]))
    (tree / "passwd.json").symlink_to(outside)
    (tree / "again.json").symlink_to(tree / "inside.json")  # a link inside the directory is fine
    items = list(read_path(tree))
    read = [i for i in items if isinstance(i, RawDocument)]
    assert sorted(Path(i.location.file or "").name for i in read) == ["again.json", "inside.json"]
    (refused,) = [i for i in items if isinstance(i, InvalidRecord)]
    assert "passwd.json" in refused.message and "outside the directory" in refused.message
