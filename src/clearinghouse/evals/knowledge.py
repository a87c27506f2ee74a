"""Vulnerability-knowledge tasks built from real OSV advisories: predict the CWE, the CVSS v3.1 vector and the
first fixed version of an advisory whose answer has been redacted from its text.

Run with Inspect, e.g. ``inspect eval src/clearinghouse/evals/knowledge.py@cvss_prediction -T limit=50
-T published_after=2024-06-01 --model <model>``. ``source`` is the bundled 63-record sample (default), a path
(file or directory of OSV JSON / JSON Lines / gzip / zip) or ``store`` (the configured record store).

Only records carrying the ground truth a task needs enter it; withdrawn records never do. Samples are drawn
reproducibly: qualifying records in id order, shuffled with ``seed``, first ``limit`` kept. ``published_after``
keeps only records published after a model's training cut-off, which limits contamination.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import cvss
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer, Target, accuracy, mean, scorer, stderr
from inspect_ai.solver import TaskState, generate, system_message
from univers import versions as uv

from clearinghouse.data import sample_path
from clearinghouse.errors import InvalidRecord, NoSamples
from clearinghouse.formats import osv
from clearinghouse.ingest.readers import RawDocument, read_path
from clearinghouse.records.model import OsvRecord, RangeType, SeverityType
from clearinghouse.records.versions import SemverVersion, parse_version

__all__ = [
    "CVSS_BASE_METRICS",
    "CvssComparison",
    "FixedTarget",
    "compare_cvss",
    "cvss_prediction",
    "cvss_vector",
    "cwe_prediction",
    "distinct",
    "extract_answer",
    "extract_cwe",
    "fixed_target",
    "fixed_version",
    "load_records",
    "parse_cut_off",
    "record_cwes",
    "redact",
    "score_cwe",
    "score_fixed_version",
    "select_records",
    "versions_equal",
]

_T = TypeVar("_T")

CVSS_BASE_METRICS = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
DEFAULT_LIMIT = 200

SYSTEM_PROMPT = """You are an experienced vulnerability analyst. You will be shown a public security advisory \
from which some details have been replaced by placeholders in square brackets. Reason briefly, then give your \
final answer on the last line in the form `ANSWER: <answer>`."""

# --------------------------------------------------------------------------------------------------------
# Loading and selecting records
# --------------------------------------------------------------------------------------------------------


def _from_path(path: Path) -> Iterator[OsvRecord]:
    for item in read_path(path):
        if not isinstance(item, RawDocument):
            continue  # an unreadable record cannot be a sample; the ingest pipeline is where it gets reported
        try:
            yield osv.parse(item.data, item.location)
        except InvalidRecord:
            continue


@lru_cache(maxsize=4)
def _cached_path(path: str, mtime_ns: int, size: int) -> tuple[OsvRecord, ...]:
    # Keyed on mtime and size so that a file rewritten between runs is read again.
    return tuple(_from_path(Path(path)))


def load_records(source: str | Path | None = None) -> list[OsvRecord]:
    """OSV records from the bundled sample (None), a file or directory, or ``"store"``."""
    if source == "store":
        from clearinghouse.store.db import open_engine
        from clearinghouse.store.records import RecordStore

        return [record.osv for record in RecordStore(open_engine()).iter_records()]
    path = sample_path("osv-sample.jsonl") if source is None else Path(source)
    if path.is_dir():
        return list(_from_path(path))
    stat = path.stat()
    return list(_cached_path(str(path), stat.st_mtime_ns, stat.st_size))


def parse_cut_off(value: str) -> datetime:
    """A date (UTC midnight) or RFC 3339 timestamp as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def select_records(
    records: Iterable[OsvRecord], *, seed: int = 0, limit: int | None = None, published_after: str | None = None
) -> list[OsvRecord]:
    """Non-withdrawn records (published strictly after ``published_after`` when given), in a seeded order.

    Sorting by id before shuffling makes the draw independent of the order the source yields records in.
    """
    cut_off = parse_cut_off(published_after) if published_after else None
    kept = [
        r
        for r in records
        if r.withdrawn is None and (cut_off is None or (r.published_at is not None and r.published_at > cut_off))
    ]
    kept.sort(key=lambda r: r.id)
    random.Random(seed).shuffle(kept)  # noqa: S311 - a reproducible draw, not a secret
    return kept if limit is None else kept[:limit]


