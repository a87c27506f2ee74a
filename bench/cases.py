"""Coordination cases at scale: the case view and a vendor's view of a case with 150 vendors and 2,000 messages
(target: median under 50 ms each on SQLite), and vendor proposal for 500 purls against 10,000 declarations (target:
under 100 ms), each beside a naive baseline measured in the same run.

Usage: python bench/cases.py [--rounds N]. Builds a fresh SQLite store in a temporary directory; the case's rows
(participants, statuses, messages) and the declarations are bulk-inserted (the set-up is not what is measured).
Baselines: the view read the naive way (every message and every status row loaded, filtered in Python, one
organisation-name query per participant), and proposal by a linear scan of every declaration for every purl.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from clearinghouse.cases import repository as repo
from clearinghouse.cases.routing import Declaration, DeclarationKind, VendorIndex, declaration, package_key
from clearinghouse.cases.service import CaseService
from clearinghouse.identity.model import OrgKind, Principal, Role
from clearinghouse.intake.findings import normalise
from clearinghouse.intake.lifecycle import ReportState
from clearinghouse.intake.service import ReportService
from clearinghouse.intake.submission import validate_submission
from clearinghouse.policy import Operator
from clearinghouse.policy.cases import CaseRole
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.tables import case_messages, case_vendor_status, organisations, vendor_declarations

OPERATOR = Operator("bench")
VENDORS = 150
MESSAGES = 2_000
DECLARATIONS = 10_000
PURLS = 500
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _median_ms(call: Callable[[], object], rounds: int) -> float:
    call()  # warm caches and compiled statements
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _open_case(engine: sa.Engine, reporter: Principal, purls: list[str]) -> str:
    """A case from validated reports naming `purls` (at most 50 a report, as intake allows)."""
    reports = ReportService(engine)
    report_ids = []
    for start in range(0, len(purls), 50):
        body = {
            "kind": "structured",
            "provenance": {"origin": "human"},
            "report": {
                "title": f"A bench report naming packages {start} onwards",
                "description": "A long enough description of a bench vulnerability in bench packages.",
                "affected": [{"purl": purl} for purl in purls[start : start + 50]],
            },
        }
        submission = validate_submission(body)
        report_ids += reports.accept(reporter, normalise(submission), {"origin": "human"}).report_ids
    for report_id in report_ids:
        for target in (ReportState.TRIAGED, ReportState.VALIDATED):
            reports.change_state(OPERATOR, report_id, target, "bench")
    return CaseService(engine).open_case(OPERATOR, report_ids).id


def _build_case(engine: sa.Engine, reporter: Principal, identity: IdentityStore) -> tuple[str, list[str]]:
    case_id = _open_case(engine, reporter, ["pkg:pypi/bench-package"])
    vendor_ids = [identity.create_organisation(f"Vendor {n:03d}", OrgKind.VENDOR).id for n in range(VENDORS)]
    rng = random.Random(13)
    with engine.begin() as conn:
        for vendor in vendor_ids:
            repo.add_participant(
                conn,
                {
                    "case_id": case_id,
                    "organisation_id": vendor,
                    "role": CaseRole.VENDOR.value,
                    "rule": "purl pkg:pypi/bench-package",
                    "added_by": "bench",
                    "added_at": NOW,
                },
            )
        statuses = []
        for n, vendor in enumerate(vendor_ids * 3):  # three statements each: the view reads the latest
            statuses.append(
                {
                    "case_id": case_id,
                    "organisation_id": vendor,
                    "status": ("under_investigation", "affected", "fixed")[n // VENDORS],
                    "justification": None,
                    "fixed_versions": ["2.0"] if n // VENDORS == 2 else [],
                    "fix_commits": [],
                    "advisory_url": None,
                    "note": "",
                    "packages": [],
                    "flags": [],
                    "author": "bench",
                    "at": NOW + timedelta(seconds=n),
                }
            )
        conn.execute(case_vendor_status.insert(), statuses)
        messages = [
            {
                "case_id": case_id,
                "thread": None if n % 2 == 0 else rng.choice(vendor_ids),
                "author": "bench",
                "author_organisation_id": None,
                "body": f"message {n}: " + "words " * 40,
                "attachments": [],
                "at": NOW + timedelta(seconds=n),
            }
            for n in range(MESSAGES)
        ]
        conn.execute(case_messages.insert(), messages)
    return case_id, vendor_ids


def _naive_view(engine: sa.Engine, case_id: str, viewer_org: str | None) -> int:
    """The view read without the targeted queries: every message and status row loaded and filtered in Python,
    one name look-up per participant."""
    with engine.connect() as conn:
        members = conn.execute(sa.text("SELECT * FROM case_participants WHERE case_id = :c"), {"c": case_id}).all()
        names = {
            m.organisation_id: conn.execute(
                sa.select(organisations.c.name).where(organisations.c.id == m.organisation_id)
            ).scalar_one()
            for m in members
        }
        latest: dict[str, Any] = {}
        for row in conn.execute(sa.select(case_vendor_status).where(case_vendor_status.c.case_id == case_id)):
            if viewer_org is None or row.organisation_id == viewer_org:
                latest[row.organisation_id] = row
        messages = [
            row
            for row in conn.execute(sa.select(case_messages).where(case_messages.c.case_id == case_id))
            if viewer_org is None or row.thread in (None, viewer_org)
        ][-100:]
    return len(names) + len(latest) + len(messages)


def _declarations(vendor_ids: list[str]) -> tuple[list[Declaration], list[str]]:
    """10,000 declarations (a tenth of them whole Maven namespaces) and 500 purls, about four fifths declared."""
    rng = random.Random(7)
    found: list[Declaration] = []
    for n in range(DECLARATIONS):
        vendor = vendor_ids[n % len(vendor_ids)]
        if n % 10 == 0:
            found.append(declaration(vendor, DeclarationKind.PURL, f"pkg:maven/org.bench{n}/*"))
        else:
            found.append(declaration(vendor, DeclarationKind.PURL, f"pkg:{rng.choice(['pypi', 'npm'])}/bench-{n}"))
    purls = []
    for n in range(PURLS):
        pick = found[rng.randrange(DECLARATIONS)] if n % 5 else None
        if pick is None:
            purls.append(f"pkg:npm/undeclared-{n}@1.0.0")
        elif pick.key[2] == "*":
            purls.append(f"pkg:maven/{pick.key[1]}/artifact-{n}@1.0")
        else:
            purls.append(f"{pick.pattern}@1.0")
    return found, purls


def _linear_scan(declarations: list[Declaration], purls: list[str]) -> int:
    """Baseline: every declaration compared with every purl."""
    matched = 0
    for purl in dict.fromkeys(purls):
        key = package_key(purl)
        for item in declarations:
            kind, namespace, name = item.key
            if kind == key.type and namespace == key.namespace and name in (key.name, "*"):
                matched += 1
    return matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as home:
        engine = create_engine(f"sqlite:///{Path(home) / 'bench.db'}")
        migrate(engine)
        identity = IdentityStore(engine)
        identity.create_organisation("Bench Reporter", OrgKind.REPORTER)
        reporter = identity.authenticate(identity.create_token("Bench Reporter", "r", Role.REPORTER).plaintext)
        case_id, vendor_ids = _build_case(engine, reporter, identity)
        identity.create_token("Vendor 042", "v", Role.VENDOR)
        vendor = identity.authenticate(identity.create_token("Vendor 042", "v2", Role.VENDOR).plaintext)
        service = CaseService(engine, clock=lambda: NOW)

        print(f"case with {VENDORS} vendors and {MESSAGES:,} messages (SQLite, median of {rounds}):")
        staff = _median_ms(lambda: service.view(OPERATOR, case_id), rounds)
        naive_staff = _median_ms(lambda: _naive_view(engine, case_id, None), rounds)
        print(f"  case view (staff)   {staff:7.1f} ms   naive {naive_staff:7.1f} ms   target < 50 ms")
        own = _median_ms(lambda: service.view(vendor, case_id), rounds)
        naive_own = _median_ms(lambda: _naive_view(engine, case_id, vendor.organisation.id), rounds)
        print(f"  vendor's view       {own:7.1f} ms   naive {naive_own:7.1f} ms   target < 50 ms")

        declared, purls = _declarations(vendor_ids)
        built = _median_ms(lambda: VendorIndex(declared).propose(purls), rounds)
        index = VendorIndex(declared)
        lookup = _median_ms(lambda: index.propose(purls), rounds)
        started = time.perf_counter()
        scanned = _linear_scan(declared, purls)
        scan = (time.perf_counter() - started) * 1000
        proposal = index.propose(purls)
        assert len(proposal.matches) == scanned, (len(proposal.matches), scanned)
        print(f"vendor proposal, {PURLS} purls x {DECLARATIONS:,} declarations ({len(proposal.matches)} matches):")
        print(f"  index built + proposal {built:7.1f} ms   proposal alone {lookup:6.1f} ms   target < 100 ms")
        print(f"  linear scan (baseline) {scan:7.1f} ms (one run)")
        with engine.begin() as conn:
            rows = [
                {
                    "organisation_id": d.organisation_id,
                    "kind": d.kind.value,
                    "pattern": d.pattern,
                    "match_key": d.match_key,
                    "declared_by": "bench",
                    "declared_at": NOW,
                }
                for d in declared
            ]
            conn.execute(vendor_declarations.insert(), rows)
        wide_case = _open_case(engine, reporter, purls)
        through_service = _median_ms(lambda: service.propose(OPERATOR, wide_case), rounds)
        print(f"  through the service (a case of 10 reports x 50 purls, keyed look-up) {through_service:6.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
