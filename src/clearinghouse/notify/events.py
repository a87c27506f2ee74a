"""What a notification says: an event about one object, addressed to organisations (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from clearinghouse.errors import InvalidEvent

EVENT_KINDS = frozenset(
    {
        "case.opened",
        "case.vendor_added",
        "case.status_changed",
        "case.message",
        "case.embargo_changed",
        "case.published",
        "alert.raised",
    }
)
MAX_BODY_BYTES = 64 * 1024  # an event says what happened and links to it; documents travel through the API
MAX_TITLE_CHARS = 500


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENT_KINDS
    subject: str  # the object's id (case id, alert id)
    audience: frozenset[str]  # organisation ids to tell; each organisation's subscriptions choose channels
    title: str  # one line every member of the audience may see
    body: Mapping[str, Any]  # JSON-able details every member of the audience may see (the caller filters)
    occurred_at: datetime  # timezone-aware UTC


def checked_body(event: Event) -> dict[str, Any]:
    """The event's body as plain JSON values, after checking the whole event; raises InvalidEvent."""
    if event.kind not in EVENT_KINDS:
        raise InvalidEvent(f"unknown event kind {event.kind!r}; known: {', '.join(sorted(EVENT_KINDS))}")
    if not event.subject or len(event.subject) > 200:
        raise InvalidEvent("an event's subject must be an object id of 1 to 200 characters")
    if event.occurred_at.tzinfo is None or event.occurred_at.utcoffset() is None:
        raise InvalidEvent("an event's occurred_at must be timezone-aware")
    if not event.title.strip() or len(event.title) > MAX_TITLE_CHARS:
        raise InvalidEvent(f"an event's title must be 1 to {MAX_TITLE_CHARS} characters")
    try:
        encoded = orjson.dumps(dict(event.body))
    except TypeError as exc:
        raise InvalidEvent(f"an event's body must be JSON: {exc}") from exc
    if len(encoded) > MAX_BODY_BYTES:
        raise InvalidEvent(f"an event's body is {len(encoded)} bytes; at most {MAX_BODY_BYTES}")
    body: dict[str, Any] = orjson.loads(encoded)
    return body


def one_line(text: str) -> str:
    """The text with every line break and control character turned into a space (for mail headers, logs)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
