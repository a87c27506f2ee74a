"""Partners' SBOM matching benchmarks (issue 14).

Usage: python bench/match.py [FILE]  (FILE: the OSV dev set; default /work/shared/data/advisories-dev.jsonl.gz).

1. One 5,000-component CycloneDX SBOM against the whole dev set, imported into a scratch SQLite store: the
   clearinghouse's indexed matching (`RecordStore.match_packages`, the evaluator of `clearinghouse affected`), cold
   and warm, and the whole upload (parse, store, match, alerts) — against a reference that checks every component
   against every record's affected entries with the univers-based evaluator (`records.versions.affects`) and no
   index. Both must find the same (component, record) pairs. Targets: < 1 s, and >= 50x faster than the reference.
2. A store holding 200 assets of 5,000 components each (drawn from a pool of 100,000 package names: the dev set's
   vulnerable packages plus unaffected ones), then 1,000 new records on packages of that pool imported: the import,
   and the `partners.match_records` jobs that re-match only the components those records can affect and raise the
   alerts. Target: < 5 s for import and re-matching with alerts.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa
from _common import dataset

from clearinghouse.errors import InvalidVersion
from clearinghouse.identity.model import OrgKind
from clearinghouse.ingest.pipeline import MATCH_RECORDS, ImportPipeline
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import SubscriptionRequest
from clearinghouse.partners import repository
from clearinghouse.partners.rules import package_of
from clearinghouse.partners.service import AssetService, job_handlers
from clearinghouse.policy import Operator
from clearinghouse.records.model import OsvRecord
from clearinghouse.records.versions import affects, normalize_name
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.identity import IdentityStore
from clearinghouse.store.records import PackageVersion, RecordStore
from clearinghouse.store.tables import jobs

DEV = Path("/work/shared/data/advisories-dev.jsonl.gz")
COMPONENTS = 5000
ASSETS = 200
NEW_RECORDS = 1000
POOL = 100_000
# OSV ecosystem -> purl type, for the ecosystems of the dev set a purl can name.
PURL_TYPE = {"PyPI": "pypi", "Go": "golang", "crates.io": "cargo", "Bitnami": "bitnami", "CRAN": "cran"}


def _records(store: RecordStore) -> list[OsvRecord]:
    """The records as stored (the import repairs or refuses what the raw file holds)."""
    return [record.osv for record in store.iter_records()]


def _purl(ecosystem: str, name: str, version: str) -> str:
    kind = PURL_TYPE[ecosystem]
    return f"pkg:{kind}/{name}@{version}"


def _affected_packages(records: list[OsvRecord]) -> dict[tuple[str, str], set[str]]:
    """(ecosystem, name) -> versions named by its ranges and lists (fixed, introduced, listed)."""
    found: dict[tuple[str, str], set[str]] = {}
    for record in records:
        for entry in record.affected or ():
            package = entry.package
            if package is None or package.ecosystem.split(":")[0] not in PURL_TYPE:
                continue
            versions = found.setdefault((package.ecosystem.split(":")[0], package.name), set())
            versions.update(e.value for r in entry.ranges or () for e in r.events if e.value != "0" and r.type != "GIT")
            versions.update((entry.versions or [])[:5])
    return {key: versions for key, versions in found.items() if versions}


def _sbom(rng: random.Random, packages: dict[tuple[str, str], set[str]], count: int) -> bytes:
    """Every package the dev set names (at versions its records name), then packages no record names, to `count`:
    like a real SBOM, most components are affected by nothing."""
    keys = rng.sample(sorted(packages), min(count, len(packages)))
    components = []
    for index, (ecosystem, name) in enumerate(keys):
        version = rng.choice(sorted(packages[ecosystem, name]))
        purl = _purl(ecosystem, name, version)
        components.append({"bom-ref": f"c{index}", "type": "library", "name": name, "version": version, "purl": purl})
    for index in range(len(components), count):
        name = f"bench-unaffected-{index}"
        purl = _purl("PyPI", name, "1.0.0")
        components.append({"bom-ref": f"c{index}", "type": "library", "name": name, "version": "1.0.0", "purl": purl})
    return orjson.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components})


def _reference(records: list[OsvRecord], wanted: list[PackageVersion]) -> set[tuple[PackageVersion, str]]:
    """Every component against every record's every affected entry, no index: the naive scan."""
    entries = [
        (
            entry.package.ecosystem.split(":")[0],
            normalize_name(entry.package.ecosystem, entry.package.name),
            record.id,
            entry,
        )
        for record in records
        for entry in record.affected or ()
        if entry.package is not None and entry.package.ecosystem.split(":")[0] in PURL_TYPE
    ]
    found: set[tuple[PackageVersion, str]] = set()
    for package in wanted:
        key = normalize_name(package.ecosystem, package.name)
        matched: set[str] = set()
        refused = False
        for ecosystem, name_key, record_id, entry in entries:
            if ecosystem != package.ecosystem or name_key != key or package.version is None:
                continue
            try:
                if affects(entry, package.version):
                    matched.add(record_id)
            except InvalidVersion:
                refused = True
        if matched or not refused:
            found |= {(package, record_id) for record_id in matched}
    return found


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _indexed(store: RecordStore, wanted: list[PackageVersion]) -> set[tuple[PackageVersion, str]]:
    answers = store.match_packages(wanted)
    return {(package, record_id) for package, answer in answers.items() for record_id, _ in answer.entries}


