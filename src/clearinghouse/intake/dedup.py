"""Near-duplicate detection on content alone: text, packages, versions, CWEs and code locations.

Ids and aliases are never used here (the service matches shared identifiers separately), and identifiers quoted
in the text (CVE, GHSA, PYSEC, GO, RUSTSEC, ... and every URL) are removed before the text is tokenised, so that
a match always rests on what the reports say.

Method, chosen by measurement on the development set (`bench/dedup.py`):

* text similarity is the cosine of binary IDF-weighted word vectors (summary and details together);
* candidates are found by blocking, never by comparing everything with everything: MinHash LSH over the word
  sets finds near-identical texts, and (package name token, version boundary) keys find reports of the same
  fix, including across ecosystems (``airflow`` in Bitnami and ``apache-airflow`` on PyPI share ``airflow``;
  a Go module path contributes its last segments) and where one report's text names the other's package;
* the score is a weighted mean of the text, version, CWE and location agreement, scaled down when the packages
  do not agree, so the same words about a different package never make a strong match.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clearinghouse.records.model import Affected, OsvRecord
from clearinghouse.records.versions import UnknownEcosystem, normalize_name

# --- text -------------------------------------------------------------------------------------------------------

_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
# Database ids: the well-known shapes, then any PREFIX-YEAR-NUMBER (ALSA-2024:1234, DSA-..., BIT-php-2024-1).
_IDS = re.compile(
    r"\b(?:CVE-\d{4}-\d{3,}|GHSA(?:-[0-9a-z]{4}){3}|GO-\d{4}-\d+|PYSEC-\d{4}-\d+|RUSTSEC-\d{4}-\d+|OSV-\d{4}-\d+"
    r"|[A-Z][A-Za-z]{1,9}(?:-[A-Za-z0-9.]+)*?-\d{4}[-:]\d+)\b",
    re.IGNORECASE,
)
_CWE = re.compile(r"\bCWE-?(\d{1,6})\b", re.IGNORECASE)
_VERSION = re.compile(r"(\d+(?:\.\d+)*)(.*)")
_PRERELEASE = re.compile(r"[-.+_]?(?:(?:a|b|c|rc|alpha|beta|pre|preview|dev)[-.]?\d*)?")
_TOKEN = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
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
# The Go standard library is "stdlib"/"toolchain" in the Go database and "golang"/"go" elsewhere.
_NAME_SYNONYMS = {"stdlib": ("golang",), "toolchain": ("golang",)}

# --- scoring ----------------------------------------------------------------------------------------------------

_TEXT_POWER = 2  # templated advisories from one project share most words; only near-identical text counts
_WEIGHTS = {"text": 0.6, "versions": 0.6, "cwes": 0.1, "locations": 0.15}
# Package agreement multiplies the content score: the same name, a shared name part, the name in the other's
# text, or nothing in common.
_PACKAGE_FACTOR = {"same name": 1.0, "shared name part": 0.95, "named in text": 0.85, "none": 0.5}
_NO_PACKAGE_FACTOR = 0.8  # one side names no package: neither agreement nor conflict

# MinHash LSH: 12 bands of 5 rows find pairs with word-set Jaccard 0.7 with probability 0.86 and 0.9 with
# 0.9996, while unrelated advisories (Jaccard ~0.1) collide about once in 8,000 pairs.
_BANDS = 12
_ROWS = 5
_MERSENNE = (1 << 61) - 1
_RNG = np.random.default_rng(20261122)
_PERM_A = _RNG.integers(1, 1 << 32, size=_BANDS * _ROWS, dtype=np.uint64)
_PERM_B = _RNG.integers(0, 1 << 32, size=_BANDS * _ROWS, dtype=np.uint64)
# A version seen with more distinct packages than this (0.1.0, 1.0.0) is no evidence; a whole-package block larger
# than this is not searched for reports that give no version.
_MAX_BLOCK = 400
_MAX_BUCKET = 50


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


@dataclass(frozen=True, slots=True)
class Candidate:
    other_id: str
    score: float
    evidence: dict[str, Any]


def strip_identifiers(text: str) -> str:
    """The text without URLs and vulnerability ids, which would otherwise let ids leak into the comparison."""
    return _IDS.sub(" ", _URL.sub(" ", text))


def text_tokens(text: str) -> list[str]:
    words = _TOKEN.findall(strip_identifiers(text).lower())
    return [w for w in words if len(w) > 1 and w not in _STOPWORDS]


def normalize_version(value: str) -> str | None:
    """A comparable spelling of a version: ``v1.2.0rc1`` and ``1.2`` both become ``1.2``; None for "any"."""
    text = value.strip().lower().removeprefix("v").removeprefix("go")
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


def _names(ecosystem: str, name: str) -> tuple[str, set[str], set[str]]:
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
    for candidate in names:
        for part in re.split(r"[^a-z0-9]+", candidate):
            if len(part) > 1 and not part.isdigit() and part not in _GENERIC_NAME_PARTS:
                parts.add(part)
                if part.startswith("py") and len(part) > 4:
                    parts.add(part[2:])  # pyspark -> spark, pyyaml -> yaml
    if not parts:
        parts = {s for s in segments[-1:]} or {lowered}
    return f"{ecosystem}/{normal}", names, parts


def _versions(values: Iterable[str]) -> set[str]:
    return {v for v in (normalize_version(value) for value in values if value) if v}


def _text_features(title: str | None, description: str | None) -> tuple[frozenset[str], str]:
    tokens = text_tokens(f"{title or ''}\n{description or ''}")
    digest = hashlib.blake2b(" ".join(tokens).encode(), digest_size=12).hexdigest() if tokens else ""
    return frozenset(tokens), digest


def _build(
    title: str | None,
    description: str | None,
    packages: Iterable[tuple[tuple[str, str], Iterable[str]]],
    cwes: Iterable[str],
    locations: Iterable[str],
) -> Fingerprint:
    tokens, digest = _text_features(title, description)
    text_cwes = {f"CWE-{int(m)}" for m in _CWE.findall(f"{title or ''} {description or ''}")}
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
        all_names |= names
        all_parts |= parts
        own = _versions(versions)
        all_versions |= own
        keys.update(f"{part}@{version}" for part in parts for version in own)
    return Fingerprint(
        tokens=tokens,
        text_digest=digest,
        packages=frozenset(keys_shown),
        names=frozenset(all_names),
        name_parts=frozenset(all_parts),
        versions=frozenset(all_versions),
        keys=frozenset(keys),
        cwes=frozenset({c for c in (_cwe(value) for value in cwes) if c} | text_cwes),
        locations=frozenset(loc.strip().lower() for loc in locations if loc.strip()),
    )


def fingerprint(
    title: str | None,
    description: str | None,
    packages: list[tuple[str, str]],
    versions: list[str],
    cwes: list[str],
    locations: list[str],
) -> Fingerprint:
    """Features of a report: (ecosystem, name) packages, the versions it names, CWEs and code locations."""
    return _build(title, description, [(package, versions) for package in packages], cwes, locations)


def _affected_versions(affected: Affected) -> list[str]:
    # Range boundaries say which release fixed it; listed versions only when there is no range (a full list of
    # affected releases would make any two reports on the package look alike).
    bounds = [
        value
        for r in affected.ranges or ()
        for e in r.events
        for value in (e.introduced, e.fixed, e.last_affected)
        if value is not None
    ]
    return bounds or list(affected.versions or ())


def _osv_locations(affected: Affected) -> list[str]:
    """Code locations an OSV record names: Go import paths and symbols, RustSec affected functions."""
    found: list[str] = []
    specific = affected.ecosystem_specific or {}
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
        for key in ("cwe_ids", "cwes", "cwe"):
            value = (specific or {}).get(key)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found.extend(str(v) for v in value if isinstance(v, str | int))
    return found


def fingerprint_osv(osv: OsvRecord) -> Fingerprint:
    """Features of an OSV record: summary, details, affected packages with their versions, CWEs, locations."""
    affected = [a for a in osv.affected or () if a.package is not None]
    return _build(
        osv.summary,
        osv.details,
        [((a.package.ecosystem, a.package.name), _affected_versions(a)) for a in affected if a.package],
        _osv_cwes(osv),
        [loc for a in affected for loc in _osv_locations(a)],
    )


def _minhash(tokens: frozenset[str]) -> npt.NDArray[np.uint64]:
    hashes = np.fromiter((zlib.crc32(t.encode()) for t in tokens), dtype=np.uint64, count=len(tokens))
    # Both factors are below 2**32, so the product and sum stay inside uint64 before the modulus.
    mixed = (np.outer(hashes, _PERM_A) + _PERM_B) % _MERSENNE
    signature: npt.NDArray[np.uint64] = mixed.min(axis=0)
    return signature


def _bands(tokens: frozenset[str]) -> list[bytes]:
    if not tokens:
        return []
    signature = _minhash(tokens)
    return [bytes([band]) + signature[band * _ROWS : (band + 1) * _ROWS].tobytes() for band in range(_BANDS)]


@dataclass(frozen=True, slots=True)
class _Measures:
    score: float
    text: float | None
    versions: float | None
    specificity: float
    agreement: str | None


def _overlap(a: frozenset[str], b: frozenset[str]) -> float | None:
    """Overlap coefficient (shared / smaller set); None when either side is empty."""
    if not a or not b:
        return None
    return len(a & b) / min(len(a), len(b))


def _package_agreement(a: Fingerprint, b: Fingerprint) -> str | None:
    if not a.names or not b.names:
        return None
    if a.names & b.names:
        return "same name"
    if a.name_parts & b.name_parts:
        return "shared name part"
    if (a.name_parts & b.tokens) or (b.name_parts & a.tokens):
        return "named in text"
    return "none"


def _shared_names(a: Fingerprint, b: Fingerprint, agreement: str | None) -> list[str]:
    if agreement == "same name":
        return sorted(a.names & b.names)
    if agreement == "shared name part":
        return sorted(a.name_parts & b.name_parts)
    if agreement == "named in text":
        return sorted((a.name_parts & b.tokens) | (b.name_parts & a.tokens))
    return []


class DedupIndex:
    """Fingerprints by id, with the blocking structures that find a new fingerprint's likely duplicates."""

    def __init__(self) -> None:
        self._fingerprints: dict[str, Fingerprint] = {}
        self._df: dict[str, int] = {}
        self._bands: dict[bytes, list[str]] = {}
        self._by_key: dict[str, list[str]] = {}
        self._by_part: dict[str, list[str]] = {}  # every record naming a package part (reports without versions)
        self._unversioned: dict[str, list[str]] = {}  # records naming a package but no version, by name part
        self._version_spread: dict[str, set[str]] = {}  # version -> name parts seen with it
        self._norms: dict[str, float] = {}
        self._idf: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._fingerprints)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._fingerprints

    def add(self, item_id: str, fp: Fingerprint) -> None:
        if item_id in self._fingerprints:
            raise ValueError(f"{item_id!r} is already indexed")
        self._fingerprints[item_id] = fp
        for token in fp.tokens:
            self._df[token] = self._df.get(token, 0) + 1
        for band in _bands(fp.tokens):
            self._bands.setdefault(band, []).append(item_id)
        for key in fp.keys:
            self._by_key.setdefault(key, []).append(item_id)
            part, _, version = key.partition("@")
            self._version_spread.setdefault(version, set()).add(part)
        for part in fp.name_parts:
            self._by_part.setdefault(part, []).append(item_id)
            if not fp.versions:
                self._unversioned.setdefault(part, []).append(item_id)
        # Weights depend on the collection size; recompute lazily.
        self._norms.clear()
        self._idf.clear()

    def get(self, item_id: str) -> Fingerprint:
        return self._fingerprints[item_id]

    # -- similarity -------------------------------------------------------------------------------------------

    def _weight(self, token: str) -> float:
        weight = self._idf.get(token)
        if weight is None:
            weight = math.log((len(self._fingerprints) + 1) / (self._df.get(token, 0) + 1)) + 1.0
            self._idf[token] = weight
        return weight

    def _norm(self, item_id: str | None, fp: Fingerprint) -> float:
        if item_id is not None and (cached := self._norms.get(item_id)) is not None:
            return cached
        norm = math.sqrt(sum(self._weight(t) ** 2 for t in fp.tokens))
        if item_id is not None:
            self._norms[item_id] = norm
        return norm

    def _text_similarity(self, a: Fingerprint, a_id: str | None, b: Fingerprint, b_id: str | None) -> float:
        if not a.tokens or not b.tokens:
            return 0.0
        if a.text_digest == b.text_digest:
            return 1.0
        shared = a.tokens & b.tokens
        if not shared:
            return 0.0
        dot = sum(self._weight(t) ** 2 for t in shared)
        return min(1.0, dot / (self._norm(a_id, a) * self._norm(b_id, b)))

    def _specificity(self, a: Fingerprint, b: Fingerprint) -> float:
        """How telling a shared (package, version) is: 1 for a pair alone on it, less when many records share it
        (one TensorFlow release fixes dozens of vulnerabilities)."""
        shared = a.keys & b.keys
        if not shared:
            return 0.0
        fewest = min(len(self._by_key.get(key, ())) for key in shared)
        return min(1.0, 2.0 / max(fewest, 1))

    def _measure(self, a: Fingerprint, b: Fingerprint, a_id: str | None, b_id: str | None) -> _Measures:
        text = self._text_similarity(a, a_id, b, b_id) if a.tokens and b.tokens else None
        versions = _overlap(a.versions, b.versions)
        specificity = self._specificity(a, b) if versions is not None else 0.0
        cwes = _overlap(a.cwes, b.cwes)
        locations = _overlap(a.locations, b.locations)
        agreement = _package_agreement(a, b)
        parts = {
            "text": None if text is None else text**_TEXT_POWER,
            "versions": None if versions is None else versions * specificity,
            "cwes": None if cwes is None else float(cwes > 0),
            "locations": locations,
        }
        present = {k: v for k, v in parts.items() if v is not None}
        total = sum(_WEIGHTS[k] for k in present)
        content = sum(_WEIGHTS[k] * v for k, v in present.items()) / total if total else 0.0
        factor = _NO_PACKAGE_FACTOR if agreement is None else _PACKAGE_FACTOR[agreement]
        score = round(min(1.0, max(0.0, content * factor)), 4)
        return _Measures(score, text, versions, specificity, agreement)

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
        }
        return Candidate(b_id or "", m.score, evidence)

    # -- blocking ---------------------------------------------------------------------------------------------

    def _useful_version(self, version: str) -> bool:
        return len(self._version_spread.get(version, ())) <= _MAX_BLOCK

    def _blocked(self, fp: Fingerprint) -> set[str]:
        """Ids that share an LSH band, a (package, version) key, or (without versions) a package with `fp`."""
        found: set[str] = set()
        for band in _bands(fp.tokens):
            # A crowded bucket is boilerplate shared by a whole database (errata, fuzzer reports), not a match.
            if len(bucket := self._bands.get(band, ())) <= _MAX_BUCKET:
                found.update(bucket)
        for key in fp.keys:
            if len(block := self._by_key.get(key, ())) <= _MAX_BUCKET:
                found.update(block)
        # The other record's package named in this one's text, at a version this one gives.
        mentioned = [t for t in fp.tokens if t in self._by_part and t not in fp.name_parts]
        for version in fp.versions:
            if self._useful_version(version):
                for token in mentioned:
                    found.update(self._by_key.get(f"{token}@{version}", ()))
        for part in fp.name_parts:
            if len(self._by_part.get(part, ())) > _MAX_BLOCK:
                continue
            found.update(self._unversioned.get(part, ()))
            if not fp.versions:
                found.update(self._by_part.get(part, ()))
        return found

    def candidates(self, fp: Fingerprint, limit: int) -> list[Candidate]:
        """The best `limit` indexed items for `fp`, best first (ties by id)."""
        if limit <= 0:
            return []
        scored = [self.score(fp, self._fingerprints[other], None, other) for other in self._blocked(fp)]
        scored.sort(key=lambda c: (-c.score, c.other_id))
        return scored[:limit]

    def pairs(self, min_score: float) -> Iterator[tuple[str, str, Candidate]]:
        """Every indexed pair scoring at least `min_score`, each once."""
        seen: set[tuple[str, str]] = set()
        for item_id, fp in self._fingerprints.items():
            # Blocking is not symmetric (one text names the other's package), so either side may find a pair.
            for other in self._blocked(fp):
                pair = (item_id, other) if item_id < other else (other, item_id)
                if other == item_id or pair in seen:
                    continue
                seen.add(pair)
                other_fp = self._fingerprints[other]
                measures = self._measure(fp, other_fp, item_id, other)
                if measures.score >= min_score:
                    yield item_id, other, self._candidate(fp, other_fp, other, measures)
