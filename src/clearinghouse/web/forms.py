"""Form bodies (application/x-www-form-urlencoded), read with caps: the body is already size-limited by the app's
middleware; here the number of fields and each value's length are capped and control characters refused."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Request

from clearinghouse.errors import InvalidRecord, Location, UnsupportedMediaType

MAX_FIELDS = 50
MAX_VALUE_CHARS = 20_000
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    def required(self, name: str, label: str) -> str:
        value = self.fields.get(name, "").strip()
        if not value:
            raise InvalidRecord(f"{label} is required", Location(field=name))
        return value


async def read_form(request: Request) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("forms are sent as application/x-www-form-urlencoded")
    body = await request.body()
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord(f"unreadable form: {exc}", Location(field="$")) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidRecord(f"at most {MAX_VALUE_CHARS} characters", Location(field=name))
        if any(ord(c) < 32 and c not in _ALLOWED_CONTROLS for c in value) or "\x7f" in value:
            raise InvalidRecord("control characters are not accepted", Location(field=name))
        fields[name] = value
    return Form(fields)
