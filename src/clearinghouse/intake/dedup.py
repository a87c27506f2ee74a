"""Near-duplicate detection on content alone: text, packages, versions, CWEs and code locations.

Ids and aliases are never used here (the service matches shared identifiers separately), and identifiers quoted
in the text (CVE, GHSA, PYSEC, GO, RUSTSEC, ... and every URL) are removed before the text is tokenised, so that
a match always rests on what the reports say.

Method, chosen by measurement on the development set (`bench/dedup.py`: 16,430 OSV records, 1,373 cross-database
pairs that share a CVE/GHSA id):

* text similarity is the cosine of binary IDF-weighted word vectors (summary and details together), or, when
  higher, 0.95 times the share of the shorter text's weight that the longer one contains (a Go summary such as
  "Improper Privilege Management in Cilium" is a fragment of the full description elsewhere), or 0.95 times the
  cosine of the two titles (Bitnami and Go copy one GitHub summary, then differ); IDF is log(N/df) + 0.25, so
  a database's standard note weighs next to nothing; module paths ("in github.com/cilium/cilium") and ids are
  not words;
* candidates are found by blocking, never by comparing everything with everything: MinHash LSH over the word
  sets finds near-identical texts, and (package name token, version boundary) keys find reports of the same
  fix, including across ecosystems (``airflow`` in Bitnami and ``apache-airflow`` on PyPI share ``airflow``;
  a Go module path contributes its last segments, never its host) and where one report's text names the other's
  package;
* the score is a weighted mean of the text, version, CWE and location agreement, scaled down when the packages
  do not agree, so the same words about a different package never make a strong match (a name part shared by
  more than 16 package names, such as ``apache``, is no agreement, and versions of unrelated packages are not
  compared), and halved when both texts name rare code identifiers (``tf.tile``, ``SparseAdd``, ``urlize()``,
  ``snake_case``; named by at most 8 records) and share none of them: templated advisories of one release that
  name different functions are different bugs. (Calling it a conflict whenever each names one the other does
  not was no better on the development set and split a RustSec digest of three Wasmtime bugs from the report
  on one of them.)

Identity comes before text (issue 16): two items naming packages of one ecosystem and none in common are never
duplicates unless they were fixed in one release and tell one story (Bitnami files one CVE under cilium and
cilium-operator); two published advisories of one package (both give fixing releases) must tell one story too, and
never when those releases differ, nor when the commits that introduced it differ (a crash that came back is filed
again); distinct declared CVE ids keep items apart, and so do two fuzzer reports giving different crash states (the
top frames of the crashing stack after "Crash state:": the fuzzer files one report per state). Templates are learnt
from the collection, not listed: a run of 4 words that more than 6 items contain is boilerplate ("Malicious code in",
Oracle's "Vulnerability in the MySQL Server product of Oracle MySQL (component:", a fuzzer's crash template), and
only the words outside such runs are compared, so the component or function named decides; between two records of
one ecosystem that are both templated, the template words one has and the other lacks still count against them
(".NET Core Remote Code Execution Vulnerability" against ".NET Core and Visual Studio Denial of Service
Vulnerability"); a package's own name is never a shared word; a shared release counts only as far as the texts agree
(a product fixes many CVEs in one release); two texts naming different source files disagree; a few words (under 6)
wholly contained in the other text count as containment only where the packages agree ("SQL injection in
github.com/apache/age" is contained in many a report on another package).

Measured with `bench/dedup.py` (held-out split, `batch_dedup` at its threshold 0.25, chosen on the tune split;
before this round, main at 186a7df with threshold 0.35, in brackets, same session): all-pairs precision 0.911
(0.872), 1,492 of 1,637 pairs right (1,424 of 1,633); cross-database precision / recall / F1 0.975 / 0.907 / 0.940
(0.972 / 0.885 / 0.927); B-cubed 0.986 / 0.896 / 0.939 (0.979 / 0.891 / 0.933). Tune split: all pairs 0.911
(0.863), cross-database F1 0.958 (0.943), B-cubed F1 0.933 (0.926). The tune split's 147 wrong pairs left: errata
of one module (35; AlmaLinux ships the module's unchanged packages again with each), PyPI and Bitnami records of
one package in templated text (64; huntr's "X in GitHub repository Y prior to Z", one Magento or GitLab release's
descriptions), fuzzer reports with one crash state and two ids (31) and Go records (14). Each rule's share, on the
tune split: crash states and introducing commits took all-pairs precision 0.863 -> 0.911, one-sided template words
0.915 -> 0.926, and the containment rule cross-database precision 0.989 -> 0.997; the threshold 0.35 -> 0.25 then
traded all-pairs precision 0.926 -> 0.911 for cross-database F1 0.947 -> 0.958 (0.30: 0.950; 0.22: 0.961 at the
same precision). Before all the identity rules, held-out all-pairs precision was 0.33. Speed (whole set, best of
3, 2 cores shared with other sessions at load average 5-9, so wall times vary by half): 9.64 s, 1,703 records/s,
9.45 CPU s in all processes (main in the same session: 14.02 s, 1,172 records/s, 10.03 CPU s; three runs alternating
the two: 8.07-8.26 CPU s against 7.76-7.89), short of the 5,000 records/s of issue 16. With the new rules the run
takes about 4 % more CPU than main's, after hashing each word once and MinHashing a chunk of records in one numpy
pass in the workers. Then (speed round of issue 16, clusters identical on the whole set and both splits): identity
conflicts ruled out before any measure (they are 104,000 of the 179,000 blocked pairs) with fixes and introducing
commits grouped per package, blocking's mention look-ups only for name parts indexed with the version, MinHash's
modulus folded, fingerprints built and pickled without per-field dataclass copies: clustering 1.42-1.58 -> 1.18-1.37
CPU s, 5.76-6.25 -> 5.51-6.29 CPU s in all processes (main in the same session, alternating, load average 6-7 on 2
cores); parsing (pydantic validation, 1.5 CPU s) and fingerprinting in the workers are most of what is left. Then
(second speed round, clusters identical again): the JSON depth cap measured in C, an OSV record's ranges read in one
pass, the source-file and module-path expressions run only on texts that can match, bands cut for a whole chunk at
once, and batch scoring without a record per pair: parsing, fingerprinting and pickling the dev set 21,700 million
instructions against 27,400 million, indexing, blocking and scoring 9,600 million against 11,500 million
(callgrind; wall-clock figures on the shared machine varied twofold within minutes).

Measured before the identity rules (whole set; cross-database precision / recall / F1 at the batch threshold 0.35,
with `batch_dedup`'s clustering): content-only cosine with package factor 0.927 / 0.838 / 0.880; with everything
above 0.952 / 0.918 / 0.935 (F1 0.930 at 0.33, 0.932 at 0.37). Leaving one part out costs (F1): cluster
cohesion 0.010, identifier conflict 0.007, the part-spread rule 0.006, module-path removal 0.006, titles 0.004, an
IDF floor of 1 instead of 0.25 0.004, containment 0.003, Go's "-0" and "+incompatible" versions 0.002, comparing
unrelated packages' versions 0.002.
What is left is mostly beyond words: Go summaries that only name a CWE ("Missing Authorization in HashiCorp
Consul"), Go records with no versions, and different CVEs published with one identical text.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import math
import operator
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from clearinghouse.errors import UnknownEcosystem
from clearinghouse.records.model import Affected, OsvRecord
from clearinghouse.records.versions import normalize_name

# --- text -------------------------------------------------------------------------------------------------------

_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
# Database ids: the well-known shapes, then any PREFIX-YEAR-NUMBER (ALSA-2024:1234, DSA-..., BIT-php-2024-1).
_IDS = re.compile(
    r"\b(?:CVE-\d{4}-\d{3,}|GHSA(?:-[0-9a-z]{4}){3}|GO-\d{4}-\d+|PYSEC-\d{4}-\d+|RUSTSEC-\d{4}-\d+|OSV-\d{4}-\d+"
    r"|[A-Z][A-Za-z]{1,9}(?:-[A-Za-z0-9.]+)*?-\d{4}[-:]\d+)\b",
    re.IGNORECASE,
)
# What every id shape above holds but GHSA's: a dash, a year and a separator before a number. Texts without it (or
# "ghsa") hold no id, and the cheap search spares them the alternation's scan at every word.
_YEAR_NUMBER = re.compile(r"-\d{4}[-:]\d")
_CWE = re.compile(r"\bCWE-?(\d{1,6})\b", re.IGNORECASE)
_VERSION = re.compile(r"(\d+(?:\.\d+)*)(.*)")
# A pre-release marker, Go's "-0" (the lowest pre-release of a version) included.
_PRERELEASE = re.compile(r"[-.+_]?(?:(?:a|b|c|rc|alpha|beta|pre|preview|dev)[-.]?\d*|0)?")
# A build tag of letters only (Go's "+incompatible") does not name a different release.
_BUILD_TAG = re.compile(r"\+[a-z]+$")
# A module path or host-qualified name in the text (Go summaries end "in github.com/org/repo"): the package is
# compared as a package, and as words it would make every report on the module look alike.
_MODULE_PATH = re.compile(r"\b[a-z0-9][\w-]*(?:\.[\w-]+)+/[\w.~/-]*", re.IGNORECASE)
# What every module path holds: a dot, a name and a slash. The search for it starts at each dot (a literal prefix),
# and spares the texts without any (half of those with a slash) the full expression's try at every word.
_DOTTED_SLASH = re.compile(r"\.[\w-]+/")
# Words as they are written (case kept for CamelCase), with a call's "()"; lowercased, they are the tokens.
_WORD = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*(?:\(\))?")
# Code identifiers a report names: `quoted`, call(), snake_case, CamelCase and dotted.paths. Two reports that each
# name rare identifiers and share none of them are most likely about different bugs in the same code base.
_QUOTED = re.compile(r"`([^`\s]{2,80})`")
_CAMEL = re.compile(r"[A-Za-z][a-z0-9]*[a-z][A-Z]")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_IDENTIFIER_PART = re.compile(r"[a-z_][a-z0-9_]{2,}")
# Source files a text names (`libImaging/TiffDecode.c`, `pdf/pdf_font.c`): two reports naming different files and
# no common one are about different code.
_SOURCE_EXTENSIONS = "c|cc|cpp|cxx|h|hpp|py|go|rs|js|ts|java|php|rb|pl|cs|swift|kt|scala|m"
_SOURCE_FILE = re.compile(rf"\b([A-Za-z0-9_-]+\.(?:{_SOURCE_EXTENSIONS}))\b")
# What every source file name holds, searched from each dot: 9 texts in 10 name none, and this spares them the full
# expression's try at every word (a tenth of the time of fingerprinting a text).
_SOURCE_EXTENSION = re.compile(rf"\.(?:{_SOURCE_EXTENSIONS})\b")
# A fuzzer's crash report gives the crash state, the top frames of the crashing stack, one a line after "Crash
# state:" (ClusterFuzz's template): the fuzzer itself files one report per state, so two states are two crashes.
_CRASH_STATE = re.compile(r"Crash state:[ \t]*\r?\n((?:[ \t]*[^\s`][^\n]*(?:\n|$))+)")
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "due",
        "each",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "might",
        "more",
        "no",
        "not",
        "of",
        "on",
        "or",
        "other",
        "same",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "those",
        "through",
        "to",
        "under",
        "up",
        "use",
        "used",
        "using",
        "via",
        "was",
        "were",
        "when",
        "where",
        "which",
        "while",
        "who",
        "will",
        "with",
        "within",
        "would",
    ]
)

# --- packages ---------------------------------------------------------------------------------------------------

# Name parts that say nothing about which project is meant (packaging variants, language tags, hosts).
_GENERIC_NAME_PARTS = frozenset(
    [
        "api",
        "bin",
        "cli",
        "client",
        "cmd",
        "com",
        "common",
        "core",
        "cpu",
        "debug",
        "dev",
        "devel",
        "doc",
        "docs",
        "go",
        "gpu",
        "io",
        "js",
        "lib",
        "libs",
        "min",
        "net",
        "org",
        "pkg",
        "plugin",
        "plugins",
        "py",
        "python",
        "python2",
        "python3",
        "rs",
        "rust",
        "sdk",
        "server",
        "src",
        "static",
        "sys",
        "test",
        "tests",
        "tools",
        "util",
        "utils",
        "v1",
        "v2",
        "v3",
        "v4",
        "v5",
        "v6",
        "x",
    ]
)
_PART_SPLIT = re.compile(r"[^a-z0-9]+")
# The Go standard library is "stdlib"/"toolchain" in the Go database and "golang"/"go" elsewhere.
_NAME_SYNONYMS = {"stdlib": ("golang",), "toolchain": ("golang",)}

# --- scoring ----------------------------------------------------------------------------------------------------

# IDF is log(N/df) plus this floor. A floor of 1 (the usual smoothing) let a database's standard note ("NOTE: The
# source advisory for this report contains additional versions...", 25 words) outweigh the few words about the
# bug; a small floor still keeps every word's weight positive in a collection of a handful of reports.
_IDF_FLOOR = 0.25
_TEXT_POWER = 2  # templated advisories from one project share most words; only near-identical text counts
_WEIGHTS = {"text": 0.6, "versions": 0.6, "cwes": 0.1, "locations": 0.15}
_TEXT_WEIGHT, _VERSIONS_WEIGHT, _CWES_WEIGHT, _LOCATIONS_WEIGHT = (
    _WEIGHTS[part] for part in ("text", "versions", "cwes", "locations")
)
# Package agreement multiplies the content score: the same name, a shared name part, the name in the other's
# text, or nothing in common.
_PACKAGE_FACTOR = {"same name": 1.0, "shared name part": 0.95, "named in text": 0.85, "none": 0.5}
_NO_PACKAGE_FACTOR = 0.8  # one side names no package: neither agreement nor conflict
# Both texts name rare code identifiers (`tf.tile` against `tf.image.resize`) and share none: different bugs.
_IDENTIFIER_CONFLICT_FACTOR = 0.5
_RARE_IDENTIFIER = 8  # an identifier named by more records than this is project vocabulary, not a bug's
# A short text (a Go summary) wholly contained in a longer one is evidence too, a little less than equal texts.
_CONTAINMENT_FACTOR = 0.95
# Two titles alike count as text a little less than equal texts, as containment does.
_TITLE_FACTOR = 0.95
# A name part shared by more package names than this ("apache", "django", "crypto") names an organisation or an
# ecosystem of plugins, not one project: sharing it is no package agreement.
_PART_SPREAD = 16

# Templated text is learnt from the collection: a run of _SHINGLE words that more than _TEMPLATE_SPREAD indexed
# items share ("vulnerability mysql server product oracle", "gcc toolset compiler toolset", a fuzzer's "crash type
# heap buffer overflow read") is a source's boilerplate, and its words are left out of the text comparison. Copies
# of one advisory in the databases that republish it (a handful) stay below the spread.
_SHINGLE = 4
_TEMPLATE_SPREAD = 6
# Versions shared by two texts that disagree are a release, not a vulnerability: a product fixes many CVEs in one
# release (Gogs, GitLab, Safari). When both texts say something of their own and this little of it agrees, the
# shared versions count only in proportion to the text agreement.
_TEXT_DISAGREEMENT = 0.5
_SUBSTANTIAL_TEXT = 6
# Different packages of one ecosystem fixed in one release are one vulnerability only when they tell one story.
_SAME_STORY = 0.8  # own (untemplated) words a text needs before its disagreement counts

# MinHash LSH: 12 bands of 5 rows find pairs with word-set Jaccard 0.7 with probability 0.86 and 0.9 with
# 0.9996, while unrelated advisories (Jaccard ~0.1) collide about once in 8,000 pairs.
_BANDS = 12
_ROWS = 5
_MERSENNE = np.uint64((1 << 61) - 1)
_RNG = np.random.default_rng(20261122)
_PERM_A = _RNG.integers(1, 1 << 32, size=_BANDS * _ROWS, dtype=np.uint64)
_PERM_B = _RNG.integers(0, 1 << 32, size=_BANDS * _ROWS, dtype=np.uint64)
# A version seen with more distinct packages than this (0.1.0, 1.0.0) is no evidence; a whole-package block larger
# than this is not searched for reports that give no version.
_MAX_BLOCK = 400
# Collections at least this large re-weigh words only after growing by this factor (see `DedupIndex.add`). Growing
# 5 % moves an IDF weight by about log(1.05) / log(N), under 0.6 % from 1,000 items on; re-weighing every 1 % threw
# away every item's weighed text every 30 reports on a 3,000-record store and cost the worker half its time under a
# near-duplicate flood (bench/intake.py).
_REWEIGH_FROM = 1000
_REWEIGH_GROWTH = 1.05
_MAX_BUCKET = 50
# Candidates a query scores at most (`candidates`): a report in a flood of near copies found every earlier copy, so
# the report worker's cost per report grew with the flood (73 candidates on average after 3,000 copies, and rising).
MAX_SCORED = 40
_SHINGLE_MIX = np.random.default_rng(20261206).integers(0, 1 << 63, size=_SHINGLE, dtype=np.uint64) | np.uint64(1)
_WORD_HASHES: dict[str, int] = {}
_MAX_WORD_HASHES = 1 << 18
# The one empty set every fingerprint's empty fields hold. About half of a report's 17 sets are empty, and each was
# an object of its own (216 bytes) kept as long as the index keeps the report, which every worker does for every
# report. Adding 20,000 reports to a worker's index: 11.4 objects for the collector a fingerprint instead of 19.1,
# and 0.19-0.23 s of collections instead of 0.29-0.30.
_EMPTY: frozenset[Any] = frozenset()
_T = TypeVar("_T")


def _frozen(items: Iterable[_T]) -> frozenset[_T]:
    """`frozenset(items)`, the shared `_EMPTY` when there are none."""
    return frozenset(items) or _EMPTY


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The prepared, id-free features of one report or record."""

    tokens: frozenset[str]
    text_digest: str  # of the id-stripped, normalised text: equal digests mean identical wording
    packages: frozenset[str]  # "ecosystem/normalised name", for evidence
    names: frozenset[str]  # ecosystem-free names (PyPI "apache-airflow", Go module's last segment, ...)
    name_parts: frozenset[str]  # distinctive parts of those names
    versions: frozenset[str]  # normalised version boundaries and listed versions
    keys: frozenset[str]  # "name part@version" for each affected package and its own versions
    cwes: frozenset[str]
    locations: frozenset[str]
    identifiers: frozenset[str] = frozenset()  # code identifiers named in the text, lowercased, with their parts
    title: frozenset[str] = frozenset()  # the title's (summary's) own tokens
    words: tuple[str, ...] = ()  # the text's tokens in order, for learning and discounting templates
    title_length: int = 0  # how many of `words` are the title's (runs of words do not cross into the details)
    ecosystem_packages: frozenset[tuple[str, str]] = frozenset()  # (lowercased ecosystem, normalised name)
    fixes: frozenset[str] = frozenset()  # "ecosystem/name@version" of each fixing release a record gives
    vulnerabilities: frozenset[str] = frozenset()  # CVE ids the item declares (its id, aliases, upstream)
    files: frozenset[str] = frozenset()  # source file names its text names, lowercased
    # Derived from the above once, not at every comparison (the identity rules run on every candidate pair).
    ecosystems: frozenset[str] = frozenset()  # the lowercased ecosystems of `ecosystem_packages`
    releases: frozenset[str] = frozenset()  # the versions of `fixes`, whatever the package
    crash_state: str = ""  # a fuzzer report's crash state (its top stack frames, one a line), if the text gives one
    introductions: frozenset[str] = frozenset()  # "ecosystem/name@commit" of each commit a GIT range says introduced it
    # `fixes` and `introductions` by (lowercased ecosystem, normalised name) as in `ecosystem_packages`, each package
    # with at least one: the identity rules compare them per shared package on a third of all candidate pairs, and
    # scanning both sets for each package's prefix was a third of that check's time. Not compared nor hashed: they
    # are the fields above, grouped.
    fixes_by_package: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict, compare=False)
    introductions_by_package: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict, compare=False)
    # Worked out with the rest when the item is fingerprinted (in `dedup`'s worker processes), not when it is indexed
    # or searched: the MinHash LSH bands of `tokens`, and a stable hash of each run of _SHINGLE words of `words`
    # (position i: the run starting at word i; 0 for a run crossing from the title into the details), as the bytes of
    # 64-bit integers (a tuple of ints took longer to pickle from a worker process than to compute).
    bands: tuple[bytes, ...] = ()
    shingles: bytes = b""

    def __reduce__(self) -> tuple[type[Fingerprint], tuple[Any, ...]]:
        # Pickled as its fields in order, rebuilt by the constructor: fingerprints travel from `dedup`'s worker
        # processes, and the dataclass's own state functions look the fields up again for every object (a sixth of
        # pickling and unpickling them).
        return Fingerprint, _fingerprint_fields(self)


