"""The audit hash chain: any edit, deletion or reordering is found, and where."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.store.audit_chain import AuditEntry, next_entry, verify_chain

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        entries.append(
            next_entry(
                entries[-1] if entries else None,
                at=T0 + timedelta(seconds=i, microseconds=7),
                actor=f"user{i % 3}",
                action="report.state",
                subject_type="report",
                subject_id=f"R-{i}",
                details={"to": "triaged", "n": i, "nested": {"b": 1, "a": [1, 2]}},
            )
        )
    return entries


def test_an_untouched_chain_verifies() -> None:
    report = verify_chain(chain(10))
    assert (report.ok, report.checked, report.first_bad_seq) == (True, 10, None)


def test_an_edited_entry_is_found() -> None:
    entries = chain(10)
    entries[4] = dataclasses.replace(entries[4], details={**entries[4].details, "to": "invalid"})
    report = verify_chain(entries)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 5, 4)
    assert "edited" in (report.reason or "")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain(10)
    forged = next_entry(
        entries[3],
        at=entries[4].at,
        actor="mallory",
        action="report.state",
        subject_type="report",
        subject_id="R-4",
        details={},
    )
    entries[4] = forged
    assert verify_chain(entries).first_bad_seq == 6


def test_a_deleted_or_reordered_entry_is_found() -> None:
    entries = chain(10)
    assert verify_chain(entries[:6] + entries[7:]).first_bad_seq == 7
    swapped = [*entries[:2], entries[3], entries[2], *entries[4:]]
    assert not verify_chain(swapped).ok


def test_the_hash_does_not_depend_on_time_zone_or_key_order() -> None:
    first = chain(1)[0]
    shifted = dataclasses.replace(
        first, at=first.at.astimezone(timezone(timedelta(hours=5))), details=dict(reversed(list(first.details.items())))
    )
    assert verify_chain([shifted]).ok


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20), st.booleans(), st.none()),
        max_size=6,
    )
)
def test_any_json_details_survive_the_round_trip(details: dict[str, object]) -> None:
    entry = next_entry(None, at=T0, actor="a", action="x", subject_type="t", subject_id="1", details=details)
    assert verify_chain([entry]).ok
    assert entry.details == details


def test_a_cut_tail_is_found_only_against_a_recorded_head() -> None:
    entries = chain(10)
    head = verify_chain(entries).head
    assert head == entries[-1].hash
    assert verify_chain(entries[:8]).ok  # a shorter chain is still a chain
    cut = verify_chain(entries[:8], anchor=head)
    assert (cut.ok, cut.first_bad_seq) == (False, 9)
    assert verify_chain(entries + chain(12)[10:], anchor=head).ok
