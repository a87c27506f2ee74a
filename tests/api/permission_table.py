"""Who may call each API operation and which objects each caller sees: the expected answers of the permission
matrix (`test_permission_matrix.py`), written out by hand from the README's policy table. Nothing here asks the
policy code; if the two disagree, one of them is wrong and the matrix says which cell.

Principals are named `<organisation>-<role>`; the organisations are:
  ch    Clearinghouse (kind clearinghouse: the staff)          rep   Reporter Org (kind reporter)
  ven   Acme Software (kind vendor)                            ci    Mercy Hospital (critical infrastructure)
  ai    Northwind AI (AI developer)                            ai2   Southwind AI (another AI developer)
  gov   DHS Evaluation (government evaluator)
plus `anonymous` (no token), `bad-token` (a well-formed token nobody issued) and narrowed tokens: `ch-analyst-submit`
(an analyst token cut to reports:submit), `ai-vendor-read` (a developer token cut to frontier:read) and
`gov-evaluator-uncleared` (without frontier:restricted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clearinghouse.identity.model import SCOPES_BY_ROLE, OrgKind, Role, Scope


@dataclass(frozen=True)
class Who:
    organisation: str
    kind: OrgKind
    role: Role
    scopes: frozenset[Scope] | None = None  # None: everything the role holds
    sector: str | None = None


ORGANISATIONS = {
    "ch": ("Clearinghouse", OrgKind.CLEARINGHOUSE, None),
    "rep": ("Reporter Org", OrgKind.REPORTER, None),
    "ven": ("Acme Software", OrgKind.VENDOR, None),
    "ci": ("Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, "healthcare-and-public-health"),
    "bank": ("First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, "financial-services"),
    "ai": ("Northwind AI", OrgKind.AI_DEVELOPER, None),
    "ai2": ("Southwind AI", OrgKind.AI_DEVELOPER, None),
    "gov": ("DHS Evaluation", OrgKind.GOVERNMENT_EVALUATOR, None),
}

# Every role each organisation kind may hold, plus the narrowed tokens.
TOKENS: dict[str, tuple[str, Role, frozenset[Scope] | None]] = {
    "ch-admin": ("ch", Role.ADMIN, None),
    "ch-analyst": ("ch", Role.ANALYST, None),
    "ch-analyst-submit": ("ch", Role.ANALYST, frozenset({Scope.REPORTS_SUBMIT})),
    "rep-reporter": ("rep", Role.REPORTER, None),
    "ven-vendor": ("ven", Role.VENDOR, None),
    "ven-reporter": ("ven", Role.REPORTER, None),
    "ci-partner": ("ci", Role.PARTNER, None),
    "ci-reporter": ("ci", Role.REPORTER, None),
    "ai-vendor": ("ai", Role.VENDOR, None),
    "ai-reporter": ("ai", Role.REPORTER, None),
    "ai-vendor-read": ("ai", Role.VENDOR, frozenset({Scope.FRONTIER_READ})),
    "ai2-vendor": ("ai2", Role.VENDOR, None),
    "gov-evaluator": ("gov", Role.EVALUATOR, None),
    "gov-evaluator-uncleared": ("gov", Role.EVALUATOR, SCOPES_BY_ROLE[Role.EVALUATOR] - {Scope.FRONTIER_RESTRICTED}),
    "gov-analyst": ("gov", Role.ANALYST, None),
}
ANONYMOUS = "anonymous"
BAD_TOKEN = "bad-token"
PRINCIPALS = (ANONYMOUS, BAD_TOKEN, *TOKENS)

EVERY_TOKEN = frozenset(TOKENS)
STAFF = frozenset({"ch-admin", "ch-analyst"})
NO_RECORDS_READ = frozenset({"ch-analyst-submit", "ai-vendor-read"})
RECORD_READERS = EVERY_TOKEN - NO_RECORDS_READ
REPORT_SUBMITTERS = frozenset(
    {"ch-admin", "ch-analyst", "ch-analyst-submit", "rep-reporter", "ven-reporter", "ci-reporter", "ai-reporter"}
) | {"gov-analyst"}
REPORT_READERS = frozenset(
    {"ch-admin", "ch-analyst", "rep-reporter", "ven-vendor", "ven-reporter", "ci-reporter", "ai-vendor"}
) | {"ai-reporter", "ai2-vendor", "gov-analyst"}
TRIAGERS = STAFF  # a government analyst holds reports:triage but is not clearinghouse staff
FRONTIER_READERS = frozenset(
    {"ch-admin", "ven-vendor", "ai-vendor", "ai-vendor-read", "ai2-vendor", "gov-evaluator"}
) | {"gov-evaluator-uncleared"}
DEVELOPERS = frozenset({"ai-vendor", "ai2-vendor"})  # ven-vendor holds frontier:submit but is no AI developer
EVALUATORS = frozenset({"ch-admin", "gov-evaluator", "gov-evaluator-uncleared"})
CLEARED = frozenset({"ch-admin", "gov-evaluator"})
NOMINATORS = frozenset({"ch-admin", "ven-vendor", "ai-vendor", "ai2-vendor", "gov-evaluator"}) | {
    "gov-evaluator-uncleared"
}
PARTNERS = frozenset({"ci-partner"})

# Who sees which organisation's objects.
GOVERNMENT_SIDE = frozenset({"ch-admin", "ch-analyst", "ch-analyst-submit"}) | {
    "gov-evaluator",
    "gov-evaluator-uncleared",
    "gov-analyst",
}
NORTHWIND = frozenset({"ai-vendor", "ai-reporter", "ai-vendor-read"})
SOUTHWIND = frozenset({"ai2-vendor"})
SEES_NORTHWIND_MODEL = GOVERNMENT_SIDE | NORTHWIND
SEES_SOUTHWIND_MODEL = GOVERNMENT_SIDE | SOUTHWIND
EVERYONE = frozenset(PRINCIPALS)
PUBLIC = EVERYONE - {BAD_TOKEN}  # a bad token is refused even where no token is needed

# Coordination cases. The shared case was reported by Reporter Org, has Acme Software as its vendor and Mercy
# Hospital (critical infrastructure) named for early warning; Northwind/Southwind and DHS are not on it.
CASE_READERS = frozenset(
    {"ch-admin", "ch-analyst", "rep-reporter", "ven-vendor", "ven-reporter", "ci-partner", "ci-reporter"}
) | {"ai-vendor", "ai-reporter", "ai2-vendor", "gov-analyst"}
CASE_WRITERS = CASE_READERS - {"ci-partner"}
COORDINATORS = STAFF  # a government analyst holds cases:coordinate but is not clearinghouse staff
VENDORS_OR_STAFF = STAFF | {"ven-vendor", "ven-reporter", "ai-vendor", "ai-reporter", "ai2-vendor"}
DECLARERS = STAFF | {"ven-vendor", "ven-reporter"}  # the matrix declares for Acme Software
ON_THE_CASE = STAFF | {"rep-reporter", "ven-vendor", "ven-reporter", "ci-partner", "ci-reporter"}


@dataclass(frozen=True)
class Row:
    """One operation: who gets past the operation check (`callers`; others get 401 without a valid token, 403
    with one), and for each object the callers who see it (`sees`; other callers get 404, or for a listing do
    not find it in the list). `fresh`: each admitted call gets its own new object (the call changes it)."""

    ok: int
    callers: frozenset[str]
    sees: dict[str, frozenset[str]] = field(default_factory=dict)
    listing: bool = False
    fresh: bool = False
    # Callers who see the object but may not do this to it (403): e.g. a partner named for early warning reads a
    # case but does not post to it.
    forbidden_on: dict[str, frozenset[str]] = field(default_factory=dict)


_TLP_SEERS = {
    "record-clear": PUBLIC - NO_RECORDS_READ,
    "record-green": RECORD_READERS,
    "record-amber": STAFF,
    "record-amber-strict": STAFF,
    "record-red": STAFF,
    "record-embargoed": STAFF,  # TLP:GREEN but not released yet
}
# CSAF TLP directories: a directory whose label the caller cannot read does not exist for it.
_CSAF_DIRECTORIES = {
    "csaf-white": PUBLIC - NO_RECORDS_READ,
    "csaf-green": RECORD_READERS,
    "csaf-amber": STAFF,
    "csaf-red": STAFF,
}
# TAXII collections, one per TLP label: one the caller cannot read does not exist for it.
_TAXII_COLLECTIONS = {
    "taxii-clear": PUBLIC - NO_RECORDS_READ,
    "taxii-green": RECORD_READERS,
    "taxii-amber": STAFF,
    "taxii-amber+strict": STAFF,
    "taxii-red": STAFF,
    "taxii-partner-ci": STAFF | {"ci-partner", "ci-reporter"},  # Mercy Hospital's early-warning collection
}
_REPORTS = {"report-rep": STAFF | {"rep-reporter"}, "report-ai": STAFF | {"ai-vendor", "ai-reporter"}}
_MODELS = {"model-ai": SEES_NORTHWIND_MODEL, "model-ai2": SEES_SOUTHWIND_MODEL}
_SUBMISSIONS = {"submission-ai": SEES_NORTHWIND_MODEL, "submission-ai2": SEES_SOUTHWIND_MODEL}
_OWN_MODEL = {"model-ai": frozenset({"ai-vendor"}), "model-ai2": frozenset({"ai2-vendor"})}
_OWN_SUBMISSION = {"submission-ai": frozenset({"ai-vendor"}), "submission-ai2": frozenset({"ai2-vendor"})}
_NOMINATE_ON = {
    "submission-ai": GOVERNMENT_SIDE | {"ai-vendor"},
    "submission-ai2": GOVERNMENT_SIDE | {"ai2-vendor"},
}
_GRANT_DECIDERS = {"grant-ai": frozenset({"ai-vendor"}), "grant-ai2": frozenset({"ai2-vendor"})}
_GRANT_REVOKERS = {"grant-ai": GOVERNMENT_SIDE | {"ai-vendor"}, "grant-ai2": GOVERNMENT_SIDE | {"ai2-vendor"}}

# Notifications: an organisation manages its own subscriptions and reads its own deliveries; an admin any.
NOTIFY_MANAGERS = frozenset({"ch-admin", "rep-reporter", "ven-vendor", "ven-reporter", "ci-partner", "ci-reporter"}) | {
    "ai-vendor",
    "ai-reporter",
    "ai2-vendor",
}
_ACME_NOTIFICATIONS = frozenset({"ch-admin", "ven-vendor", "ven-reporter"})
_SUBSCRIPTIONS = {"subscription-ven": _ACME_NOTIFICATIONS}
# Partners' assets (issue 14): a critical-infrastructure organisation's own, and staff holding assets:read.
ASSET_READERS = frozenset({"ch-admin", "ci-partner"})
ASSET_OWNERS = PARTNERS
_ASSETS = {"asset-ci": frozenset({"ch-admin", "ci-partner"}), "asset-bank": frozenset({"ch-admin"})}
_ALERTS = {"alert-ci": frozenset({"ch-admin", "ci-partner"}), "alert-bank": frozenset({"ch-admin"})}

TABLE: dict[str, Row] = {
    "GET /healthz": Row(200, EVERYONE),  # resolves no token at all
    "GET /api/v1/audit/checkpoint": Row(200, EVERYONE),  # public, as transparency logs publish theirs; no token
    "GET /metrics": Row(200, TRIAGERS),  # processing backlog and step timings: staff (issue 16)
    # Records: TLP 2.0 and release state.
    "GET /api/v1/records/{identifier}": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS),
    "GET /api/v1/affected": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS, listing=True),
    "GET /api/v1/stats": Row(200, PUBLIC - NO_RECORDS_READ),
    # Reports: the submitting organisation and clearinghouse staff.
    "POST /api/v1/reports": Row(202, REPORT_SUBMITTERS),
    "GET /api/v1/reports": Row(200, REPORT_READERS, _REPORTS, listing=True),
    "GET /api/v1/reports/{report_id}": Row(200, REPORT_READERS, _REPORTS),
    "POST /api/v1/reports/{report_id}/state": Row(200, TRIAGERS, _REPORTS, fresh=True),
    "POST /api/v1/reports/{report_id}/reprocess": Row(202, TRIAGERS, _REPORTS),
    # Reproductions (issue 17): staff run them; whoever reads the report reads them.
    "POST /api/v1/reports/{report_id}/reproductions": Row(202, TRIAGERS, _REPORTS),
    "GET /api/v1/reports/{report_id}/reproductions": Row(200, REPORT_READERS, _REPORTS),
    "GET /api/v1/clusters/{cluster_id}": Row(200, TRIAGERS, {"cluster-rep": STAFF}),
    "POST /api/v1/reports/{report_id}/cluster": Row(200, TRIAGERS, _REPORTS),
    # Frontier-model review: a developer its own models, the government side every model.
    "POST /api/v1/frontier/criteria": Row(201, EVALUATORS),
    "GET /api/v1/frontier/criteria": Row(200, FRONTIER_READERS),
    "POST /api/v1/frontier/models": Row(201, DEVELOPERS),
    "GET /api/v1/frontier/models/{model_id}": Row(200, FRONTIER_READERS, _MODELS),
    "POST /api/v1/frontier/models/{model_id}/self-assessment": Row(201, DEVELOPERS, _OWN_MODEL),
    "POST /api/v1/frontier/models/{model_id}/determinations": Row(201, EVALUATORS, _MODELS),
    "GET /api/v1/frontier/models/{model_id}/determinations": Row(200, FRONTIER_READERS, _MODELS),
    "POST /api/v1/frontier/models/{model_id}/classified-reviews": Row(201, CLEARED, _MODELS),
    "POST /api/v1/frontier/classified-reviews/{review_id}/conclusion": Row(
        200, CLEARED, {"review-ai": SEES_NORTHWIND_MODEL, "review-ai2": SEES_SOUTHWIND_MODEL}, fresh=True
    ),
    "POST /api/v1/frontier/models/{model_id}/submissions": Row(201, DEVELOPERS, _OWN_MODEL),
    "GET /api/v1/frontier/submissions/{submission_id}": Row(200, FRONTIER_READERS, _SUBMISSIONS),
    "POST /api/v1/frontier/submissions/{submission_id}/release-date": Row(200, DEVELOPERS, _OWN_SUBMISSION, fresh=True),
    "POST /api/v1/frontier/submissions/{submission_id}/withdraw": Row(200, DEVELOPERS, _OWN_SUBMISSION, fresh=True),
    "POST /api/v1/frontier/submissions/{submission_id}/milestones/{milestone}": Row(
        200, EVALUATORS, _SUBMISSIONS, fresh=True
    ),
    "GET /api/v1/frontier/reminders": Row(200, EVALUATORS),
    "POST /api/v1/frontier/submissions/{submission_id}/grants": Row(201, NOMINATORS, _NOMINATE_ON, fresh=True),
    "POST /api/v1/frontier/grants/{grant_id}/approve": Row(200, DEVELOPERS, _GRANT_DECIDERS, fresh=True),
    "POST /api/v1/frontier/grants/{grant_id}/decline": Row(200, DEVELOPERS, _GRANT_DECIDERS, fresh=True),
    "POST /api/v1/frontier/grants/{grant_id}/revoke": Row(200, NOMINATORS, _GRANT_REVOKERS, fresh=True),
    # Someone else's grant is a grant that does not exist.
    "POST /api/v1/frontier/grants/{grant_id}/access": Row(
        200, PARTNERS, {"grant-ci-approved": frozenset({"ci-partner"}), "grant-bank-approved": frozenset()}
    ),
    "POST /api/v1/frontier/models/{model_id}/evaluations": Row(201, EVALUATORS, _MODELS),
    "GET /api/v1/frontier/models/{model_id}/evaluations": Row(200, FRONTIER_READERS, _MODELS),
    "POST /api/v1/frontier/models/{model_id}/findings": Row(201, EVALUATORS, _MODELS),
    "GET /api/v1/frontier/models/{model_id}/report": Row(200, FRONTIER_READERS, _MODELS),
    # Notifications: another organisation's subscription is one that does not exist.
    "POST /api/v1/notifications/subscriptions": Row(201, NOTIFY_MANAGERS),
    "GET /api/v1/notifications/subscriptions": Row(200, NOTIFY_MANAGERS, _SUBSCRIPTIONS, listing=True),
    "PATCH /api/v1/notifications/subscriptions/{subscription_id}": Row(200, NOTIFY_MANAGERS, _SUBSCRIPTIONS),
    "POST /api/v1/notifications/subscriptions/{subscription_id}/test": Row(202, NOTIFY_MANAGERS, _SUBSCRIPTIONS),
    "GET /api/v1/notifications/deliveries": Row(
        200, NOTIFY_MANAGERS, {"delivery-ven": _ACME_NOTIFICATIONS}, listing=True
    ),
    # Feeds: the records again, for OSV, CSAF and TAXII clients; the same TLP and release rules.
    "POST /v1/query": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS, listing=True),
    "POST /v1/querybatch": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS, listing=True),
    "GET /v1/vulns/{vuln_id}": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS),
    "GET /.well-known/csaf/provider-metadata.json": Row(200, EVERYONE),  # public; resolves no token
    "GET /.well-known/csaf/openpgp/{key_file}": Row(200, EVERYONE, {"csaf-key": EVERYONE}),
    "GET /.well-known/csaf/{directory}/index.txt": Row(200, PUBLIC - NO_RECORDS_READ, _CSAF_DIRECTORIES),
    "GET /.well-known/csaf/{directory}/changes.csv": Row(200, PUBLIC - NO_RECORDS_READ, _CSAF_DIRECTORIES),
    "GET /.well-known/csaf/{directory}/feed.json": Row(200, PUBLIC - NO_RECORDS_READ, _CSAF_DIRECTORIES),
    "GET /.well-known/csaf/{directory}/{year}/{filename}": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS),
    "GET /taxii2/": Row(200, EVERYONE),  # discovery and the API root are public; they resolve no token
    "GET /taxii2/api/": Row(200, EVERYONE),
    "GET /taxii2/api/collections/": Row(200, PUBLIC - NO_RECORDS_READ, _TAXII_COLLECTIONS, listing=True),
    "GET /taxii2/api/collections/{collection_id}/": Row(200, PUBLIC - NO_RECORDS_READ, _TAXII_COLLECTIONS),
    "GET /taxii2/api/collections/{collection_id}/objects/": Row(200, PUBLIC - NO_RECORDS_READ, _TAXII_COLLECTIONS),
    "GET /taxii2/api/collections/{collection_id}/manifest/": Row(200, PUBLIC - NO_RECORDS_READ, _TAXII_COLLECTIONS),
    "GET /taxii2/api/collections/{collection_id}/objects/{object_id}/": Row(200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS),
    "GET /taxii2/api/collections/{collection_id}/objects/{object_id}/versions/": Row(
        200, PUBLIC - NO_RECORDS_READ, _TLP_SEERS
    ),
    # Coordination cases: staff coordinate; participants read (and post); anyone else is told the case is absent.
    "GET /api/v1/cases": Row(200, CASE_READERS, {"case-rep": ON_THE_CASE}, listing=True),
    "POST /api/v1/cases": Row(201, COORDINATORS),
    "GET /api/v1/cases/{case_id}": Row(200, CASE_READERS, {"case-rep": ON_THE_CASE}),
    "GET /api/v1/cases/{case_id}/proposals": Row(200, COORDINATORS, {"case-rep": STAFF}),
    "POST /api/v1/cases/{case_id}/reports": Row(200, COORDINATORS, {"case-rep": STAFF}, fresh=True),
    "POST /api/v1/cases/{case_id}/participants": Row(200, COORDINATORS, {"case-rep": STAFF}, fresh=True),
    "POST /api/v1/cases/{case_id}/state": Row(200, COORDINATORS, {"case-rep": STAFF}, fresh=True),
    "POST /api/v1/cases/{case_id}/embargo": Row(200, COORDINATORS, {"case-rep": STAFF}, fresh=True),
    "POST /api/v1/cases/{case_id}/vendor-status": Row(
        200, VENDORS_OR_STAFF, {"case-rep": STAFF | {"ven-vendor", "ven-reporter"}}
    ),
    "POST /api/v1/cases/{case_id}/messages": Row(
        201,
        CASE_WRITERS,
        {"case-rep": ON_THE_CASE - {"ci-partner"}},
        forbidden_on={"case-rep": frozenset({"ci-reporter"})},
    ),
    # Acme's private thread: staff and Acme only.
    "GET /api/v1/case-messages/{message_id}/attachments": Row(
        200, CASE_READERS, {"message-acme": STAFF | {"ven-vendor", "ven-reporter"}}
    ),
    "POST /api/v1/cases/{case_id}/publish": Row(200, COORDINATORS, {"case-ready": STAFF}, fresh=True),
    "POST /api/v1/vendors/declarations": Row(201, DECLARERS),
    "GET /api/v1/vendors/declarations": Row(200, CASE_READERS),
    # Partners' assets, matches, VEX and alerts: another organisation's is missing.
    "POST /api/v1/assets": Row(201, ASSET_OWNERS),
    "GET /api/v1/assets": Row(200, ASSET_READERS, _ASSETS, listing=True),
    "GET /api/v1/assets/{asset_id}": Row(200, ASSET_READERS, _ASSETS),
    "GET /api/v1/assets/{asset_id}/matches": Row(200, ASSET_READERS, _ASSETS),
    "GET /api/v1/assets/{asset_id}/vex": Row(200, ASSET_READERS, _ASSETS),
    "GET /api/v1/alerts": Row(200, ASSET_READERS, _ALERTS, listing=True),
    "POST /api/v1/alerts/{alert_id}/ack": Row(
        200, ASSET_OWNERS, {"alert-ci": frozenset({"ci-partner"}), "alert-bank": frozenset()}, fresh=True
    ),
}


def expected(row: Row, principal: str, object_name: str | None) -> int | str:
    """The answer a principal should get: a status, or for a listing "listed" / "absent"."""
    if principal not in row.callers:
        return 401 if principal in (ANONYMOUS, BAD_TOKEN) else 403
    if object_name is None:
        return row.ok
    if principal in row.forbidden_on.get(object_name, frozenset()):
        return 403
    if principal in row.sees[object_name]:
        return "listed" if row.listing else row.ok
    return "absent" if row.listing else 404
