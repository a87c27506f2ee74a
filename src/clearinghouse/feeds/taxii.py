"""A read-only TAXII 2.1 server: discovery, one API root, a collection per TLP 2.0 label, objects as STIX 2.1.

- Collections: one per TLP 2.0 label (fixed UUIDs), and one per critical-infrastructure partner: its early
  warning, the advisories of the coordination cases naming it for early warning, embargoed ones included. A
  collection exists for a caller that may read it (`policy.feeds`: the label; the partner's own tokens and staff);
  any other is 404, and lists leave it out. Within a TLP collection, records are filtered by the caller's record
  visibility (embargoed records: staff only).
- Objects: the collection's TLP 2.0 marking definitions (date added: when OASIS published them), then each record's
  objects (`feeds.stix`) with the record's import time as date added, oldest first.
- Paging (TAXII 2.1 section 3.4): `limit` (1 to `MAX_LIMIT`; larger asks are served `MAX_LIMIT`, which the spec
  allows), an opaque `next`, `added_after`; `X-TAXII-Date-Added-First`/`-Last` name the page's range.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from clearinghouse.errors import InvalidFeedQuery, NotFound
from clearinghouse.feeds import repository, stix
from clearinghouse.feeds.repository import FeedEntry, VendorStatement
from clearinghouse.policy.feeds import (
    feed_visibility,
    label_readable,
    partner_collection_readable,
    partner_visibility,
)
from clearinghouse.policy.principals import Actor
from clearinghouse.records.model import Tlp
from clearinghouse.store.records import RecordStore

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT = "api"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_COLLECTION_NAMESPACE = uuid.UUID("0f5c7b0e-4d43-4d8b-a1e9-6e9b7f7d2c40")
_RECORD_CHUNK = 200
_CACHED_RECORDS = 8192


@dataclass(frozen=True)
class Collection:
    id: str
    labels: frozenset[Tlp]
    title: str
    description: str
    partner: str | None = None  # the organisation whose early-warning collection this is

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": True,
            "can_write": False,
            "media_types": [stix.MEDIA_TYPE],
        }


def _tlp_collection(label: Tlp) -> Collection:
    return Collection(
        str(uuid.uuid5(_COLLECTION_NAMESPACE, f"tlp-{label.value.lower()}")),
        frozenset({label}),
        f"TLP:{label.value} vulnerability records",
        f"Every record labelled TLP:{label.value} that the caller may read, as STIX 2.1.",
    )


def partner_collection(organisation_id: str, name: str) -> Collection:
    return Collection(
        str(uuid.uuid5(_COLLECTION_NAMESPACE, f"partner-{organisation_id}")),
        frozenset(Tlp),
        f"Early warning for {name}",
        f"The advisories of the coordination cases naming {name} for early warning, embargoed ones included.",
        partner=organisation_id,
    )


COLLECTIONS = {c.id: c for c in (_tlp_collection(label) for label in Tlp)}


@dataclass(frozen=True)
class Page:
    """Objects (or manifest entries) of one page, with what the TAXII headers and envelope need."""

    items: list[dict[str, Any]]
    more: bool
    next: str | None
    first_added: datetime | None
    last_added: datetime | None


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str, name: str) -> datetime:
    """A TAXII timestamp (RFC 3339, UTC); anything else is a 400 naming the parameter."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFeedQuery(
            f"{name}: {value[:64]!r} is not an RFC 3339 timestamp like 2024-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidFeedQuery(f"{name}: {value[:64]!r} has no time zone (TAXII timestamps are UTC, ending in Z)")
    return parsed.astimezone(UTC)


def _encode_next(key: tuple[datetime, str, int]) -> str:
    stamp, record_id, index = key
    return base64.urlsafe_b64encode(orjson.dumps([timestamp(stamp), record_id, index])).decode().rstrip("=")


def _decode_next(token: str) -> tuple[datetime, str, int]:
    try:
        stamp, record_id, index = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(record_id, str) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(token)
        return parse_timestamp(stamp, "next"), record_id, index
    except (ValueError, TypeError, InvalidFeedQuery):
        raise InvalidFeedQuery("next: not a token this server handed out") from None