def distinct(pairs: Iterable[tuple[OsvRecord, _T]]) -> list[tuple[OsvRecord, _T]]:
    """Keep the first record of each vulnerability: one that shares an identifier (id or alias) with a record
    already kept is dropped. Bitnami publishes one record per component (``BIT-php-...``, ``BIT-libphp-...``)
    and mirrors PYSEC and GO: near-identical samples would count one advisory several times and make the
    intervals too narrow."""
    seen: set[str] = set()
    kept: list[tuple[OsvRecord, _T]] = []
    for record, value in pairs:
        identifiers = {i.upper() for i in record.identifiers()}
        if identifiers & seen:
            continue
        seen |= identifiers
        kept.append((record, value))
    return kept


# --------------------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------------------

_CWE = re.compile(r"\bCWE[-_ ]?(\d{1,4})\b", re.IGNORECASE)


def _normalise_cwe(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("cweId") or value.get("id")
    if isinstance(value, int):
        return f"CWE-{value}"
    if isinstance(value, str):
        match = _CWE.search(value)
        if match:
            return f"CWE-{int(match[1])}"
    return None


def _problem_type_cwes(problem_types: object) -> list[str]:
    """CWE ids of CVE JSON 5 ``problemTypes`` ([{"descriptions": [{"cweId": "CWE-79", ...}]}])."""
    found: list[str] = []
    for problem in problem_types if isinstance(problem_types, list) else ():
        descriptions = problem.get("descriptions") if isinstance(problem, dict) else None
        for description in descriptions if isinstance(descriptions, list) else ():
            if isinstance(description, dict) and description.get("cweId"):
                cwe = _normalise_cwe(description["cweId"])
                if cwe:
                    found.append(cwe)
    return found


def _structured_cwes(database_specific: dict[str, Any] | None) -> list[str]:
    if not database_specific:
        return []
    found: list[str] = []
    # GHSA: database_specific.cwe_ids ["CWE-79"]; some feeds use "cwes" with strings or {"cweId": ...}.
    for key in ("cwe_ids", "cwes", "cwe"):
        values = database_specific.get(key)
        for value in values if isinstance(values, list) else [values]:
            cwe = _normalise_cwe(value)
            if cwe:
                found.append(cwe)
    for key in ("problemTypes", "problem_types", "problemtypes"):
        found += _problem_type_cwes(database_specific.get(key))
    return found


def record_cwes(record: OsvRecord) -> list[str]:
    """The record's CWE ids from structured fields only: ``database_specific.cwe_ids`` (GHSA) and the like,
    CVE JSON 5 problem types carried in ``database_specific``, per-package ``database_specific``. Never from
    the advisory text: a CWE an advisory names in its prose is in the prompt the model reads."""
    found = _structured_cwes(record.database_specific)
    for affected in record.affected or ():
        found += _structured_cwes(affected.database_specific)
    return list(dict.fromkeys(found))


def cvss_vector(record: OsvRecord) -> str | None:
    """The record's first CVSS v3.1 vector that parses (record-level severity before per-package)."""
    for severity in record.all_severities():
        if severity.type is SeverityType.CVSS_V3 and severity.score.startswith("CVSS:3.1/"):
            try:
                cvss.CVSS3(severity.score)
            except cvss.CVSS3Error:
                continue
            return severity.score
    return None


@dataclass(frozen=True)
class FixedTarget:
    """The question behind `fixed_version`: the first ``fixed`` event of a package's first usable range."""

    ecosystem: str
    package: str
    range_type: str
    fixed: str
    all_fixed: tuple[str, ...]


# Ecosystems whose fixed "versions" are distribution builds (`2.1.0-11.el8`, `1.2-1+deb11u1`): naming one is
# recall of a packaging event, not security skill, so they form a variant of their own.
DISTRO_ECOSYSTEMS = frozenset(
    {
        "AlmaLinux", "Alpine", "Chainguard", "Debian", "Mageia", "openEuler", "openSUSE", "Photon OS",
        "Red Hat", "Rocky Linux", "SUSE", "Ubuntu", "Wolfi", "Azure Linux", "Echo", "MinimOS", "Android",
    }
)  # fmt: skip
_DISTRO_BUILD = re.compile(r"-\d+[.\w+~]*\.(?:el|fc|amzn|mga|module_el)\d|\+deb\d|ubuntu\d|-r\d+$", re.IGNORECASE)
# rc/alpha/beta/dev/pre spellings of a version: a pre-release of the fix names the fix
_PRERELEASE = r"(?:[-._~+]?(?:rc|alpha|beta|a|b|dev|pre|preview)[-._]?\d*)"


def is_distro_build(target: FixedTarget) -> bool:
    return target.ecosystem.partition(":")[0] in DISTRO_ECOSYSTEMS or bool(_DISTRO_BUILD.search(target.fixed))


def fixed_target(record: OsvRecord) -> FixedTarget | None:
    """The first affected package with a SEMVER or ECOSYSTEM range that has a ``fixed`` event. GIT ranges are
    left out: their fixed "version" is a commit hash no one could be expected to name."""
    for affected in record.affected or ():
        if affected.package is None:
            continue
        fixes = [
            (rng.type, event.fixed)
            for rng in affected.ranges or ()
            if rng.type is not RangeType.GIT
            for event in rng.events
            if event.fixed
        ]
        if fixes:
            return FixedTarget(
                ecosystem=affected.package.ecosystem,
                package=affected.package.name,
                range_type=fixes[0][0].value,
                fixed=fixes[0][1],
                all_fixed=tuple(dict.fromkeys(f for _, f in fixes)),
            )
    return None


# --------------------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------------------

_ID_PATTERNS = re.compile(
    r"\b(?:CVE-\d{4}-\d{3,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|GO-\d{4}-\d+|RUSTSEC-\d{4}-\d+"
    r"|BIT-[\w.-]+-\d{4}-\d+|OSV-\d{4}-\d+|AL[BES]A-\d{4}:\d+|RSEC-\d{4}-\d+|DSA-\d+-\d+|USN-\d+-\d+)\b",
    re.IGNORECASE,
)
# A CWE reference with the weakness name that usually follows it ("CWE-79: Improper Neutralization of Input
# During Web Page Generation ('Cross-site Scripting')"); the name runs to the end of the clause.
_CWE_WITH_NAME = re.compile(
    r"\(?\bCWE[-_ ]?\d{1,4}\b\)?(?:\s*[:\-]\s*[^\n\]]*?(?=\s+vulnerabilit|\s+weakness|\s+issue|\]|\n|\.\s|\.$|$|,\s))?",
    re.IGNORECASE,
)
_CVSS_VECTOR = re.compile(r"(?:CVSS:\d\.\d/)?\b(?:[A-Z]{1,3}:[A-Z]{1,2}/){2,}[A-Z]{1,3}:[A-Z]{1,2}\b")
_CVSS_SCORE = re.compile(
    r"\bCVSS\s*(?:v?\d(?:\.\d)?)?\s*(?:base\s*)?(?:score)?\s*(?:of|is|:|=)?\s*\d{1,2}\.\d\b", re.IGNORECASE
)
_VERSION_TOKEN = re.compile(r"(?<![\w.-])v?\d+(?:[.\-+~_:][0-9A-Za-z]+)*(?![\w-])")


def _version_key(target: FixedTarget, version: str) -> uv.Version | None:
    try:
        if target.range_type == RangeType.SEMVER.value:
            return SemverVersion(version.strip())
        return parse_version(target.ecosystem, version.strip())
    except Exception:  # univers raises assorted exception types for unparseable versions
        return None


def versions_equal(target: FixedTarget, expected: str, answer: str) -> bool:
    """Equal as strings, or equal under the version semantics of the range (PyPI ``1.0`` == ``1.0.0``;
    SemVer and Go ``v1.2.3`` == ``1.2.3``)."""
    a, b = expected.strip(), answer.strip()
    if a == b:
        return True
    left, right = _version_key(target, a), _version_key(target, b)
    if left is None or right is None:
        return False
    try:
        return not left < right and not right < left
    except TypeError:
        return False


_VERSION = r"[`'\"]?v?\d+(?:[.\-+~_][0-9A-Za-z]+)*[`'\"]?"
# "1.2.2 and earlier", "2.4.1 (and earlier)", "`v0.7.0` and prior versions": the affected upper bound gives the
# next version away
_AND_EARLIER = re.compile(
    rf"(?:\bversions?\s+)?{_VERSION}\s*\(?\s*(?:,\s*)?(?:and|or|&)\s+(?:all\s+)?"
    r"(?:earlier|older|below|lower|prior|before)(?:\s+versions?)?\)?",
    re.IGNORECASE,
)
# "before 1.2.3", "prior to 1.2.3", "through 1.2.2", "< 1.2.3", "up to and including 1.2.2"
_BOUND = re.compile(
    rf"\b(?:before|prior\s+to|through|thru|up\s+to(?:\s+and\s+including)?|older\s+than|lower\s+than|below|"
    rf"until|till)\s+(?:versions?\s+)?{_VERSION}|(?:<=?|≤)\s*{_VERSION}",
    re.IGNORECASE,
)
# GitHub/GitLab compare links ("compare/v1.2.2...v1.2.3") name the fixed release in the URL
_COMPARE_URL = re.compile(r"\S*/compare/\S+", re.IGNORECASE)


def redact_version_hints(text: str) -> str:
    """``text`` without the phrasing that bounds the affected versions or links the fixing release."""
    text = _COMPARE_URL.sub("[URL]", text)
    text = _AND_EARLIER.sub("[AFFECTED VERSIONS]", text)
    return _BOUND.sub("[AFFECTED VERSIONS]", text)


def _alternate_terms(field: str) -> list[str]:
    """The TERM entries of a cwe2 alternate_terms field ("::TERM:XSS:DESCRIPTION:...::TERM:Path traversal::")."""
    return [chunk[5:].split(":DESCRIPTION:")[0] for chunk in field.split("::") if chunk.startswith("TERM:")]


@lru_cache(maxsize=1)
def _weakness_terms() -> re.Pattern[str]:
    """Every weakness name in the CWE catalogue shipped with `cwe2` (research view), its parenthesised short
    names ('Cross-site Scripting') and its alternate terms (XSS, Zip Slip, ...), as one case-insensitive
    pattern tolerant of hyphen/space variants and plurals. Read from the package: nothing is downloaded."""
    from cwe2.database import get_by_category
    from cwe2.mappings import navigate_cwe

    terms: set[str] = set()
    for view in ("research_concepts", "software_development"):
        path = navigate_cwe.get(view, {}).get("csv_file")
        if not path:
            continue
        for weakness in get_by_category(path):
            name = str(weakness.name or "")
            terms.add(name)
            terms.update(re.findall(r"\('([^']+)'\)", name))
            terms.add(re.sub(r"\s*\(.*?\)", "", name))
            for term in _alternate_terms(str(weakness.alternate_terms or "")):
                terms.update(re.split(r"\s*/\s*|,\s*", term))
    usable = sorted({t.strip() for t in terms if len(t.strip()) >= 3}, key=len, reverse=True)
    alternatives = [r"[\s_-]+".join(re.escape(word) for word in re.split(r"[\s-]+", t)) for t in usable]
    return re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + r")(?:e?s)?(?![\w])", re.IGNORECASE)


