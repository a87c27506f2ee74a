"""Leaves sealed by links (pure): the Merkle root; every way of tampering with leaves or links is found, and where."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.store.audit_chain import (
    AuditEntry,
    AuditLink,
    Checkpoint,
    checkpoint_is_signed,
    merkle_root,
    new_leaf,
    next_entry,
    next_link,
    ranges_of,
    seqs_of,
    sign_checkpoint,
    verify_log,
)

KEY = b"k" * 32
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
# RFC 6962's test vectors (certificate-transparency's merkle tree tests): the inputs and the root of the first n.
RFC6962_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def leaf(seq: int, key: bytes = KEY, actor: str = "ana") -> AuditEntry:
    return new_leaf(
        seq,
        at=T0 + timedelta(seconds=seq),
        actor=actor,
        action="report.state",
        subject_type="report",
        subject_id=f"R-{seq}",
        details={"to": "triaged", "n": seq},
        key=key,
    )


def sealed(
    batches: list[list[int]], legacy: list[AuditEntry] | None = None
) -> tuple[list[AuditEntry], list[AuditLink]]:
    """Leaves numbered as given, one link per batch (a batch's numbers need not be contiguous: commit order)."""
    legacy = legacy or []
    leaves = [leaf(seq) for batch in batches for seq in batch]
    links: list[AuditLink] = []
    by_seq = {entry.seq: entry for entry in leaves}
    for batch in batches:
        previous = links[-1] if links else None
        head = legacy[-1].hash if legacy else "0" * 64
        links.append(next_link(previous, head, [(seq, by_seq[seq].hash) for seq in sorted(batch)], T0, KEY))
    return legacy + sorted(leaves, key=lambda entry: entry.seq), links


def test_the_merkle_root_is_rfc_6962s() -> None:
    assert merkle_root([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [merkle_root(RFC6962_INPUTS[: n + 1]) for n in range(8)] == RFC6962_ROOTS


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True), st.data())
def test_the_merkle_root_changes_with_any_leaf_edit_reorder_or_removal(
    hashes: list[bytes], data: st.DataObject
) -> None:
    digests = [digest.hex() for digest in hashes]
    root = merkle_root(digests)
    at = data.draw(st.integers(0, len(digests) - 1))
    edited = [*digests[:at], bytes(32).hex() if digests[at] != bytes(32).hex() else "11" * 32, *digests[at + 1 :]]
    assert merkle_root(edited) != root
    assert merkle_root(digests[:at] + digests[at + 1 :]) != root
    if len(digests) > 1:
        other = data.draw(st.integers(0, len(digests) - 1).filter(lambda i: i != at))
        swapped = list(digests)
        swapped[at], swapped[other] = swapped[other], swapped[at]
        assert merkle_root(swapped) != root


def test_leaf_numbers_as_ranges_round_trip() -> None:
    assert ranges_of([1, 2, 3, 7, 9, 10]) == [[1, 3], [7, 7], [9, 10]]
    assert seqs_of(ranges_of([1, 2, 3, 7, 9, 10])) == [1, 2, 3, 7, 9, 10]
    with pytest.raises(ValueError, match="ascend"):
        ranges_of([3, 2])


def test_links_sealing_out_of_order_commits_verify_and_count_pending_leaves() -> None:
    # Leaves 3 and 6 committed late (PostgreSQL numbers leaves before commit): later links seal them.
    entries, links = sealed([[1, 2, 4, 5], [3, 7], [6]])
    report = verify_log([*entries, leaf(8)], links, KEY)
    assert (report.ok, report.links, report.leaves, report.pending, report.checked) == (True, 3, 7, 1, 8)
    assert report.head == links[-1].hash and links[-1].total == 7 and links[0].leaf_ranges == [[1, 2], [4, 5]]


def test_the_first_link_continues_the_legacy_chain() -> None:
    legacy = [next_entry(None, at=T0, actor="a", action="x", subject_type="t", subject_id="1", details={}, key=KEY)]
    entries, links = sealed([[2, 3]], legacy)
    assert links[0].prev_hash == legacy[0].hash and verify_log(entries, links, KEY).ok
    cut = verify_log(entries[1:], links, KEY)  # the legacy entry deleted
    assert (cut.ok, cut.first_bad_link) == (False, 1)
    late = dataclasses.replace(legacy[0], seq=4)  # a chained entry among leaves
    assert "chained entry after leaves" in (verify_log([*entries, late], links, KEY).reason or "")


def test_an_edited_or_forged_leaf_is_named() -> None:
    entries, links = sealed([[1, 2, 3], [4, 5]])
    entries[3] = dataclasses.replace(entries[3], actor="mallory")
    edited = verify_log(entries, links, KEY)
    assert (edited.ok, edited.first_bad_seq) == (False, 4) and "HMAC" in (edited.reason or "")
    entries, links = sealed([[1, 2, 3]])
    forged = verify_log([*entries, leaf(4, key=b"guess" * 7)], links, KEY)  # pending, but forged
    assert (forged.ok, forged.first_bad_seq) == (False, 4)


def test_a_sealed_leaf_deleted_or_replaced_by_another_valid_leaf_is_found() -> None:
    entries, links = sealed([[1, 2, 3], [4, 5]])
    deleted = verify_log([e for e in entries if e.seq != 2], links, KEY)
    assert (deleted.ok, deleted.first_bad_seq, deleted.first_bad_link) == (False, 2, 1)
    assert "missing" in (deleted.reason or "")
    # A valid leaf from elsewhere (the key's holder wrote it, another time): its HMAC passes, the root does not.
    replaced = [e if e.seq != 5 else leaf(5, actor="someone else") for e in entries]
    found = verify_log(replaced, links, KEY)
    assert (found.ok, found.first_bad_link) == (False, 2) and "Merkle root" in (found.reason or "")


def test_a_leaf_sealed_twice_is_found() -> None:
    entries, links = sealed([[1, 2, 3], [4, 5]])
    twice = next_link(links[-1], "", [(3, entries[2].hash)], T0, KEY)  # a faulty (or replayed) seal of leaf 3 again
    report = verify_log(entries, [*links, twice], KEY)
    assert (report.ok, report.first_bad_seq, report.first_bad_link) == (False, 3, 3)
    assert "sealed twice" in (report.reason or "")


def test_a_link_edited_deleted_or_reordered_is_named() -> None:
    entries, links = sealed([[1], [2, 3], [4], [5]])
    edited = [*links[:1], dataclasses.replace(links[1], leaf_ranges=[[2, 2]], count=1), *links[2:]]
    assert verify_log(entries, edited, KEY).first_bad_link == 2
    deleted = verify_log(entries, [*links[:2], *links[3:]], KEY)
    assert (deleted.ok, deleted.first_bad_link) == (False, 3) and "missing" in (deleted.reason or "")
    reordered = [links[0], links[2], links[1], links[3]]
    assert verify_log(entries, reordered, KEY).first_bad_link == 2
    renumbered = [links[0], dataclasses.replace(links[2], seq=2), dataclasses.replace(links[1], seq=3), links[3]]
    assert verify_log(entries, renumbered, KEY).first_bad_link == 2


def test_a_truncated_link_chain_is_found_against_a_signed_checkpoint() -> None:
    signing = Ed25519PrivateKey.generate()
    entries, links = sealed([[1], [2, 3], [4], [5]])
    kept = sign_checkpoint(signing, links[-1].seq, links[-1].hash, T0, links[-1].total)
    assert checkpoint_is_signed(kept, signing.public_key()) and verify_log(entries, links, KEY, checkpoint=kept).ok
    # The last two links gone: their leaves look merely pending, but the checkpoint shows link 4.
    cut = verify_log(entries, links[:2], KEY, checkpoint=kept)
    assert (cut.ok, cut.pending, cut.first_bad_link) == (False, 2, 3) and "truncated" in (cut.reason or "")
    assert not checkpoint_is_signed(dataclasses.replace(kept, leaves=4), signing.public_key())
    assert Checkpoint.from_json(kept.as_json()) == kept
    legacy_style = dataclasses.replace(kept, leaves=None, signature=base64.b64encode(b"x" * 64).decode())
    assert legacy_style.order < kept.order and not checkpoint_is_signed(legacy_style, signing.public_key())


def test_a_leaf_kept_from_sealing_is_found_once_a_later_seal_passed_it_by() -> None:
    """Every seal takes every pending leaf: a leaf still unsealed when a link written long after it exists had its
    pending mark deleted (so that it could be deleted unseen later). A leaf written just before the last link is
    only pending."""
    entries, links = sealed([[1, 2], [4]])
    late = next_link(links[-1], "0" * 64, [(5, leaf(5).hash)], T0 + timedelta(minutes=30), KEY)
    assert verify_log([*entries, leaf(3)], links, KEY).pending == 1  # leaf 3: within the grace
    report = verify_log([*entries, leaf(3), leaf(5)], [*links, late], KEY)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert report.reason is not None and "leaf 3 was never sealed" in report.reason
