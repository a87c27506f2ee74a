"""The content-only de-duplication engine: scores, evidence, id stripping and the candidate limit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearinghouse.formats import osv
from clearinghouse.intake import dedup
from clearinghouse.intake.batch_dedup import DEFAULT_THRESHOLD
from clearinghouse.intake.dedup import DedupIndex, fingerprint, fingerprint_osv, normalize_version, strip_identifiers
from clearinghouse.records.model import OsvRecord

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "dedup-sample.jsonl"

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
    # Go's spellings of a release: the lowest pre-release "-0" and the "+incompatible" tag of a pre-module major.
    assert normalize_version("1.16.0-0") == normalize_version("1.16") == "1.16"
    assert normalize_version("v2.4.3+incompatible") == normalize_version("2.4.3")
    assert normalize_version("1.2+dfsg-1") != normalize_version("1.2+dfsg-2")  # a distribution's release stays


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


TEMPLATE = (
    "TensorFlow is an open source platform for machine learning. In affected versions if `{op}` is called with a "
    "large input argument then the TensorFlow process will crash due to a `CHECK`-failure caused by an overflow."
)


OTHER_BUGS = [
    "Cross-site scripting in the {name} admin page lets a user inject script into comments.",
    "SQL injection in the {name} search form lets an attacker read the database.",
    "Path traversal in the {name} download handler lets a client read arbitrary files.",
]


def add_other_projects(index: DedupIndex, count: int) -> None:
    """Reports on unrelated projects, so that word and name statistics look like a collection's."""
    for n in range(count):
        text = OTHER_BUGS[n % len(OTHER_BUGS)].format(name=f"app{n}")
        index.add(f"other{n}", fingerprint(None, text, [("npm", f"app{n}")], [f"1.{n}"], [], []))


def test_templated_reports_naming_different_functions_are_kept_apart() -> None:
    index = DedupIndex()
    tile = fingerprint(None, TEMPLATE.format(op="tf.tile"), [("PyPI", "tensorflow")], ["2.6.1"], [], [])
    index.add("tile", tile)
    for n in range(10):  # `CHECK` and TensorFlow are the project's vocabulary, named by many of its reports
        index.add(f"op{n}", fingerprint(None, TEMPLATE.format(op=f"op_{n}"), [("PyPI", "tensorflow")], [], [], []))
    add_other_projects(index, 20)
    same = fingerprint(None, TEMPLATE.format(op="tf.tile"), [("PyPI", "tensorflow")], ["2.6.1"], [], [])
    other = fingerprint(None, TEMPLATE.format(op="tf.image.resize"), [("PyPI", "tensorflow")], ["2.6.1"], [], [])
    match = index.score(same, tile, None, "tile")
    conflict = index.score(other, tile, None, "tile")
    assert match.evidence["identifiers_agree"] is True and "tf.tile" in match.evidence["shared_identifiers"]
    assert conflict.evidence["identifiers_agree"] is False
    # The wording the eleven TensorFlow reports share is learnt as the project's template and discounted.
    assert conflict.evidence["text_similarity"] < 0.5
    assert conflict.score < 0.5 * match.score + 0.01


def test_a_short_summary_contained_in_a_longer_report_counts_as_similar_text() -> None:
    index = DedupIndex()
    index.add("long", fingerprint(None, TEXT, [("Go", "example.com/imagelib")], ["2.1.0"], [], []))
    index.add("noise", fingerprint(None, "Cookies leak through a redirect in the shop.", [], [], [], []))
    summary = "Buffer overflow in the TIFF decoder of imagelib"
    [best, *_] = index.candidates(fingerprint(summary, None, [("Bitnami", "imagelib")], ["2.1.0"], [], []), 5)
    assert best.other_id == "long"
    assert best.evidence["text_similarity"] >= 0.7  # "imagelib", its package, is package evidence, not text
    assert best.score >= 0.5


NOTE = (
    "NOTE: The source advisory for this report contains additional versions that could not be automatically "
    "mapped to standard Go module versions. (If this is causing false-positive reports from vulnerability "
    "scanners, please suggest an edit to the report.)"
)


