"""Criteria versions: publish (immutable once published; `supersedes` retires the older one), read, list."""

from __future__ import annotations

import sqlalchemy as sa

from clearinghouse.errors import CriteriaImmutable, NotFound
from clearinghouse.frontier import criteria as criteria_mod
from clearinghouse.frontier import views
from clearinghouse.frontier.criteria import CriteriaSet, CriteriaStatus
from clearinghouse.frontier.service.base import FrontierBase
from clearinghouse.frontier.views import CriteriaView
from clearinghouse.policy import Actor, actor_name, rules


class CriteriaService(FrontierBase):
    def publish_criteria(self, principal: Actor, text: str, file: str = "<upload>") -> CriteriaView:
        """Store a criteria version. Published versions are immutable; `supersedes` retires the older one."""
        rules.require_evaluator(principal)
        criteria = criteria_mod.parse(text, file)
        now = self.clock()
        repo = self.repository
        with self.audit.writing() as conn:
            existing = repo.criteria_row(conn, criteria.id, criteria.version)
            if existing is not None:
                if existing.content_hash == criteria.content_hash:
                    return views.criteria_json(existing)
                if existing.status != CriteriaStatus.DRAFT:
                    raise CriteriaImmutable(
                        f"criteria {criteria.key} is {existing.status} and cannot change; publish version "
                        f"{criteria.version + 1} with supersedes: {criteria.key}"
                    )
                repo.delete_criteria(conn, criteria.id, criteria.version)
            if criteria.supersedes and criteria.status is CriteriaStatus.PUBLISHED:
                self._supersede(conn, criteria, principal)
            repo.insert_criteria(
                conn,
                dict(
                    criteria_id=criteria.id,
                    version=criteria.version,
                    title=criteria.title,
                    status=criteria.status.value,
                    effective_date=criteria.effective_date,
                    supersedes=criteria.supersedes,
                    document=dict(criteria.document),
                    content_hash=criteria.content_hash,
                    published_by=actor_name(principal),
                    created_at=now,
                ),
            )
            details = {"status": criteria.status.value, "content_hash": criteria.content_hash}
            self.audit.append(
                conn, actor_name(principal), "frontier.criteria.stored", "frontier-criteria", criteria.key, details
            )
            row = repo.criteria_row(conn, criteria.id, criteria.version)
        return views.criteria_json(row)

    def _supersede(self, conn: sa.Connection, criteria: CriteriaSet, principal: Actor) -> None:
        old_id, _, old_version = (criteria.supersedes or "").partition("@")
        if self.repository.criteria_status(conn, old_id, int(old_version)) is None:
            raise NotFound(f"criteria {criteria.supersedes} (named in supersedes) is not in the store")
        self.repository.set_criteria_status(conn, old_id, int(old_version), CriteriaStatus.SUPERSEDED)
        self.audit.append(
            conn,
            actor_name(principal),
            "frontier.criteria.superseded",
            "frontier-criteria",
            criteria.supersedes or "",
            {"by": criteria.key},
        )

    def criteria_set(self, criteria_id: str, version: int | None = None) -> CriteriaSet:
        """A stored criteria version; without a version, the newest published one."""
        document = self.repository.criteria_document(criteria_id, version)
        if document is None:
            wanted = f"{criteria_id}@{version}" if version is not None else f"a published {criteria_id}"
            raise NotFound(f"no criteria {wanted}")
        return criteria_mod.from_stored(document)

    def list_criteria(self, actor: Actor) -> list[CriteriaView]:
        rules.require_frontier_reader(actor)
        return [views.criteria_json(row) for row in self.repository.all_criteria()]
