"""Matching a report to the records already published (issue 12 item 9): "this is already known, published as X,
fixed in Y" is the first thing a clearinghouse facing a flood must say.

Two kinds of evidence: the stored records whose affected ranges contain a package and version the report names
(the same evaluator as `clearinghouse affected`), each with the range or listed version that matched; and the
records the de-duplication step found alike in text about the same package. The rules (`explain`, `merge`) are
pure; `KnownRecordMatcher` asks the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clearinghouse.intake.findings import Finding
from clearinghouse.policy import rules
from clearinghouse.policy.principals import ANONYMOUS
from clearinghouse.records.model import Affected, OsvRecord, VulnerabilityRecord
from clearinghouse.records.versions import InvalidVersion, UnknownEcosystem, affects, normalize_name
from clearinghouse.store.records import RecordStore

MAX_KNOWN = 20  # records linked to one report; a report naming a version of a much-advised package stops here
MAX_VERSIONS = 10  # versions of one package a report may name that are looked up
# A record covering the reported version is the reported vulnerability when its text is the closest to the report's
# among those covering it (or within _COPIES of the closest: the copies of one advisory in several databases) and
# at least this close (the de-duplication engine's text similarity, templates discounted). A product fixes many
# vulnerabilities in one release, so covering the version alone says "known vulnerabilities of this version", not
# "this one". Set on the tune half of `bench/known_records.py` (300 reports of stored records, 300 of records left
# out): 0.3 told 43 % of reports of unknown vulnerabilities they were known, 0.6 14 %, 0.7 10 %, while the share
# published as their source record went 0.933 -> 0.920 -> 0.913.
SAME_VULNERABILITY = 0.6
_COPIES = 0.05
_KEPT = 16384  # entries in each of the matcher's caches (the first kept is the first dropped)


@dataclass(frozen=True)
class RangeMatch:
    """Why one version of one package is affected according to one record."""

    ecosystem: str
    package: str
    version: str
    how: str  # "listed" (in the record's versions) or the range type ("ECOSYSTEM", "SEMVER")
    range: str  # the events in order, e.g. "introduced 0, fixed 2.11.3"

    def explanation(self) -> str:
        if self.how == "listed":
            return f"{self.package} {self.version} is listed among the affected versions"
        return f"{self.package} {self.version} is inside the {self.how} range {self.range}"


@dataclass
class KnownRecord:
    """A published record a report is linked to, with the evidence."""

    record_id: str
    aliases: list[str]
    summary: str
    fixed_versions: list[str]
    matches: list[RangeMatch] = field(default_factory=list)
    text_similarity: float | None = None  # of the report's text and the record's (the de-duplication engine's)
    # Most likely the report's vulnerability, not just another one of that version: the report names its id or
    # an alias; de-duplication found it a near duplicate; or it covers the version and its text is the closest.
    same_vulnerability: bool = False
    covers_version: bool = False  # its ranges or versions hold a version the report names (see `matches`)
    named: bool = False  # the report names its id or an alias, or de-duplication found it a near duplicate

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.record_id,
            "aliases": self.aliases,
            "summary": self.summary,
            "fixed_versions": self.fixed_versions,
            "version_matches": [
                {
                    "ecosystem": m.ecosystem,
                    "package": m.package,
                    "version": m.version,
                    "how": m.how,
                    "range": m.range,
                    "explanation": m.explanation(),
                }
                for m in self.matches
            ],
            "text_similarity": self.text_similarity,
            "same_vulnerability": self.same_vulnerability,
        }


def _entries(record: OsvRecord, ecosystem: str, name: str) -> list[Affected]:
    """The record's affected entries for the package (`AlmaLinux` covers every `AlmaLinux:N`)."""
    base = ecosystem.split(":", 1)[0]
    key = normalize_name(ecosystem, name)
    found: list[Affected] = []
    for entry in record.affected or ():
        package = entry.package
        if package is None or package.ecosystem.split(":", 1)[0] != base:
            continue
        if ":" in ecosystem and package.ecosystem != ecosystem:
            continue
        try:
            if normalize_name(package.ecosystem, package.name) == key:
                found.append(entry)
        except UnknownEcosystem:
            continue
    return found


def _describe(events: Iterable[object]) -> str:
    parts: list[str] = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            value = getattr(event, kind, None)
            if value is not None:
                parts.append(f"{kind.replace('_', ' ')} {value}")
    return ", ".join(parts)