def test_a_go_title_ending_in_its_module_path_matches_the_same_title_over_other_text() -> None:
    index = DedupIndex()
    index.add(
        "bitnami",
        fingerprint(
            "Grafana account takeover via OAuth vulnerability",
            "Grafana is an open-source platform for monitoring and observability. A user who can log in through a "
            "configured OAuth provider with a chosen login name can take over the account of another user.",
            [("Bitnami", "grafana")],
            ["9.0.3"],
            [],
            [],
        ),
    )
    add_other_projects(index, 12)
    for n in range(12):  # the Go database's standard note, on other reports
        index.add(
            f"go{n}",
            fingerprint(f"Flaw {n} in github.com/org/mod{n}", NOTE, [("Go", f"github.com/org/mod{n}")], [], [], []),
        )
    title = "Grafana account takeover via OAuth vulnerability in github.com/grafana/grafana"
    go = fingerprint(title, f"{title}. {NOTE}", [("Go", "github.com/grafana/grafana")], [], [], [])
    assert not {"github.com", "grafana.com"} & go.tokens  # a module path is a package, not words
    [best, *_] = index.candidates(go, 5)
    assert best.other_id == "bitnami"
    assert best.evidence["text_similarity"] >= 0.7  # the package name it shares is package evidence, not text
    assert best.score >= DEFAULT_THRESHOLD


def test_a_name_part_many_packages_share_is_no_package_agreement() -> None:
    index = DedupIndex()
    for n in range(20):  # "apache" names an organisation with many projects, not a project
        index.add(
            f"apache{n}",
            fingerprint(None, OTHER_BUGS[n % 3].format(name=f"tool{n}"), [("PyPI", f"apache-tool{n}")], [], [], []),
        )
    superset = fingerprint(
        None, "Registered database passwords leak to users.", [("PyPI", "apache-superset")], ["1.4.0"], [], []
    )
    answer = fingerprint(
        None, "Avatar links leak user email addresses.", [("Go", "github.com/apache/answer")], ["1.4.0"], [], []
    )
    index.add("superset", superset)
    candidate = index.score(answer, superset, None, "superset")
    assert candidate.evidence["package_match"] == "none"
    assert candidate.evidence["version_overlap"] is None  # versions of unrelated packages are not compared
    assert candidate.score < 0.2
    # A host names no project either: "code" (code.gitea.io) is not a name part.
    assert fingerprint(None, "x", [("Go", "code.gitea.io/gitea")], [], [], []).name_parts == {"gitea"}


# --- identity (issue 16 item 3) -----------------------------------------------------------------------------------

MALICIOUS = "Malicious code in {name}. The package contains a payload that steals credentials when installed."
ORACLE = (
    "Vulnerability in the MySQL Server product of Oracle MySQL (component: {component}). Supported versions that "
    "are affected are 8.0.23 and prior. Easily exploitable vulnerability allows high privileged attacker with "
    "network access via multiple protocols to compromise MySQL Server. Successful attacks of this vulnerability can "
    "result in unauthorized ability to cause a hang or frequently repeatable crash (complete DOS) of MySQL Server."
)


def test_the_same_text_about_different_packages_of_one_ecosystem_is_no_duplicate() -> None:
    index = DedupIndex()
    index.add("evil-a", fingerprint(None, MALICIOUS.format(name="evil-a"), [("npm", "evil-a")], [], [], []))
    query = fingerprint(None, MALICIOUS.format(name="evil-b"), [("npm", "evil-b")], [], [], [])
    match = index.score(query, index.get("evil-a"), None, "evil-a")
    assert match.score == 0.0
    assert match.evidence["conflict"] == "different packages of one ecosystem"
    # The same package in another ecosystem is still compared on its content.
    elsewhere = fingerprint(None, MALICIOUS.format(name="evil-a"), [("PyPI", "evil-a")], [], [], [])
    assert index.score(elsewhere, index.get("evil-a"), None, "evil-a").score >= DEFAULT_THRESHOLD