_fingerprint_fields = operator.attrgetter(*(f.name for f in fields(Fingerprint)))


@dataclass(frozen=True, slots=True)
class Candidate:
    other_id: str
    score: float
    evidence: dict[str, Any]


def strip_identifiers(text: str) -> str:
    """The text without URLs and vulnerability ids, which would otherwise let ids leak into the comparison."""
    # Most texts hold no URL: the cheap test spares the regular expression's scan.
    if "://" in text or "www." in text.lower():
        text = _URL.sub(" ", text)
    if _YEAR_NUMBER.search(text) is None and "ghsa" not in text.lower():
        return text
    return _IDS.sub(" ", text)


def text_tokens(text: str) -> list[str]:
    return _words(strip_identifiers(text), set())


def _words(clean: str, identifiers: set[str]) -> list[str]:
    """The tokens of an id-free text, lowercased and without stopwords, in order; adds the code identifiers the
    text names to `identifiers` (one pass over the words does both)."""
    if "`" in clean:
        identifiers.update(quoted.lower().strip(".") for quoted in _QUOTED.findall(clean))
    # In C (map, filter, itemgetter) rather than a loop over the words: neither a token nor an identifier is "".
    # The text is cut at every character no word holds (in C: non-ASCII become "?", then a byte table), and each
    # piece's words are found and classified once per distinct piece: `_WORD`'s scan of every text was an eighth of
    # fingerprinting the development set. A match never spans such a character, so the words are `_WORD`'s.
    pieces = clean.encode("ascii", "replace").translate(_WORD_CUT).split()
    if pieces and max(map(len, pieces)) > _CACHED_LENGTH:
        classified = [_word(w) if len(w) <= _CACHED_LENGTH else _classify(w) for w in _WORD.findall(clean)]
    else:
        classified = list(itertools.chain.from_iterable(map(_piece_words, pieces)))
    identifiers.update(filter(None, map(_SECOND, classified)))
    return list(filter(None, map(_FIRST, classified)))