def redact_weaknesses(text: str) -> str:
    """``text`` without any weakness name or synonym the CWE catalogue knows."""
    return _weakness_terms().sub("[WEAKNESS]", text)


def redact(text: str, *, ids: Iterable[str] = (), fixed: Iterable[FixedTarget] = (), extra: Iterable[str] = ()) -> str:
    """``text`` without advisory ids (given and any well-known id pattern), CWE ids and names, CVSS vectors
    and scores, and fixed versions (literal or equal under the ecosystem's version rules)."""
    for literal in sorted({*ids, *extra}, key=len, reverse=True):
        if literal:
            text = re.sub(re.escape(literal), "[ID]", text, flags=re.IGNORECASE)
    text = _ID_PATTERNS.sub("[ID]", text)
    text = _CWE_WITH_NAME.sub("[CWE]", text)
    text = _CVSS_VECTOR.sub("[CVSS VECTOR]", text)
    text = _CVSS_SCORE.sub("CVSS [SCORE]", text)
    targets = list(fixed)
    if not targets:
        return text

    def version(match: re.Match[str]) -> str:
        token = match.group(0)
        stripped = token.rstrip(".")
        for target in targets:
            for value in target.all_fixed:
                if stripped in (value, f"v{value}") or versions_equal(target, value, stripped):
                    return "[VERSION]" + token[len(stripped) :]
                # A longer spelling of the fix ("3002.2-3" for PyPI's "3002.2", "1.2.3-rc1") gives it away too.
                bare = stripped.removeprefix("v")
                if bare.startswith(value) and bare[len(value) : len(value) + 1] in ("-", "+", "~", "_"):
                    return "[VERSION]" + token[len(stripped) :]
                # "1.2.3rc1" for a fix in 1.2.3: a release candidate of the fix
                if bare.startswith(value) and re.fullmatch(_PRERELEASE, bare[len(value) :], re.IGNORECASE):
                    return "[VERSION]" + token[len(stripped) :]
        return token

    return _VERSION_TOKEN.sub(version, text)


