"""The frontier-review services over the store, used by the API and the CLI, one module per area: criteria,
models, determinations (and classified reviews), review windows, early-access grants, evaluation runs and
findings, and the final review report. SQL lives in `frontier.repository`.

Routes check scopes; the services check who may touch which object (see `base`). Every change is written with
its audit entry in one transaction. `FrontierService` is all areas at once, for the routes and commands that
span several.
"""

from __future__ import annotations

from clearinghouse.errors import CriteriaImmutable, EarlyAccessDenied, FrontierConflict
from clearinghouse.frontier.service.base import SUBJECT, metric_values
from clearinghouse.frontier.service.criteria import CriteriaService
from clearinghouse.frontier.service.determinations import DeterminationService
from clearinghouse.frontier.service.evaluations import SEVERITIES, EvaluationService
from clearinghouse.frontier.service.grants import GrantService
from clearinghouse.frontier.service.models import ModelRegistration, ModelService
from clearinghouse.frontier.service.report import ReviewReportService
from clearinghouse.frontier.service.windows import AccessOffer, WindowService

__all__ = [
    "SEVERITIES",
    "SUBJECT",
    "AccessOffer",
    "CriteriaImmutable",
    "CriteriaService",
    "DeterminationService",
    "EarlyAccessDenied",
    "EvaluationService",
    "FrontierConflict",
    "FrontierService",
    "GrantService",
    "ModelRegistration",
    "ModelService",
    "ReviewReportService",
    "WindowService",
    "metric_values",
]


class FrontierService(ModelService, DeterminationService, WindowService, GrantService, ReviewReportService):
    """Every frontier area over one engine and clock (the report service brings evaluation runs and findings)."""
