"""The query parameters every list endpoint takes: `limit` (1-500, 422 otherwise) and the previous page's cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from clearinghouse.store.pages import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT

__all__ = ["DEFAULT_LIMIT", "Cursor", "Limit"]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="the `next_cursor` of the previous page")
]