def _all_fixed_targets(record: OsvRecord) -> list[FixedTarget]:
    """Every package's fixed versions, so that no fixed version of any package is left in the text."""
    targets: list[FixedTarget] = []
    for affected in record.affected or ():
        if affected.package is None:
            continue
        for rng in affected.ranges or ():
            values = tuple(e.fixed for e in rng.events if e.fixed)
            if values and rng.type is not RangeType.GIT:
                targets.append(
                    FixedTarget(affected.package.ecosystem, affected.package.name, rng.type.value, values[0], values)
                )
    return targets


def _advisory_text(record: OsvRecord, *, weaknesses: bool = False, version_hints: bool = False) -> str:
    """The redacted advisory; ``weaknesses`` also removes weakness names (CWE task), ``version_hints`` the
    affected-range phrasing and compare links (fixed-version task)."""
    packages = list(
        dict.fromkeys(f"{a.package.ecosystem} / {a.package.name}" for a in record.affected or () if a.package)
    )
    shown = packages[:10] + ([f"... and {len(packages) - 10} more"] if len(packages) > 10 else [])
    parts = [
        f"Summary: {record.summary}" if record.summary else "",
        f"Details:\n{record.details}" if record.details else "",
    ]
    if shown:
        parts.insert(0, "Affected packages:\n" + "\n".join(f"- {p}" for p in shown))
    body = "\n\n".join(p for p in parts if p)
    ids = [record.id, *(record.aliases or ()), *(record.related or ()), *(record.upstream or ())]
    if version_hints:
        body = redact_version_hints(body)
    text = redact(body, ids=ids, fixed=_all_fixed_targets(record))
    return redact_weaknesses(text) if weaknesses else text