_FIRST, _SECOND = operator.itemgetter(0), operator.itemgetter(1)
# Every byte that cannot be part of a `_WORD` match becomes a space.
_WORD_CUT = bytes(
    byte if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "_.()") else ord(" ") for byte in range(256)
)


# Longer pieces are rare and not cached: a hostile text could fill the caches with huge ones.
_CACHED_LENGTH = 64


@lru_cache(maxsize=1 << 17)
def _piece_words(piece: bytes) -> tuple[tuple[str | None, str | None], ...]:
    """`_word` of each `_WORD` match in one piece of text holding only characters words are made of."""
    return tuple(map(_word, _WORD.findall(piece.decode("ascii"))))


@lru_cache(maxsize=1 << 17)  # a collection's texts use a few hundred thousand distinct words over and over
def _word(word: str) -> tuple[str | None, str | None]:
    """(token, code identifier) of one written word; either may be None. Classifying each word once rather than
    at every occurrence halved the time of tokenising the development set."""
    return _classify(word)


def _classify(word: str) -> tuple[str | None, str | None]:
    identifier = None
    if word.endswith("()"):
        word = word[:-2]
        identifier = word.lower()
    elif "_" in word or _CAMEL.match(word):
        identifier = word.lower()
    elif "." in word and (dotted := _DOTTED.match(word)):
        identifier = dotted.group().lower()
    lowered = word.lower()
    return (lowered if len(lowered) > 1 and lowered not in _STOPWORDS else None), identifier


@lru_cache(maxsize=1 << 16)  # a collection names the same few thousand versions over and over
def normalize_version(value: str) -> str | None:
    """A comparable spelling of a version: ``v1.2.0rc1`` and ``1.2`` both become ``1.2``; None for "any"."""
    text = value.strip().lower().removeprefix("v").removeprefix("go")
    if "+" in text:
        text = _BUILD_TAG.sub("", text)
    found = _VERSION.match(text)
    if found is None:
        return text or None  # commit hashes and other free-form versions are compared as given
    parts = found.group(1).split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    core = ".".join(str(int(p)) for p in parts)
    # A pre-release marker is dropped (databases disagree on 1.10.11rc1 against 1.10.11); any other suffix,
    # such as a distribution release (4.18.0-513.el8), is part of the version.
    rest = found.group(2)
    if core == "0" and not rest.strip("-.0"):
        return None
    return core if _PRERELEASE.fullmatch(rest) else f"{core}{rest}"


def _cwe(value: str) -> str | None:
    found = re.search(r"\d+", value)
    return f"CWE-{int(found.group())}" if found else None


@lru_cache(maxsize=1 << 14)
def _names(ecosystem: str, name: str) -> tuple[str, frozenset[str], frozenset[str]]:
    """(display key, ecosystem-free names, distinctive name parts) of one package."""
    try:
        normal = normalize_name(ecosystem, name) if ecosystem else name.strip()
    except UnknownEcosystem:
        normal = name.strip()
    lowered = normal.lower()
    segments = [s for s in lowered.split("/") if s]
    if len(segments) > 1 and "." in segments[0]:
        segments = segments[1:]  # a host (github.com, golang.org) is not part of the project's name
    names = {lowered, *segments[-2:]} if segments else {lowered}
    names.update(_NAME_SYNONYMS.get(lowered, ()))
    parts: set[str] = set()
    # The parts come from the name without its host: "code" (code.gitea.io) or "github" names no project.
    for candidate in (names - {lowered}) | {"/".join(segments)}:
        for part in _PART_SPLIT.split(candidate):
            if len(part) > 1 and not part.isdigit() and part not in _GENERIC_NAME_PARTS:
                parts.add(part)
                if part.startswith("py") and len(part) > 4:
                    parts.add(part[2:])  # pyspark -> spark, pyyaml -> yaml
    if not parts:
        parts = {s for s in segments[-1:]} or {lowered}
    return f"{ecosystem}/{normal}", frozenset(names), frozenset(parts)


