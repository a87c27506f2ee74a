"""Domain exceptions.

Every error a user can cause is one of these; the CLI (and later the HTTP API) maps them to messages in
one place, so no command or route formats its own error strings.
"""

from __future__ import annotations

from dataclasses import dataclass


class ClearinghouseError(Exception):
    """Base of every error the system reports to a user."""

    code = "clearinghouse-error"

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


class NotFound(ClearinghouseError):
    code = "not-found"


class Unauthenticated(ClearinghouseError):
    """No usable credentials: missing, malformed, unknown, revoked or expired token."""

    code = "unauthenticated"


class Forbidden(ClearinghouseError):
    """The caller may not perform this operation at all (whatever the object); see `clearinghouse.policy`."""

    code = "forbidden"


class UnsupportedExport(ClearinghouseError):
    """The record cannot be expressed in the requested format (e.g. CVE JSON 5 without a CVE id)."""

    code = "unsupported-export"


class ConfigurationError(ClearinghouseError):
    code = "configuration-error"


class IllegalTransition(ClearinghouseError):
    """A lifecycle change its transition table does not allow (e.g. a received report marked fixed)."""

    code = "illegal-transition"


class SandboxUnavailable(ClearinghouseError):
    """An agentic evaluation needs the isolating sandbox (bubblewrap) and it is missing or cannot start."""

    code = "sandbox-unavailable"


class StoreNotFound(ConfigurationError):
    """A command that only reads was pointed at a store that does not exist; it creates none."""

    code = "store-not-found"


class PortInUse(ConfigurationError):
    """The address `serve` was asked to listen on is taken (another server, an earlier demo)."""

    code = "port-in-use"