def explain(record: OsvRecord, ecosystem: str, name: str, version: str) -> list[RangeMatch]:
    """Which of the record's listed versions or ranges contain `version` of the package (empty: none do)."""
    matches: list[RangeMatch] = []
    for entry in _entries(record, ecosystem, name):
        package = entry.package.ecosystem if entry.package else ecosystem
        if version in (entry.versions or ()):
            matches.append(RangeMatch(package, name, version, "listed", ""))
        for rng in entry.ranges or ():
            single = entry.model_copy(update={"ranges": [rng], "versions": None})
            try:
                inside = affects(single, version)
            except (InvalidVersion, UnknownEcosystem):
                inside = False
            if inside:
                matches.append(RangeMatch(package, name, version, rng.type.value, _describe(rng.events)))
    return matches


def fixed_versions(record: OsvRecord) -> list[str]:
    """Every release the record says fixed it, in the record's order, without repeats."""
    found = [e.fixed for a in record.affected or () for r in a.ranges or () for e in r.events if e.fixed]
    return list(dict.fromkeys(v for v in found if v is not None))


def decide(known: Sequence[KnownRecord], threshold: float) -> None:
    """Set `same_vulnerability`: named ones, and the covering ones closest in text if at least `threshold`."""
    closest = max((k.text_similarity or 0.0 for k in known if k.covers_version), default=0.0)
    for k in known:
        text = k.text_similarity or 0.0
        k.same_vulnerability = k.named or (k.covers_version and text >= max(threshold, closest - _COPIES))


def merge(known: Sequence[KnownRecord]) -> list[KnownRecord]:
    """The same vulnerability first, then version matches, then by text similarity and id; at most MAX_KNOWN."""
    ranked = sorted(
        known, key=lambda k: (not k.same_vulnerability, not k.covers_version, -(k.text_similarity or 0.0), k.record_id)
    )
    return ranked[:MAX_KNOWN]


def published_as(known: Sequence[KnownRecord]) -> list[dict[str, object]]:
    """What the reporter and the analyst are told first: the records the report's vulnerability is published as,
    with the releases that fix it."""
    return [
        {"id": k.record_id, "aliases": k.aliases, "fixed_versions": k.fixed_versions}
        for k in known
        if k.same_vulnerability
    ]


def similar_records(duplicates: dict[str, Any]) -> dict[str, float]:
    """Record id -> score of the stored records de-duplication found near-duplicate on the same package."""
    found: dict[str, float] = {}
    for candidate in duplicates["candidates"]:
        evidence = candidate.get("evidence") or {}
        if candidate["id"].startswith("record:") and evidence.get("package_match") in _SAME_PACKAGE:
            found[candidate["id"].removeprefix("record:")] = float(candidate["score"])
    return found


_SAME_PACKAGE = ("same name", "shared name part")


@dataclass
class StoredFacts:
    """What `KnownRecordMatcher.match` needs from the store, read once for a batch of findings."""

    covering: dict[tuple[str, str], dict[str, list[VulnerabilityRecord] | InvalidVersion] | UnknownEcosystem]
    records: dict[str, VulnerabilityRecord]  # by id: the records findings name or are alike to


def _looked_up(finding: Finding) -> Iterator[tuple[tuple[str, str], list[str]]]:
    """The (ecosystem, name) packages of a finding whose versions are looked up, with those versions."""
    for package in finding.packages:
        if package.ecosystem:
            yield (package.ecosystem, package.name), list(dict.fromkeys(package.versions[:MAX_VERSIONS]))


