"""Which public database a record comes from, and under what licence, judged by its id prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceDatabase:
    name: str
    licence: str | None


_BY_PREFIX = {
    "PYSEC": SourceDatabase("PyPI Advisory Database", "CC-BY-4.0"),
    "GO": SourceDatabase("Go Vulnerability Database", "CC-BY-4.0"),
    "RUSTSEC": SourceDatabase("RustSec Advisory Database", "CC0-1.0"),
    "BIT": SourceDatabase("Bitnami Vulnerability Database", "Apache-2.0"),
    "OSV": SourceDatabase("OSS-Fuzz", "CC-BY-4.0"),
    "ALSA": SourceDatabase("AlmaLinux OSV database", "MIT"),
    "ALBA": SourceDatabase("AlmaLinux OSV database", "MIT"),
    "ALEA": SourceDatabase("AlmaLinux OSV database", "MIT"),
    "RSEC": SourceDatabase("R Consortium Advisory Database", "Apache-2.0"),
    "GHSA": SourceDatabase("GitHub Advisory Database", "CC-BY-4.0"),
    "CVE": SourceDatabase("CVE List", None),
}


def source_of(record_id: str) -> SourceDatabase:
    """The database a record id belongs to; unknown prefixes name themselves, with no licence assumed."""
    prefix = record_id.split("-", 1)[0]
    return _BY_PREFIX.get(prefix, SourceDatabase(prefix, None))
