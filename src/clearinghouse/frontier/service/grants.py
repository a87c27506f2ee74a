"""Early-access grants: a critical-infrastructure partner nominated, approved or declined by the developer,
revoked by the developer or a government evaluator, and used by the partner (every attempt audited)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import EarlyAccessDenied, GrantRefused, NotFound
from clearinghouse.frontier import grants as grant_rules
from clearinghouse.frontier import views
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.service.base import SUBJECT, FrontierBase, require_active
from clearinghouse.frontier.views import GrantAccess, GrantView
from clearinghouse.frontier.window import ReviewWindow
from clearinghouse.identity.model import OrgKind, Scope
from clearinghouse.policy import Actor, actor_name, rules

# Attempts on a grant by another organisation are audited under the grant, not on the model's timeline.
GRANT_SUBJECT = "frontier-grant"


class GrantService(FrontierBase):
    def nominate(
        self,
        principal: Actor,
        submission_id: str,
        partner: str,
        justification: str,
        starts_on: date,
        ends_on: date,
    ) -> GrantView:
        """Nominate a critical-infrastructure partner (by organisation name) for early access to this model."""
        grant_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            rules.require_nominator(principal, self._model_row(conn, principal, row.model_id).developer_org_id)
            require_active(row)
            # One answer whether the name is unknown or names another kind of organisation: a nomination
            # reveals neither that an organisation exists nor its kind.
            partner_org = self.repository.partner_named(conn, partner)
            if partner_org is None:
                raise GrantRefused(f"no critical-infrastructure partner organisation named {partner!r}")
            window = ReviewWindow(row.opens_on, row.partner_release_on)
            grant_rules.check_nomination(OrgKind(partner_org.kind), window, starts_on, ends_on)
            self.repository.insert_grant(
                conn,
                dict(
                    id=grant_id,
                    submission_id=submission_id,
                    model_id=row.model_id,
                    partner_org_id=partner_org.id,
                    sector=partner_org.sector,
                    justification=justification,
                    state=GrantState.NOMINATED.value,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    nominated_by=actor_name(principal),
                    created_at=now,
                    updated_at=now,
                ),
            )
            details = {
                "grant_id": grant_id,
                "partner": partner,
                "sector": partner_org.sector,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
            }
            self.audit.append(conn, actor_name(principal), "frontier.grant.nominated", SUBJECT, row.model_id, details)
        return self.grant(principal, grant_id)

    def grant(self, principal: Actor, grant_id: str) -> GrantView:
        with self.engine.connect() as conn:
            row = self._grant_row(conn, principal, grant_id)
        return views.grant_json(row)

    def grants(self, principal: Actor, model_id: str) -> list[GrantView]:
        """A model's early-access grants (whoever sees the model sees them), oldest first."""
        rules.require_frontier_reader(principal)
        with self.engine.connect() as conn:
            self._model_row(conn, principal, model_id)
            return [views.grant_json(row) for row in self.repository.grants_of(conn, model_id)]

    def _grant_row(self, conn: sa.Connection, actor: Actor, grant_id: str) -> Any:
        """The grant's row if the actor may see it (its partner, or whoever sees its model); `NotFound` otherwise."""
        row = self.repository.grant_row(conn, grant_id)
        if row is None or not rules.grant_visible(actor, row.partner_org_id, row.developer_org_id):
            raise NotFound(f"no early-access grant with id {grant_id!r}")
        return row

    def decide_grant(self, principal: Actor, grant_id: str, target: GrantState, reason: str) -> GrantView:
        """Approve or decline (the developer), or revoke (the developer or a government evaluator)."""
        if target is GrantState.REVOKED:
            rules.require_scope(principal, Scope.FRONTIER_NOMINATE)
        else:
            rules.require_developer(principal)
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._grant_row(conn, principal, grant_id)
            model = self._model_row(conn, principal, row.model_id)
            if target is GrantState.REVOKED:
                rules.require_nominator(principal, model.developer_org_id)
            else:
                rules.require_developer_of(principal, model.developer_org_id)
            grant_rules.transition(GrantState(row.state), target, actor_name(principal), reason, now)
            self.repository.set_grant_state(conn, grant_id, target, now)
            details = {"grant_id": grant_id, "from": row.state, "to": target.value, "reason": reason}
            self.audit.append(
                conn, actor_name(principal), f"frontier.grant.{target.value}", SUBJECT, row.model_id, details
            )
        return self.grant(principal, grant_id)

    def use_grant(self, actor: Actor, grant_id: str, purpose: str) -> GrantAccess:
        """A partner uses its grant. Every attempt is audited; a refused one answers `EarlyAccessDenied`.

        Another organisation's grant is, to this caller, a grant that does not exist (`NotFound`, as for a missing
        id). The attempt is still audited, under the grant itself rather than on the model's timeline, which the
        developer reads and which must not name other organisations' attempts."""
        principal = rules.require_partner(actor)
        today = self.today()
        details: dict[str, Any] = {"grant_id": grant_id, "purpose": purpose, "partner": principal.organisation.name}
        why: str | None = None
        with self.audit.writing() as conn:
            row = self.repository.grant_row(conn, grant_id)
            foreign = row is not None and not rules.holds_grant(principal, row.partner_org_id)
            if foreign:
                self.audit.append(
                    conn, actor_name(principal), "frontier.grant.access-denied", GRANT_SUBJECT, grant_id, details
                )
            elif row is not None:
                why = grant_rules.usable(GrantState(row.state), row.starts_on, row.ends_on, today)
                action = "frontier.grant.access" if why is None else "frontier.grant.access-denied"
                entry = details if why is None else details | {"why": why}
                self.audit.append(conn, actor_name(principal), action, SUBJECT, row.model_id, entry)
                endpoint = self.repository.access_method(conn, row.submission_id)["endpoint_ref"]
        # The denial's audit entry is committed above; only then is the caller refused.
        if row is None or foreign:
            raise NotFound(f"no early-access grant with id {grant_id!r}")
        if why is not None:
            raise EarlyAccessDenied(f"early access refused: {why}")
        return {
            "grant_id": grant_id,
            "model_id": row.model_id,
            "endpoint_ref": endpoint,
            "ends_on": row.ends_on.isoformat(),
        }
