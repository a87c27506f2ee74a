"""Domain exceptions: every error a user can cause, in this one module.

Each class carries its HTTP status and a stable problem code. The API turns them into problem+json in one place
(`api.problems`) and the CLI into one message and exit status in one place (`cli.main.run`); no route or
command formats its own error strings. Domain modules raise these (and re-export the ones they own, so
`from clearinghouse.frontier.window import WindowRefused` keeps working).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar


class ClearinghouseError(Exception):
    """Base of every error the system reports to a user."""

    code: ClassVar[str] = "clearinghouse-error"
    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Location:
    """Where a problem sits: file, line (for line-oriented inputs), record id and field path."""

    file: str | None = None
    line: int | None = None
    record: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ", ".join(parts)


class InvalidRecord(ClearinghouseError):
    """A record (or a file holding records) that cannot be accepted; names where and why."""

    code = "invalid-record"
    status = 422

    def __init__(self, reason: str, location: Location | None = None) -> None:
        self.reason = reason
        self.location = location or Location()
        where = str(self.location)
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, **changes: str | int | None) -> InvalidRecord:
        """The same error with more of its location filled in (file, line, record, field)."""
        loc = self.location
        merged = Location(
            file=changes.get("file", loc.file),  # type: ignore[arg-type]
            line=changes.get("line", loc.line),  # type: ignore[arg-type]
            record=changes.get("record", loc.record),  # type: ignore[arg-type]
            field=changes.get("field", loc.field),  # type: ignore[arg-type]
        )
        return InvalidRecord(self.reason, merged)


class InputTooLarge(InvalidRecord):
    """An input over one of the configured limits (record size, archive expansion)."""

    code = "input-too-large"
    status = 413


class MalformedJson(InvalidRecord):
    """Text that is not JSON at all (400 in the API; a bad record like any other on import)."""

    code = "malformed-json"
    status = 400


class NestedTooDeep(InvalidRecord):
    """A JSON or YAML document nested deeper than its cap (refused before it is built: 422)."""

    code = "nested-too-deep"


class YamlAliasRefused(InvalidRecord):
    """YAML anchors and aliases are refused everywhere: they are how a few hundred bytes expand to gigabytes."""

    code = "yaml-alias-refused"


class RateLimited(ClearinghouseError):
    """Over a rate limit (429, with `Retry-After` in whole seconds, at least 1)."""

    code = "rate-limited"
    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after)) if math.isfinite(retry_after) else 3600
        super().__init__(f"too many requests; retry after {self.retry_after} s")


class NotFound(ClearinghouseError):
    """The object does not exist, or the caller may not know that it does (no existence oracle)."""

    code = "not-found"
    status = 404


class Unauthenticated(ClearinghouseError):
    """No usable credentials: missing, malformed, unknown, revoked or expired token."""

    code = "unauthenticated"
    status = 401


class Forbidden(ClearinghouseError):
    """The caller may not perform this operation at all (whatever the object); see `clearinghouse.policy`."""

    code = "forbidden"
    status = 403


class UnsupportedExport(ClearinghouseError):
    """The record cannot be expressed in the requested format (e.g. CVE JSON 5 without a CVE id)."""

    code = "unsupported-export"
    status = 422


class ConfigurationError(ClearinghouseError):
    code = "configuration-error"
    status = 500


class IllegalTransition(ClearinghouseError):
    """A lifecycle change its transition table does not allow (e.g. a received report marked fixed)."""

    code = "illegal-transition"
    status = 409


class SandboxUnavailable(ClearinghouseError):
    """An agentic evaluation needs the isolating sandbox (bubblewrap) and it is missing or cannot start."""

    code = "sandbox-unavailable"


class NoSamples(ClearinghouseError):
    """The chosen records hold no ground truth for this task (e.g. no advisory names its CWE)."""

    code = "no-samples"


class NoEvalLogs(ClearinghouseError):
    code = "no-eval-logs"
    status = 422


class EvalFailed(ClearinghouseError):
    code = "eval-failed"


# Records ---------------------------------------------------------------------------------------------------------


class UnknownEcosystem(ClearinghouseError):
    """An ecosystem that is not in the OSV list, or one whose versions this system cannot order."""

    code = "unknown-ecosystem"
    status = 422

    def __init__(self, ecosystem: str, reason: str | None = None) -> None:
        self.ecosystem = ecosystem
        super().__init__(reason or f"unknown ecosystem {ecosystem!r} (see the OSV ecosystem list)")


class InvalidVersion(ClearinghouseError):
    """A version string the ecosystem's version scheme cannot parse."""

    code = "invalid-version"
    status = 422

    def __init__(self, ecosystem: str, version: str, detail: str | None = None) -> None:
        self.ecosystem = ecosystem
        self.version = version
        message = f"{version!r} is not a valid {ecosystem} version"
        super().__init__(f"{message}: {detail}" if detail else message)