@lru_cache(maxsize=1 << 14)
def _name_split(name: str) -> tuple[str, ...]:
    return tuple(_PART_SPLIT.split(name))


def _versions(values: Iterable[str]) -> set[str]:
    return {v for v in map(normalize_version, filter(None, values)) if v}


def _identifier_set(found: set[str]) -> frozenset[str]:
    kept = {value for value in found if len(value) > 2 and not value.isdigit()}
    for value in [v for v in kept if not v.replace("_", "").isalnum()]:
        kept.update(_IDENTIFIER_PART.findall(value))  # tf.raw_ops.sparseadd: also raw_ops and sparseadd
    return _frozen(kept)


def _text_features(title: str, description: str) -> tuple[list[str], str, frozenset[str], frozenset[str]]:
    """Tokens (in order) and digest of the whole id-free text, the title's own tokens, and the code identifiers."""
    identifiers: set[str] = set()
    title_words = _words(title, identifiers)
    words = title_words + _words(description, identifiers)
    digest = hashlib.blake2b(" ".join(words).encode(), digest_size=12).hexdigest() if words else ""
    return words, digest, frozenset(title_words), _identifier_set(identifiers)


def _without_module_paths(text: str) -> str:
    return _MODULE_PATH.sub(" ", text) if "/" in text and _DOTTED_SLASH.search(text) else text


def _build(
    title: str | None,
    description: str | None,
    packages: Iterable[tuple[tuple[str, str], Iterable[str]]],
    cwes: Iterable[str],
    locations: Iterable[str],
    fixes: Iterable[tuple[tuple[str, str], Iterable[str]]] = (),
    vulnerabilities: Iterable[str] = (),
    introductions: Iterable[tuple[tuple[str, str], Iterable[str]]] = (),
) -> Fingerprint:
    clean_title = _without_module_paths(strip_identifiers(title)) if title else ""
    clean_description = _without_module_paths(strip_identifiers(description)) if description else ""
    words, digest, title_tokens_list, identifiers = _text_features(clean_title, clean_description)
    title_tokens = _frozen(title_tokens_list)
    whole = f"{title or ''} {description or ''}"
    text_cwes = {f"CWE-{int(m)}" for m in _CWE.findall(whole)} if "cwe" in whole.lower() else set()
    files = {f.lower() for f in _SOURCE_FILE.findall(whole)} if _SOURCE_EXTENSION.search(whole) else set()
    owned: set[tuple[str, str]] = set()
    fixed: set[str] = set()
    fixed_by: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for (ecosystem, name), versions in fixes:
        if name.strip():
            shown = _names(ecosystem, name)[0].lower()
            if own_fixes := {f"{shown}@{version}" for version in _versions(versions)}:
                fixed |= own_fixes
                fixed_by[_package_key(shown)] |= own_fixes
    introduced: set[str] = set()
    introduced_by: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for (ecosystem, name), commits in introductions:
        if name.strip():
            shown = _names(ecosystem, name)[0].lower()
            if own_commits := {f"{shown}@{commit.lower()}" for commit in commits if commit.strip("0")}:
                introduced |= own_commits
                introduced_by[_package_key(shown)] |= own_commits
    keys_shown: set[str] = set()
    all_names: set[str] = set()
    all_parts: set[str] = set()
    all_versions: set[str] = set()
    keys: set[str] = set()
    for (ecosystem, name), versions in packages:
        if not name.strip():
            continue
        shown, names, parts = _names(ecosystem, name)
        keys_shown.add(shown)
        if ecosystem:
            owned.add((ecosystem.lower(), shown.partition("/")[2].lower()))
        all_names |= names
        all_parts |= parts
        own = _versions(versions)
        all_versions |= own
        keys.update(f"{part}@{version}" for part in parts for version in own)
    tokens = _frozen(words)
    return Fingerprint(
        tokens=tokens,
        text_digest=digest,
        packages=_frozen(keys_shown),
        names=_frozen(all_names),
        name_parts=_frozen(all_parts),
        versions=_frozen(all_versions),
        keys=_frozen(keys),
        cwes=_frozen({c for c in (_cwe(value) for value in cwes) if c} | text_cwes),
        locations=_frozen(loc.strip().lower() for loc in locations if loc.strip()),
        identifiers=identifiers,
        title=title_tokens,
        words=tuple(words),
        title_length=len(title_tokens_list),
        ecosystem_packages=_frozen(owned),
        fixes=_frozen(fixed),
        vulnerabilities=_frozen(v.upper() for v in vulnerabilities if _CVE_ID.match(v)),
        files=_frozen(files),
        ecosystems=_frozen(e for e, _ in owned),
        releases=_frozen(f.rpartition("@")[2] for f in fixed),
        crash_state=_crash_state(description) if description and "Crash state:" in description else "",
        introductions=_frozen(introduced),
        fixes_by_package={package: frozenset(found) for package, found in fixed_by.items()},
        introductions_by_package={package: frozenset(found) for package, found in introduced_by.items()},
    )


def _package_key(shown: str) -> tuple[str, str]:
    """(ecosystem, name) of a lowercased "ecosystem/name", as `ecosystem_packages` holds it."""
    ecosystem, _, name = shown.partition("/")
    return ecosystem, name


def _crash_state(text: str) -> str:
    found = _CRASH_STATE.search(text)
    return "\n".join(line.strip() for line in found.group(1).splitlines() if line.strip()) if found else ""


def fingerprint(
    title: str | None,
    description: str | None,
    packages: list[tuple[str, str]],
    versions: list[str],
    cwes: list[str],
    locations: list[str],
    identifiers: Iterable[str] = (),
) -> Fingerprint:
    """Features of a report: (ecosystem, name) packages, the versions it names, CWEs, code locations and the
    vulnerability ids it declares (never compared as evidence of a match; distinct CVE ids keep items apart)."""
    built = _build(
        title,
        description,
        [(package, versions) for package in packages],
        cwes,
        locations,
        vulnerabilities=identifiers,
    )
    return _hashed([built])[0]


def _osv_locations(affected: Affected) -> list[str]:
    """Code locations an OSV record names: Go import paths and symbols, RustSec affected functions."""
    found: list[str] = []
    specific = affected.ecosystem_specific
    if not specific:
        return found  # most entries have none
    for entry in specific.get("imports") or ():
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            symbols = [s for s in entry.get("symbols") or () if isinstance(s, str)]
            found.extend(f"{entry['path']}.{s}" for s in symbols) if symbols else found.append(entry["path"])
    functions = (specific.get("affects") or {}).get("functions") if isinstance(specific.get("affects"), dict) else None
    found.extend(f for f in functions or () if isinstance(f, str))
    return found


def _osv_cwes(record: OsvRecord) -> list[str]:
    found: list[str] = []
    for specific in [record.database_specific, *(a.database_specific for a in record.affected or ())]:
        if not specific:
            continue  # most entries have none
        for key in ("cwe_ids", "cwes", "cwe"):
            value = specific.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found.extend(str(v) for v in value if isinstance(v, str | int))
    return found


def _range_versions(affected: Affected) -> tuple[list[str], list[str], list[str]]:
    """(boundaries, fixing versions, introducing commits) of an affected entry's ranges, in one pass over its events
    (three passes, one per list, were a sixth of fingerprinting an OSV record).

    Range boundaries say which release fixed it; listed versions only when there is no range (a full list of
    affected releases would make any two reports on the package look alike)."""
    bounds: list[str] = []
    fixed: list[str] = []
    introduced: list[str] = []
    for grading in affected.ranges or ():
        git = grading.type == "GIT"
        for event in grading.events:
            if (value := event.introduced) is not None:
                bounds.append(value)
                if git:
                    introduced.append(value)
            if (value := event.fixed) is not None:
                bounds.append(value)
                fixed.append(value)
            if (value := event.last_affected) is not None:
                bounds.append(value)
    return bounds or list(affected.versions or ()), fixed, introduced


def fingerprint_osv(osv: OsvRecord) -> Fingerprint:
    """Features of an OSV record: summary, details, affected packages with their versions and fixing releases,
    CWEs, locations, and the CVE ids it declares (id, aliases, upstream)."""
    return _hashed([_osv_features(osv)])[0]


def fingerprint_osv_many(records: list[OsvRecord]) -> list[Fingerprint]:
    """`fingerprint_osv` of each record, their words hashed together (numpy's cost per call outweighed its work on
    one record's few dozen words)."""
    return _hashed([_osv_features(osv) for osv in records])


