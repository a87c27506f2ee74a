"""What a reporter submits: a structured report, an OSV record or a SARIF 2.1 log, always with provenance.

Each submission becomes one or more `Finding`s (a SARIF log gives one per result), the common shape the intake
pipeline checks, de-duplicates and triages.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.formats.osv import json_path
from clearinghouse.records.purls import purl_disagreement, purl_problem
from clearinghouse.records.severity import parse_vector

MAX_ATTACHMENT_BYTES = 256 * 1024
MAX_ATTACHMENTS = 10
_CWE = re.compile(r"^CWE-[1-9][0-9]{0,5}$")


class Origin(StrEnum):
    HUMAN = "human"
    AI = "ai"


class Provenance(BaseModel):
    """Who or what found it. AI findings name the model, the tool and the run, and say whether a person checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: Origin
    model: Annotated[StrictStr | None, Field(max_length=200)] = None
    tool: Annotated[StrictStr | None, Field(max_length=200)] = None
    run_id: Annotated[StrictStr | None, Field(max_length=200)] = None
    human_verified: StrictBool = False

    @model_validator(mode="after")
    def _ai_names_its_source(self) -> Provenance:
        if self.origin is Origin.AI and not (self.model or self.tool):
            raise ValueError("an AI-generated report must name the model or the tool that produced it")
        return self


def _check_purl(value: str) -> str:
    problem = purl_problem(value)
    if problem is not None:
        raise ValueError(f"invalid purl {value!r}: {problem}")
    return value


def _check_cwe(value: str) -> str:
    if not _CWE.match(value):
        raise ValueError(f"{value!r} is not a CWE id like CWE-79")
    return value


def _check_cvss(value: str) -> str:
    kind = "CVSS_V4" if value.startswith("CVSS:4.0/") else "CVSS_V3" if value.startswith("CVSS:3.") else "CVSS_V2"
    parse_vector(kind, value)
    return value


# RFC 6838 restricted names for type and subtype; parameters as RFC 9110 tokens or quoted strings (no CR/LF).
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_PARAMETER_WORD = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = rf'[ \t]*;[ \t]*{_PARAMETER_WORD}=(?:{_PARAMETER_WORD}|"[^"\\\x00-\x1f\x7f]*")'
_MEDIA_TYPE = re.compile(rf"^({_RESTRICTED_NAME})/({_RESTRICTED_NAME})((?:{_PARAMETER})*)$")
# Bidirectional controls make `invoice\u202egnp.exe` display as `invoiceexe.png`; other format characters hide text.
_BIDI_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _attachment_name(value: str) -> str:
    """The bare file name: NFC, path components dropped; control and bidirectional characters, `.`, `..` refused."""
    if found := _BIDI_AND_CONTROLS.search(value):
        raise ValueError(f"attachment name has control or bidirectional character U+{ord(found.group()):04X}")
    name = unicodedata.normalize("NFC", value).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        raise ValueError(f"attachment name {value!r} names no file")
    return name


def _media_type(value: str) -> str:
    match = _MEDIA_TYPE.match(value)
    if match is None:
        raise ValueError(f"media type {value!r} is not type/subtype (RFC 6838), optionally with ;name=value")
    return f"{match[1].lower()}/{match[2].lower()}{match[3]}"


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_attachment_name)]
    media_type: Annotated[StrictStr, Field(max_length=255), AfterValidator(_media_type)] = "application/octet-stream"
    content_base64: StrictStr

    @model_validator(mode="after")
    def _decodes_within_limit(self) -> Attachment:
        if len(self.content_base64) > (MAX_ATTACHMENT_BYTES * 4) // 3 + 4:
            raise ValueError(f"attachment {self.name!r} is over the {MAX_ATTACHMENT_BYTES:,}-byte limit")
        try:
            base64.b64decode(self.content_base64, validate=True)
        except binascii.Error:
            raise ValueError(f"attachment {self.name!r} is not valid base64") from None
        return self


class AffectedProduct(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    purl: Annotated[StrictStr | None, AfterValidator(lambda v: v if v is None else _check_purl(v))] = None
    ecosystem: Annotated[StrictStr | None, Field(max_length=100)] = None
    name: Annotated[StrictStr | None, Field(max_length=300)] = None
    versions: Annotated[list[Annotated[StrictStr, Field(max_length=100)]], Field(max_length=200)] = []

    @model_validator(mode="after")
    def _names_something(self) -> AffectedProduct:
        if not self.purl and not self.name:
            raise ValueError("an affected product needs a purl or a name")
        if self.purl and self.ecosystem and self.name:
            problem = purl_disagreement(self.ecosystem, self.name, self.purl)
            if problem is not None:
                raise ValueError(f"purl {self.purl!r} disagrees with the product: {problem}")
        return self


class StructuredReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[StrictStr, Field(min_length=5, max_length=300)]
    description: Annotated[StrictStr, Field(min_length=20, max_length=100_000)]
    affected: Annotated[list[AffectedProduct], Field(min_length=1, max_length=50)]
    cwe: Annotated[StrictStr | None, AfterValidator(lambda v: v if v is None else _check_cwe(v))] = None
    cvss_vector: Annotated[StrictStr | None, AfterValidator(lambda v: v if v is None else _check_cvss(v))] = None
    proof_of_concept: Annotated[StrictStr | None, Field(max_length=100_000)] = None
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS)] = []
    contact: Annotated[StrictStr | None, Field(max_length=300)] = None
    locations: Annotated[list[Annotated[StrictStr, Field(max_length=500)]], Field(max_length=50)] = []


class StructuredSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["structured"]
    provenance: Provenance
    report: StructuredReport


class OsvSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["osv"]
    provenance: Provenance
    osv: dict[str, Any]


class SarifSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["sarif"]
    provenance: Provenance
    sarif: dict[str, Any]
    product: AffectedProduct | None = None  # what the scanned code is, when the log does not say


Submission = Annotated[StructuredSubmission | OsvSubmission | SarifSubmission, Field(discriminator="kind")]


_SUBMISSION = TypeAdapter(Submission)


def validate_submission(document: Any) -> StructuredSubmission | OsvSubmission | SarifSubmission:
    """A decoded submission as the model, or `InvalidRecord` naming the first field at fault (the API and the CLI
    refuse the same documents with the same messages)."""
    try:
        return _SUBMISSION.validate_python(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        message = first["msg"].removeprefix("Value error, ")
        loc = first["loc"]
        if loc and isinstance(document, dict) and loc[0] == document.get("kind"):
            loc = loc[1:]  # the union's tag names the model pydantic tried, not a field of the body
        if first["type"] == "extra_forbidden" and isinstance(document, dict):
            message = f"unknown field (a {document.get('kind')} submission has no such field; see /docs)"
        raise InvalidRecord(message, Location(field=json_path(loc))) from None
