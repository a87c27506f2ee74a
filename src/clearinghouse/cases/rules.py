"""The pure rules of a coordination case (no I/O): its lifecycle, the embargo, the publication gate, vendor
statuses with VEX justifications, and patch tracking.

Times are timezone-aware UTC throughout; a public date is kept as that instant plus the IANA zone it was set in,
so it can be shown in UTC and in each viewer's own zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clearinghouse.errors import EmbargoRefused, InvalidVersion, PublicationRefused, VendorStatementRefused
from clearinghouse.records.model import Affected
from clearinghouse.records.versions import matcher, normalize_name
from clearinghouse.statemachine import StateMachine


class CaseState(StrEnum):
    OPEN = "open"
    VENDORS_NOTIFIED = "vendors_notified"
    FIX_IN_PROGRESS = "fix_in_progress"
    READY_TO_PUBLISH = "ready_to_publish"
    PUBLISHED = "published"
    CLOSED_NO_ACTION = "closed_no_action"
    DISPUTED = "disputed"


_C = CaseState
CASE_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    _C.OPEN: frozenset({_C.VENDORS_NOTIFIED, _C.CLOSED_NO_ACTION, _C.DISPUTED}),
    _C.VENDORS_NOTIFIED: frozenset({_C.FIX_IN_PROGRESS, _C.READY_TO_PUBLISH, _C.CLOSED_NO_ACTION, _C.DISPUTED}),
    _C.FIX_IN_PROGRESS: frozenset({_C.READY_TO_PUBLISH, _C.CLOSED_NO_ACTION, _C.DISPUTED}),
    _C.READY_TO_PUBLISH: frozenset({_C.PUBLISHED, _C.FIX_IN_PROGRESS, _C.DISPUTED}),
    # A published advisory can still be contested; nothing else moves it.
    _C.PUBLISHED: frozenset({_C.DISPUTED}),
    _C.CLOSED_NO_ACTION: frozenset({_C.OPEN}),
    _C.DISPUTED: frozenset({_C.OPEN, _C.VENDORS_NOTIFIED, _C.FIX_IN_PROGRESS, _C.CLOSED_NO_ACTION}),
}
CASE_LIFECYCLE = StateMachine("case", CASE_TRANSITIONS)
# States from which publishing may be asked for (it moves the case to published on its own).
PUBLISHABLE = frozenset({_C.VENDORS_NOTIFIED, _C.FIX_IN_PROGRESS, _C.READY_TO_PUBLISH})


# Vendor statuses --------------------------------------------------------------------------------------------------


class VendorStatus(StrEnum):
    UNKNOWN = "unknown"
    UNDER_INVESTIGATION = "under_investigation"
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    FIXED = "fixed"


class VexJustification(StrEnum):
    """Why a product is not affected: the CSAF 2.0 `flags` labels and the CycloneDX 1.5 `analysis.justification`
    values (the two sets share no spelling)."""

    # CSAF 2.0 (section 3.2.3.5)
    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = "vulnerable_code_cannot_be_controlled_by_adversary"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"
    # CycloneDX 1.5 (vulnerabilities[].analysis.justification)
    CODE_NOT_PRESENT = "code_not_present"
    CODE_NOT_REACHABLE = "code_not_reachable"
    REQUIRES_CONFIGURATION = "requires_configuration"
    REQUIRES_DEPENDENCY = "requires_dependency"
    REQUIRES_ENVIRONMENT = "requires_environment"
    PROTECTED_BY_COMPILER = "protected_by_compiler"
    PROTECTED_AT_RUNTIME = "protected_at_runtime"
    PROTECTED_AT_PERIMETER = "protected_at_perimeter"
    PROTECTED_BY_MITIGATING_CONTROL = "protected_by_mitigating_control"


@dataclass(frozen=True)
class VendorStatement:
    """What a vendor says about the case: its status and, for `not_affected` and `fixed`, the evidence."""

    status: VendorStatus
    justification: VexJustification | None = None
    fixed_versions: tuple[str, ...] = ()
    fix_commits: tuple[str, ...] = ()
    advisory_url: str | None = None
    note: str = ""
    packages: tuple[str, ...] = ()  # purls the statement is about (each must be one the vendor declared)

    def check(self) -> None:
        """`VendorStatementRefused` naming what is missing or does not belong."""
        if self.status is VendorStatus.NOT_AFFECTED and self.justification is None:
            choices = ", ".join(j.value for j in VexJustification)
            raise VendorStatementRefused(f"'not_affected' needs a VEX justification (one of: {choices})")
        if self.status is not VendorStatus.NOT_AFFECTED and self.justification is not None:
            raise VendorStatementRefused("a VEX justification belongs only to a 'not_affected' status")
        if self.status is VendorStatus.FIXED and not (self.fixed_versions or self.fix_commits):
            raise VendorStatementRefused("'fixed' needs the fixed versions or the fix commits")
        if self.status is not VendorStatus.FIXED and (self.fixed_versions or self.fix_commits):
            raise VendorStatementRefused("fixed versions and fix commits belong only to a 'fixed' status")
        if self.advisory_url is not None and not self.advisory_url.startswith("https://"):
            raise VendorStatementRefused("the advisory URL must be an https:// URL")


@dataclass(frozen=True)
class PatchFlag:
    """A 'fixed' claim that the case's own affected data contradicts."""

    package: str
    version: str
    reason: str