def test_distinct_cve_ids_keep_identical_reports_apart() -> None:
    index = DedupIndex()
    first = fingerprint("Overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], [], identifiers=["CVE-2024-1111"])
    index.add("first", first)
    same = fingerprint("Overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], [], identifiers=["cve-2024-1111"])
    other = fingerprint("Overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], [], identifiers=["CVE-2024-2222"])
    assert index.score(same, first, None, "first").score >= 0.95
    apart = index.score(other, first, None, "first")
    assert apart.score == 0.0 and apart.evidence["conflict"] == "different CVE ids"


def test_a_learnt_bulletin_template_leaves_the_component_to_decide() -> None:
    index = DedupIndex()
    components = ["InnoDB", "Optimizer", "Replication", "Parser", "DDL", "DML", "Security: Privileges", "FTS"]
    for n, component in enumerate(components):
        index.add(f"oracle-{n}", fingerprint(None, ORACLE.format(component=component), [], ["8.0.24"], [], []))
    add_other_projects(index, 20)
    innodb = index.get("oracle-0")
    again = fingerprint(None, ORACLE.format(component="InnoDB"), [], ["8.0.24"], [], [])
    other = fingerprint(None, ORACLE.format(component="Optimizer"), [], ["8.0.24"], [], [])
    assert index.score(again, innodb, None, "oracle-0").score >= DEFAULT_THRESHOLD
    assert index.score(other, innodb, None, "oracle-0").score < DEFAULT_THRESHOLD


# --- identity and templates (issue 16 part 3: the de-duplication targets) ------------------------------------------

FUZZ = (
    "OSS-Fuzz report: https://bugs.chromium.org/p/oss-fuzz/issues/detail?id={issue}\n\n```\nCrash type: "
    "Heap-buffer-overflow READ 1\nCrash state:\n{state}\n```\n"
)


def fuzz_record(issue: int, state: str, introduced: str) -> OsvRecord:
    return osv.parse(
        json.dumps(
            {
                "id": f"OSV-2024-{issue}",
                "modified": "2024-01-01T00:00:00Z",
                "summary": f"Heap-buffer-overflow in {state.splitlines()[0]}",
                "details": FUZZ.format(issue=issue, state=state),
                "affected": [
                    {
                        "package": {"ecosystem": "OSS-Fuzz", "name": "libredwg"},
                        "ranges": [
                            {"type": "GIT", "repo": "https://x.org/r.git", "events": [{"introduced": introduced}]}
                        ],
                    }
                ],
            }
        ).encode()
    )


def test_fuzzer_reports_with_different_crash_states_are_kept_apart() -> None:
    index = DedupIndex()
    first = fingerprint_osv(fuzz_record(1, "bit_read_BB\nbit_read_BD\ndwg_decode_header_variables", "a" * 40))
    index.add("first", first)
    again = fingerprint_osv(fuzz_record(2, "bit_read_BB\nbit_read_BD\ndwg_decode_header_variables", "a" * 40))
    other = fingerprint_osv(fuzz_record(3, "bit_read_BB\ndwg_decode_entity\ndwg_decode_OLE2FRAME_private", "a" * 40))
    assert first.crash_state == "bit_read_BB\nbit_read_BD\ndwg_decode_header_variables"
    assert index.score(again, first, None, "first").score >= DEFAULT_THRESHOLD
    apart = index.score(other, first, None, "first")
    assert apart.score == 0.0 and apart.evidence["conflict"] == "different crash states"


def test_one_crash_introduced_by_different_commits_is_two_records() -> None:
    state = "inflate\nuncompress2\nuncompress"
    index = DedupIndex()
    first = fingerprint_osv(fuzz_record(1, state, "a" * 40))
    index.add("first", first)
    same = fingerprint_osv(fuzz_record(2, state, "a" * 40))
    later = fingerprint_osv(fuzz_record(3, state, "b" * 40))  # the crash came back with a later commit
    assert index.score(same, first, None, "first").score >= DEFAULT_THRESHOLD
    apart = index.score(later, first, None, "first")
    assert apart.score == 0.0 and apart.evidence["conflict"] == "introduced by different commits"


def test_a_few_generic_words_contained_in_a_report_on_another_package_are_no_match() -> None:
    index = DedupIndex()
    add_other_projects(index, 12)
    jenkins = fingerprint(
        None,
        "Jenkins creates a temporary file with default permissions when installing a plugin, letting attackers with "
        "access to the directory replace it and run arbitrary code on the controller: code execution.",
        [("Bitnami", "jenkins")],
        [],
        [],
        [],
    )
    index.add("jenkins", jenkins)
    docker = fingerprint("Arbitrary Code Execution", None, [("Go", "github.com/docker/docker")], [], [], [])
    unrelated = index.score(docker, jenkins, None, "jenkins")
    assert unrelated.evidence["package_match"] == "none"
    assert unrelated.evidence["text_similarity"] < 0.5
    assert unrelated.score < DEFAULT_THRESHOLD
    # The same few words on the package itself still count as a summary contained in the full report.
    own = fingerprint("Arbitrary Code Execution", None, [("Go", "github.com/jenkinsci/jenkins")], [], [], [])
    assert index.score(own, jenkins, None, "jenkins").evidence["text_similarity"] >= 0.7


def test_template_words_only_one_record_of_an_ecosystem_has_tell_the_records_apart() -> None:
    index = DedupIndex()
    add_other_projects(index, 12)
    kinds = ["Denial of Service", "Remote Code Execution"]
    for n, product in enumerate(["ASP", "EF", "Orleans", "Blazor", "SignalR", "Razor", "Kestrel", "MAUI"]):
        for kind in kinds:  # Microsoft's titles: a product, "Core" and a kind of vulnerability, nothing of their own
            title = f"{product} Core {kind} Vulnerability"
            index.add(f"{product}{kind}", fingerprint(title, title, [("Bitnami", "dotnet")], [f"6.0.{n}"], [], []))
    title = ".NET Core Denial of Service Vulnerability"
    index.add("dos", fingerprint(title, title, [("Bitnami", "dotnet")], ["6.0.20"], [], []))
    other = ".NET Core Remote Code Execution Vulnerability"
    other_kind = fingerprint(other, other, [("Bitnami", "dotnet")], ["6.0.20"], [], [])
    same_kind = fingerprint(title, title, [("Bitnami", "dotnet")], ["6.0.20"], [], [])
    # Only ".NET Core" is each title's own; "Remote Code Execution" against "Denial of Service" still differ.
    assert index.score(other_kind, index.get("dos"), None, "dos").evidence["text_similarity"] < 0.8  # 1.0 on ".net"
    assert index.score(same_kind, index.get("dos"), None, "dos").evidence["text_similarity"] >= 0.9


def test_fingerprints_do_not_depend_on_the_word_hash_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    first = fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], [])
    monkeypatch.setattr(dedup, "_MAX_WORD_HASHES", 2)  # cleared on nearly every call
    dedup._WORD_HASHES.clear()
    again = fingerprint("TIFF overflow", TEXT, [("PyPI", "imagelib")], ["2.1.0"], [], [])
    assert again.bands == first.bands and len(first.bands) == 12
    assert again.shingles == first.shingles and first.shingles


def test_minhash_folds_the_mersenne_modulus_exactly() -> None:
    # The extremes of a CRC-32 and random ones: folding must give what dividing gave, or every band changes.
    hashes = np.array([0, 1, 2**32 - 1, 2**31, *np.random.default_rng(7).integers(0, 2**32, 500)], dtype=np.uint64)
    divided = (np.outer(hashes, dedup._PERM_A) + dedup._PERM_B) % np.uint64(2**61 - 1)
    assert np.array_equal(dedup._permuted(hashes), divided)


def package_record(record_id: str, fixes: dict[str, list[str]], introduced: str = "0") -> OsvRecord:
    return osv.parse(
        json.dumps(
            {
                "id": record_id,
                "modified": "2024-01-01T00:00:00Z",
                "details": "Heap overflow in the parser of the image library when reading a crafted header.",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": name},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": introduced}, *({"fixed": v} for v in versions)],
                            }
                        ],
                    }
                    for name, versions in fixes.items()
                ],
            }
        ).encode()
    )