# --------------------------------------------------------------------------------------------------------
# Answer extraction and scoring (pure, so they can be tested without a model)
# --------------------------------------------------------------------------------------------------------

_ANSWER = re.compile(r"ANSWER\s*:\s*(.+)", re.IGNORECASE)


def extract_answer(completion: str) -> str:
    """The text after the last ``ANSWER:``, else the whole completion; without surrounding quotes, backticks
    and trailing punctuation."""
    matches = _ANSWER.findall(completion)
    answer = matches[-1] if matches else completion
    return answer.strip().strip("`'\"*.,; ").strip()


def extract_cwe(completion: str) -> str | None:
    """The first CWE id in the answer. Only one counts, so listing many CWEs cannot game the score."""
    return _normalise_cwe(extract_answer(completion))


def score_cwe(completion: str, cwes: Iterable[str]) -> bool:
    predicted = extract_cwe(completion)
    return predicted is not None and predicted in {_normalise_cwe(c) for c in cwes}


@dataclass(frozen=True)
class CvssComparison:
    """A predicted vector against the official one: per-metric agreement and base-score equality."""

    predicted: str | None
    metrics_correct: int
    base_score_match: bool
    predicted_base_score: float | None

    @property
    def fraction(self) -> float:
        return self.metrics_correct / len(CVSS_BASE_METRICS)