class TaxiiServer:
    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._objects: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    # --- discovery and collections ---------------------------------------------------------------------

    @staticmethod
    def discovery(base_url: str) -> dict[str, Any]:
        root = f"{base_url.rstrip('/')}/{API_ROOT}/"
        return {
            "title": "Clearinghouse TAXII 2.1 server",
            "description": "Vulnerability records as STIX 2.1, one collection per TLP 2.0 label.",
            "default": root,
            "api_roots": [root],
        }

    @staticmethod
    def api_root() -> dict[str, Any]:
        return {
            "title": "Clearinghouse records",
            "description": "Read-only collections of vulnerability records.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 0,  # read-only: no object is accepted
        }

    def collections(self, actor: Actor) -> list[dict[str, Any]]:
        readable = feed_visibility(actor).labels
        tlp = [c.describe() for c in COLLECTIONS.values() if c.labels & readable]
        return tlp + [
            c.describe() for c in self._partner_collections() if partner_collection_readable(actor, c.partner or "")
        ]

    def collection(self, actor: Actor, collection_id: str) -> Collection:
        found = COLLECTIONS.get(collection_id)
        if found is not None and label_readable(actor, found.labels):
            return found
        if found is None:
            partner = next((c for c in self._partner_collections() if c.id == collection_id), None)
            if partner is not None and partner_collection_readable(actor, partner.partner or ""):
                return partner
        feed_visibility(actor)  # a token without records:read: 403 here too, whatever the id
        raise NotFound(f"no collection {collection_id!r}")

    def _partner_collections(self) -> list[Collection]:
        with self.store.engine.connect() as conn:
            return [partner_collection(i, name) for i, name in repository.partner_organisations(conn)]

    # --- objects -------------------------------------------------------------------------------------

    def objects(
        self,
        actor: Actor,
        collection_id: str,
        *,
        limit: int,
        added_after: str | None = None,
        next_token: str | None = None,
        object_id: str | None = None,
    ) -> Page:
        """A page of the collection's objects (only the object `object_id`, its first occurrence, when given)."""
        collection = self.collection(actor, collection_id)
        after = parse_timestamp(added_after, "added_after") if added_after else None
        start = _decode_next(next_token) if next_token else None
        if limit < 1:
            raise InvalidFeedQuery(f"limit: {limit} is not a positive number of objects")
        limit = min(limit, MAX_LIMIT)  # TAXII 3.4: a server may return fewer than asked
        items: list[dict[str, Any]] = []
        keys: list[tuple[datetime, str, int]] = []
        more = False
        for added, record_id, index, obj in self._stream(actor, collection, after, start):
            if object_id is not None and obj["id"] != object_id:
                continue
            if len(items) == limit:
                more = True
                break
            items.append({**obj, "_added": added})
            keys.append((added, record_id, index))
            if object_id is not None:
                break  # one object: the same software object recurs under other records, unchanged
        return Page(
            items=items,
            more=more,
            next=_encode_next(_after(keys[-1])) if more else None,
            first_added=items[0]["_added"] if items else None,
            last_added=items[-1]["_added"] if items else None,
        )

    def _stream(
        self,
        actor: Actor,
        collection: Collection,
        added_after: datetime | None,
        start: tuple[datetime, str, int] | None,
    ) -> Iterator[tuple[datetime, str, int, dict[str, Any]]]:
        """(date added, record id, position, object) of the collection in TAXII order, from `start` on."""
        if added_after is None or added_after < stix.TLP_MARKINGS_CREATED:
            for index, label in enumerate(sorted(collection.labels, key=list(Tlp).index)):
                marking_key = (stix.TLP_MARKINGS_CREATED, "", index)
                if start is None or start <= marking_key:
                    yield (*marking_key, stix.tlp_marking(label))
        visibility = feed_visibility(actor) if collection.partner is None else partner_visibility()
        after_key = (start[0], start[1]) if start else None
        skip_in_first = start[2] if start else 0
        while True:
            with self.store.engine.connect() as conn:
                entries = repository.feed_entries(
                    conn,
                    visibility,
                    collection.labels,
                    added_after=added_after,
                    after_key=after_key,
                    limit=_RECORD_CHUNK,
                    include_key=skip_in_first > 0,
                    early_warning_for=collection.partner,
                )
            if not entries:
                return
            statements: dict[str, list[VendorStatement]] = {}
            if collection.partner is None:  # early-warning partners do not read vendors' statements
                with self.store.engine.connect() as conn:
                    statements = repository.vendor_statements(conn, [e.id for e in entries])
            for entry in entries:
                objects = self._record_objects(entry, statements.get(entry.id, []))
                first = skip_in_first if start and (entry.imported_at, entry.id) == (start[0], start[1]) else 0
                for index in range(first, len(objects)):
                    yield entry.imported_at, entry.id, index, objects[index]
            skip_in_first = 0
            after_key = (entries[-1].imported_at, entries[-1].id)

    def _record_objects(self, entry: FeedEntry, statements: list[VendorStatement]) -> list[dict[str, Any]]:
        # A new statement changes the record's objects though the record is unchanged: it is part of the key.
        said = tuple((s.case_id, s.vendor, timestamp(s.at)) for s in statements)
        key = (entry.id, timestamp(entry.modified), entry.tlp.value, entry.status.value, said)
        with self._lock:
            kept = self._objects.get(key)
            if kept is not None:
                self._objects.move_to_end(key)
                return kept
        built = stix.record_objects(self.store.get(entry.id), statements)
        with self._lock:
            self._objects[key] = built
            while len(self._objects) > _CACHED_RECORDS:
                self._objects.popitem(last=False)
        return built


def _after(key: tuple[datetime, str, int]) -> tuple[datetime, str, int]:
    stamp, record_id, index = key
    return stamp, record_id, index + 1


def envelope(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.items:
        body["objects"] = [{k: v for k, v in item.items() if k != "_added"} for item in page.items]
    return body


def manifest(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.items:
        body["objects"] = [
            {
                "id": item["id"],
                "date_added": timestamp(item["_added"]),
                "version": item.get("modified", item.get("created", timestamp(item["_added"]))),
                "media_type": stix.MEDIA_TYPE,
            }
            for item in page.items
        ]
    return body