def test_fixing_releases_are_grouped_per_package_for_the_identity_rules() -> None:
    # "imagelib" is a prefix of "imagelib-utils": each package's fixes are its own.
    fp = fingerprint_osv(package_record("PYSEC-2024-1", {"imagelib": ["2.1.0"], "imagelib-utils": ["1.4", "1.5"]}))
    assert fp.fixes_by_package == {
        ("pypi", "imagelib"): frozenset({"pypi/imagelib@2.1"}),
        ("pypi", "imagelib-utils"): frozenset({"pypi/imagelib-utils@1.4", "pypi/imagelib-utils@1.5"}),
    }
    assert fp.fixes == frozenset().union(*fp.fixes_by_package.values())
    index = DedupIndex()
    index.add("first", fp)
    # The shared package "imagelib" fixed in another release: two vulnerabilities, whatever the other package says.
    other = fingerprint_osv(package_record("PYSEC-2024-2", {"imagelib": ["2.2"], "imagelib-utils": ["1.4"]}))
    assert index.score(other, fp, None, "first").evidence["conflict"] == "fixed in different releases"
    same = fingerprint_osv(package_record("PYSEC-2024-3", {"imagelib": ["2.1"], "imagelib-utils": ["1.5"]}))
    assert index.score(same, fp, None, "first").evidence["conflict"] is None


