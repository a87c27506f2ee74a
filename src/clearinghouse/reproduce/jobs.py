"""The reproduction job kinds and their handlers (wired in `clearinghouse.workers`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from clearinghouse.config import Settings
from clearinghouse.reproduce.environments import ArtifactCache, CacheSettings, EnvironmentBuilder
from clearinghouse.reproduce.npm import NpmEnvironment
from clearinghouse.reproduce.pypi import PypiEnvironment
from clearinghouse.reproduce.rules import Ecosystem
from clearinghouse.reproduce.service import REPRODUCE_REPORT, VERIFY_FIX, ReproductionPool, ReproductionService

Handler = Callable[[dict[str, Any]], object]
FIX_ACTOR = "clearinghouse-fix-verification"


def builders(settings: CacheSettings) -> dict[Ecosystem, EnvironmentBuilder]:
    cache = ArtifactCache(settings)
    return {Ecosystem.PYPI: PypiEnvironment(cache), Ecosystem.NPM: NpmEnvironment(cache)}


def reproduction_service(engine: sa.Engine, settings: Settings | None = None) -> ReproductionService:
    home = (settings or Settings.from_env()).home
    return ReproductionService(engine, builders(CacheSettings.from_env(home)))


def job_handlers(engine: sa.Engine, settings: Settings | None = None) -> dict[str, Handler]:
    """`reproduce.report` hands a queued reproduction to the pool; `reproduce.verify_fix` (queued by a case whose
    vendor marks it fixed: case_id, vendor_id, version, report_ids) queues the reports' PoCs against that version."""
    service = reproduction_service(engine, settings)
    pool = ReproductionPool(service)

    def verify_fix(payload: dict[str, Any]) -> object:
        reports = [str(r) for r in payload["report_ids"]]
        return service.verify_fix(
            str(payload["case_id"]), str(payload["vendor_id"]), reports, str(payload["version"]), FIX_ACTOR
        )

    return {REPRODUCE_REPORT: lambda payload: pool.submit(str(payload["reproduction_id"])), VERIFY_FIX: verify_fix}
