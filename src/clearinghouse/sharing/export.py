"""Export stored records to a directory, one file per record, in OSV, CSAF 2.0 or CVE JSON 5.1.1."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from clearinghouse.errors import ClearinghouseError, UnsupportedExport
from clearinghouse.files import new_public_file
from clearinghouse.formats import csaf, cve5, osv
from clearinghouse.policy.rules import RecordVisibility
from clearinghouse.records.model import VulnerabilityRecord
from clearinghouse.schemas import load_json


class ExportFormat(StrEnum):
    OSV = "osv"
    CSAF = "csaf"
    CVE5 = "cve5"


@cache
def _osv_id() -> re.Pattern[str]:
    # The store takes any well-formed id (reports and private databases have their own); OSV files carry only
    # ids of a known home database or the "x_" private prefix, as its schema says.
    return re.compile(load_json("osv/schema.json")["$defs"]["prefix"]["pattern"])


def _osv(record: VulnerabilityRecord) -> dict[str, Any]:
    if not _osv_id().match(record.id):
        raise UnsupportedExport(
            f"record {record.id} has no OSV id (a known database prefix such as GHSA- or PYSEC-, or x_), "
            "so OSV readers would refuse it"
        )
    return osv.dump(record.osv)


_DUMPERS: dict[ExportFormat, Callable[[VulnerabilityRecord], dict[str, Any]]] = {
    ExportFormat.OSV: _osv,
    ExportFormat.CSAF: csaf.dump,
    ExportFormat.CVE5: cve5.dump,
}


def dump_record(export_format: ExportFormat, record: VulnerabilityRecord) -> dict[str, Any]:
    """One record as a document of `export_format` (`UnsupportedExport` if the format cannot express it)."""
    return _DUMPERS[export_format](record)


def file_name(export_format: ExportFormat, record: VulnerabilityRecord, document: dict[str, Any]) -> str:
    if export_format is ExportFormat.CSAF:
        return csaf.file_name(str(document["document"]["tracking"]["id"]))
    if export_format is ExportFormat.CVE5:
        # Several records (GHSA, PYSEC, a distro's) often describe one CVE: one file each, none overwritten.
        cve_id = str(document["cveMetadata"]["cveId"])
        return f"{cve_id}.json" if record.id == cve_id else f"{cve_id}--{record.id}.json"
    return f"{record.id}.json"


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    unsupported: list[UnsupportedExport] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # above the TLP ceiling, or not yet released


def export_records(
    records: Iterable[VulnerabilityRecord],
    export_format: ExportFormat,
    out_dir: Path,
    visibility: RecordVisibility,
    on_record: Callable[[], None] | None = None,
) -> ExportReport:
    """Write each record in `export_format`; records `visibility` (`policy.rules.export_visibility`) does not
    admit are withheld, not written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dump = _DUMPERS[export_format]
    report = ExportReport()
    for record in records:
        if on_record:
            on_record()
        if not visibility.admits(record.tlp, record.status):
            report.withheld.append(record.id)
            continue
        try:
            document = dump(record)
        except UnsupportedExport as exc:
            report.unsupported.append(exc)
            continue
        name = file_name(export_format, record, document)
        report.written.append(_write_atomically(out_dir, name, orjson.dumps(document, option=orjson.OPT_INDENT_2)))
    return report


def _write_atomically(directory: Path, name: str, data: bytes) -> Path:
    # Ids cannot hold a path (records.model), but a file name is checked where it is used: a bare name stays
    # in `directory` (a string test; resolving both paths for every file took a quarter of a whole export).
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ClearinghouseError(f"refusing to write outside the export directory: {name!r}")
    target = directory / name
    # A reader (or a crash) never sees half a file: write beside it, then rename over it.
    # Created with the process umask (0644 by default): exports are for others to read (mkstemp makes 0600).
    handle, temporary = new_public_file(directory, ".export-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