# Identity and access ---------------------------------------------------------------------------------------------


class IdentityError(ClearinghouseError):
    code = "identity-error"
    status = 409


# Report intake ---------------------------------------------------------------------------------------------------


class UnsupportedMediaType(ClearinghouseError):
    code = "unsupported-media-type"
    status = 415


class IdempotencyConflict(ClearinghouseError):
    code = "idempotency-key-reused"
    status = 409


class MissingMergeTarget(ClearinghouseError):
    code = "missing-merge-target"
    status = 422


# Frontier review -------------------------------------------------------------------------------------------------


class InvalidCriteria(InvalidRecord):
    """A criteria file that cannot be used; names the file, line and field."""

    code = "invalid-criteria"


class WindowRefused(ClearinghouseError):
    """A window request the order's rule (or the calendar) does not allow; the message cites the rule."""

    code = "window-refused"
    status = 422


class GrantRefused(ClearinghouseError):
    """A nomination the rules do not allow (not a partner, outside the window)."""

    code = "grant-refused"
    status = 422


class FrontierConflict(ClearinghouseError):
    code = "frontier-conflict"
    status = 409


class CriteriaImmutable(ClearinghouseError):
    """A published criteria version cannot change; publish a new version that supersedes it."""

    code = "criteria-immutable"
    status = 409


class EarlyAccessDenied(Forbidden):
    code = "early-access-denied"


# Lists -----------------------------------------------------------------------------------------------------------


class InvalidCursor(ClearinghouseError):
    """A page cursor this server did not hand out (or one for another list)."""

    code = "invalid-cursor"
    status = 422


class StoreNotFound(ConfigurationError):
    """A command that only reads was pointed at a store that does not exist; it creates none."""

    code = "store-not-found"


class PortInUse(ConfigurationError):
    """The address `serve` was asked to listen on is taken (another server, an earlier demo)."""

    code = "port-in-use"


# Evaluations -----------------------------------------------------------------------------------------------------


class InvalidFlagKey(ClearinghouseError):
    """A flag key file that is unreadable or not a key: flags of that run cannot be derived again."""

    code = "invalid-flag-key"
    status = 422


class DuplicateSample(ClearinghouseError):
    """The same (task, sample, seed, epoch) in two logs: pooling must never let one run overwrite another."""

    code = "duplicate-sample"
    status = 422


# Feeds (OSV API, CSAF provider, TAXII) ---------------------------------------------------------------------------


class InvalidFeedQuery(ClearinghouseError):
    """A feed request the protocol itself refuses (OSV's INVALID_ARGUMENT, a TAXII filter that does not parse)."""

    code = "invalid-feed-query"
    status = 400


class SigningUnavailable(ConfigurationError):
    """The CSAF provider's OpenPGP key cannot be made or used (gpg missing, an unreadable key directory)."""

    code = "signing-unavailable"


class NotAcceptable(ClearinghouseError):
    """A TAXII request whose Accept header admits no TAXII 2.1 media type (TAXII 2.1 section 1.6.8: 406)."""

    code = "not-acceptable"
    status = 406


# Coordination cases ----------------------------------------------------------------------------------------------


class EmbargoRefused(ClearinghouseError):
    """A public date the embargo rules refuse: in the past, in an unknown time zone, an extension without a reason
    or without who agreed, or one that does not move the date later."""

    code = "embargo-refused"
    status = 422


