"""The content-only de-duplication engine: scores, evidence, id stripping and the candidate limit."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.intake.dedup import DedupIndex, fingerprint, normalize_version, strip_identifiers

TEXT = (
    "A buffer overflow in the TIFF decoder of imagelib allows attackers to crash the process or execute code "
    "via a crafted image with an oversized strip count."
)
PARAPHRASE = (
    "Crafted TIFF images with an oversized strip count overflow a buffer in the imagelib TIFF decoder, letting "
    "an attacker crash the process or run code."
)


def test_identical_text_on_the_same_package_scores_about_one_with_evidence() -> None:
    index = DedupIndex()
    index.add("a", fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], ["CWE-787"], []))
    query = fingerprint("TIFF overflow", TEXT, [("PyPI", "ImageLib")], ["2.1"], ["CWE-787"], [])
    [best] = index.candidates(query, 5)
    assert best.other_id == "a"
    assert best.score >= 0.95
    assert best.evidence["identical_text"] is True
    assert best.evidence["package_match"] == "same name"
    assert best.evidence["shared_cwes"] == ["CWE-787"]
    json.dumps(best.evidence)  # an analyst sees it as JSON


def test_paraphrase_on_the_same_package_and_cwe_is_a_candidate() -> None:
    index = DedupIndex()
    index.add("a", fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], [], ["CWE-787"], []))
    index.add(
        "b", fingerprint("SQL injection", "The search form builds SQL from input.", [("PyPI", "shop")], [], [], [])
    )
    candidates = index.candidates(fingerprint(None, PARAPHRASE, [("PyPI", "imagelib")], [], ["CWE-787"], []), 5)
    assert [c.other_id for c in candidates] == ["a"]
    assert candidates[0].score > 0.3


def test_same_text_on_a_different_package_is_not_a_strong_match() -> None:
    index = DedupIndex()
    index.add("a", fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], []))
    [candidate] = index.candidates(fingerprint("TIFF overflow", TEXT, [("npm", "left-pad")], ["2.1.0"], [], []), 5)
    assert candidate.evidence["package_match"] == "named in text" or candidate.score < 0.6
    other = DedupIndex()
    other.add("a", fingerprint("Overflow", "A buffer overflow in the decoder.", [("PyPI", "imagelib")], [], [], []))
    [unrelated] = other.candidates(
        fingerprint("Overflow", "A buffer overflow in the decoder.", [("npm", "leftpad")], [], [], []), 5
    )
    assert unrelated.evidence["package_match"] == "none"
    assert unrelated.score < 0.6


def test_ids_in_text_create_no_similarity() -> None:
    assert "CVE" not in strip_identifiers("see CVE-2024-1234, GHSA-abcd-efgh-ijkl and https://x.org/GO-2024-1")
    index = DedupIndex()
    index.add("a", fingerprint("CVE-2024-1234 GHSA-abcd-efgh-ijkl", "PYSEC-2024-12 RUSTSEC-2024-0001", [], [], [], []))
    query = fingerprint("CVE-2024-1234 GHSA-abcd-efgh-ijkl", "PYSEC-2024-12 RUSTSEC-2024-0001", [], [], [], [])
    assert not query.tokens
    assert all(c.score == 0 for c in index.candidates(query, 5))


def test_candidate_limit_is_honoured_best_first() -> None:
    index = DedupIndex()
    for n in range(8):
        index.add(f"r{n}", fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], [], [], []))
    candidates = index.candidates(fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], [], [], []), 3)
    assert len(candidates) == 3
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    assert index.candidates(fingerprint("x", TEXT, [], [], [], []), 0) == []


def test_versions_are_normalised() -> None:
    assert normalize_version("v1.10.11rc1") == normalize_version("1.10.11")
    assert normalize_version("1.2.0") == "1.2"
    assert normalize_version("0") is None
    assert normalize_version("0.0.0-0") is None
    assert normalize_version("4.18.0-513.el8") != normalize_version("4.18.0-514.el8")


words = st.lists(st.sampled_from(["heap", "overflow", "parser", "token", "crafted", "remote", "xss", "cookie"]))
reports = st.builds(
    lambda text, package, versions, cwe: fingerprint(None, " ".join(text), [("PyPI", package)], versions, cwe, []),
    words,
    st.sampled_from(["imagelib", "shop", "py-imagelib"]),
    st.lists(st.sampled_from(["1.0", "1.1", "2.0"]), max_size=2),
    st.lists(st.sampled_from(["CWE-79", "CWE-787"]), max_size=1),
)


@settings(max_examples=200, deadline=None)
@given(reports, reports, st.lists(reports, max_size=4))
def test_scores_are_in_range_and_symmetric(a, b, others) -> None:  # type: ignore[no-untyped-def]
    index = DedupIndex()
    index.add("a", a)
    index.add("b", b)
    for n, other in enumerate(others):
        index.add(f"o{n}", other)
    forward = index.score(a, b, "a", "b").score
    backward = index.score(b, a, "b", "a").score
    assert 0.0 <= forward <= 1.0
    assert forward == backward
