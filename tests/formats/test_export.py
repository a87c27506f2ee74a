"""Writing exported files: each file lands whole, inside the export directory, whatever a record's id says."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearinghouse.errors import ClearinghouseError
from clearinghouse.sharing.export import _write_atomically


@pytest.mark.parametrize("name", ["../escaped.json", "sub/escaped.json", "..", "", "nul\0.json"])
def test_an_export_file_name_that_is_not_a_bare_name_is_refused(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ClearinghouseError, match="outside the export directory"):
        _write_atomically(out, name, b"{}")
    assert list(tmp_path.rglob("*")) == [out], "nothing was written anywhere"


def test_an_export_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "CVE-2099-0001.json").symlink_to(outside)
    written = _write_atomically(out, "CVE-2099-0001.json", b"{}")
    assert written.read_bytes() == b"{}" and not written.is_symlink()
    assert outside.read_bytes() == b"keep"