class PublicationRefused(ClearinghouseError):
    """Publishing before the publication gate opens; the message says why and when it opens."""

    code = "publication-refused"
    status = 409


class InvalidVendorDeclaration(ClearinghouseError):
    """A vendor declaration that cannot be used (e.g. a purl pattern that matches everything)."""

    code = "invalid-vendor-declaration"
    status = 422


class VendorStatementRefused(ClearinghouseError):
    """A vendor status that is incomplete (not affected without a VEX justification, fixed without a fix) or that
    names a package the vendor has not declared."""

    code = "vendor-statement-refused"
    status = 422


class CaseConflict(ClearinghouseError):
    """A case change that does not fit the case as it stands (a report not validated, a vendor already there)."""

    code = "case-conflict"
    status = 409


class CaseAttachmentTooLarge(ClearinghouseError):
    code = "case-attachment-too-large"
    status = 413


# Notifications ---------------------------------------------------------------------------------------------------


class InvalidEvent(ClearinghouseError):
    """A notification event that cannot be published (unknown kind, naive time, body not JSON or too large)."""

    code = "invalid-notification-event"
    status = 422


class InvalidSubscription(ClearinghouseError):
    """A notification subscription that cannot be kept: bad URL or address, unknown event kind, wrong channel."""

    code = "invalid-subscription"
    status = 422


class WebhookTargetRefused(InvalidSubscription):
    """A webhook URL whose host is (or resolves to) a loopback, private, link-local or otherwise internal address."""

    code = "webhook-target-refused"
    status = 422


class WebhookHostUnresolvable(InvalidSubscription):
    """A webhook URL whose host name does not resolve (now: at delivery this is retried, DNS may come back)."""

    code = "webhook-host-unresolvable"


# Reproductions (issue 17) ----------------------------------------------------------------------------------------


class InvalidReproduction(ClearinghouseError):
    """A reproduction request (target, proof of concept, oracle) that cannot run as given; names the field."""

    code = "invalid-reproduction"
    status = 422


class EnvironmentBuildFailed(ClearinghouseError):
    """A reproduction environment could not be built: the package or version does not exist or does not install,
    it is over the size cap, or offline mode found it in neither the cache nor the local index."""

    code = "environment-build-failed"
    status = 422


# Web sign-in -----------------------------------------------------------------------------------------------------


class SignInFailed(Unauthenticated):
    """A wrong user name, password or second-factor code: one message for all three (no account oracle)."""

    code = "sign-in-failed"


class AccountLocked(ClearinghouseError):
    """Too many failed sign-ins in a row: the account refuses every attempt until `retry_after` seconds pass."""

    code = "account-locked"
    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed sign-ins; try again in {self.retry_after} s")


class WeakPassword(ClearinghouseError):
    """A password the sign-in rules refuse (too short, too long, or the user name itself)."""

    code = "weak-password"
    status = 422


class CsrfRefused(Forbidden):
    """A form post without this session's CSRF token, or sent from another site (Origin)."""

    code = "csrf-refused"


class StoreUnavailable(ClearinghouseError):
    """The connection to the database was lost while answering (the server restarted, or dropped it): the request is
    to be sent again (503, `Retry-After`). The pool has let go of its connections, so the next request opens new
    ones. Whether a write in flight was committed cannot be known here: a submission sent with its
    `Idempotency-Key` is stored once however often it is sent."""

    code = "store-unavailable"
    status = 503

    def __init__(self) -> None:
        self.retry_after = 1
        super().__init__(
            "the connection to the database was lost while answering; send the request again in 1 s (a report "
            "submission sent with an Idempotency-Key is stored once however often it is sent)"
        )


# Intake back-pressure (issue 16) ---------------------------------------------------------------------------------


class IntakeOverloaded(ClearinghouseError):
    """The processing backlog is past its bound: this source is to send again later (503, `Retry-After`). The report
    was not accepted, so nothing is lost: the sender still holds it."""

    code = "intake-overloaded"
    status = 503

    def __init__(self, backlog: int, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"{backlog:,} reports are waiting to be processed; new and low-credibility sources are asked to send "
            f"again in {retry_after} s (nothing was accepted)"
        )