def patch_flags(fixed_versions: Sequence[str], affected: Sequence[Affected]) -> list[PatchFlag]:
    """Fixed versions that are still inside an affected range (or listed as affected) of the advisory, judged by
    each package's ecosystem version rules (the evaluator `clearinghouse affected` uses). A version the ecosystem
    cannot parse is flagged too: it cannot be shown to be outside the range."""
    flags: list[PatchFlag] = []
    for entry in affected:
        if entry.package is None:
            continue
        package = f"{entry.package.ecosystem}/{entry.package.name}"
        check = matcher(entry)
        for version in fixed_versions:
            try:
                if check.affects(version):
                    flags.append(PatchFlag(package, version, f"{version} is inside an affected range of {package}"))
            except InvalidVersion as exc:
                flags.append(PatchFlag(package, version, exc.message))
    return flags


def same_package(entry: Affected, ecosystem: str, name: str) -> bool:
    return (
        entry.package is not None
        and entry.package.ecosystem.split(":", 1)[0] == ecosystem.split(":", 1)[0]
        and normalize_name(ecosystem, entry.package.name) == normalize_name(ecosystem, name)
    )


# The embargo ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicDate:
    """When a case may go public: an instant (UTC) and the IANA zone it was set in."""

    at: datetime
    zone: str

    def shown_in(self, zone: str) -> str:
        """ISO 8601 in `zone` (with its offset), e.g. 2027-03-01T09:00:00-05:00."""
        return self.at.astimezone(zone_named(zone)).isoformat()


# No embargo is set this far ahead: a date beyond it is a typo (and years near 9999 overflow).
MAX_EMBARGO = timedelta(days=3 * 365)


def zone_named(zone: str) -> ZoneInfo:
    if not zone or len(zone) > 64 or zone.startswith(("/", ".")) or ".." in zone:
        raise EmbargoRefused(f"unknown time zone {zone!r} (give an IANA name such as Europe/Berlin)")
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise EmbargoRefused(f"unknown time zone {zone!r} (give an IANA name such as Europe/Berlin)") from None


def public_date(local: datetime, zone: str, now: datetime) -> PublicDate:
    """The public date from a wall-clock time in `zone` (or an aware time, converted): refused if it is not later
    than `now` or the zone is unknown."""
    tz = zone_named(zone)
    aware = local.replace(tzinfo=tz) if local.tzinfo is None else local
    try:
        at = aware.astimezone(UTC)
    except OverflowError:
        raise EmbargoRefused(f"the public date {local.isoformat()} is out of range") from None
    if at > now + MAX_EMBARGO:
        raise EmbargoRefused(
            f"the public date {at.isoformat()} is more than {MAX_EMBARGO.days} days away; set a nearer one and extend "
            "it when the vendors need more time"
        )
    if at <= now:
        raise EmbargoRefused(f"the public date {at.isoformat()} is not in the future (now {now.isoformat()})")
    return PublicDate(at, zone)


@dataclass(frozen=True)
class EmbargoPolicy:
    """The default public date: `default_days` after the first vendor notification."""

    default_days: int = 90

    def default_date(self, first_notified: datetime, zone: str = "UTC") -> PublicDate:
        start = first_notified.astimezone(UTC).replace(second=0, microsecond=0)  # a date people can read out
        return PublicDate(start + timedelta(days=self.default_days), zone)

    def extend(self, current: PublicDate, proposed: PublicDate, reason: str, agreed_by: Sequence[str]) -> PublicDate:
        """A later public date, with a recorded reason and who agreed to it."""
        if not reason.strip():
            raise EmbargoRefused("an embargo extension needs a reason (it is kept in the case's timeline)")
        if not [who for who in agreed_by if who.strip()]:
            raise EmbargoRefused("an embargo extension needs who agreed to it")
        if proposed.at <= current.at:
            raise EmbargoRefused(
                f"an extension must move the public date later than {current.at.isoformat()}; "
                f"{proposed.at.isoformat()} is not"
            )
        return proposed


# The publication gate -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    open: bool
    reason: str
    opens_at: datetime | None = None  # when the public date will open it (None: no public date set)


@dataclass(frozen=True)
class PublicationGate:
    """A case may be published once its public date has passed, before that when every affected vendor is fixed
    (and none is still unknown or investigating), or by an admin override with a recorded reason."""

    public_date: PublicDate | None
    vendor_statuses: Mapping[str, VendorStatus] = field(default_factory=dict)  # vendor name -> status

    def decide(self, now: datetime, override_reason: str | None = None, admin: bool = False) -> GateDecision:
        if override_reason is not None:
            if not admin:
                return GateDecision(False, "only an administrator may override the publication gate", self._opens())
            if not override_reason.strip():
                return GateDecision(False, "an override needs a reason (it is kept in the audit log)", self._opens())
            return GateDecision(True, f"administrator override: {override_reason.strip()}")
        if self.public_date is not None and now >= self.public_date.at:
            return GateDecision(True, f"the public date {self.public_date.at.isoformat()} has passed")
        pending = sorted(
            name for name, s in self.vendor_statuses.items() if s not in (VendorStatus.FIXED, VendorStatus.NOT_AFFECTED)
        )
        if self.vendor_statuses and not pending and VendorStatus.FIXED in self.vendor_statuses.values():
            return GateDecision(True, "every affected vendor has a fix")
        waiting = f"vendors without a fix: {', '.join(pending)}" if pending else "no vendor has a fix yet"
        if not self.vendor_statuses:
            waiting = "no vendor is on the case"
        when = (
            f"the public date {self.public_date.at.isoformat()}"
            if self.public_date is not None
            else "no public date is set"
        )
        return GateDecision(False, f"the gate is closed until {when} ({waiting})", self._opens())

    def _opens(self) -> datetime | None:
        return self.public_date.at if self.public_date is not None else None

    def require_open(self, now: datetime, override_reason: str | None = None, admin: bool = False) -> GateDecision:
        decision = self.decide(now, override_reason, admin)
        if not decision.open:
            raise PublicationRefused(f"publication refused: {decision.reason}")
        return decision