def _osv_features(osv: OsvRecord) -> Fingerprint:
    packages: list[tuple[tuple[str, str], list[str]]] = []
    fixes: list[tuple[tuple[str, str], list[str]]] = []
    introductions: list[tuple[tuple[str, str], list[str]]] = []
    locations: list[str] = []
    for affected in osv.affected or ():
        if (package := affected.package) is None:
            continue
        key = (package.ecosystem, package.name)
        bounds, fixed, introduced = _range_versions(affected)
        packages.append((key, bounds))
        fixes.append((key, fixed))
        introductions.append((key, introduced))
        locations.extend(_osv_locations(affected))
    return _build(
        osv.summary,
        osv.details,
        packages,
        _osv_cwes(osv),
        locations,
        fixes=fixes,
        vulnerabilities=[*osv.identifiers(), *(osv.upstream or ())],
        introductions=introductions,
    )


def _word_hashes(words: list[str]) -> npt.NDArray[np.uint64]:
    """CRC-32 of each word, the same in every process; a collection repeats a vocabulary of some 100,000 words, so each
    is hashed once (`_WORD_HASHES`) and looked up after."""
    known = _WORD_HASHES
    found = list(map(known.get, words))
    if None in found:
        if len(known) > _MAX_WORD_HASHES:
            known.clear()
        for n, word in enumerate(words):
            if found[n] is None:
                found[n] = known[word] = zlib.crc32(word.encode())
    return np.array(found, dtype=np.uint64)


