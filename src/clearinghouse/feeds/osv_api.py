"""The OSV-compatible API: `POST /v1/query`, `POST /v1/querybatch` and `GET /v1/vulns/{id}`, answered as OSV.dev
answers them (its API server, `gcp/api/server.py`), over the record store and through the access policy.

What is OSV.dev's, kept so that its clients work unchanged:
- a query names a package (`name` + `ecosystem`, or a `purl`, optionally carrying the version) and a `version`,
  or a `commit`; the same refusals with the same messages (purl beside name/ecosystem, version in both the purl
  and the query, an unknown ecosystem, a commit that is not hex, nothing to query); a purl of a type no
  ecosystem uses answers nothing, not an error;
- a version is evaluated by the same evaluator as `clearinghouse affected` (`RecordStore.affected`); a version
  the ecosystem's parser refuses matches nothing (OSV.dev's helpers do the same) rather than failing the query;
- withdrawn records are left out of query answers (OSV.dev skips them) but `GET /v1/vulns/{id}` returns them;
- paging: at most 1,000 vulnerabilities per query answer, then `next_page_token`; in a batch, once 3,000 have
  been listed in all, 5 per query; a batch holds at most 1,000 queries ("Too many queries.");
- batch answers carry only `id` and `modified` per vulnerability; empty answers are `{}`.
Commit queries match records whose GIT ranges name the commit as affected (`introduced`, `last_affected`):
OSV.dev also walks each repository's history to list every commit in between, which needs the repositories.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from packageurl import PackageURL
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from clearinghouse.errors import InvalidFeedQuery, InvalidVersion, NotFound
from clearinghouse.feeds import repository
from clearinghouse.feeds.repository import ListedRecord
from clearinghouse.policy.cases import organisation_of
from clearinghouse.policy.feeds import feed_record_visible, feed_visibility
from clearinghouse.policy.principals import Actor
from clearinghouse.policy.rules import RecordVisibility
from clearinghouse.records.model import RangeType, RecordStatus, Tlp, VulnerabilityRecord
from clearinghouse.records.purls import ecosystem_of_purl
from clearinghouse.schemas import osv_ecosystems
from clearinghouse.store.records import RecordStore

MAX_BATCH_QUERIES = 1000
PAGE_SIZE = 1000  # vulnerabilities per query answer (OSV.dev: _MAX_VULN_LISTED_PRE_EXCEEDED)
BATCH_THRESHOLD = 3000  # listed in a whole batch, after which each query pages at ...
PAGE_SIZE_PAST_THRESHOLD = 5  # ... this many (OSV.dev: _MAX_VULN_LISTED_POST_EXCEEDED)
MAX_ID_LENGTH = 100  # OSV.dev refuses longer ids ("ID too long")

# purl type -> OSV ecosystem, where the type alone says it; deb/apk/rpm need the namespace (the distribution).
_AFFECTED_COMMIT_EVENTS = ("introduced", "last_affected")


class _Body(BaseModel):
    # Fields OSV.dev does not know are ignored, as its JSON gateway ignores them.
    model_config = ConfigDict(extra="ignore", frozen=True)


class OsvPackage(_Body):
    name: Annotated[StrictStr | None, Field(max_length=500)] = None
    ecosystem: Annotated[StrictStr | None, Field(max_length=100)] = None
    purl: Annotated[StrictStr | None, Field(max_length=1000)] = None


class OsvQuery(_Body):
    commit: Annotated[StrictStr | None, Field(max_length=128)] = None
    version: Annotated[StrictStr | None, Field(max_length=200)] = None
    package: OsvPackage | None = None
    page_token: Annotated[StrictStr | None, Field(max_length=200)] = None


class OsvBatchQuery(_Body):
    queries: list[OsvQuery]


class OsvDocument(BaseModel):
    """An OSV record as stored (every field it was given is kept: `extra="allow"`)."""

    model_config = ConfigDict(extra="allow")
    id: str
    modified: str


class VulnerabilityList(BaseModel):
    """OSV's `VulnerabilityList`: fields left out when empty (serialise with `exclude_none`)."""

    vulns: list[dict[str, Any]] | None = None
    next_page_token: str | None = None