_VECTOR_IN_TEXT = re.compile(r"(?:CVSS:3\.[01]/)?AV:[A-Z]/\S+")


def compare_cvss(completion: str, official: str) -> CvssComparison:
    """Score the vector in ``completion`` metric by metric; an invalid or missing vector scores 0.

    A bare ``AV:N/...`` vector, or one labelled ``CVSS:3.0``, is read as v3.1: the base metrics are the same.
    """
    match = _VECTOR_IN_TEXT.search(extract_answer(completion))
    if match is None:
        return CvssComparison(None, 0, False, None)
    text = match.group(0).rstrip(".,;`'\")")
    vector = text if text.startswith("CVSS:") else f"CVSS:3.1/{text}"
    try:
        predicted = cvss.CVSS3(vector)
    except cvss.CVSS3Error:
        return CvssComparison(vector, 0, False, None)
    truth = cvss.CVSS3(official)
    correct = sum(predicted.metrics[m] == truth.metrics[m] for m in CVSS_BASE_METRICS)
    score = float(predicted.base_score)
    return CvssComparison(vector, correct, score == float(truth.base_score), score)


def score_fixed_version(completion: str, target: FixedTarget) -> bool:
    answer = extract_answer(completion).split()
    return bool(answer) and versions_equal(target, target.fixed, answer[0].rstrip(".,;"))


@scorer(metrics=[accuracy(), stderr()])
def cwe_scorer() -> Scorer:
    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion if state.output else ""
        correct = score_cwe(completion, target.target)
        return Score(
            value=CORRECT if correct else INCORRECT,
            answer=extract_cwe(completion),
            explanation=f"expected one of {', '.join(target.target)}",
        )

    return score


@scorer(metrics=[mean(), stderr()])
def cvss_scorer() -> Scorer:
    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion if state.output else ""
        result = compare_cvss(completion, target.text)
        return Score(
            value=result.fraction,
            answer=result.predicted,
            explanation=f"{result.metrics_correct}/8 base metrics match {target.text}",
            metadata={
                "metrics_correct": result.metrics_correct,
                "base_score_match": result.base_score_match,
                "predicted_base_score": result.predicted_base_score,
            },
        )

    return score


@scorer(metrics=[accuracy(), stderr()])
def fixed_version_scorer() -> Scorer:
    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion if state.output else ""
        meta = state.metadata
        question = FixedTarget(
            meta["ecosystem"], meta["package"], meta["range_type"], target.text, tuple(meta["all_fixed"])
        )
        correct = score_fixed_version(completion, question)
        return Score(
            value=CORRECT if correct else INCORRECT,
            answer=extract_answer(completion)[:100],
            explanation=f"expected {target.text} ({question.ecosystem} {question.range_type} semantics)",
        )

    return score


# --------------------------------------------------------------------------------------------------------
# Samples and tasks
# --------------------------------------------------------------------------------------------------------


