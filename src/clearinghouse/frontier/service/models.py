"""Model registration and reading (a developer registers its own models)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from clearinghouse.errors import FrontierConflict
from clearinghouse.frontier import views
from clearinghouse.frontier.service.base import SUBJECT, FrontierBase
from clearinghouse.frontier.views import ModelView
from clearinghouse.policy import Actor, actor_name, rules


@dataclass(frozen=True)
class ModelRegistration:
    name: str
    version: str
    modality: str
    training_compute_flop: float | None = None
    planned_partner_release: date | None = None
    planned_public_release: date | None = None


class ModelService(FrontierBase):
    def register_model(self, actor: Actor, registration: ModelRegistration) -> ModelView:
        principal = rules.require_registrant(actor)
        model_id = str(uuid.uuid4())
        with self.audit.writing() as conn:
            if self.repository.model_registered(
                conn, principal.organisation.id, registration.name, registration.version
            ):
                raise FrontierConflict(f"{registration.name} {registration.version} is already registered")
            self.repository.insert_model(
                conn,
                dict(
                    id=model_id,
                    developer_org_id=principal.organisation.id,
                    name=registration.name,
                    version=registration.version,
                    modality=registration.modality,
                    training_compute_flop=registration.training_compute_flop,
                    planned_partner_release=registration.planned_partner_release,
                    planned_public_release=registration.planned_public_release,
                    registered_by=actor_name(principal),
                    created_at=self.clock(),
                ),
            )
            details = {"name": registration.name, "version": registration.version}
            self.audit.append(conn, actor_name(principal), "frontier.model.registered", SUBJECT, model_id, details)
        return self.model(principal, model_id)

    def model(self, principal: Actor, model_id: str) -> ModelView:
        with self.engine.connect() as conn:
            return views.model_json(self._model_row(conn, principal, model_id))

    def models(self, actor: Actor) -> list[ModelView]:
        """Every model the actor may see (government evaluators and staff all, a developer its own), by name."""
        rules.require_frontier_reader(actor)
        with self.engine.connect() as conn:
            return [views.model_json(row) for row in self.repository.models_visible(conn, rules.model_scope(actor))]