def bench_one_sbom(engine: sa.Engine, records: list[OsvRecord], packages: dict[tuple[str, str], set[str]]) -> None:
    rng = random.Random(14)
    data = _sbom(rng, packages, COMPONENTS)
    wanted = []
    for component in orjson.loads(data)["components"]:
        identity = package_of(component["purl"], component["version"])
        assert identity is not None
        wanted.append(PackageVersion(identity.ecosystem, identity.name, identity.version))
    cold_store = RecordStore(engine)
    started = time.perf_counter()
    indexed = _indexed(cold_store, wanted)
    cold = time.perf_counter() - started
    # Warm: the store's prepared matchers are kept (a server's RecordStore keeps them between requests).
    warm = min(_timed(lambda: _indexed(cold_store, wanted)) for _ in range(3))
    identity = IdentityStore(engine)
    hospital = identity.create_organisation(
        "Bench Hospital", OrgKind.CRITICAL_INFRASTRUCTURE, "healthcare-and-public-health"
    )
    service = AssetService(engine, cold_store)
    started = time.perf_counter()
    uploaded = service.upload(Operator("bench"), data, "bench-5000", hospital)
    upload = time.perf_counter() - started
    print(
        f"reference scan of {len(wanted):,} components x {len(records):,} records (univers, no index) ...", flush=True
    )
    started = time.perf_counter()
    reference = _reference(records, wanted)
    scan = time.perf_counter() - started
    print(
        f"1. {len(wanted):,}-component SBOM against {len(records):,} records: "
        f"{len(indexed):,} (component, record) pairs"
    )
    print(f"   indexed match, cold caches (first SBOM after start): {cold:7.3f} s   {scan / cold:6.1f}x the reference")
    print(
        f"   indexed match, warm (server steady state):          {warm:7.3f} s   {scan / warm:6.1f}x the reference  "
        "(targets: < 1 s, >= 50x)"
    )
    print(f"   whole upload (parse, store, match, {uploaded['alerts']:,} alerts): {upload:7.3f} s")
    print(f"   reference (every component x every record): {scan:7.3f} s   (baseline, same run)")
    print(f"   identical results: {indexed == reference}  (indexed {len(indexed):,}, reference {len(reference):,})")