def _metadata(record: OsvRecord, task_name: str, seed: int, **extra: Any) -> dict[str, Any]:
    ecosystems = sorted({a.package.ecosystem.partition(":")[0] for a in record.affected or () if a.package})
    return {
        "category": "knowledge",
        "task": task_name,
        "seed": seed,
        "record_id": record.id,
        "published": record.published,
        "ecosystem": ecosystems[0] if len(ecosystems) == 1 else ",".join(ecosystems),
        **extra,
    }


def _with_baseline(samples: list[Sample], answer: str, scores: list[float]) -> list[Sample]:
    """Record on every sample the constant answer and what it scores there, so a report can put each task's
    score beside its baseline (and logs pooled from several runs still carry it)."""
    for sample, value in zip(samples, scores, strict=True):
        sample.metadata = {**(sample.metadata or {}), "baseline_answer": answer, "baseline_score": value}
    return samples


def _majority(values: Iterable[str]) -> str:
    counts = Counter(values)
    # ties broken by the value, so the same samples always give the same baseline
    return min(counts, key=lambda value: (-counts[value], value)) if counts else ""


def cwe_baseline(targets: list[list[str]]) -> tuple[str, list[float]]:
    """The CWE that most samples accept, and per sample whether answering it is right."""
    answer = _majority(c for cwes in targets for c in dict.fromkeys(cwes))
    return answer, [1.0 if answer in cwes else 0.0 for cwes in targets]


def cvss_baseline(vectors: list[str]) -> tuple[str, list[float]]:
    """The best constant vector (each base metric's most common value), and its score on each sample."""
    parsed = [cvss.CVSS3(v).metrics for v in vectors]
    chosen = {m: _majority(str(metrics[m]) for metrics in parsed) for m in CVSS_BASE_METRICS}
    answer = "CVSS:3.1/" + "/".join(f"{m}:{chosen[m]}" for m in CVSS_BASE_METRICS)
    return answer, [compare_cvss(f"ANSWER: {answer}", v).fraction for v in vectors]


def fixed_version_baseline(targets: list[FixedTarget]) -> tuple[str, list[float]]:
    """The most common fixed version, and per sample whether answering it is right."""
    answer = _majority(t.fixed for t in targets)
    return answer, [1.0 if versions_equal(t, t.fixed, answer) else 0.0 for t in targets]


def cwe_samples(
    records: Iterable[OsvRecord], *, seed: int = 0, limit: int | None = None, published_after: str | None = None
) -> list[Sample]:
    qualifying = [(r, record_cwes(r)) for r in select_records(records, seed=seed, published_after=published_after)]
    chosen = distinct((r, cwes) for r, cwes in qualifying if cwes)[:limit]
    question = (
        "Which CWE (Common Weakness Enumeration) entry best describes the root cause of this vulnerability? "
        "Answer with a single CWE id in the form `ANSWER: CWE-<number>`."
    )
    samples = [
        Sample(
            id=r.id,
            input=f"{_advisory_text(r, weaknesses=True)}\n\n{question}",
            target=cwes,
            metadata=_metadata(r, "cwe_prediction", seed, cwes=cwes),
        )
        for r, cwes in chosen
    ]
    return _with_baseline(samples, *cwe_baseline([cwes for _, cwes in chosen]))


def cvss_samples(
    records: Iterable[OsvRecord], *, seed: int = 0, limit: int | None = None, published_after: str | None = None
) -> list[Sample]:
    qualifying = [(r, cvss_vector(r)) for r in select_records(records, seed=seed, published_after=published_after)]
    chosen = [(r, v) for r, v in distinct((r, v) for r, v in qualifying if v)[:limit] if v is not None]
    question = (
        "Give the CVSS v3.1 base vector for this vulnerability in the form "
        "`ANSWER: CVSS:3.1/AV:_/AC:_/PR:_/UI:_/S:_/C:_/I:_/A:_` with every `_` filled in."
    )
    samples = [
        Sample(
            id=r.id,
            input=f"{_advisory_text(r)}\n\n{question}",
            target=vector,
            metadata=_metadata(r, "cvss_prediction", seed, vector=vector),
        )
        for r, vector in chosen
    ]
    return _with_baseline(samples, *cvss_baseline([v for _, v in chosen]))