class MinimalVulnerability(BaseModel):
    id: str
    modified: str


class MinimalVulnerabilityList(BaseModel):
    vulns: list[MinimalVulnerability] | None = None
    next_page_token: str | None = None


class BatchVulnerabilityList(BaseModel):
    results: list[MinimalVulnerabilityList]


@dataclass(frozen=True)
class _PackageQuery:
    ecosystem: str | None
    name: str
    version: str | None


@dataclass(frozen=True)
class _CommitQuery:
    commit: str


def _refuse(message: str) -> InvalidFeedQuery:
    return InvalidFeedQuery(message)


def resolve(query: OsvQuery) -> _PackageQuery | _CommitQuery | None:
    """What the query asks, checked as OSV.dev checks it; None for a purl of a type no ecosystem uses."""
    if query.commit is not None and query.version is not None:
        raise _refuse("commit and version cannot both be specified")
    package = query.package or OsvPackage()
    name, ecosystem, version = package.name or "", package.ecosystem or "", query.version or ""
    if package.purl:
        try:
            purl = PackageURL.from_string(package.purl)
        except ValueError as exc:
            raise _refuse(f"Invalid Package URL: {exc}") from None
        if name:
            raise _refuse("name specified in a PURL query")
        if ecosystem:
            raise _refuse("ecosystem specified in a PURL query")
        purl_ecosystem = ecosystem_of_purl(purl.type, purl.namespace)
        if purl_ecosystem is None:
            return None
        if purl.version and version:
            raise _refuse("version specified in params and PURL query")
        ecosystem = purl_ecosystem
        name = f"{purl.namespace}:{purl.name}" if purl.type == "maven" and purl.namespace else purl.name
        if purl.type in ("golang", "npm", "composer", "swift", "github", "githubactions") and purl.namespace:
            name = f"{purl.namespace}/{purl.name}"
        version = purl.version or version
    if ecosystem and ecosystem.split(":", 1)[0] not in osv_ecosystems():
        raise _refuse("Invalid ecosystem.")
    if query.commit is not None:
        try:
            binascii.unhexlify(query.commit)
        except (binascii.Error, ValueError):
            raise _refuse("Invalid hash.") from None
        return _CommitQuery(query.commit.lower())
    if not name:
        raise _refuse("Invalid query.")
    return _PackageQuery(ecosystem or None, name, version or None)


def _fingerprint(query: OsvQuery) -> str:
    # A page token is only good for the query that produced it (the same fields, whatever the token).
    asked = query.model_dump(exclude={"page_token"})
    return hashlib.sha256(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def page_token(query: OsvQuery, offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"q": _fingerprint(query), "o": offset})).decode().rstrip("=")


def page_offset(query: OsvQuery, where: str = "") -> int:
    """Where the query's `page_token` says to start (0 without one); a token not made for this query is refused."""
    if not query.page_token:
        return 0
    try:
        token = orjson.loads(base64.urlsafe_b64decode(query.page_token + "=" * (-len(query.page_token) % 4)))
        offset = token["o"]
        matches = token["q"] == _fingerprint(query)
    except (ValueError, TypeError, KeyError, binascii.Error):
        matches, offset = False, None
    if not matches or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _refuse(f"Invalid page token{where}.")
    return offset


def _affects_commit(record: VulnerabilityRecord, commit: str) -> bool:
    for affected in record.osv.affected or ():
        for rng in affected.ranges or ():
            if rng.type is RangeType.GIT and any(
                getattr(event, kind) == commit for event in rng.events for kind in _AFFECTED_COMMIT_EVENTS
            ):
                return True
    return False


