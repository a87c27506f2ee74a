"""Early-access grants: a critical-infrastructure partner nominated, approved or declined by the developer,
revoked by the developer or a government evaluator, and used by the partner (every attempt audited)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from clearinghouse.errors import NotFound
from clearinghouse.frontier import grants as grant_rules
from clearinghouse.frontier import views
from clearinghouse.frontier.grants import GrantState
from clearinghouse.frontier.service.base import (
    GOVERNMENT,
    SUBJECT,
    FrontierBase,
    actor_of,
    require_active,
    require_developer,
)
from clearinghouse.frontier.window import ReviewWindow
from clearinghouse.identity.model import OrgKind, Principal
from clearinghouse.store.identity import Forbidden


class EarlyAccessDenied(Forbidden):
    code = "early-access-denied"


class GrantService(FrontierBase):
    def nominate(
        self,
        principal: Principal,
        submission_id: str,
        partner: str,
        justification: str,
        starts_on: date,
        ends_on: date,
    ) -> dict[str, Any]:
        """Nominate a critical-infrastructure partner (by organisation name) for early access to this model."""
        grant_id = str(uuid.uuid4())
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._submission_row(conn, principal, submission_id)
            require_active(row)
            partner_org = self.repository.organisation_named(conn, partner)
            if partner_org is None:
                raise NotFound(f"no organisation named {partner!r}")
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
                    nominated_by=actor_of(principal),
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
            self.audit.append(conn, actor_of(principal), "frontier.grant.nominated", SUBJECT, row.model_id, details)
        return self.grant(principal, grant_id)

    def grant(self, principal: Principal, grant_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._grant_row(conn, grant_id)
            if row.partner_org_id != principal.organisation.id:
                self._model_row(conn, principal, row.model_id)
        return views.grant_json(row)

    def _grant_row(self, conn: sa.Connection, grant_id: str) -> Any:
        row = self.repository.grant_row(conn, grant_id)
        if row is None:
            raise NotFound(f"no early-access grant with id {grant_id!r}")
        return row

    def decide_grant(self, principal: Principal, grant_id: str, target: GrantState, reason: str) -> dict[str, Any]:
        """Approve or decline (the developer), or revoke (the developer or a government evaluator)."""
        now = self.clock()
        with self.audit.writing() as conn:
            row = self._grant_row(conn, grant_id)
            model = self._model_row(conn, principal, row.model_id)
            government_revokes = target is GrantState.REVOKED and principal.organisation.kind in GOVERNMENT
            if not government_revokes:
                require_developer(principal, model)
            grant_rules.transition(GrantState(row.state), target, actor_of(principal), reason, now)
            self.repository.set_grant_state(conn, grant_id, target, now)
            details = {"grant_id": grant_id, "from": row.state, "to": target.value, "reason": reason}
            self.audit.append(
                conn, actor_of(principal), f"frontier.grant.{target.value}", SUBJECT, row.model_id, details
            )
        return self.grant(principal, grant_id)

    def use_grant(self, principal: Principal, grant_id: str, purpose: str) -> dict[str, Any]:
        """A partner uses its grant. Every attempt is audited; a refused one answers `EarlyAccessDenied`."""
        today = self.today()
        with self.audit.writing() as conn:
            row = self._grant_row(conn, grant_id)
            if row.partner_org_id != principal.organisation.id:
                why: str | None = "the grant belongs to another organisation"
            else:
                why = grant_rules.usable(GrantState(row.state), row.starts_on, row.ends_on, today)
            details = {"grant_id": grant_id, "purpose": purpose, "partner": principal.organisation.name}
            if why is not None:
                self.audit.append(
                    conn,
                    actor_of(principal),
                    "frontier.grant.access-denied",
                    SUBJECT,
                    row.model_id,
                    details | {"why": why},
                )
            else:
                self.audit.append(conn, actor_of(principal), "frontier.grant.access", SUBJECT, row.model_id, details)
                endpoint = self.repository.access_method(conn, row.submission_id)["endpoint_ref"]
        # The denial's audit entry is committed above; only then is the caller refused.
        if why is not None:
            raise EarlyAccessDenied(f"early access refused: {why}")
        return {
            "grant_id": grant_id,
            "model_id": row.model_id,
            "endpoint_ref": endpoint,
            "ends_on": row.ends_on.isoformat(),
        }
