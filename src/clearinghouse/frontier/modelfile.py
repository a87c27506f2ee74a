"""A model described in YAML, for the offline self-assessment (`clearinghouse frontier assess`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path as FilePath
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.frontier.determination import Designation, EvaluationResult, ModelFacts
from clearinghouse.safeparse import yaml_load


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteRun(_Strict):
    run_id: Annotated[str, Field(min_length=1)]
    metrics: dict[str, float]


class DesignationEntry(_Strict):
    authority: str
    designation: str


class ModelDescription(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=100)]
    developer: Annotated[str, Field(min_length=1, max_length=200)]
    modality: Annotated[str, Field(min_length=1, max_length=100)] = "text"
    training_compute_flop: Annotated[float, Field(gt=0)] | None = None
    planned_partner_release: date | None = None
    planned_public_release: date | None = None
    evaluations: dict[str, SuiteRun] = {}
    designations: list[DesignationEntry] = []
    pending_reviews: list[str] = []

    def facts(self) -> ModelFacts:
        return ModelFacts(
            name=self.name,
            version=self.version,
            developer=self.developer,
            modality=self.modality,
            training_compute_flop=self.training_compute_flop,
            evaluations={s: EvaluationResult(s, r.run_id, r.metrics) for s, r in self.evaluations.items()},
            designations=frozenset(Designation(d.authority, d.designation) for d in self.designations),
            pending_reviews=frozenset(self.pending_reviews),
        )


def load_model_file(path: FilePath) -> ModelDescription:
    """Read a model YAML file; errors name the file, line and field."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidRecord(f"cannot read the model file: {exc.strerror}", Location(file=str(path))) from None
    document = yaml_load(text, str(path))
    try:
        return ModelDescription.model_validate(document.data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise document.error(first["msg"], tuple(first["loc"])) from None
