"""Reproduction of real PyPI advisories from the dev set, each against its vulnerable and its fixed version.

Usage: python bench/reproduce.py [--home DIR] [--only ID ...] [--intake-seconds 10] [--skip-intake] [--dev-set F]

Every advisory in `bench/reproductions/advisories.json` is looked up in the dev set (its id, package and first
fixed version must be there), and its proof of concept, written for this project from the advisory's public
description, runs in the sandbox against the vulnerable version and the first fixed version. Expected: every one
`reproduced` (fires on the vulnerable version, not on the fixed one). Prints each verdict with where the oracle
fired and the time, then the environment cache's hit rate; then a small PyPI package (PyYAML, command oracle)
end to end with a cold cache (downloads and builds) beside a warm one (target: warm < 3 s); then intake
throughput (`bench/intake.py`) without and with a reproduction load in the same run (target: at most 10 % lower).
Downloads from PyPI happen here (the tests never download); the cache stays in --home for the next run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from _common import DEV_SET

from clearinghouse.reproduce.environments import BuiltEnvironment, CacheSettings, EnvironmentBuilder
from clearinghouse.reproduce.jobs import builders
from clearinghouse.reproduce.rules import Request, Verdict, parse_request
from clearinghouse.reproduce.runner import RunnerLimits
from clearinghouse.reproduce.service import ReproductionService, lower_priority

HERE = Path(__file__).resolve().parent
ADVISORIES = HERE / "reproductions" / "advisories.json"
WARM_TARGET_S = 3.0
INTAKE_DROP_TARGET = 0.10
SMALL_PACKAGE = "PYSEC-2020-96"  # PyYAML, a command oracle: no time budget in the figure
_RATE = re.compile(r"acknowledged ([\d,]+) reports \(([\d,]+)/s\)")
_PROCESSED = re.compile(r"processed .*?: ([\d,]+) \(([\d,]+)/s\)")


class CountingBuilder:
    """Records whether each environment came from the cache (built before, or from cached artifacts only)."""

    def __init__(self, inner: EnvironmentBuilder, hits: list[bool]) -> None:
        self.inner = inner
        self.ecosystem = inner.ecosystem
        self.hits = hits

    def build(self, package: str, version: str, extras: Sequence[str] = ()) -> BuiltEnvironment:
        built = self.inner.build(package, version, extras)
        self.hits.append(built.cache_hit)
        return built


def dev_set_records(dev_set: Path, ids: set[str]) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    with gzip.open(dev_set, "rt", encoding="utf-8") as lines:
        for line in lines:
            if any(f'"{ident}"' in line for ident in ids):
                record = json.loads(line)
                if record["id"] in ids:
                    found[record["id"]] = record
    return found


def fixed_versions(record: dict[str, object], package: str) -> set[str]:
    versions: set[str] = set()
    for affected in record.get("affected", []):  # type: ignore[attr-defined]
        if affected["package"]["name"].lower() != package.lower():
            continue
        for found in affected.get("ranges", []):
            versions |= {e["fixed"] for e in found.get("events", []) if "fixed" in e}
    return versions


def request_of(item: dict[str, object]) -> Request:
    target = {
        "ecosystem": "PyPI",
        "package": item["package"],
        "vulnerable": item["vulnerable"],
        "fixed": item["fixed"],
        "modules": item.get("modules", []),
        "extras": item.get("extras", []),
    }
    source = (HERE / "reproductions" / str(item["poc"])).read_text(encoding="utf-8")
    return parse_request({"target": target, "poc": {"kind": "script", "source": source}, "oracle": item["oracle"]})


def service_for(root: Path, hits: list[bool]) -> ReproductionService:
    counted = {e: CountingBuilder(b, hits) for e, b in builders(CacheSettings(root=root)).items()}
    return ReproductionService(sa.create_engine("sqlite://"), counted, limits=RunnerLimits(cpus=1.0))


def reproduce_all(items: list[dict[str, object]], root: Path, dev_set: Path) -> bool:
    records = dev_set_records(dev_set, {str(i["id"]) for i in items})
    hits: list[bool] = []
    service = service_for(root, hits)
    print(f"{'advisory':<16} {'package':<10} {'vulnerable':>10} {'fixed':>8} {'oracle':<11} {'verdict':<21} {'s':>6}")
    good = 0
    for item in items:
        ident, package = str(item["id"]), str(item["package"])
        record = records.get(ident)
        if record is None or str(item["fixed"]) not in fixed_versions(record, package):
            print(f"{ident}: not in the dev set with fixed version {item['fixed']} for {package}; skipped")
            continue
        started = time.perf_counter()
        outcome = service.execute(request_of(item))
        seconds = time.perf_counter() - started
        good += outcome.verdict is Verdict.REPRODUCED
        print(
            f"{ident:<16} {package:<10} {item['vulnerable']!s:>10} {item['fixed']!s:>8} "
            f"{item['oracle']['kind']:<11} {outcome.verdict.value:<21} {seconds:6.1f}"  # type: ignore[index]
        )
        fired = next((o for o in outcome.observations if o.fired), None)
        print(f"    {fired.where if fired else outcome.reason[:200]}")
    rate = sum(hits) / len(hits) if hits else 0.0
    print(f"== {good} of {len(items)} reproduced (and not reproduced on the fixed version); target: all, >= 12")
    print(f"== environment cache: {sum(hits)} of {len(hits)} builds from the cache ({rate:.0%} hit rate)")
    return good == len(items)


def cold_and_warm(items: list[dict[str, object]]) -> None:
    item = next(i for i in items if i["id"] == SMALL_PACKAGE)
    request = request_of(item)
    cold_root = Path(tempfile.mkdtemp(prefix="reproduce-cold-"))
    try:
        hits: list[bool] = []
        service = service_for(cold_root / "reproduce", hits)
        started = time.perf_counter()
        cold = service.execute(request)
        cold_s = time.perf_counter() - started
        warm_times = []
        for _ in range(3):
            started = time.perf_counter()
            warm = service.execute(request)
            warm_times.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(cold_root, ignore_errors=True)
    best = min(warm_times)
    print(
        f"== {SMALL_PACKAGE} ({item['package']} {item['vulnerable']} vs {item['fixed']}, two sandbox runs) end to end: "
        f"cold cache {cold_s:.2f} s ({cold.verdict.value}; download and build of both versions), warm "
        f"{', '.join(f'{t:.2f}' for t in warm_times)} s ({warm.verdict.value}); "
        f"warm target < {WARM_TARGET_S:.0f} s: {'MET' if best < WARM_TARGET_S else 'NOT MET'}"
    )


def intake_rate(seconds: float) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, str(HERE / "intake.py"), "--seconds", str(seconds), "--rounds", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    first = done.stdout.split("-- rate limits ON")[0]  # the round with rate limits off, like the intake baseline
    accepted = _RATE.search(first)
    processed = _PROCESSED.search(first)
    if accepted is None or processed is None:
        raise RuntimeError(f"bench/intake.py printed no rate:\n{done.stdout}\n{done.stderr}")
    return float(accepted.group(2).replace(",", "")), float(processed.group(2).replace(",", ""))


def intake_with_and_without(items: list[dict[str, object]], root: Path, seconds: float) -> None:
    baseline = intake_rate(seconds)
    stop = threading.Event()
    ran: list[str] = []
    service = ReproductionService(sa.create_engine("sqlite://"), builders(CacheSettings(root=root)))  # 0.5 CPU

    def load() -> None:  # one reproduction at a time, as the worker's pool runs them (concurrency 1, niced)
        lower_priority()
        while not stop.is_set():
            for item in items:
                if stop.is_set():
                    return
                ran.append(service.execute(request_of(item)).verdict.value)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    time.sleep(2)
    loaded = intake_rate(seconds)
    stop.set()
    worker.join()
    drop = 1 - loaded[0] / baseline[0]
    print(
        f"== intake (bench/intake.py, {seconds:g} s, rate limits off), same run: without reproductions "
        f"{baseline[0]:,.0f} acknowledged/s ({baseline[1]:,.0f} processed/s); with a reproduction load "
        f"({len(ran)} reproductions meanwhile) {loaded[0]:,.0f}/s ({loaded[1]:,.0f} processed/s): "
        f"{drop:+.0%} lower; target <= {INTAKE_DROP_TARGET:.0%}: {'MET' if drop <= INTAKE_DROP_TARGET else 'NOT MET'}"
    )


def pin_build_tools(home: Path) -> None:
    """PyYAML 5.4's sdist builds only with Cython 2 on this Python: pip reads the constraint from PIP_CONSTRAINT
    (the environment builders pass PIP_* variables through), unless the caller set one."""
    if "PIP_CONSTRAINT" not in os.environ:
        home.mkdir(parents=True, exist_ok=True)
        constraint = home / "build-constraints.txt"
        constraint.write_text("Cython<3.0\n", encoding="utf-8")
        os.environ["PIP_CONSTRAINT"] = str(constraint.resolve())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=Path(".bench-reproduce"), help="keeps the cache between runs")
    parser.add_argument("--only", nargs="*", default=None, help="advisory ids")
    parser.add_argument("--intake-seconds", type=float, default=10.0)
    parser.add_argument("--skip-intake", action="store_true")
    parser.add_argument("--intake-only", action="store_true", help="only the intake comparison (a warm cache)")
    parser.add_argument("--dev-set", type=Path, default=DEV_SET, help="the OSV dev set (.jsonl.gz)")
    options = parser.parse_args()
    items = json.loads(ADVISORIES.read_text(encoding="utf-8"))
    if options.only:
        items = [i for i in items if i["id"] in set(options.only)]
    root = (options.home / "reproduce").resolve()
    pin_build_tools(options.home)
    if options.intake_only:
        intake_with_and_without(items, root, options.intake_seconds)
        return
    all_good = reproduce_all(items, root, options.dev_set)
    if not options.only or SMALL_PACKAGE in options.only:
        cold_and_warm(items)
    if not options.skip_intake:
        intake_with_and_without(items, root, options.intake_seconds)
    sys.exit(0 if all_good else 1)


if __name__ == "__main__":
    main()
