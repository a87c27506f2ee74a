"""OSV JSON (schema 1.7): `parse` a document into an `OsvRecord`, `dump` one back, field for field."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.records.model import OsvRecord
from clearinghouse.safeparse import NUL, json_loads


def json_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a JSON path: ('affected', 0, 'package') -> $.affected[0].package."""
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse(document: bytes | dict[str, Any], location: Location | None = None) -> OsvRecord:
    """Validate one OSV record. Raises `InvalidRecord` naming the record id and the field at fault."""
    location = location or Location()
    if isinstance(document, bytes):
        document = decode(document, location)
    if not isinstance(document, dict):
        raise InvalidRecord(f"expected a JSON object (one OSV record), got {type(document).__name__}", location)
    record_id = document.get("id") if isinstance(document.get("id"), str) else None
    try:
        return OsvRecord.from_document(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        # Model-level checks report an empty location; say "$" rather than nothing.
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise InvalidRecord(
            f"{message}{more}", Location(location.file, location.line, record_id, json_path(first["loc"]))
        ) from None


def parse_repairing(
    document: bytes | dict[str, Any], location: Location | None = None
) -> tuple[OsvRecord, list[InvalidRecord]]:
    """`parse`, but a record whose only faults are in some of its ranges keeps the others.

    Each faulty range (a malformed GIT event, say, next to valid ECOSYSTEM ranges) is dropped and returned as a
    warning naming the file, line, record and field; refusing the whole record would lose ranges that answer
    `affected` correctly. Anything else wrong is refused as by `parse`.
    """
    location = location or Location()
    if isinstance(document, bytes):
        document = decode(document, location)
    try:
        return parse(document, location), []
    except InvalidRecord as refusal:
        if not isinstance(document, dict):
            raise
        bad_ranges = _faulty_ranges(document)
        if not bad_ranges:
            raise refusal from None
    repaired = _without_ranges(document, bad_ranges)
    record = parse(repaired, location)  # raises if dropping the ranges was not the whole story
    warnings = [
        InvalidRecord(
            f"range dropped, the rest of the record kept: {reason}",
            Location(location.file, location.line, record.id, json_path(("affected", entry, "ranges", position))),
        )
        for (entry, position), reason in sorted(bad_ranges.items())
    ]
    return record, warnings


def _faulty_ranges(document: dict[str, Any]) -> dict[tuple[int, int], str]:
    """(entry, range) -> the first problem, when every validation error lies inside some range; else {}."""
    try:
        OsvRecord.model_validate(document)
    except ValidationError as exc:
        found: dict[tuple[int, int], str] = {}
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            if len(loc) < 4 or loc[0] != "affected" or loc[2] != "ranges":
                return {}
            entry, position = loc[1], loc[3]
            if not isinstance(entry, int) or not isinstance(position, int):
                return {}
            found.setdefault((entry, position), error["msg"].removeprefix("Value error, "))
        return found
    return {}


def _without_ranges(document: dict[str, Any], bad: dict[tuple[int, int], str]) -> dict[str, Any]:
    affected = [dict(entry) for entry in document["affected"]]
    for index, entry in enumerate(affected):
        dropped = {position for (at, position) in bad if at == index}
        if dropped:
            entry["ranges"] = [rng for position, rng in enumerate(entry["ranges"]) if position not in dropped]
    return {**document, "affected": affected}


def decode(data: bytes, location: Location) -> Any:
    """Bytes to JSON, depth-capped, with the error messages a person can act on."""
    return json_loads(data, location, refused_characters=NUL)


def dump(record: OsvRecord) -> dict[str, Any]:
    """The record as an OSV document: every field that was given, and nothing that was not."""
    return record.document()


def dumps(record: OsvRecord) -> bytes:
    return orjson.dumps(dump(record), option=orjson.OPT_INDENT_2)
