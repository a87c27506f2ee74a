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

Since migration 0016 new entries are *leaves*: each carries its own HMAC (over its content and its number, with no
link to the previous entry), so writing one needs neither a lock nor a read of the head. Leaves are then sealed in
*links* (`AuditLink`): one per committed batch, chained to the previous link (the first to the legacy chain's head)
and holding the Merkle root (RFC 6962 shape: SHA-256, leaf and node prefixes) of the leaves it seals, in leaf order,
and those leaves' numbers as ranges. A link's HMAC covers all of that, so an edited, removed, reordered, forged or
twice-sealed leaf, and an edited, deleted or reordered link, are found; the signed checkpoint names the head link
and how many leaves the links seal in all, so truncation is found as before. A leaf not sealed yet is checked on its
own HMAC and reported as pending: until its link exists, only its deletion goes unseen (see `store.audit`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
LEAF = ""  # a leaf's `prev_hash`: it is not chained to the entry before it (sealed by a link instead)
# A committed leaf is sealed within about a second (PostgreSQL: by its writer, the next or a worker's seal); one
# still unsealed when a link this much younger exists was kept from sealing. Far above any writer's transaction.
SEAL_GRACE = timedelta(minutes=10)


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
    # With links (migration 0016): `seq` and `head` are the head link's, and `leaves` how many leaves the links
    # seal in all. None: a checkpoint of the legacy chain (`seq` entries ending in entry hash `head`).
    leaves: int | None = None

    def signed_bytes(self) -> bytes:
        if self.leaves is None:
            return f"clearinghouse-audit-checkpoint\n{self.seq}\n{self.head}\n{self.at}\n".encode()
        return f"clearinghouse-audit-links\n{self.seq}\n{self.head}\n{self.leaves}\n{self.at}\n".encode()

    @property
    def order(self) -> tuple[int, int]:
        """Newer checkpoints sort higher: every link checkpoint is newer than any legacy one."""
        return (0 if self.leaves is None else 1, self.seq)

    def as_json(self) -> dict[str, Any]:
        kept: dict[str, Any] = {"seq": self.seq, "head": self.head, "at": self.at, "signature": self.signature}
        if self.leaves is not None:
            kept["leaves"] = self.leaves
        return kept

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict):
            raise ValueError("a checkpoint is a JSON object with seq, head, at and signature")
        try:
            leaves = None if data.get("leaves") is None else int(data["leaves"])
            return cls(int(data["seq"]), str(data["head"]), str(data["at"]), str(data["signature"]), leaves)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None


def sign_checkpoint(
    signing_key: Ed25519PrivateKey, seq: int, head: str, at: datetime, leaves: int | None = None
) -> Checkpoint:
    unsigned = Checkpoint(seq, head, _canonical_time(at), "", leaves)
    signature = base64.b64encode(signing_key.sign(unsigned.signed_bytes())).decode()
    return Checkpoint(seq, head, unsigned.at, signature, leaves)


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
    head: str | None = None  # the last entry's (or link's) hash: record it elsewhere to detect a truncated tail
    links: int = 0  # links verified (0 before migration 0016's first seal)
    leaves: int = 0  # leaves they seal
    pending: int = 0  # leaves not sealed yet, checked on their own HMAC
    first_bad_link: int | None = None


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


# --- leaves and links (migration 0016) -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLink:
    """Seals a batch of leaves: chained to the previous link, with the Merkle root of the leaves it seals."""

    seq: int
    at: datetime
    prev_hash: str  # the previous link's hash; the first link's is the legacy chain's head (GENESIS if none)
    root: str  # `merkle_root` of the sealed leaves' hashes, in leaf order
    leaf_ranges: list[list[int]]  # the sealed leaves' numbers as [first, last] runs, ascending (`ranges_of`)
    count: int  # how many leaves it seals
    total: int  # how many leaves this link and every one before it seal
    hash: str  # HMAC-SHA256 of all of the above


def _keyed(key: bytes, content: list[Any]) -> str:
    return hmac.new(key, orjson.dumps(content, option=orjson.OPT_SORT_KEYS), hashlib.sha256).hexdigest()


def leaf_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
    token_id: str | None,
    key: bytes,
) -> str:
    """A leaf's HMAC: its content and number, no previous entry (the "leaf" tag keeps it apart from chain hashes)."""
    content: list[Any] = ["leaf", seq, _canonical_time(at), actor, action, subject_type, subject_id, details]
    content.append(token_id)
    return _keyed(key, content)