class OsvApi:
    """Answers OSV API calls for an actor, from the record store."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def vulnerability(self, actor: Actor, vuln_id: str) -> dict[str, Any]:
        if len(vuln_id) > MAX_ID_LENGTH:
            raise _refuse("ID too long")
        visible = feed_visibility(actor)
        try:
            record = self.store.get(vuln_id)
        except NotFound:
            record = None
        if record is None or not self._readable(actor, visible, {record.id: (record.tlp, record.status)}):
            raise NotFound("Bug not found.")
        return record.osv.document()

    def query(self, actor: Actor, query: OsvQuery) -> VulnerabilityList:
        visible = feed_visibility(actor)
        offset = page_offset(query)
        (found,) = self._matching(actor, visible, [query])
        page = found[offset : offset + PAGE_SIZE]
        more = offset + PAGE_SIZE < len(found)
        return VulnerabilityList(
            vulns=[record.osv.document() for record in self.store.many([r.id for r in page])] or None,
            next_page_token=page_token(query, offset + PAGE_SIZE) if more else None,
        )

    def query_batch(self, actor: Actor, batch: OsvBatchQuery) -> BatchVulnerabilityList:
        if len(batch.queries) > MAX_BATCH_QUERIES:
            raise _refuse("Too many queries.")
        visible = feed_visibility(actor)
        offsets = [page_offset(query, f" at index: {index}") for index, query in enumerate(batch.queries)]
        listed = 0
        results: list[MinimalVulnerabilityList] = []
        answers = self._matching(actor, visible, batch.queries)
        for query, offset, found in zip(batch.queries, offsets, answers, strict=True):
            size = PAGE_SIZE_PAST_THRESHOLD if listed > BATCH_THRESHOLD else PAGE_SIZE
            page = found[offset : offset + size]
            listed += len(page)
            more = offset + size < len(found)
            results.append(
                MinimalVulnerabilityList(
                    vulns=[MinimalVulnerability(id=r.id, modified=r.modified) for r in page] or None,
                    next_page_token=page_token(query, offset + size) if more else None,
                )
            )
        return BatchVulnerabilityList(results=results)

    def _readable(
        self, actor: Actor, visible: RecordVisibility, labels: dict[str, tuple[Tlp, RecordStatus]]
    ) -> set[str]:
        """Which of the records (id -> TLP, status) the caller may read: those the record policy admits, and those
        the policy admits as the embargoed advisories of the caller's own cases (looked up only when needed)."""
        shown = {record_id for record_id, (tlp, status) in labels.items() if visible.admits(tlp, status)}
        hidden = labels.keys() - shown
        if hidden:
            with self.store.engine.connect() as conn:
                in_cases = repository.in_cases_of(conn, hidden, organisation_of(actor))
            shown |= {i for i in hidden if feed_record_visible(actor, *labels[i], in_actors_case=i in in_cases)}
        return shown

    def _matching(self, actor: Actor, visible: RecordVisibility, queries: list[OsvQuery]) -> list[list[ListedRecord]]:
        """Each query's records that the caller may see, withdrawn ones left out, in id order.

        Versioned package queries, nearly all of a batch, go to the evaluator together (`affected_ids`: one
        snapshot, no documents read); only what is listed is read, and only its listing facts.
        """
        asked = [resolve(query) for query in queries]
        matched: list[set[str]] = [set() for _ in queries]
        evaluate: list[tuple[int, tuple[str, str, str]]] = []
        with self.store.engine.connect() as conn:
            for index, question in enumerate(asked):
                if question is None:
                    continue
                if isinstance(question, _CommitQuery):
                    candidates = self.store.many(repository.records_mentioning(conn, question.commit))
                    matched[index] = {r.id for r in candidates if _affects_commit(r, question.commit)}
                elif question.version is None:
                    matched[index] = set(repository.package_record_ids(conn, question.ecosystem, question.name))
                else:
                    ecosystems = (
                        [question.ecosystem]
                        if question.ecosystem is not None
                        else repository.ecosystems_naming(conn, question.name)
                    )
                    evaluate += [(index, (each, question.name, question.version)) for each in ecosystems]
        answers = self.store.affected_ids([triple for _, triple in evaluate])
        for (index, _triple), answer in zip(evaluate, answers, strict=True):
            if not isinstance(answer, InvalidVersion):  # OSV.dev: a version it cannot parse matches nothing
                matched[index].update(answer)
        with self.store.engine.connect() as conn:
            facts = repository.listed_records(conn, set().union(*matched))
        shown = self._readable(
            actor, visible, {record_id: (f.tlp, f.status) for record_id, f in facts.items() if not f.withdrawn}
        )
        return [[facts[i] for i in sorted(ids & shown)] for ids in matched]
