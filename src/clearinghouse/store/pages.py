"""Cursor pagination for every list: a page of items, the total the filters match, and an opaque cursor for the
next page (None on the last). A cursor is the sort key of the last item shown, so a page never repeats or skips
an item when items are added before it; it is base64url JSON, tagged with the list it belongs to."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson

from clearinghouse.errors import InvalidCursor

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_CURSOR_LENGTH = 1000


def encode_cursor(kind: str, key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, length: int) -> list[Any]:
    """The sort key a cursor carries; `InvalidCursor` for anything this list did not hand out."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("the cursor is too long: pass the `next_cursor` of the previous page unchanged")
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor("the cursor is not one this server handed out") from None
    if not isinstance(decoded, list) or len(decoded) != length + 1 or decoded[0] != kind:
        raise InvalidCursor(f"the cursor does not belong to this list ({kind})")
    return decoded[1:]


def slice_page(kind: str, items: Sequence[T], limit: int, cursor: str | None) -> tuple[list[T], int, str | None]:
    """One page of a list already read whole (short lists, such as one model's runs, that only grow at the end):
    the page, the total and the next page's cursor (the position after the page)."""
    start = 0
    if cursor is not None:
        (position,) = decode_cursor(kind, cursor, 1)
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidCursor("the cursor is not one this server handed out")
        start = position
    end = start + min(limit, MAX_LIMIT)
    return list(items[start:end]), len(items), encode_cursor(kind, [end]) if end < len(items) else None