def test_batch_scores_are_the_scores_with_evidence() -> None:
    index = DedupIndex()
    for line in SAMPLE.read_bytes().splitlines():
        record = osv.parse(line)
        index.add(record.id, fingerprint_osv(record))
    pairs = index.blocked_pairs()
    with_evidence = [(a, b, index.score(index.get(a), index.get(b), a, b).score) for a, b in pairs]
    assert [(*pairs[n], score) for n, score in index.scores(pairs, 0.0)] == with_evidence
    kept = [(a, b, score) for a, b, score in with_evidence if score >= DEFAULT_THRESHOLD]
    assert [(*pairs[n], score) for n, score in index.scores(pairs, DEFAULT_THRESHOLD)] == kept
    assert kept and len(kept) < len(with_evidence)  # some pairs match, some (identity conflicts among them) do not


def test_a_flood_of_copies_costs_a_query_at_most_max_scored_candidates_and_keeps_the_closest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cost per report must not grow with a flood: every earlier copy is blocked with a new one, but only the
    MAX_SCORED sharing most with it are scored; the copy told in the same words is among them."""
    index = DedupIndex()
    scanners = [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
        "india",
        "juliet",
        "kilo",
        "lima",
    ]
    hosts = ["oak", "pine", "elm", "ash", "birch", "cedar", "maple", "willow", "spruce", "larch", "hazel", "rowan"]

    def told(n: int) -> str:
        return f"{TEXT} Seen by the {scanners[n % 12]} scanner on the {hosts[n // 12 % 12]} host."

    for n in range(3 * dedup.MAX_SCORED):
        index.add(f"copy-{n:03}", fingerprint("TIFF overflow", told(n), [("PyPI", "imagelib")], [], [], []))
    index.add("paraphrase", fingerprint("TIFF overflow", PARAPHRASE, [("PyPI", "imagelib")], [], [], []))
    query = fingerprint("TIFF overflow", told(77), [("PyPI", "imagelib")], [], [], [])
    assert len(index._blocked(query)) > dedup.MAX_SCORED  # the flood is all blocked together
    measured: list[str] = []
    measure = index._measure

    def counted(a, b, a_id, b_id):  # type: ignore[no-untyped-def]
        measured.append(b_id)
        return measure(a, b, a_id, b_id)

    monkeypatch.setattr(index, "_measure", counted)
    best = index.candidates(query, 5)
    assert len(measured) == dedup.MAX_SCORED
    assert best[0].other_id == "copy-077" and best[0].evidence["identical_text"]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9_.()`'/:;,- \t\né漢İK")), max_size=60))
@example("x" * 70 + ".Aa()" + "b_c" * 30 + "(d.e) " + "Foo" * 30)  # pieces and words longer than the caches take
def test_words_are_the_word_expression_s_matches_whatever_the_characters(text: str) -> None:
    # The tokenizer cuts the text into pieces and classifies each piece once; the words must be exactly the
    # expression's matches over the whole text (non-ASCII letters, dots and "()" at piece edges included).
    identifiers: set[str] = set()
    expected = [word for word in map(dedup._word, dedup._WORD.findall(text))]
    tokens = dedup._words(text, identifiers)
    assert tokens == [token for token, _ in expected if token]
    quoted = {q.lower().strip(".") for q in dedup._QUOTED.findall(text)} if "`" in text else set()
    assert identifiers == {identifier for _, identifier in expected if identifier} | quoted