def bench_portfolio(engine: sa.Engine, packages: dict[tuple[str, str], set[str]], home: Path) -> None:
    rng = random.Random(200)
    vulnerable = sorted(packages)
    pool = vulnerable + [("PyPI", f"bench-unaffected-{i}") for i in range(POOL - len(vulnerable))]
    identity = IdentityStore(engine)
    organisations = [
        identity.create_organisation(f"Utility {i}", OrgKind.CRITICAL_INFRASTRUCTURE, "energy").id for i in range(20)
    ]
    notifications = NotificationService(engine)
    for number in range(0, len(organisations), 4):  # a quarter of the partners subscribe to e-mail
        request = SubscriptionRequest(
            channel="email", addresses=["soc@utility.example"], organisation=f"Utility {number}"
        )
        notifications.subscribe(Operator("bench"), request)
    started = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for number in range(ASSETS):
            asset_id = str(uuid.uuid4())
            rows = []
            for position, (ecosystem, name) in enumerate(rng.sample(pool, COMPONENTS)):
                version = (
                    "1.0.0"
                    if ecosystem == "PyPI" and name.startswith("bench-")
                    else rng.choice(sorted(packages[ecosystem, name]))
                )
                rows.append(
                    {
                        "asset_id": asset_id,
                        "position": position,
                        "ref": f"c{position}",
                        "name": name,
                        "version": version,
                        "purl": _purl(ecosystem, name, version),
                        "cpe": None,
                        "parent": None,
                        "depends_on": [],
                        "ecosystem": ecosystem,
                        "name_key": normalize_name(ecosystem, name),
                    }
                )
            row = {
                "id": asset_id,
                "organisation_id": organisations[number % len(organisations)],
                "name": f"asset {number}",
                "format": "CycloneDX 1.6 JSON",
                "sha256": "0" * 64,
                "uploaded_by": "bench",
                "uploaded_at": now,
                "component_count": COMPONENTS,
                "problem_count": 0,
                "problems": [],
            }
            repository.insert_asset(conn, row, rows)
    print(f"2. store with {ASSETS} assets x {COMPONENTS:,} components built in {time.perf_counter() - started:.1f} s")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM jobs"))  # the dev-set import's own matching jobs (no assets then)
    new = []
    for number, (ecosystem, name) in enumerate(rng.sample(vulnerable, NEW_RECORDS)):
        fixed = max(packages[ecosystem, name], key=len)
        new.append(
            {
                "schema_version": "1.6.0",
                "id": f"BENCH-2099-{number:04d}",
                "modified": "2026-12-06T00:00:00Z",
                "published": "2026-12-06T00:00:00Z",
                "summary": f"bench advisory {number}",
                "affected": [
                    {
                        "package": {"ecosystem": ecosystem, "name": name},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": fixed}]}],
                    }
                ],
            }
        )
    source = home / "new.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(r) for r in new))
    started = time.perf_counter()
    ImportPipeline(RecordStore(engine), workers=0).run([source])
    imported = time.perf_counter() - started
    with engine.connect() as conn:
        queued = conn.execute(
            sa.select(jobs.c.payload).where(jobs.c.kind == MATCH_RECORDS, jobs.c.status == "queued")
        ).scalars()
        payloads = list(queued)
    handler = job_handlers(engine)[MATCH_RECORDS]  # what a worker runs for each queued job
    started = time.perf_counter()
    for payload in payloads:
        handler(payload)
    matched = time.perf_counter() - started
    with engine.connect() as conn:
        alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one()
        deliveries = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE kind LIKE 'notify.%'")).scalar_one()
        matches = conn.execute(sa.text("SELECT count(*) FROM asset_matches")).scalar_one()
    total = imported + matched
    print(f"   import of {NEW_RECORDS:,} new records: {imported:6.2f} s")
    print(
        f"   re-matching (only components they can affect) and {alerts:,} alerts raised ({matches:,} match rows, "
        f"{deliveries:,} deliveries queued): {matched:6.2f} s"
    )
    print(f"   total {total:6.2f} s   (target < 5 s)")


def main() -> None:
    path = DEV if DEV.is_file() and len(sys.argv) < 2 else dataset()
    with tempfile.TemporaryDirectory() as home:
        engine = create_engine(f"sqlite:///{home}/bench.db")
        migrate(engine)
        started = time.perf_counter()
        ImportPipeline(RecordStore(engine)).run([path])
        print(f"scratch store: {path.name} imported in {time.perf_counter() - started:.1f} s (pid {os.getpid()})")
        records = _records(RecordStore(engine))
        packages = _affected_packages(records)
        bench_one_sbom(engine, records, packages)
        bench_portfolio(engine, packages, Path(home))
        engine.dispose()


if __name__ == "__main__":
    main()
