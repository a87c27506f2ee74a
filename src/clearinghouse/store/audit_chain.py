"""The audit log's hash chain and its signed checkpoints, as pure functions (the store only reads and writes rows).

Each entry's hash covers its own content and the previous entry's hash, so editing, deleting or reordering
any entry breaks every hash after it. The content is serialised canonically (sorted keys, UTC timestamps with
microseconds) so that a row read back from SQLite or PostgreSQL hashes to the same value it was written with.

A plain hash chain can be recomputed by whoever holds the database. Entries are therefore keyed: the hash is an
HMAC-SHA256 under a key kept outside the database (`store.audit_keys`), so an edited, reordered or appended
entry cannot be given a valid hash without that key. Entries written before the key existed stay plain SHA-256
(`keyed` false) and are accepted only before the first keyed one. Cutting entries off the end leaves a valid
chain, so the head is published as a checkpoint signed with Ed25519 (seq, head hash, time): kept outside the
database (the home directory, and by any outside party that fetched it), it shows what was cut.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
    token_id: str | None = None  # the API token that acted; None for a local operator command
    keyed: bool = False  # `hash` is an HMAC under the audit key


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the chain had `seq` entries ending in `head` at `at`; an outsider keeps these."""

    seq: int
    head: str
    at: str
    signature: str  # base64 Ed25519 over `signed_bytes`

    def signed_bytes(self) -> bytes:
        return f"clearinghouse-audit-checkpoint\n{self.seq}\n{self.head}\n{self.at}\n".encode()

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "head": self.head, "at": self.at, "signature": self.signature}

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict):
            raise ValueError("a checkpoint is a JSON object with seq, head, at and signature")
        try:
            return cls(int(data["seq"]), str(data["head"]), str(data["at"]), str(data["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None


def sign_checkpoint(signing_key: Ed25519PrivateKey, seq: int, head: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(seq, head, _canonical_time(at), "")
    signature = base64.b64encode(signing_key.sign(unsigned.signed_bytes())).decode()
    return Checkpoint(seq, head, unsigned.at, signature)


def checkpoint_is_signed(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


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
    key: bytes | None = None,
    token_id: str | None = None,
) -> str:
    """SHA-256 of the content (legacy, unkeyed), or HMAC-SHA256 under `key` of the content and the acting token."""
    content: list[Any] = [seq, _canonical_time(at), actor, action, subject_type, subject_id, details, prev_hash]
    if key is None:
        return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    content.append(token_id)
    return hmac.new(key, orjson.dumps(content, option=orjson.OPT_SORT_KEYS), hashlib.sha256).hexdigest()


def next_entry(
    previous: AuditEntry | None,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
    key: bytes | None = None,
    token_id: str | None = None,
) -> AuditEntry:
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    # Round-trip the details through JSON now, so the hash is over exactly what the store will give back.
    stored_details: dict[str, Any] = orjson.loads(orjson.dumps(details, option=orjson.OPT_SORT_KEYS))
    at = at.astimezone(UTC)
    digest = entry_hash(seq, at, actor, action, subject_type, subject_id, stored_details, prev_hash, key, token_id)
    return AuditEntry(
        seq, at, actor, action, subject_type, subject_id, stored_details, prev_hash, digest, token_id, key is not None
    )


def verify_chain(
    entries: Iterable[AuditEntry],
    anchor: str | None = None,
    key: bytes | None = None,
    checkpoint: Checkpoint | None = None,
) -> ChainReport:
    """Walk the chain from the first entry; report the first entry that is missing, edited, forged or out of place.

    With `key`, keyed entries must carry a valid HMAC and no unkeyed entry may follow a keyed one (a forger
    without the key cannot pass either). A chain cut short at its end is still a valid chain, so a head recorded
    earlier (`anchor`) or a signed `checkpoint` (whose signature the caller has checked) must be found in it.
    """
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    anchor_seen = anchor is None
    checkpoint_seen = checkpoint is None or checkpoint.seq == 0
    keyed_seen = False
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != expected_prev:
            return ChainReport(False, checked, entry.seq, "its link to the previous entry does not match")
        if key is not None and keyed_seen and not entry.keyed:
            return ChainReport(False, checked, entry.seq, "an unkeyed entry after keyed ones (forged)")
        actual = entry_hash(
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.subject_type,
            entry.subject_id,
            entry.details,
            entry.prev_hash,
            key if entry.keyed else None,
            entry.token_id,
        )
        if entry.keyed and key is None:
            actual = entry.hash  # no key to check it with: only the links are checked (said by the caller)
        if not hmac.compare_digest(actual, entry.hash):
            what = "HMAC (edited or forged without the key)" if entry.keyed else "hash (edited)"
            return ChainReport(False, checked, entry.seq, f"its content does not match its {what}")
        keyed_seen = keyed_seen or entry.keyed
        expected_prev, expected_seq, checked = entry.hash, entry.seq + 1, checked + 1
        anchor_seen = anchor_seen or entry.hash == anchor
        if checkpoint is not None and entry.seq == checkpoint.seq:
            if entry.hash != checkpoint.head:
                return ChainReport(False, checked, entry.seq, "it differs from the signed checkpoint (rewritten)")
            checkpoint_seen = True
    head = expected_prev if checked else None
    if not anchor_seen:
        return ChainReport(False, checked, expected_seq, f"the recorded head {anchor} is gone (entries deleted)", head)
    if checkpoint is not None and not checkpoint_seen:
        return ChainReport(
            False,
            checked,
            expected_seq,
            f"the chain ends at entry {checked} but a signed checkpoint shows {checkpoint.seq} (truncated)",
            head,
        )
    return ChainReport(True, checked, head=head)
