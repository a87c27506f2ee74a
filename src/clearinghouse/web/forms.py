"""Form bodies, read with caps: the body is already size-limited by the app's middleware; here the number of fields
and files, each value's length and each file's size are capped, and control characters in fields refused.
`application/x-www-form-urlencoded` for every form; `multipart/form-data` where a file is uploaded (an SBOM)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from clearinghouse.errors import InvalidRecord, Location, UnsupportedMediaType

MAX_FIELDS = 50
MAX_FILES = 1
MAX_VALUE_CHARS = 20_000
MAX_FILE_BYTES = 64 * 1024 * 1024  # the app's body limit is lower unless raised; this is the part parser's cap
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: dict[str, Upload] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def required(self, name: str, label: str) -> str:
        value = self.fields.get(name, "").strip()
        if not value:
            raise InvalidRecord(f"{label} is required", Location(field=name))
        return value

    def file(self, name: str, label: str) -> Upload:
        upload = self.files.get(name)
        if upload is None or not upload.data:
            raise InvalidRecord(f"{label} is required", Location(field=name))
        return upload


def _checked(name: str, value: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidRecord(f"at most {MAX_VALUE_CHARS} characters", Location(field=name))
    if any(ord(c) < 32 and c not in _ALLOWED_CONTROLS for c in value) or "\x7f" in value:
        raise InvalidRecord("control characters are not accepted", Location(field=name))
    return value


async def read_form(request: Request) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart(request)
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("forms are sent as application/x-www-form-urlencoded or multipart/form-data")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord(f"unreadable form: {exc}", Location(field="$")) from None
    return Form({name: _checked(name, value) for name, value in pairs})


async def _multipart(request: Request) -> Form:
    try:
        parsed = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_VALUE_CHARS * 4)
    except MultiPartException as exc:  # too many parts or fields, a part too large, a malformed body
        raise InvalidRecord(f"unreadable form: {exc}", Location(field="$")) from None
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise InvalidRecord(f"a file of at most {MAX_FILE_BYTES:,} bytes", Location(field=name))
            files[name] = Upload((value.filename or "")[:200], data)
        else:
            fields[name] = _checked(name, value)
    await parsed.close()
    return Form(fields, files)
