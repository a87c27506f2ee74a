"""Alias grouping without transitive over-merge (OSV.dev issue 2374)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.records.grouping import MAX_GROUP_SIZE, group_records, provisional_group


def test_records_sharing_a_cve_or_linked_through_a_ghsa_form_one_group() -> None:
    grouping = group_records(
        [
            ("BIT-x-2021-1", ["CVE-2021-0001"]),
            ("PYSEC-2021-9", ["CVE-2021-0001", "GHSA-aaaa-bbbb-cccc"]),
            ("PYSEC-2021-10", ["GHSA-aaaa-bbbb-cccc"]),  # no CVE of its own: joined through the GHSA
            ("GO-2021-5", ["CVE-2021-0002"]),
        ]
    )
    assert grouping.members() == {
        "CVE-2021-0001": ["BIT-x-2021-1", "PYSEC-2021-10", "PYSEC-2021-9"],
        "CVE-2021-0002": ["GO-2021-5"],
    }
    assert grouping.conflicts == []


def test_a_provisional_group_is_the_one_cve_else_the_record_itself() -> None:
    assert provisional_group("GHSA-aaaa-bbbb-cccc", ["CVE-2021-0001", "PYSEC-2021-9"]) == "CVE-2021-0001"
    assert provisional_group("CVE-2021-0001", ["GHSA-aaaa-bbbb-cccc"]) == "CVE-2021-0001"
    assert provisional_group("OSV-2020-666", ["CVE-2020-1000", "CVE-2020-1001"]) == "OSV-2020-666"
    assert provisional_group("PYSEC-2021-10", ["GHSA-aaaa-bbbb-cccc"]) == "PYSEC-2021-10"
    assert provisional_group("GO-2021-5", []) == "GO-2021-5"


def test_one_record_listing_hundreds_of_cves_does_not_glue_their_records_together() -> None:
    honest = [(f"BIT-p-{n}", [f"CVE-2020-{n:04d}"]) for n in range(1000, 1300)]
    bad = ("OSV-2020-666", [f"CVE-2020-{n:04d}" for n in range(1000, 1300)])
    grouping = group_records([*honest, bad])
    sizes = sorted(len(members) for members in grouping.members().values())
    assert max(sizes) == 2  # the bad record joins one CVE's group, no more
    assert len(grouping.members()) == 300
    assert len(grouping.conflicts) == 299
    assert "would join different CVEs" in grouping.conflicts[0].reason


def test_groups_without_cves_are_capped() -> None:
    chain = [(f"X-{n}", [f"GHSA-{n}", f"GHSA-{n + 1}"]) for n in range(100)]
    grouping = group_records(chain)
    assert max(len(m) for m in grouping.members().values()) == MAX_GROUP_SIZE
    assert any("more than" in c.reason for c in grouping.conflicts)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([f"R-{n}" for n in range(12)]),
            st.lists(
                st.sampled_from([f"CVE-2020-{n:04d}" for n in range(1000, 1005)] + ["GHSA-1", "GHSA-2", "R-1", "R-2"]),
                max_size=4,
            ),
        ),
        max_size=12,
        unique_by=lambda pair: pair[0],
    ),
    st.randoms(),
)
def test_grouping_ignores_input_order_and_never_mixes_cves(
    records: list[tuple[str, list[str]]], random: object
) -> None:
    shuffled = list(records)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = group_records(records), group_records(shuffled)
    assert first.group_of == second.group_of
    aliases = dict(records)
    refused = {(c.record_id, c.alias) for c in first.conflicts}
    for members in first.members().values():
        # Every CVE link inside a group was accepted; the ones refused are reported as conflicts instead.
        cves = {a for m in members for a in [m, *aliases[m]] if a.startswith("CVE-") and (m, a) not in refused}
        assert len(cves) <= 1
