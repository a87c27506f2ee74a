"""Organisations, roles and the principal an API call acts as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OrgKind(StrEnum):
    REPORTER = "reporter"
    VENDOR = "vendor"
    CRITICAL_INFRASTRUCTURE = "critical-infrastructure"
    AI_DEVELOPER = "ai-developer"
    GOVERNMENT_EVALUATOR = "government-evaluator"
    CLEARINGHOUSE = "clearinghouse"


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    REPORTER = "reporter"
    VENDOR = "vendor"
    PARTNER = "partner"
    EVALUATOR = "evaluator"


# CISA's 16 critical-infrastructure sectors (PPD-21); a partner organisation names one.
SECTORS = frozenset(
    {
        "chemical",
        "commercial-facilities",
        "communications",
        "critical-manufacturing",
        "dams",
        "defense-industrial-base",
        "emergency-services",
        "energy",
        "financial-services",
        "food-and-agriculture",
        "government-facilities",
        "healthcare-and-public-health",
        "information-technology",
        "nuclear",
        "transportation-systems",
        "water-and-wastewater",
    }
)

# Which roles an organisation of each kind may hand out: a vendor cannot mint analysts.
ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.CLEARINGHOUSE: frozenset({Role.ADMIN, Role.ANALYST}),
    OrgKind.REPORTER: frozenset({Role.REPORTER}),
    OrgKind.VENDOR: frozenset({Role.VENDOR, Role.REPORTER}),
    OrgKind.CRITICAL_INFRASTRUCTURE: frozenset({Role.PARTNER, Role.REPORTER}),
    OrgKind.AI_DEVELOPER: frozenset({Role.REPORTER, Role.VENDOR}),
    OrgKind.GOVERNMENT_EVALUATOR: frozenset({Role.EVALUATOR, Role.ANALYST}),
}


class Scope(StrEnum):
    RECORDS_READ = "records:read"
    REPORTS_SUBMIT = "reports:submit"
    REPORTS_READ = "reports:read"
    REPORTS_TRIAGE = "reports:triage"
    ADMIN = "admin"
    # Frontier-model pre-release review (issue 4). AI-developer organisations' users hold Role.VENDOR: a developer
    # is the vendor of its model; the API also checks the organisation kind before anything is submitted.
    FRONTIER_READ = "frontier:read"
    FRONTIER_SUBMIT = "frontier:submit"  # register models, self-assess, offer access, approve grants
    FRONTIER_NOMINATE = "frontier:nominate"  # nominate critical-infrastructure partners for early access
    FRONTIER_EVALUATE = "frontier:evaluate"  # government evaluators: determinations, runs, findings, milestones
    FRONTIER_RESTRICTED = "frontier:restricted"  # cleared evaluators: restricted determinations, NSA review path
    FRONTIER_EARLY_ACCESS = "frontier:early-access"  # critical-infrastructure partners using a grant
    # Coordination cases (issue 13): read the cases one takes part in; write vendor statements, messages and
    # declarations; coordinate (staff: open, route, move, embargo, publish).
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    CASES_COORDINATE = "cases:coordinate"
    # Partners' SBOMs, their matches, alerts and VEX (issue 14); a partner reads and writes its own organisation's.
    ASSETS_READ = "assets:read"
    ASSETS_WRITE = "assets:write"
    NOTIFICATIONS_MANAGE = "notifications:manage"  # an organisation's webhook and e-mail subscriptions, deliveries


SCOPES_BY_ROLE: dict[Role, frozenset[Scope]] = {
    Role.ADMIN: frozenset(Scope),
    Role.ANALYST: frozenset({Scope.RECORDS_READ, Scope.REPORTS_SUBMIT, Scope.REPORTS_READ, Scope.REPORTS_TRIAGE}),
    Role.REPORTER: frozenset({Scope.RECORDS_READ, Scope.REPORTS_SUBMIT, Scope.REPORTS_READ}),
    Role.VENDOR: frozenset(
        {Scope.RECORDS_READ, Scope.REPORTS_READ, Scope.FRONTIER_READ, Scope.FRONTIER_SUBMIT, Scope.FRONTIER_NOMINATE}
    ),
    Role.PARTNER: frozenset({Scope.RECORDS_READ, Scope.FRONTIER_EARLY_ACCESS, Scope.ASSETS_READ, Scope.ASSETS_WRITE}),
    # An evaluator's token is cut to leave out frontier:restricted unless the holder is cleared.
    Role.EVALUATOR: frozenset(
        {
            Scope.RECORDS_READ,
            Scope.FRONTIER_READ,
            Scope.FRONTIER_NOMINATE,
            Scope.FRONTIER_EVALUATE,
            Scope.FRONTIER_RESTRICTED,
        }
    ),
}
# Coordination cases: staff coordinate; reporters and vendors take part in the cases they are on; partners named
# for early warning read them.
SCOPES_BY_ROLE[Role.ANALYST] |= {Scope.CASES_READ, Scope.CASES_WRITE, Scope.CASES_COORDINATE}
SCOPES_BY_ROLE[Role.REPORTER] |= {Scope.CASES_READ, Scope.CASES_WRITE}
SCOPES_BY_ROLE[Role.VENDOR] |= {Scope.CASES_READ, Scope.CASES_WRITE}
SCOPES_BY_ROLE[Role.PARTNER] |= {Scope.CASES_READ}

# Notifications: the organisations told of cases and alerts (reporters, vendors, partners) manage where they are
# told; staff analysts do not need to (an admin holds every scope and manages any organisation's).
for _role in (Role.REPORTER, Role.VENDOR, Role.PARTNER):
    SCOPES_BY_ROLE[_role] = SCOPES_BY_ROLE[_role] | {Scope.NOTIFICATIONS_MANAGE}


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    kind: OrgKind
    sector: str | None
    created_at: datetime


@dataclass(frozen=True)
class Principal:
    """The caller of an API request, as established by its token."""

    token_id: str
    user: str
    organisation: Organisation
    role: Role
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes
