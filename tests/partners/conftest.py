"""A store with real Go advisories, a hospital partner and a bank partner, for the partners tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.partners.service import AssetService
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import RecordStore
from tests.notify.conftest import receiver  # noqa: F401 - the real webhook receiver, for the API scenario

SBOMS = Path(__file__).resolve().parents[1] / "fixtures" / "sboms"
GO_RECORDS = SBOMS / "go-proton-bridge-records.jsonl"  # the 48 real Go advisories naming proton-bridge's modules
PROTON_BRIDGE = SBOMS / "proton-bridge__proton-bridge-v1.6.3.bom.json"


@dataclass
class Partners:
    engine: sa.Engine
    records: RecordStore
    service: AssetService
    hospital: Principal
    bank: Principal
    identity: IdentityStore


@pytest.fixture
def partners(engine: sa.Engine) -> Partners:
    records = RecordStore(engine)
    ImportPipeline(records, workers=0).run([GO_RECORDS])
    identity = IdentityStore(engine)
    identity.create_organisation("Mercy Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, "healthcare-and-public-health")
    identity.create_organisation("First Bank", OrgKind.CRITICAL_INFRASTRUCTURE, "financial-services")
    hospital = identity.authenticate(identity.create_token("Mercy Hospital", "ops", Role.PARTNER).plaintext)
    bank = identity.authenticate(identity.create_token("First Bank", "ops", Role.PARTNER).plaintext)
    return Partners(engine, records, AssetService(engine, records), hospital, bank, identity)