def new_leaf(
    seq: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any],
    key: bytes,
    token_id: str | None = None,
) -> AuditEntry:
    # Round-trip the details through JSON now, so the HMAC is over exactly what the store will give back.
    stored_details: dict[str, Any] = orjson.loads(orjson.dumps(details, option=orjson.OPT_SORT_KEYS))
    at = at.astimezone(UTC)
    digest = leaf_hash(seq, at, actor, action, subject_type, subject_id, stored_details, token_id, key)
    return AuditEntry(seq, at, actor, action, subject_type, subject_id, stored_details, LEAF, digest, token_id, True)


def merkle_root(hashes: Sequence[str]) -> str:
    """The RFC 6962 Merkle tree hash of the leaves' hashes in the order given (SHA-256; 0x00 before a leaf, 0x01
    before two children, so no leaf can pose as an inner node). Promoting an odd last node unchanged, level by
    level, gives RFC 6962's left-balanced tree."""
    if not hashes:
        return hashlib.sha256(b"").hexdigest()
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest() for digest in hashes]
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()


def ranges_of(seqs: Sequence[int]) -> list[list[int]]:
    """Ascending distinct numbers as [first, last] runs: [1, 2, 3, 7] -> [[1, 3], [7, 7]]."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        elif runs and seq <= runs[-1][1]:
            raise ValueError("leaf numbers must ascend without repeats")
        else:
            runs.append([seq, seq])
    return runs


def seqs_of(leaf_ranges: Sequence[Sequence[int]]) -> list[int]:
    return [seq for first, last in leaf_ranges for seq in range(first, last + 1)]


def link_hash(
    seq: int, at: datetime, prev_hash: str, root: str, leaf_ranges: list[list[int]], count: int, total: int, key: bytes
) -> str:
    return _keyed(key, ["link", seq, _canonical_time(at), prev_hash, root, leaf_ranges, count, total])


def next_link(
    previous: AuditLink | None, legacy_head: str, leaves: Sequence[tuple[int, str]], at: datetime, key: bytes
) -> AuditLink:
    """The link sealing `leaves` ((number, hash) in ascending number order) after `previous` (None: the first,
    continuing the legacy chain whose head is `legacy_head`)."""
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else legacy_head
    total = (previous.total if previous else 0) + len(leaves)
    leaf_ranges = ranges_of([number for number, _ in leaves])
    root = merkle_root([digest for _, digest in leaves])
    at = at.astimezone(UTC)
    digest = link_hash(seq, at, prev_hash, root, leaf_ranges, len(leaves), total, key)
    return AuditLink(seq, at, prev_hash, root, leaf_ranges, len(leaves), total, digest)


def verify_log(
    entries: Iterable[AuditEntry],
    links: Iterable[AuditLink],
    key: bytes | None = None,
    anchor: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> ChainReport:
    """The legacy chain (`verify_chain`), every leaf's own HMAC, then every link in order: its place in the link
    chain, its HMAC, its leaves (each present, sealed once) and their Merkle root; the first fault is named.

    Leaves no link seals yet are reported as `pending`, unless a link was written more than SEAL_GRACE after one:
    every seal takes every leaf pending when it runs, so that leaf was kept from being sealed (its `audit_pending`
    mark deleted, which would otherwise let it be deleted unseen later). A link checkpoint (whose signature the
    caller has checked) must be found in the link chain, a legacy one in the legacy chain; `anchor` is any entry's
    or link's hash.
    """
    legacy: list[AuditEntry] = []
    leaves: dict[int, AuditEntry] = {}
    for entry in entries:
        if entry.prev_hash == LEAF:
            leaves[entry.seq] = entry
        elif leaves:
            return ChainReport(False, len(legacy) + len(leaves), entry.seq, "a chained entry after leaves (forged)")
        else:
            legacy.append(entry)
    legacy_checkpoint = checkpoint if checkpoint is not None and checkpoint.leaves is None else None
    report = verify_chain(legacy, None, key, legacy_checkpoint)
    if not report.ok:
        return report
    checked = report.checked
    anchor_seen = anchor is None or any(entry.hash == anchor for entry in legacy)
    for seq, entry in leaves.items():
        if key is not None and not hmac.compare_digest(
            leaf_hash(
                seq,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject_type,
                entry.subject_id,
                entry.details,
                entry.token_id,
                key,
            ),
            entry.hash,
        ):
            return ChainReport(
                False, checked, seq, "its content does not match its HMAC (edited or forged without the key)"
            )
        checked += 1

    def broken(link: int, reason: str, leaf: int | None = None) -> ChainReport:
        return ChainReport(False, checked, leaf, f"link {link}: {reason}", first_bad_link=link)

    link_checkpoint = checkpoint if checkpoint is not None and checkpoint.leaves is not None else None
    sealed: set[int] = set()
    previous, expected, total = report.head or GENESIS, 1, 0
    last_at: datetime | None = None
    for link in links:
        if link.seq != expected:
            return broken(expected, f"it is missing (next is link {link.seq})")
        if link.prev_hash != previous:
            return broken(link.seq, "its link to the previous link (or the legacy chain's head) does not match")
        if key is not None and not hmac.compare_digest(
            link_hash(link.seq, link.at, link.prev_hash, link.root, link.leaf_ranges, link.count, link.total, key),
            link.hash,
        ):
            return broken(link.seq, "its content does not match its HMAC (edited or forged without the key)")
        if sum(last - first + 1 for first, last in link.leaf_ranges) != link.count or link.total != total + link.count:
            return broken(link.seq, "its leaf count does not match its leaves")
        hashes = []
        for seq in seqs_of(link.leaf_ranges):
            if seq in sealed:
                return broken(link.seq, f"leaf {seq} is sealed twice (an earlier link seals it too)", seq)
            leaf = leaves.get(seq)
            if leaf is None:
                return broken(link.seq, f"leaf {seq} it seals is missing (deleted)", seq)
            sealed.add(seq)
            hashes.append(leaf.hash)
        if merkle_root(hashes) != link.root:
            return broken(link.seq, "the Merkle root of its leaves does not match (a leaf replaced or reordered)")
        total = link.total
        checkpointed = link_checkpoint is not None and link.seq == link_checkpoint.seq
        if (
            checkpointed
            and link_checkpoint is not None
            and (link.hash, total) != (link_checkpoint.head, link_checkpoint.leaves)
        ):
            return broken(link.seq, "it differs from the signed checkpoint (rewritten)")
        anchor_seen = anchor_seen or link.hash == anchor
        previous, expected, last_at = link.hash, expected + 1, link.at
    head = previous if expected > 1 else report.head
    counts = (expected - 1, len(sealed), len(leaves) - len(sealed))
    if last_at is not None and (
        stale := min((seq for seq, e in leaves.items() if seq not in sealed and e.at + SEAL_GRACE < last_at), default=0)
    ):
        return ChainReport(
            False,
            checked,
            stale,
            f"leaf {stale} was never sealed, though link {expected - 1} was written more than "
            f"{SEAL_GRACE.total_seconds() / 60:.0f} minutes after it (its pending mark deleted)",
            head,
            *counts,
        )
    if link_checkpoint is not None and link_checkpoint.seq >= expected:
        return ChainReport(
            False,
            checked,
            None,
            f"the link chain ends at link {expected - 1} but a signed checkpoint shows {link_checkpoint.seq} "
            "(truncated)",
            head,
            *counts,
            first_bad_link=expected,
        )
    if not anchor_seen:
        return ChainReport(False, checked, None, f"the recorded head {anchor} is gone (deleted)", head, *counts)
    return ChainReport(True, checked, None, None, head, *counts)
