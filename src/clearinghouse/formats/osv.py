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


def decode(data: bytes, location: Location) -> Any:
    """Bytes to JSON, depth-capped, with the error messages a person can act on."""
    return json_loads(data, location, refused_characters=NUL)


def dump(record: OsvRecord) -> dict[str, Any]:
    """The record as an OSV document: every field that was given, and nothing that was not."""
    return record.document()


def dumps(record: OsvRecord) -> bytes:
    return orjson.dumps(dump(record), option=orjson.OPT_INDENT_2)