def _hashed(built: list[Fingerprint]) -> list[Fingerprint]:
    """The fingerprints with their MinHash bands and their runs' hashes, worked out for all of them at once."""
    words = list(itertools.chain.from_iterable(fp.words for fp in built))  # flattened in C
    word_hashes = _word_hashes(words)
    # The tokens are the words: their hashes are read off this call's (the shared cache may be cleared meanwhile).
    hash_of = dict(zip(words, word_hashes.tolist(), strict=True))
    tokens = list(itertools.chain.from_iterable(fp.tokens for fp in built))
    token_hashes = np.fromiter(map(hash_of.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    # MinHash of each word set: the minimum of each item's rows (`reduceat` over where each non-empty set starts).
    starts = np.cumsum([0] + [len(fp.tokens) for fp in built[:-1]])
    filled = [n for n, fp in enumerate(built) if fp.tokens]
    signatures = (
        np.minimum.reduceat(_permuted(token_hashes), starts[filled], axis=0)
        if filled
        else np.zeros((0, _BANDS * _ROWS), dtype=np.uint64)
    )
    # Each band as bytes: its number, then its rows. Laid out for every item at once and cut in one pass (joining a
    # prefix to each of an item's 12 slices was a fifth of this function).
    laid_out = np.empty((len(filled), _BANDS, 1 + _ROWS * 8), dtype=np.uint8)
    laid_out[:, :, 0] = np.arange(_BANDS, dtype=np.uint8)
    laid_out[:, :, 1:] = signatures.view(np.uint8).reshape(len(filled), _BANDS, _ROWS * 8)
    every_band = laid_out.tobytes()
    step = 1 + _ROWS * 8
    cut = [every_band[at : at + step] for at in range(0, len(every_band), step)]
    bands_of = {n: tuple(cut[k * _BANDS : (k + 1) * _BANDS]) for k, n in enumerate(filled)}
    # Each run of _SHINGLE words: the words' CRC-32s, each times its own odd constant, summed modulo 2**64 (uint64
    # wraps); runs crossing from one item into the next are cut off below, those crossing a title are zeroed.
    runs = max(0, len(words) - _SHINGLE + 1)
    mixed = word_hashes[:runs] * _SHINGLE_MIX[0]
    for offset in range(1, _SHINGLE):
        mixed += word_hashes[offset : offset + runs] * _SHINGLE_MIX[offset]
    hashed: list[Fingerprint] = []
    start = 0
    for n, fp in enumerate(built):
        bands = bands_of.get(n, ())
        own = mixed[start : start + len(fp.words) - _SHINGLE + 1].copy() if len(fp.words) >= _SHINGLE else None
        if own is not None:
            split = fp.title_length
            own[max(0, split - _SHINGLE + 1) : min(split, len(own))] = 0  # crosses from the title into the details
        shingles: bytes = b"" if own is None else own.tobytes()
        # Set on the fingerprints `_build` made for this call, which nothing else holds yet: `replace` (a copy
        # through every field) took as long as the rest of this function.
        object.__setattr__(fp, "bands", bands)
        object.__setattr__(fp, "shingles", shingles)
        hashed.append(fp)
        start += len(fp.words)
    return hashed


def _permuted(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """(a * h + b) mod 2**61 - 1 for each hash h (a row) and each of the _BANDS * _ROWS permutations (a column).

    Both factors are below 2**32, so the product and sum stay inside uint64. The modulus of a Mersenne prime is
    folded (x = high * 2**61 + low is high + low modulo 2**61 - 1) rather than divided: numpy's 64-bit division
    was two thirds of MinHashing.
    """
    values = np.outer(hashes, _PERM_A)
    values += _PERM_B
    high = values >> np.uint64(61)
    values &= _MERSENNE
    values += high  # below 2 * (2**61 - 1): at most one subtraction left
    values[values >= _MERSENNE] -= _MERSENNE
    return values


@dataclass(frozen=True, slots=True)
class _Text:
    tokens: frozenset[str]  # the text's own words: its tokens outside the templates learnt from the collection
    title: frozenset[str]  # the title's own words
    norm: float  # of the IDF-weighted vector of the own words
    title_norm: float  # of the title's
    templated: bool  # some of the text is a learnt template
    names: frozenset[str]  # the item's package names and name parts, which are never shared words
    # `tokens` and `title` without `names`: what two texts share is what both have here (the names of either are
    # left out of the words they share), one intersection for each pair compared rather than three set operations.
    free: frozenset[str]
    title_free: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Measures:
    score: float
    text: float | None
    versions: float | None
    specificity: float
    agreement: str | None
    identifiers: bool | None
    shared_identifiers: frozenset[str]
    conflict: str | None = None  # why the two cannot be one vulnerability, whatever their text says


# `_Measures`' fields in order, as `_content_measures` gives them.
_MeasureTuple = tuple[float, float | None, float | None, float, str | None, bool | None, frozenset[str], str | None]


def _overlap(a: frozenset[str], b: frozenset[str]) -> float | None:
    """Overlap coefficient (shared / smaller set); None when either side is empty."""
    if not a or not b:
        return None
    return len(a & b) / min(len(a), len(b))


def _shared_names(a: Fingerprint, b: Fingerprint, agreement: str | None) -> list[str]:
    if agreement == "same name":
        return sorted(a.names & b.names)
    if agreement == "shared name part":
        return sorted(a.name_parts & b.name_parts)
    if agreement == "named in text":
        return sorted((a.name_parts & b.tokens) | (b.name_parts & a.tokens))
    return []


def _squared_idf(df: int, total: int) -> float:
    return (math.log(total / (df + 1)) + _IDF_FLOOR) ** 2


class _WeightsByCount(dict[int, float]):
    """`_squared_idf` of each count of items a token is in, for one collection size, each worked out once."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def __missing__(self, count: int) -> float:
        weight = self[count] = _squared_idf(count, self.total)
        return weight


_RUN_MARK = b"\x01" * _SHINGLE
_UNMARKED = bytes([1]) + bytes(255)  # a mark of 0 (a word no template run covers) becomes 1, and 1 becomes 0


def _runs(fp: Fingerprint) -> Sequence[int]:
    """The hashes of `fp`'s runs of words, by where each starts (read in place from `shingles`)."""
    return memoryview(fp.shingles).cast("Q")  # native 64-bit unsigned, as numpy's uint64 wrote them


_OTHER_PACKAGE = "different packages of one ecosystem"


def _other_packages(a: Fingerprint, b: Fingerprint) -> bool:
    """Both name packages of a common ecosystem and none in common."""
    if (
        not a.ecosystem_packages
        or not b.ecosystem_packages
        or not a.ecosystem_packages.isdisjoint(b.ecosystem_packages)
    ):
        return False
    return not a.ecosystems.isdisjoint(b.ecosystems)


def _two_advisories(a: Fingerprint, b: Fingerprint) -> bool:
    """Both are published advisories (each gives fixing releases) of a package of one ecosystem they share: two
    databases republishing one advisory copy its text, so anything less than one story is two vulnerabilities.
    (A report gives no fixing release: its own words about a known vulnerability are judged as usual.)"""
    return bool(a.fixes and b.fixes and not a.ecosystem_packages.isdisjoint(b.ecosystem_packages))


def _identity_conflict(a: Fingerprint, b: Fingerprint) -> str | None:
    """Why two items are different vulnerabilities whatever their text: each declares CVE ids and none is shared;
    they name packages of one ecosystem and no package in common (nor a fixing release); or both give the releases
    that fixed a package they share, and none is common."""
    if a.vulnerabilities and b.vulnerabilities and a.vulnerabilities.isdisjoint(b.vulnerabilities):
        return "different CVE ids"
    if a.crash_state and b.crash_state and a.crash_state != b.crash_state:
        return "different crash states"
    if not a.ecosystem_packages or not b.ecosystem_packages or a.ecosystems.isdisjoint(b.ecosystems):
        return None
    shared = a.ecosystem_packages & b.ecosystem_packages
    if not shared:
        # A database may file one vulnerability under each package it ships in (Bitnami's cilium and
        # cilium-operator): those give the same fixing release, and then the text decides (`_measure`).
        if a.releases.isdisjoint(b.releases):
            return _OTHER_PACKAGE
        return None
    if a.fixes and b.fixes:
        # One package fixed by two different releases: two errata of one package (AlmaLinux ships the unchanged
        # sub-packages again, so the other packages of the two may well agree), two fuzzer crashes fixed by two
        # commits.
        fixed_a, fixed_b = a.fixes_by_package, b.fixes_by_package
        for package in shared:
            if (one := fixed_a.get(package)) and (other := fixed_b.get(package)) and one.isdisjoint(other):
                return "fixed in different releases"
    if a.introductions and b.introductions:
        # Commits name code changes exactly: a crash that came back with a later commit is filed again.
        introduced_a, introduced_b = a.introductions_by_package, b.introductions_by_package
        for package in shared:
            if (one := introduced_a.get(package)) and (other := introduced_b.get(package)) and one.isdisjoint(other):
                return "introduced by different commits"
    return None


class DedupIndex:
    """Fingerprints by id, with the blocking structures that find a new fingerprint's likely duplicates."""

    def __init__(self) -> None:
        self._fingerprints: dict[str, Fingerprint] = {}
        self._df: Counter[str] = Counter()
        self._identifier_df: Counter[str] = Counter()
        self._bands: defaultdict[bytes, list[str]] = defaultdict(list)
        self._by_key: defaultdict[str, list[str]] = defaultdict(list)
        # every record naming a package part (reports without versions)
        self._by_part: defaultdict[str, list[str]] = defaultdict(list)
        # records naming a package but no version, by name part
        self._unversioned: defaultdict[str, list[str]] = defaultdict(list)
        self._version_spread: defaultdict[str, set[str]] = defaultdict(set)  # version -> name parts seen with it
        self._part_spread: defaultdict[str, set[str]] = defaultdict(set)  # name part -> the package names it is in
        self._squared: dict[str, float] = {}
        self._unseen = (-1, 0.0)  # (collection size, squared weight of a token no indexed item has)
        self._weights_total = 0  # the collection size (plus one) `_squared` was computed for
        self._weights_by_count = _WeightsByCount(0)  # for that size
        self._rare: dict[str, frozenset[str]] = {}  # rare identifiers by id, for the current collection
        self._texts: dict[str, _Text] = {}  # weighted text views by id, for the current collection
        self._query_text: tuple[Fingerprint, _Text] | None = None  # the last query's, for the current collection
        self._shingle_spread: Counter[int] = Counter()  # hash of a run of words -> indexed items that contain it
        # The runs in more than _TEMPLATE_SPREAD items (templates), kept as they cross: most texts have none, which
        # one set operation in C tells (looking each run up cost the report worker 8 % of its time).
        self._templates: set[int] = set()

    def __len__(self) -> int:
        return len(self._fingerprints)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._fingerprints

    def add(self, item_id: str, fp: Fingerprint) -> None:
        if item_id in self._fingerprints:
            raise ValueError(f"{item_id!r} is already indexed")
        self._fingerprints[item_id] = fp
        self._query_text = None  # weighed before this item's words counted
        # Counters count in C: adding the development set's 16,430 records spent half its time counting in Python.
        self._df.update(fp.tokens)
        self._identifier_df.update(fp.identifiers)
        runs = set(_runs(fp))
        runs.discard(0)  # no run (one crossing from the title into the details)
        spread = self._shingle_spread
        spread.update(runs)
        # The runs that have just crossed, picked in C (map and compress over the unchanged set, in one order): a
        # generator over every run of every item was a sixth of adding the development set.
        crossed = map((_TEMPLATE_SPREAD + 1).__eq__, map(spread.__getitem__, runs))
        self._templates.update(itertools.compress(runs, crossed))
        bands = self._bands
        for band in fp.bands:
            bands[band].append(item_id)
        for key in fp.keys:
            self._by_key[key].append(item_id)
            part, _, version = key.partition("@")
            self._version_spread[version].add(part)
        for name in fp.names:
            for part in _name_split(name):
                if part in fp.name_parts:
                    self._part_spread[part].add(name)
        for part in fp.name_parts:
            self._by_part[part].append(item_id)
            if not fp.versions:
                self._unversioned[part].append(item_id)
        size = len(self._fingerprints)
        if self._squared and size >= _REWEIGH_FROM and size + 1 <= self._weights_total * _REWEIGH_GROWTH:
            # One more item barely moves a large collection's weights: only its own words are weighed again (the
            # service adds every processed report, and weighing the whole vocabulary each time cost more than
            # the rest of the step); everything is recomputed once the collection has grown by 5 %.
            weights = map(self._weights_by_count.__getitem__, map(self._df.__getitem__, fp.tokens))
            self._squared.update(zip(fp.tokens, weights, strict=True))
            return
        # Weights depend on the collection size; recompute lazily.
        self._squared = {}
        self._rare.clear()
        self._texts.clear()

    def get(self, item_id: str) -> Fingerprint:
        return self._fingerprints[item_id]

    # -- similarity -------------------------------------------------------------------------------------------

    def _squared_weights(self) -> dict[str, float]:
        """Squared IDF weight of every indexed token, computed once per collection size."""
        if not self._squared:
            total = self._weights_total = len(self._fingerprints) + 1
            # A weight depends only on the token's count: worked out once per count (a few hundred distinct among
            # the vocabulary), then looked up in C: 1.0 ms against 2.7-3.5 ms for 15,600 tokens. Each report worker
            # weighs its whole vocabulary again every 5 % of growth.
            weights = self._weights_by_count = _WeightsByCount(total)
            self._squared = dict(zip(self._df.keys(), map(weights.__getitem__, self._df.values()), strict=True))
        return self._squared

    def _dot(self, tokens: Iterable[str]) -> float:
        # The weights' own checks inline (`_squared_weights`): batch scoring calls this 130,000 times.
        squared = self._squared or self._squared_weights()
        unseen_for = self._unseen
        if unseen_for[0] != len(self._fingerprints):  # the weight of a token no indexed record has, for this size
            size = len(self._fingerprints)
            unseen_for = self._unseen = (size, (math.log(size + 1) + _IDF_FLOOR) ** 2)
        unseen = unseen_for[1]
        # fsum: exact, so the result does not depend on the (hash-seeded) order of iterating a set of words.
        return math.fsum(map(squared.get, tokens, itertools.repeat(unseen)))

    def _own_words(self, fp: Fingerprint) -> tuple[frozenset[str], bool]:
        """The words of `fp` outside every run of words the collection has learnt as a template, and whether any
        run was one."""
        words = fp.words
        if len(words) < _SHINGLE:
            return fp.tokens, False
        runs = _runs(fp)
        templates = self._templates
        if templates.isdisjoint(runs):
            return fp.tokens, False
        # A word is templated when any run covering it is a template: each template run found (picked in C) marks
        # its _SHINGLE words, and the words left are picked in C (a fifth faster than the same in numpy, whose
        # calls cost more than these texts' few dozen runs).
        templated = bytearray(len(words))
        for start in itertools.compress(range(len(runs)), map(templates.__contains__, runs)):
            templated[start : start + _SHINGLE] = _RUN_MARK
        return frozenset(itertools.compress(words, templated.translate(_UNMARKED))), True

    def _text(self, item_id: str | None, fp: Fingerprint) -> _Text:
        if item_id is not None and (cached := self._texts.get(item_id)) is not None:
            return cached
        # A query (no id) is scored against every candidate in turn: its text is worked out once.
        if item_id is None and self._query_text is not None and self._query_text[0] is fp:
            return self._query_text[1]
        own, templated = self._own_words(fp)
        title = fp.title & own if templated else fp.title
        names = fp.name_parts | fp.names
        text = _Text(
            own,
            title,
            math.sqrt(self._dot(own)),
            math.sqrt(self._dot(title)),
            templated,
            names,
            own - names,
            title - names,
        )
        if item_id is not None:
            self._texts[item_id] = text
        else:
            self._query_text = (fp, text)
        return text

    def _text_similarity(
        self, a: Fingerprint, a_id: str | None, b: Fingerprint, b_id: str | None, few_words_contained: bool = True
    ) -> float:
        """`few_words_contained`: whether a shorter text of fewer than _SUBSTANTIAL_TEXT own words wholly contained
        in the longer one counts as containment (only where the packages agree: "SQL injection" or "Arbitrary code
        execution" is contained in many a report on another package)."""
        if not a.tokens or not b.tokens:
            return 0.0
        # The cache looked up here rather than in `_text` (no id is never cached): batch scoring comes here 75,000
        # times for 16,000 texts.
        texts = self._texts
        ta = texts.get(a_id) or self._text(a_id, a)  # type: ignore[arg-type]
        tb = texts.get(b_id) or self._text(b_id, b)  # type: ignore[arg-type]
        if a.text_digest == b.text_digest and not (ta.templated and tb.templated):
            return 1.0
        # Identical boilerplate says nothing: only the words each text has of its own are compared.
        # The package's own name is compared as a package; as a shared word it makes every report on it look
        # alike ("usememos/memos Denial of Service" against "usememos/memos Improper Access Control").
        shared = ta.free & tb.free  # (ta.tokens & tb.tokens) - (ta.names | tb.names)
        if not shared:
            return 0.0
        dot = self._dot(shared)
        norm_a, norm_b, title_norm_a, title_norm_b = ta.norm, tb.norm, ta.title_norm, tb.title_norm
        if ta.templated and tb.templated and not a.ecosystems.isdisjoint(b.ecosystems):
            # Two records of one ecosystem both written from templates: template words one has and the other lacks
            # altogether still tell them apart (".NET Core Remote Code Execution Vulnerability" against ".NET Core
            # and Visual Studio Denial of Service Vulnerability", each all boilerplate of its kind).
            names = ta.names | tb.names
            norm_a = math.sqrt(norm_a**2 + self._dot((a.tokens - ta.tokens) - b.tokens - names))
            norm_b = math.sqrt(norm_b**2 + self._dot((b.tokens - tb.tokens) - a.tokens - names))
            title_norm_a = math.sqrt(title_norm_a**2 + self._dot((a.title - ta.title) - b.title - names))
            title_norm_b = math.sqrt(title_norm_b**2 + self._dot((b.title - tb.title) - a.title - names))
        similarity = dot / (norm_a * norm_b)
        if few_words_contained or min(len(ta.tokens), len(tb.tokens)) >= _SUBSTANTIAL_TEXT:
            similarity = max(similarity, _CONTAINMENT_FACTOR * dot / min(norm_a, norm_b) ** 2)
        # Two titles alike (Bitnami's and Go's copies of one GitHub summary) even when the rest differs: an NVD
        # description against a title alone, or followed by a database's standard note.
        if ta.title and tb.title and (common := ta.title_free & tb.title_free):
            similarity = max(similarity, _TITLE_FACTOR * self._dot(common) / (title_norm_a * title_norm_b))
        return min(1.0, similarity)

    def _rare_identifiers(self, item_id: str | None, fp: Fingerprint) -> frozenset[str]:
        if item_id is not None and (cached := self._rare.get(item_id)) is not None:
            return cached
        rare = frozenset(i for i in fp.identifiers if self._identifier_df.get(i, 0) <= _RARE_IDENTIFIER)
        if item_id is not None:
            self._rare[item_id] = rare
        return rare

    def _identifier_agreement(
        self, a: Fingerprint, b: Fingerprint, a_id: str | None, b_id: str | None
    ) -> tuple[bool | None, frozenset[str]]:
        """Whether the rare code identifiers both texts name agree (None when either names none), and the shared.
        Sharing any is agreement: a summary of several bugs (`externref`, `Linker`) and the full report on one of
        them (`externref`, `VMExternRefActivationsTable`) each name code the other does not."""
        if not a.identifiers or not b.identifiers:
            return None, frozenset()
        rare = self._rare
        if (rare_a := rare.get(a_id)) is None:  # type: ignore[arg-type]
            rare_a = self._rare_identifiers(a_id, a)
        if not rare_a:
            return None, frozenset()
        if (rare_b := rare.get(b_id)) is None:  # type: ignore[arg-type]
            rare_b = self._rare_identifiers(b_id, b)
        if not rare_b:
            return None, frozenset()
        # The few rare identifiers intersected with each set, rather than the two sets joined first.
        shared = (rare_a & b.identifiers) | (rare_a & b.tokens) | (rare_b & a.identifiers) | (rare_b & a.tokens)
        return bool(shared), shared

    def _specificity(self, a: Fingerprint, b: Fingerprint) -> float:
        """How telling a shared (package, version) is: 1 for a pair alone on it, less when many records share it
        (one TensorFlow release fixes dozens of vulnerabilities)."""
        shared = a.keys & b.keys
        if not shared:
            return 0.0
        fewest = min(len(self._by_key.get(key, ())) for key in shared)
        return min(1.0, 2.0 / max(fewest, 1))

    def _package_agreement(self, a: Fingerprint, b: Fingerprint) -> str | None:
        """The same name, a shared name part, the name in the other's text, or "none" (None when either names no
        package); a name part shared by many packages of the collection is no agreement."""
        if not a.names or not b.names:
            return None
        if not a.names.isdisjoint(b.names):
            return "same name"
        if parts := a.name_parts & b.name_parts:
            spread = self._part_spread
            return "none" if all(len(spread.get(p, ())) > _PART_SPREAD for p in parts) else "shared name part"
        if not a.name_parts.isdisjoint(b.tokens) or not b.name_parts.isdisjoint(a.tokens):
            return "named in text"
        return "none"

    def _measure(self, a: Fingerprint, b: Fingerprint, a_id: str | None, b_id: str | None) -> _Measures:
        if conflict := _identity_conflict(a, b):
            return _Measures(0.0, None, None, 0.0, None, None, frozenset(), conflict)
        return self._content(a, b, a_id, b_id)

    def _content(self, a: Fingerprint, b: Fingerprint, a_id: str | None, b_id: str | None) -> _Measures:
        """`_measure` of two items in no identity conflict."""
        return _Measures(*self._content_measures(a, b, a_id, b_id))

    def _content_measures(self, a: Fingerprint, b: Fingerprint, a_id: str | None, b_id: str | None) -> _MeasureTuple:
        """`_content`'s fields as a plain tuple: batch scoring reads only the score of 75,000 pairs, and building the
        record of each was a tenth of its time."""
        agreement = self._package_agreement(a, b)
        text = self._text_similarity(a, a_id, b, b_id, agreement != "none") if a.tokens and b.tokens else None
        if text is None or text < _SAME_STORY:
            if _other_packages(a, b):
                return 0.0, text, None, 0.0, None, None, frozenset(), f"{_OTHER_PACKAGE}, different text"
            if _two_advisories(a, b):
                return 0.0, text, None, 0.0, None, None, frozenset(), "two advisories of one package, different text"
        versions = _overlap(a.versions, b.versions)
        if agreement == "none":
            versions = None  # versions of unrelated packages are not comparable: neither evidence nor conflict
        specificity = self._specificity(a, b) if versions is not None else 0.0
        cwes = _overlap(a.cwes, b.cwes)
        locations = _overlap(a.locations, b.locations)
        identifiers, shared_identifiers = self._identifier_agreement(a, b, a_id, b_id)
        if a.files and b.files and a.files.isdisjoint(b.files):
            identifiers = False  # different source files named: different code
        release = None if versions is None else versions * specificity
        # A rare code identifier both name (`externref`) says the two stories are one, however differently told.
        if release is not None and text is not None and text < _TEXT_DISAGREEMENT and identifiers is not True:
            ta, tb = self._text(a_id, a), self._text(b_id, b)
            if min(len(ta.tokens), len(tb.tokens)) >= _SUBSTANTIAL_TEXT:
                release *= text / _TEXT_DISAGREEMENT  # one release, two stories: the release is not the bug
        # The weighted mean of the parts given, summed in this order (text, versions, CWEs, locations).
        total = weighted = 0.0
        if text is not None:
            total += _TEXT_WEIGHT
            weighted += _TEXT_WEIGHT * text**_TEXT_POWER
        if release is not None:
            total += _VERSIONS_WEIGHT
            weighted += _VERSIONS_WEIGHT * release
        if cwes is not None:
            total += _CWES_WEIGHT
            weighted += _CWES_WEIGHT * float(cwes > 0)
        if locations is not None:
            total += _LOCATIONS_WEIGHT
            weighted += _LOCATIONS_WEIGHT * locations
        content = weighted / total if total else 0.0
        factor = _NO_PACKAGE_FACTOR if agreement is None else _PACKAGE_FACTOR[agreement]
        if identifiers is False:
            factor *= _IDENTIFIER_CONFLICT_FACTOR
        score = round(min(1.0, max(0.0, content * factor)), 4)
        return score, text, versions, specificity, agreement, identifiers, shared_identifiers, None

    def score(self, a: Fingerprint, b: Fingerprint, a_id: str | None = None, b_id: str | None = None) -> Candidate:
        """How alike two fingerprints are, in [0, 1] and symmetric, with the evidence for it."""
        return self._candidate(a, b, b_id, self._measure(a, b, a_id, b_id))

    @staticmethod
    def _candidate(a: Fingerprint, b: Fingerprint, b_id: str | None, m: _Measures) -> Candidate:
        evidence: dict[str, Any] = {
            "text_similarity": None if m.text is None else round(m.text, 3),
            "identical_text": bool(a.text_digest) and a.text_digest == b.text_digest,
            "package_match": m.agreement,
            "shared_package_names": _shared_names(a, b, m.agreement),
            "version_overlap": None if m.versions is None else round(m.versions, 3),
            "version_specificity": round(m.specificity, 3),
            "shared_versions": sorted(a.versions & b.versions)[:10],
            "shared_cwes": sorted(a.cwes & b.cwes),
            "shared_locations": sorted(a.locations & b.locations)[:10],
            # True: both name the same rare code identifier; False: both name some and none agree (different bugs).
            "identifiers_agree": m.identifiers,
            "shared_identifiers": sorted(m.shared_identifiers)[:10],
            "conflict": m.conflict,
        }
        return Candidate(b_id or "", m.score, evidence)

    # -- blocking ---------------------------------------------------------------------------------------------

    def _useful_version(self, version: str) -> bool:
        return len(self._version_spread.get(version, ())) <= _MAX_BLOCK

    def _blocked(self, fp: Fingerprint) -> set[str]:
        """Ids that share an LSH band, a (package, version) key, or (without versions) a package with `fp`."""
        found: set[str] = set()
        for band in fp.bands:
            # A crowded bucket is boilerplate shared by a whole database (errata, fuzzer reports), not a match.
            if len(bucket := self._bands.get(band, ())) <= _MAX_BUCKET:
                found.update(bucket)
        for key in fp.keys:
            if len(block := self._by_key.get(key, ())) <= _MAX_BUCKET:
                found.update(block)
        # The other record's package named in this one's text, at a version this one gives. Only the name parts
        # indexed with that version are looked up (`_version_spread`): trying every word named at every version
        # was a million dictionary look-ups on the development set, most of them for no key.
        by_part, spread = self._by_part, self._version_spread
        if fp.versions and (mentioned := {t for t in fp.tokens if t in by_part} - fp.name_parts):
            for version in fp.versions:
                if (parts := spread.get(version)) is not None and len(parts) <= _MAX_BLOCK:
                    for token in mentioned.intersection(parts):
                        found.update(self._by_key[f"{token}@{version}"])
        for part in fp.name_parts:
            if len(self._by_part.get(part, ())) > _MAX_BLOCK:
                continue
            found.update(self._unversioned.get(part, ()))
            if not fp.versions:
                found.update(self._by_part.get(part, ()))
        return found

    def _closest(self, fp: Fingerprint, blocked: set[str], count: int) -> list[str]:
        """The `count` of `blocked` most likely to be `fp`'s duplicates: by the LSH bands (many shared: much shared
        text), (package, version) keys and package name parts each shares with it, ties by id."""
        shared: Counter[str] = Counter()
        for band in fp.bands:
            shared.update(self._bands.get(band, ()))
        for key in fp.keys:
            shared.update(self._by_key.get(key, ()))
        for part in fp.name_parts:
            if len(same := self._by_part.get(part, ())) <= _MAX_BLOCK:
                shared.update(same)
        return heapq.nsmallest(count, blocked, key=lambda other: (-shared[other], other))

    def text_agreement(self, a: Fingerprint, b_id: str) -> float:
        """How alike `a`'s text is to indexed item `b_id`'s (templates discounted), 0 where the two cannot be one
        vulnerability whatever their text says (the score's measures without its evidence)."""
        # `_measure`'s text and conflicts alone: triage asks this of every record covering a reported version.
        b = self._fingerprints[b_id]
        if not a.tokens or not b.tokens or _identity_conflict(a, b):
            return 0.0
        text = self._text_similarity(a, None, b, b_id, self._package_agreement(a, b) != "none")
        if text < _SAME_STORY and (_other_packages(a, b) or _two_advisories(a, b)):
            return 0.0
        return text

    def candidates(self, fp: Fingerprint, limit: int) -> list[Candidate]:
        """The best `limit` indexed items for `fp`, best first (ties by id)."""
        if limit <= 0:
            return []
        blocked = self._blocked(fp)
        scored = self._closest(fp, blocked, MAX_SCORED) if len(blocked) > MAX_SCORED else blocked
        # Evidence only for those kept: writing it out cost a tenth of the report worker's de-duplication step.
        measured = [(other, self._measure(fp, self._fingerprints[other], None, other)) for other in scored]
        measured.sort(key=lambda item: (-item[1].score, item[0]))
        return [self._candidate(fp, self._fingerprints[other], other, m) for other, m in measured[:limit]]

    def blocked_pairs(self) -> list[tuple[str, str]]:
        """Every pair of indexed items that blocking puts together, each once, in the order found."""
        blocked_by: dict[str, set[str]] = {}  # each item done: the items its blocking found
        found: list[tuple[str, str]] = []
        for item_id, fp in self._fingerprints.items():
            blocked = blocked_by[item_id] = self._blocked(fp)
            blocked.discard(item_id)
            # Blocking is not symmetric (one text names the other's package): a pair is the earlier item's when its
            # blocking found the later one, else the later item's.
            found.extend(
                (item_id, other)
                for other in blocked
                if (earlier := blocked_by.get(other)) is None or item_id not in earlier
            )
        return found

    def scores(self, pairs: list[tuple[str, str]], min_score: float) -> list[tuple[int, float]]:
        """(position in `pairs`, score) of each pair of indexed ids scoring at least `min_score`, without evidence.

        (Scoring every other pair in one child forked once the index was complete, results sent back as positions,
        was measured again: the child's touching the index cost 107,000 page faults, 0.6 CPU seconds more than the
        1 s of scoring alone, for at best 0.2 s less wall time on an idle 2-core machine and more on a busy one.)
        """
        fingerprints = self._fingerprints
        content = self._content_measures
        found: list[tuple[int, float]] = []
        for n, (item_id, other) in enumerate(pairs):
            a, b = fingerprints[item_id], fingerprints[other]
            # Most blocked pairs end in an identity conflict (on the development set 104,000 of 179,000), which
            # scores 0: they are ruled out before any measure is built.
            score = 0.0 if _identity_conflict(a, b) else content(a, b, item_id, other)[0]
            if score >= min_score:
                found.append((n, score))
        return found


# -- a fingerprint as plain data (issue 16: workers share what they fingerprinted instead of each redoing it) ---------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# How each kind of field is turned into plain JSON-able data and back, by its annotation. A field of another kind
# fails here, at import, so a new field cannot silently miss from the shared form.
_PLAIN: dict[str, tuple[Any, Any]] = {
    "frozenset[str]": (sorted, _frozen),
    "frozenset[tuple[str, str]]": (sorted, lambda items: _frozen(tuple(item) for item in items)),
    "tuple[str, ...]": (list, tuple),
    "tuple[bytes, ...]": (lambda items: [_b64(b) for b in items], lambda items: tuple(map(base64.b64decode, items))),
    "bytes": (_b64, base64.b64decode),
    "dict[tuple[str, str], frozenset[str]]": (
        lambda groups: [[*key, sorted(values)] for key, values in sorted(groups.items())],
        lambda groups: {(ecosystem, name): frozenset(values) for ecosystem, name, values in groups},
    ),
    "str": (str, str),
    "int": (int, int),
}
_FIELDS = [(f.name, _PLAIN[str(f.type)]) for f in fields(Fingerprint)]
# Told apart from a form written by code with other fields (a worker of another release during an upgrade): that
# form is refused and the report fingerprinted again.
FINGERPRINT_FORM = zlib.crc32(";".join(f"{f.name}:{f.type}" for f in fields(Fingerprint)).encode())


def fingerprint_to_plain(fp: Fingerprint) -> list[Any]:
    """The fingerprint as a list of JSON-able values, its form first (`fingerprint_from_plain` reads it back)."""
    return [FINGERPRINT_FORM, *(encode(getattr(fp, name)) for name, (encode, _) in _FIELDS)]


def fingerprint_from_plain(data: Any) -> Fingerprint | None:
    """The fingerprint `fingerprint_to_plain` gave, or None when `data` is not one of this code's form."""
    if not isinstance(data, list) or len(data) != len(_FIELDS) + 1 or data[0] != FINGERPRINT_FORM:
        return None
    try:
        values = {name: decode(value) for (name, (_, decode)), value in zip(_FIELDS, data[1:], strict=True)}
        return Fingerprint(**values)
    except (TypeError, ValueError):  # not what this code wrote (binascii.Error is a ValueError)
        return None