class KnownRecordMatcher:
    """Links a report to the published records that already cover it."""

    def __init__(self, records: RecordStore) -> None:
        self.records = records
        # Why a record covers a version (each range's evaluator built anew) by (record id, modified, ecosystem,
        # name, version): reports about one much-advised package ask the same again and again.
        self._explained: OrderedDict[tuple[str, str, str, str, str], tuple[RangeMatch, ...]] = OrderedDict()
        # The releases fixing each record, by (record id, modified): a much-advised package's records cover report
        # after report (8.7 a report on average in bench/intake.py), and going through every event of every range
        # of each, 9 us a record, was about 4 % of the report worker's time.
        self._fixed: OrderedDict[tuple[str, str], tuple[str, ...]] = OrderedDict()

    def _explain(self, record: OsvRecord, ecosystem: str, name: str, version: str) -> tuple[RangeMatch, ...]:
        key = (record.id, str(record.modified), ecosystem, name, version)
        return _kept(self._explained, key, lambda: tuple(explain(record, ecosystem, name, version)))

    def _known(self, record: VulnerabilityRecord) -> KnownRecord:
        osv = record.osv
        fixed = _kept(self._fixed, (osv.id, str(osv.modified)), lambda: tuple(fixed_versions(osv)))
        return KnownRecord(
            record_id=osv.id,
            aliases=list(osv.aliases or ()),
            summary=osv.summary or (osv.details or "")[:200],
            fixed_versions=list(fixed),
        )

    def read(self, wanted: Iterable[tuple[Finding, Iterable[str]]]) -> StoredFacts:
        """Read, at once, what matching each finding needs: the records covering the versions it names, and the
        records of the given ids (those it names and those de-duplication found alike)."""
        packages: dict[tuple[str, str], dict[str, None]] = {}
        ids: dict[str, None] = {}
        for finding, record_ids in wanted:
            for package, versions in _looked_up(finding):
                packages.setdefault(package, {}).update(dict.fromkeys(versions))
            ids.update(dict.fromkeys(record_ids))
        covering = self.records.affected_versions_many({package: list(v) for package, v in packages.items()})
        return StoredFacts(covering, {record.osv.id: record for record in self.records.many(list(ids))})

    def match(
        self,
        finding: Finding,
        similar: dict[str, float],
        named: Sequence[str],
        text_scores: Callable[[Sequence[str]], dict[str, float]],
        facts: StoredFacts | None = None,
    ) -> list[KnownRecord]:
        """Records whose ranges contain a (package, version) the finding names; the records in `similar` (record
        id -> de-duplication score: near duplicates on the same package) and `named` (the finding names their id
        or an alias). `text_scores` gives the finding's text similarity to given records. `facts`: what `read`
        read for this finding (and others); read here when not given."""
        if facts is None:
            facts = self.read([(finding, [*similar, *named])])
        found: dict[str, KnownRecord] = {}
        osv: dict[str, OsvRecord] = {}
        covered: dict[str, list[tuple[str, str, str]]] = {}  # record id -> (ecosystem, name, version) it covers
        for (ecosystem, name), versions in _looked_up(finding):
            by_version = facts.covering.get((ecosystem, name))
            if by_version is None or isinstance(by_version, UnknownEcosystem):
                continue  # an ecosystem without version rules matches no range; the report still goes on
            for version in versions:
                covering = by_version.get(version, [])
                if isinstance(covering, InvalidVersion):
                    continue  # a version the ecosystem cannot order matches no range
                for record in covering:
                    if _shareable(record):
                        if record.osv.id not in found:
                            found[record.osv.id] = self._known(record)
                        osv[record.osv.id] = record.osv
                        covered.setdefault(record.osv.id, []).append((ecosystem, name, version))
        for record_id in dict.fromkeys([*similar, *named]):
            other = facts.records.get(record_id)
            if record_id not in found and other is not None and _shareable(other):
                found[record_id] = self._known(other)
        scores = text_scores(list(found))
        for record_id, known in found.items():
            known.text_similarity = round(scores.get(record_id, 0.0), 3)
            known.covers_version = record_id in covered
            known.named = record_id in named or record_id in similar
        decide(list(found.values()), SAME_VULNERABILITY)
        kept = merge(list(found.values()))
        for known in kept:  # explained only for those kept: a much-advised package has hundreds of records
            for ecosystem, name, version in covered.get(known.record_id, ()):
                known.matches.extend(self._explain(osv[known.record_id], ecosystem, name, version))
        return kept


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _kept(cache: OrderedDict[_Key, _Value], key: _Key, make: Callable[[], _Value]) -> _Value:
    """`cache[key]`, made and kept if missing; past _KEPT entries the oldest is dropped."""
    found = cache.get(key)
    if found is None:
        found = cache[key] = make()
        if len(cache) > _KEPT:
            cache.popitem(last=False)
    return found


# The triage a report carries is read by its submitter as well as by analysts, so only what the access policy lets
# anyone read (TLP:CLEAR, released) is linked there.
_PUBLIC = rules.record_visibility(ANONYMOUS)


def _shareable(record: VulnerabilityRecord) -> bool:
    return _PUBLIC.admits(record.tlp, record.status)
