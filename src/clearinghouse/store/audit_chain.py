"""The audit log's hash chain, as pure functions (the store only reads and writes rows).

Each entry's hash covers its own content and the previous entry's hash, so editing, deleting or reordering
any entry breaks every hash after it. The content is serialised canonically (sorted keys, UTC timestamps with
microseconds) so that a row read back from SQLite or PostgreSQL hashes to the same value it was written with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head: str | None = None  # the last entry's hash: record it elsewhere to detect a truncated tail later


def _canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    content = [seq, _canonical_time(at), actor, action, subject_type, subject_id, details, prev_hash]
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def next_entry(
    previous: AuditEntry | None,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
) -> AuditEntry:
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    # Round-trip the details through JSON now, so the hash is over exactly what the store will give back.
    stored_details: dict[str, Any] = orjson.loads(orjson.dumps(details, option=orjson.OPT_SORT_KEYS))
    at = at.astimezone(UTC)
    digest = entry_hash(seq, at, actor, action, subject_type, subject_id, stored_details, prev_hash)
    return AuditEntry(seq, at, actor, action, subject_type, subject_id, stored_details, prev_hash, digest)


def verify_chain(entries: Iterable[AuditEntry], anchor: str | None = None) -> ChainReport:
    """Walk the chain from the first entry; report the first entry that is missing, edited or out of place.

    A chain cut short at its end is still a valid chain, so a head hash recorded earlier (`anchor`) must be
    found in it for the tail to count as intact.
    """
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    anchor_seen = anchor is None
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != expected_prev:
            return ChainReport(False, checked, entry.seq, "its link to the previous entry does not match")
        actual = entry_hash(
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.subject_type,
            entry.subject_id,
            entry.details,
            entry.prev_hash,
        )
        if actual != entry.hash:
            return ChainReport(False, checked, entry.seq, "its content does not match its hash (edited)")
        expected_prev, expected_seq, checked = entry.hash, entry.seq + 1, checked + 1
        anchor_seen = anchor_seen or entry.hash == anchor
    head = expected_prev if checked else None
    if not anchor_seen:
        return ChainReport(False, checked, expected_seq, f"the recorded head {anchor} is gone (entries deleted)", head)
    return ChainReport(True, checked, head=head)