FIXED_VERSION_VARIANTS = ("upstream", "distro")


def fixed_version_samples(
    records: Iterable[OsvRecord],
    *,
    seed: int = 0,
    limit: int | None = None,
    published_after: str | None = None,
    variant: str = "upstream",
) -> list[Sample]:
    """``upstream``: release versions of language ecosystems; ``distro``: distribution build strings, kept
    apart because naming `2.1.0-11.el8` is recall of a packaging event rather than security skill."""
    if variant not in FIXED_VERSION_VARIANTS:
        raise ValueError(f"fixed_version variant {variant!r}: use one of {', '.join(FIXED_VERSION_VARIANTS)}")
    qualifying = [(r, fixed_target(r)) for r in select_records(records, seed=seed, published_after=published_after)]
    wanted = [
        (r, t) for r, t in qualifying if t is not None and is_distro_build(t) == (variant == "distro")
    ]  # fmt: skip
    chosen = [(r, t) for r, t in distinct(wanted)[:limit] if t is not None]
    samples: list[Sample] = []
    for r, t in chosen:
        question = (
            f"What is the first version of the {t.ecosystem} package `{t.package}` that contains the fix? "
            "Answer with the version string alone, in the form `ANSWER: <version>`."
        )
        samples.append(
            Sample(
                id=r.id,
                input=f"{_advisory_text(r, version_hints=True)}\n\n{question}",
                target=t.fixed,
                metadata=_metadata(
                    r,
                    "fixed_version",
                    seed,
                    variant=variant,
                    ecosystem=t.ecosystem,
                    package=t.package,
                    range_type=t.range_type,
                    all_fixed=list(t.all_fixed),
                ),
            )
        )
    return _with_baseline(samples, *fixed_version_baseline([t for _, t in chosen]))


def _task(samples: list[Sample], name: str, scorer_: Scorer, **metadata: Any) -> Task:
    if not samples:
        raise NoSamples(f"{name}: no record in this source has the answer the task needs")
    first = samples[0].metadata or {}
    baseline = sum(float((s.metadata or {})["baseline_score"]) for s in samples) / len(samples)
    return Task(
        dataset=MemoryDataset(samples, name=name),
        solver=[system_message(SYSTEM_PROMPT), generate()],
        scorer=scorer_,
        metadata={**metadata, "baseline_answer": first.get("baseline_answer"), "baseline_score": baseline},
    )


@task
def cwe_prediction(
    source: str | None = None, seed: int = 0, limit: int | None = DEFAULT_LIMIT, published_after: str | None = None
) -> Task:
    """Predict the CWE of an advisory; correct when it is any of the record's CWEs."""
    samples = cwe_samples(load_records(source), seed=seed, limit=limit, published_after=published_after)
    return _task(samples, "cwe_prediction", cwe_scorer(), seed=seed)


@task
def cvss_prediction(
    source: str | None = None, seed: int = 0, limit: int | None = DEFAULT_LIMIT, published_after: str | None = None
) -> Task:
    """Predict the CVSS v3.1 base vector; scored as the fraction of the 8 base metrics that match."""
    samples = cvss_samples(load_records(source), seed=seed, limit=limit, published_after=published_after)
    return _task(samples, "cvss_prediction", cvss_scorer(), seed=seed)


@task
def fixed_version(
    source: str | None = None,
    seed: int = 0,
    limit: int | None = DEFAULT_LIMIT,
    published_after: str | None = None,
    variant: str = "upstream",
) -> Task:
    """Name the first fixed version of a package; equal under the ecosystem's version rules counts.
    ``variant=distro`` asks for distribution build strings instead of upstream releases."""
    samples = fixed_version_samples(
        load_records(source), seed=seed, limit=limit, published_after=published_after, variant=variant
    )
    return _task(samples, "fixed_version", fixed_version_scorer(), seed=seed, variant=variant)
