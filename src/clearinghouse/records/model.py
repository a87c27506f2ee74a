"""The vulnerability record, modelled on the OSV schema 1.7.

Validation mirrors the official schema (`schemas/osv/schema.json`) and goes further where the schema
is silent but a store must not be: impossible dates, unknown ecosystems, invalid purls and CVSS vectors that
do not parse. Fields the schema allows but this model does not name are kept (``extra="allow"``) so that an
OSV import followed by an export gives back every field. Timestamps stay strings so they round-trip byte for
byte; `timestamp()` gives the parsed value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictStr,
    model_validator,
)

from clearinghouse.records.purls import purl_disagreement, purl_problem
from clearinghouse.records.severity import ComputedScore, check_vector
from clearinghouse.schemas import osv_ecosystems

MAX_ID_LENGTH = 128
# Ids become file names on export, so nothing that could walk a path or confuse a shell.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+\-]*")
# Aliases, related and upstream ids name other databases' records: any text, but one token of it.
_IDENTIFIER_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]{1,256}")
_TIMESTAMP_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$")
_GIT_COMMIT = re.compile(r"^(0|[a-f0-9]{40}|[a-f0-9]{64})$")


# Cached: an import parses each record's timestamps to validate them, then again to store them.
@lru_cache(maxsize=65536)
def timestamp(value: str) -> datetime:
    """Parse an OSV (RFC 3339, UTC) timestamp; raises ValueError for malformed or impossible dates."""
    if not _TIMESTAMP_PATTERN.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 UTC timestamp like 2024-01-31T12:00:00Z")
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a real date and time ({exc})") from None


def _check_timestamp(value: str) -> str:
    timestamp(value)
    return value


def _check_id(value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed")
    if not _ID_PATTERN.fullmatch(value):  # fullmatch: `$` would let a trailing newline through
        raise ValueError(f"{value!r} is not a valid id (letters, digits and . _ : + - only)")
    return value


def _check_ecosystem(value: str) -> str:
    base, _, suffix = value.partition(":")
    if base not in osv_ecosystems():
        raise ValueError(f"unknown ecosystem {value!r} (see the OSV ecosystem list)")
    if ":" in value and not suffix:
        raise ValueError(f"ecosystem {value!r} has an empty release suffix")
    return value


def canonical_ecosystem(value: str) -> str:
    """The OSV spelling of an ecosystem typed by a person (``pypi`` -> ``PyPI``, ``almalinux:8`` -> ``AlmaLinux:8``)."""
    base, colon, suffix = value.partition(":")
    by_lower = {name.lower(): name for name in osv_ecosystems()}
    canonical = by_lower.get(base.lower())
    if canonical is None:
        raise ValueError(f"unknown ecosystem {value!r} (see the OSV ecosystem list)")
    return _check_ecosystem(f"{canonical}{colon}{suffix}")


def _check_purl(value: str) -> str:
    problem = purl_problem(value)
    if problem is not None:
        raise ValueError(f"invalid purl {value!r}: {problem}")
    return value


def _not_null(value: Any) -> Any:
    # The OSV schema lets a few fields be null (aliases, affected, references, severity); the rest may be
    # absent but not null. Optional fields below that must not be null carry this check.
    if value is None:
        raise ValueError("may be left out but must not be null")
    return value


NotNull = BeforeValidator(_not_null)
RecordId = Annotated[StrictStr, AfterValidator(_check_id)]
Timestamp = Annotated[StrictStr, AfterValidator(_check_timestamp)]
Ecosystem = Annotated[StrictStr, AfterValidator(_check_ecosystem)]
Purl = Annotated[StrictStr, AfterValidator(_check_purl)]
NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]


class _Model(BaseModel):
    # Lax mode so JSON strings become enum members; every string field is StrictStr, so no coercion of
    # numbers or booleans into text happens.
    model_config = ConfigDict(extra="allow", frozen=True)


class SeverityType(StrEnum):
    CVSS_V2 = "CVSS_V2"
    CVSS_V3 = "CVSS_V3"
    CVSS_V4 = "CVSS_V4"
    UBUNTU = "Ubuntu"


class Severity(_Model):
    type: SeverityType
    score: StrictStr

    @model_validator(mode="after")
    def _vector_parses(self) -> Severity:
        check_vector(self.type.value, self.score)
        return self


class Package(_Model):
    ecosystem: Ecosystem
    name: NonEmptyStr
    purl: Annotated[Purl | None, NotNull] = None

    @model_validator(mode="after")
    def _purl_names_this_package(self) -> Package:
        if self.purl is not None:
            problem = purl_disagreement(self.ecosystem, self.name, self.purl)
            if problem is not None:
                raise ValueError(f"purl {self.purl!r} disagrees with the package: {problem}")
        return self


_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


class Event(_Model):
    """One range event; `Range` checks that each has exactly one kind (one check per range is much cheaper)."""

    introduced: StrictStr | None = None
    fixed: StrictStr | None = None
    last_affected: StrictStr | None = None
    limit: StrictStr | None = None

    @property
    def kind(self) -> str:
        for kind in _EVENT_KINDS:  # a plain loop: this runs for every event of every range checked
            if getattr(self, kind) is not None:
                return kind
        raise ValueError("an event has exactly one of introduced, fixed, last_affected or limit")

    @property
    def value(self) -> str:
        return str(getattr(self, self.kind))


class RangeType(StrEnum):
    GIT = "GIT"
    SEMVER = "SEMVER"
    ECOSYSTEM = "ECOSYSTEM"


class Range(_Model):
    type: RangeType
    repo: Annotated[StrictStr | None, NotNull] = None
    events: list[Event] = Field(min_length=1)
    database_specific: Annotated[dict[str, Any] | None, NotNull] = None

    @model_validator(mode="after")
    def _consistent(self) -> Range:
        kinds: set[str] = set()
        for event in self.events:
            # The slot, not the `model_fields_set` property: this loop runs for every event of every import.
            given = event.__pydantic_fields_set__
            if len(given) != 1:
                raise ValueError("an event has exactly one of introduced, fixed, last_affected or limit")
            (kind,) = given
            if getattr(event, kind) is None:
                raise ValueError("an event has exactly one of introduced, fixed, last_affected or limit")
            kinds.add(kind)
        if "introduced" not in kinds:
            raise ValueError("events must contain an introduced event")
        if "fixed" in kinds and "last_affected" in kinds:
            raise ValueError("last_affected and fixed events are mutually exclusive")
        if self.type == "GIT":
            if not self.repo:
                raise ValueError("GIT ranges require a repo")
            bad = [e.value for e in self.events if not _GIT_COMMIT.match(e.value)]
            if bad:
                raise ValueError(f"GIT ranges must use full-length commit hashes, not {bad[0]!r}")
        return self


class Affected(_Model):
    package: Annotated[Package | None, NotNull] = None
    severity: list[Severity] | None = None
    ranges: Annotated[list[Range] | None, NotNull] = None
    versions: Annotated[list[StrictStr] | None, NotNull] = None
    ecosystem_specific: Annotated[dict[str, Any] | None, NotNull] = None
    database_specific: Annotated[dict[str, Any] | None, NotNull] = None


class ReferenceType(StrEnum):
    ADVISORY = "ADVISORY"
    ARTICLE = "ARTICLE"
    DETECTION = "DETECTION"
    DISCUSSION = "DISCUSSION"
    REPORT = "REPORT"
    FIX = "FIX"
    INTRODUCED = "INTRODUCED"
    GIT = "GIT"
    PACKAGE = "PACKAGE"
    EVIDENCE = "EVIDENCE"
    WEB = "WEB"


class Reference(_Model):
    type: ReferenceType
    url: NonEmptyStr


class CreditType(StrEnum):
    FINDER = "FINDER"
    REPORTER = "REPORTER"
    ANALYST = "ANALYST"
    COORDINATOR = "COORDINATOR"
    REMEDIATION_DEVELOPER = "REMEDIATION_DEVELOPER"
    REMEDIATION_REVIEWER = "REMEDIATION_REVIEWER"
    REMEDIATION_VERIFIER = "REMEDIATION_VERIFIER"
    TOOL = "TOOL"
    SPONSOR = "SPONSOR"
    OTHER = "OTHER"


class Credit(_Model):
    name: StrictStr
    contact: Annotated[list[StrictStr] | None, NotNull] = None
    type: Annotated[CreditType | None, NotNull] = None


class OsvRecord(_Model):
    """One OSV record, validated. Build it with `from_document` to keep the exact input for `document()`."""

    _document: dict[str, Any] | None = PrivateAttr(default=None)

    schema_version: Annotated[StrictStr | None, NotNull] = None
    id: RecordId
    modified: Timestamp
    published: Annotated[Timestamp | None, NotNull] = None
    withdrawn: Annotated[Timestamp | None, NotNull] = None
    aliases: list[StrictStr] | None = None
    related: Annotated[list[StrictStr] | None, NotNull] = None
    upstream: Annotated[list[StrictStr] | None, NotNull] = None
    summary: Annotated[StrictStr | None, NotNull] = None
    details: Annotated[StrictStr | None, NotNull] = None
    severity: list[Severity] | None = None
    affected: list[Affected] | None = None
    references: list[Reference] | None = None
    credits: Annotated[list[Credit] | None, NotNull] = None
    database_specific: Annotated[dict[str, Any] | None, NotNull] = None

    @model_validator(mode="after")
    def _identifiers_are_tokens(self) -> OsvRecord:
        for field_name in ("aliases", "related", "upstream"):
            for position, value in enumerate(getattr(self, field_name) or ()):
                if not _IDENTIFIER_PATTERN.fullmatch(value):
                    raise ValueError(
                        f"{field_name}[{position}] {value!r} is not an id: 1 to 256 characters, no whitespace or "
                        "control characters"
                    )
        return self

    @model_validator(mode="after")
    def _severity_in_one_place(self) -> OsvRecord:
        if self.severity and any(a.severity for a in self.affected or ()):
            raise ValueError("severity is given both at top level and in affected[]; OSV allows one place")
        return self

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OsvRecord:
        record = cls.model_validate(document)
        # The private slot directly, as in `document()`: pydantic's __setattr__ is slow for private fields.
        private = record.__pydantic_private__
        assert private is not None, "OsvRecord declares a private attribute"
        private["_document"] = document
        return record

    def document(self) -> dict[str, Any]:
        """The record as an OSV document: every field that was given, and nothing that was not.

        For a record built by `from_document` this is the validated input itself (serialising the model again
        would give the same JSON, a round-trip test checks it, at several times the cost); do not mutate it.
        """
        # Read the private slot directly: attribute access to private fields goes through pydantic's slow
        # __getattr__, which showed up in import profiles.
        private = self.__pydantic_private__ or {}
        document: dict[str, Any] | None = private.get("_document")
        if document is None:
            document = self.model_dump(mode="json", exclude_unset=True)
            self._document = document
        return document

    @property
    def modified_at(self) -> datetime:
        return timestamp(self.modified)

    @property
    def published_at(self) -> datetime | None:
        return timestamp(self.published) if self.published else None

    @property
    def withdrawn_at(self) -> datetime | None:
        return timestamp(self.withdrawn) if self.withdrawn else None

    def identifiers(self) -> list[str]:
        """The record's own id then its aliases, without repeats (GO records repeat CVEs)."""
        return list(dict.fromkeys([self.id, *(self.aliases or ())]))

    def all_severities(self) -> list[Severity]:
        found = list(self.severity or ())
        for affected in self.affected or ():
            found.extend(affected.severity or ())
        return found


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 labels, least to most restricted."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class RecordStatus(StrEnum):
    """Where a record stands in the clearinghouse. Imported public data is published (or withdrawn)."""

    DRAFT = "draft"
    EMBARGOED = "embargoed"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"
    DISPUTED = "disputed"


@dataclass(frozen=True)
class Provenance:
    """Where a record came from: the source database, its own id there, its licence, and when we took it."""

    source: str
    source_id: str
    licence: str | None
    imported_at: datetime
    origin: str | None = None  # the file (and line) it was read from


@dataclass(frozen=True)
class VulnerabilityRecord:
    """A stored record: the OSV content plus the clearinghouse's own fields."""

    osv: OsvRecord
    provenance: Provenance
    tlp: Tlp = Tlp.CLEAR
    status: RecordStatus = RecordStatus.PUBLISHED
    scores: list[ComputedScore] = field(default_factory=list)
    known_exploited: bool = False
    group_id: str | None = None
    # What the import had to drop to keep the record (e.g. a malformed range), one line each; empty if nothing.
    repairs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.osv.id
