"""The store's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them; a test checks both agree."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("modified", Timestamp, nullable=False),
    sa.Column("published", Timestamp),
    sa.Column("withdrawn", Timestamp),
    sa.Column("summary", sa.Text),
    sa.Column("doc", Json, nullable=False),
    sa.Column("scores", Json, nullable=False),
    sa.Column("max_score", sa.Float),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("source_id", sa.String(200), nullable=False),
    sa.Column("licence", sa.String(200)),
    sa.Column("imported_at", Timestamp, nullable=False),
    sa.Column("origin", sa.Text),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("known_exploited", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("group_id", sa.String(128)),
    # What the import dropped to keep the record (a malformed range...): the record is flagged, not refused.
    sa.Column("repairs", Json),
    sa.Index(None, "source"),
    sa.Index(None, "group_id"),
)

# Every identifier a record answers to: its own id, aliases, related and upstream ids. `show ID`, alias grouping
# and KEV matching all look records up here.
record_identifiers = sa.Table(
    "record_identifiers",
    metadata,
    sa.Column("record_id", sa.String(128), sa.ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("identifier", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Index(None, "identifier"),
)

# One row per affected[] entry that names a package, keyed by ecosystem and normalised package name so
# `affected` finds only candidate rows; it evaluates the entry (read from the record's document, by position)
# with the ecosystem's own version semantics.
affected_packages = sa.Table(
    "affected_packages",
    metadata,
    sa.Column("record_id", sa.String(128), sa.ForeignKey("records.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("ecosystem", sa.String(100), nullable=False),
    sa.Column("ecosystem_base", sa.String(100), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("purl", sa.Text),
    sa.Index(None, "ecosystem_base", "name_key"),
)

kev_entries = sa.Table(
    "kev_entries",
    metadata,
    sa.Column("cve_id", sa.String(32), primary_key=True),
    sa.Column("vendor_project", sa.Text, nullable=False),
    sa.Column("product", sa.Text, nullable=False),
    sa.Column("vulnerability_name", sa.Text, nullable=False),
    sa.Column("date_added", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("known_ransomware_campaign_use", sa.String(16), nullable=False),
    sa.Column("catalog_version", sa.String(32), nullable=False),
    sa.Column("entry", Json, nullable=False),
)

import_runs = sa.Table(
    "import_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("read", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("unchanged", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("sector", sa.String(64)),
    sa.Column("created_at", Timestamp, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("organisation_id", "name"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("scopes", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
    sa.Column("last_used_at", Timestamp),
)

# Append-only and hash-chained (see store/audit.py); nothing ever updates or deletes a row.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject_type", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("token_id", sa.String(12)),  # the API token that acted (None: a local operator command)
    sa.Column("keyed", sa.Boolean, nullable=False, server_default=sa.false()),  # hash is an HMAC (see audit_chain)
    sa.Index(None, "subject_type", "subject_id"),
)

# Links sealing the audit log's leaves, one per committed batch (see `audit_chain`); append-only like audit_log.
audit_links = sa.Table(
    "audit_links",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("leaf_ranges", Json, nullable=False),  # [[first, last], ...] leaf numbers, ascending
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# PostgreSQL only: the leaves committed and not sealed yet, the sealer's work list (rows leave it as their link is
# written). Not evidence: a row removed from here leaves its leaf unsealed, which `verify` reports as pending.
audit_pending = sa.Table("audit_pending", metadata, sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False))

# Rate limits shared by every API process: one token bucket per key (API token, client address, failed logins).
rate_limit_buckets = sa.Table(
    "rate_limit_buckets",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # seconds since the epoch
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("submitted_by", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("submission", Json, nullable=False),  # the finding as submitted (one SARIF result, not the log)
    sa.Column("provenance", Json, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("pipeline", Json, nullable=False),  # per-step outcome, timing and error
    sa.Column("checks", Json),
    sa.Column("credibility", sa.Float),
    sa.Column("triage", Json),
    sa.Column("ssvc", sa.String(8)),
    sa.Column("priority", sa.Float),
    sa.Column("duplicates", Json),
    sa.Column("cluster_id", sa.String(36)),
    sa.Column("reproduction", Json),  # the latest reproduction's verdict, reason and oracle (issue 17)
    sa.Index(None, "content_hash"),
    sa.Index(None, "state", "priority"),
    sa.Index(None, "cluster_id"),
    sa.Index(None, "organisation_id"),
)

# What the worker that de-duplicated a report worked out for it (its duplicate fingerprint, content hash and ids),
# written with the report's pipeline run, so other workers add it to their indexes without fingerprinting it again.
report_fingerprints = sa.Table(
    "report_fingerprints",
    metadata,
    sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("fingerprint", sa.LargeBinary, nullable=False),
)

report_attachments = sa.Table(
    "report_attachments",
    metadata,
    sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

# Idempotency-Key: the same key and body from the same organisation gives back the first answer.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("organisation_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# A durable job queue in the store itself: no extra server on SQLite, SKIP LOCKED on PostgreSQL.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_after", Timestamp, nullable=False),
    sa.Column("locked_by", sa.String(100)),
    sa.Column("locked_at", Timestamp),
    sa.Column("lease_until", Timestamp),  # a running job whose lease ran out is due again (its worker died)
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index(None, "status", "run_after"),
)

# Frontier-model pre-release review (issue 4). A published criteria set is never rewritten: a new version
# supersedes it (only its status changes).
frontier_criteria_sets = sa.Table(
    "frontier_criteria_sets",
    metadata,
    sa.Column("criteria_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("effective_date", sa.Date, nullable=False),
    sa.Column("supersedes", sa.String(120)),
    sa.Column("document", Json, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("published_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

frontier_models = sa.Table(
    "frontier_models",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("developer_org_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("modality", sa.String(100), nullable=False),
    sa.Column("training_compute_flop", sa.Float),
    sa.Column("planned_partner_release", sa.Date),
    sa.Column("planned_public_release", sa.Date),
    sa.Column("registered_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("developer_org_id", "name", "version"),
)

frontier_determinations = sa.Table(
    "frontier_determinations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("criteria_id", sa.String(100), nullable=False),
    sa.Column("criteria_version", sa.Integer, nullable=False),
    sa.Column("basis", sa.String(32), nullable=False),  # self-assessment or government evaluation
    sa.Column("coverage", sa.String(32), nullable=False),
    sa.Column("results", Json, nullable=False),
    sa.Column("restricted", sa.Boolean, nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=False),
    sa.Column("decided_at", Timestamp, nullable=False),
    sa.Index(None, "model_id"),
)

# The NSA classified path: only that a review exists, who holds it and the designation it ended with.
frontier_classified_reviews = sa.Table(
    "frontier_classified_reviews",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("authority", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("designation", sa.String(200)),
    sa.Column("opened_at", Timestamp, nullable=False),
    sa.Column("concluded_at", Timestamp),
    sa.Index(None, "model_id"),
)

frontier_submissions = sa.Table(
    "frontier_submissions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("opens_on", sa.Date, nullable=False),
    sa.Column("partner_release_on", sa.Date, nullable=False),
    sa.Column("access_method", Json, nullable=False),  # endpoint reference; a secret only as a SHA-256 or a reference
    sa.Column("contacts", Json, nullable=False),
    sa.Column("milestones", Json, nullable=False),  # {milestone: {due_on, completed_at, completed_by}}
    sa.Column("plan_changes", Json, nullable=False),
    sa.Column("offered_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(None, "model_id"),
)

frontier_grants = sa.Table(
    "frontier_grants",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("submission_id", sa.String(36), sa.ForeignKey("frontier_submissions.id"), nullable=False),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("partner_org_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("sector", sa.String(64), nullable=False),
    sa.Column("justification", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=False),
    sa.Column("nominated_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(None, "submission_id"),
)

evaluation_runs = sa.Table(
    "evaluation_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("suite", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("log_location", sa.Text),
    sa.Column("metrics", Json, nullable=False),  # {name: {value, ci_low, ci_high}}
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index(None, "model_id", "suite"),
)

frontier_findings = sa.Table(
    "frontier_findings",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model_id", sa.String(36), sa.ForeignKey("frontier_models.id"), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("capability_area", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("evaluation_run_id", sa.String(36)),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index(None, "model_id"),
)

# Coordination cases (issue 13). Everything that happens on a case is also a row of `case_events` (its timeline);
# `audience` says who may read the event: "all" participants, "staff", or one organisation id (a vendor's thread).
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # CASE-2026-0001
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("advisory_id", sa.String(128), nullable=False),  # its record in `records` (embargoed until published)
    sa.Column("public_at", Timestamp),
    sa.Column("public_tz", sa.String(64)),
    sa.Column("first_notified_at", Timestamp),
    sa.Column("published_at", Timestamp),
    sa.Column("opened_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(None, "advisory_id"),
)

case_participants = sa.Table(
    "case_participants",
    metadata,
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("role", sa.String(16), primary_key=True),
    sa.Column("rule", sa.Text),  # the routing rule that proposed a vendor, or why it was added by hand
    sa.Column("added_by", sa.String(200), nullable=False),
    sa.Column("added_at", Timestamp, nullable=False),
    sa.Index(None, "organisation_id"),
)

case_reports = sa.Table(
    "case_reports",
    metadata,
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id"), primary_key=True),
    sa.Index(None, "report_id"),
)

case_records = sa.Table(
    "case_records",
    metadata,
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Index(None, "record_id"),
)

# One row per statement; a vendor's current status is its latest row.
case_vendor_status = sa.Table(
    "case_vendor_status",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("justification", sa.String(64)),
    sa.Column("fixed_versions", Json, nullable=False),
    sa.Column("fix_commits", Json, nullable=False),
    sa.Column("advisory_url", sa.Text),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("packages", Json, nullable=False),
    sa.Column("flags", Json, nullable=False),  # patch tracking: fixed versions still inside an affected range
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index(None, "case_id", "organisation_id"),
)

case_messages = sa.Table(
    "case_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("thread", sa.String(36)),  # None: to everyone in the case; else the vendor organisation's thread
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("author_organisation_id", sa.String(36)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("attachments", Json, nullable=False),  # [{name, media_type, size, sha256}]; content below
    sa.Column("at", Timestamp, nullable=False),
    sa.Index(None, "case_id", "thread", "id"),
)

case_attachments = sa.Table(
    "case_attachments",
    metadata,
    sa.Column("message_id", sa.Integer, sa.ForeignKey("case_messages.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

case_events = sa.Table(
    "case_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("audience", sa.String(36), nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Index(None, "case_id", "id"),
)

vendor_declarations = sa.Table(
    "vendor_declarations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("pattern", sa.String(500), nullable=False),
    sa.Column("match_key", sa.String(700), nullable=False),  # what the routing index files it under (routing.py)
    sa.Column("declared_by", sa.String(200), nullable=False),
    sa.Column("declared_at", Timestamp, nullable=False),
    sa.UniqueConstraint("organisation_id", "kind", "pattern"),
    sa.Index(None, "match_key"),
)

# Notifications (issue 13 item 7). A subscription is one channel of one organisation: a webhook (URL + signing
# secret) or e-mail addresses, with an optional event-kind filter. A delivery is an outbox row: one event for one
# subscription, carried by a `notify.webhook` / `notify.email` job, with its attempts and outcome.
notification_subscriptions = sa.Table(
    "notification_subscriptions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # webhook | email
    sa.Column("url", sa.Text),  # webhook only
    sa.Column("secret", sa.String(128)),  # webhook only: the HMAC key, shown to the subscriber once
    sa.Column("addresses", Json),  # email only: list of addresses
    sa.Column("event_kinds", Json, nullable=False),  # [] = every kind
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index(None, "organisation_id"),
)

notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # also the receiver's idempotency key
    sa.Column("subscription_id", sa.String(36), sa.ForeignKey("notification_subscriptions.id"), nullable=False),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("event_kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", Json, nullable=False),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | retrying | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", Timestamp),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index(None, "organisation_id", "created_at"),
    sa.Index(None, "subscription_id"),
)

# Partners' assets (issue 14): critical-infrastructure organisations' SBOMs, each component with its package
# identity (OSV base ecosystem and normalised name, the same key as `affected_packages`) so a new record finds the
# components it can affect through an index, not a scan.
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("format", sa.String(40), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_by", sa.String(200), nullable=False),
    sa.Column("uploaded_at", Timestamp, nullable=False),
    sa.Column("component_count", sa.Integer, nullable=False),
    sa.Column("problem_count", sa.Integer, nullable=False),
    sa.Column("problems", Json, nullable=False),  # [{ref, field, reason}], the first 1,000
    sa.Index(None, "organisation_id"),
)

asset_components = sa.Table(
    "asset_components",
    metadata,
    sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("version", sa.Text),
    sa.Column("purl", sa.Text),
    sa.Column("cpe", sa.Text),
    sa.Column("parent", sa.Text),
    sa.Column("depends_on", Json, nullable=False),
    sa.Column("ecosystem", sa.String(100)),  # OSV base ecosystem from the purl; None: not matchable
    sa.Column("name_key", sa.Text),
    sa.Index(None, "ecosystem", "name_key"),
)

# What a component is affected by: the record and which of its affected[] entries (the reason is read from it).
# No foreign key to records: a replaced record is deleted and re-inserted, and its matches are re-evaluated.
asset_matches = sa.Table(
    "asset_matches",
    metadata,
    sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("entries", Json, nullable=False),  # positions in the record's affected[] that include the version
    sa.Column("matched_at", Timestamp, nullable=False),
    sa.Index(None, "record_id"),
)

# One alert per (asset, record) once the partner may see the record; acknowledged by the partner.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organisation_id", sa.String(36), sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("asset_id", sa.String(36), sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tlp", sa.String(16), nullable=False),
    sa.Column("components", Json, nullable=False),  # the refs of the asset's components the record affects
    sa.Column("embargo", Json),  # early warning under embargo: the case and its terms
    sa.Column("raised_at", Timestamp, nullable=False),
    sa.Column("acknowledged_at", Timestamp),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.UniqueConstraint("asset_id", "record_id"),
    sa.Index(None, "organisation_id", "state"),
)

# Reproductions (issue 17): each run of a report's proof of concept against the vulnerable and the fixed version
# (or, for fix verification, a case's fixed version), with its verdict, evidence and the environments' hashes.
reproductions = sa.Table(
    "reproductions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("report_id", sa.String(36), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
    sa.Column("case_id", sa.String(40)),  # set for a fix verification
    sa.Column("purpose", sa.String(20), nullable=False),  # report / fix_verification
    sa.Column("request", Json, nullable=False),  # target, proof of concept, oracle
    sa.Column("state", sa.String(16), nullable=False),  # queued / running / done
    sa.Column("verdict", sa.String(24)),
    sa.Column("reason", sa.Text),
    sa.Column("step", sa.String(16)),  # where an `error` verdict failed
    sa.Column("observations", Json),  # per version: fired, where, detail, output, seconds
    sa.Column("packages", Json),  # per version: installed artifacts and their hashes
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Index(None, "report_id"),
    sa.Index(None, "case_id"),
    sa.Index(None, "state"),
)

# Web sign-in (migration 0013): passwords for users who use the browser, and their sessions.
user_credentials = sa.Table(
    "user_credentials",
    metadata,
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("login", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),  # Argon2id, PHC string
    sa.Column("totp_secret", sa.String(64)),  # base32; null: no second factor
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", Timestamp),
    sa.Column("password_set_at", Timestamp, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's secret
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp),
    sa.Index(None, "user_id"),
)

# Issue 16: per-step counters of the intake pipeline, added to by every worker in each batch's transaction.
pipeline_step_totals = sa.Table(
    "pipeline_step_totals",
    metadata,
    sa.Column("step", sa.String(32), primary_key=True),
    sa.Column("runs", sa.BigInteger, nullable=False),
    sa.Column("failures", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
)
