"""Report processing alone with N job workers on one store (issue 16, PostgreSQL scale-out): CPU per report.

Usage: python bench/worker_scale.py [DEV_SET] --database-url URL [--workers 1,2,4] [--reports 4000] [--records 3000]
    [--rounds 1] [--rate R] [--pythonpath DIR [--compare]] [--profile DIR]

`bench/intake.py --scale` runs the API and the workers together under an open-loop load, so on a busy 2-core machine
its figures mix the API's, the load generator's and the workers' CPU. This runs the workers only: for each N it
imports `--records` dev-set records into a fresh store, starts N `clearinghouse worker` processes and waits until
each has built its index and idles, then commits `--reports` realistic reports (`bench/intake.py`'s) and their
jobs in one transaction (with `--rate R`: R a second, in 100 commits a second) and waits until every one is
processed. Printed per N: the workers' CPU per report (their process time from the first commit until the last
report is processed, so index building is not in it), the local PostgreSQL server's CPU per report over the same
time (the commits feeding the reports included), the time to drain and the jobs run more than once (must be
0). `--pythonpath` runs the workers on other code (a `git archive` of a baseline's `src`); with `--compare` rounds
alternate between that and this checkout. `--profile DIR` records each worker with py-spy meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _common import dataset, fresh_store_url
from intake import _database_cpu, _process_cpu, build_corpus, wait_idle

from clearinghouse.intake.findings import normalise
from clearinghouse.intake.service import ReportService, Submitted
from clearinghouse.intake.submission import validate_submission
from clearinghouse.store.db import create_engine
from clearinghouse.store.identity import IdentityStore


def run(options: argparse.Namespace, corpus_stored: list, reports: list, workers: int, pythonpath: str | None) -> str:
    with tempfile.TemporaryDirectory() as home, fresh_store_url(options.database_url) as url:
        env = dict(os.environ, CLEARINGHOUSE_HOME=home)
        if url:
            env["CLEARINGHOUSE_DATABASE_URL"] = url
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        else:
            env.pop("PYTHONPATH", None)

        def cli(*args: str) -> str:
            return subprocess.run(
                [sys.executable, "-m", "clearinghouse", *args], env=env, check=True, capture_output=True, text=True
            ).stdout

        cli("db", "upgrade")
        records = Path(home) / "records.jsonl"
        records.write_text("".join(json.dumps(d) + "\n" for d in corpus_stored))
        cli("import", str(records))
        cli("admin", "create-org", "Bench Reporter", "--kind", "reporter")
        token = cli("admin", "create-token", "--org", "Bench Reporter", "--user", "bench", "--role", "reporter")
        token = token.strip().splitlines()[-1]
        engine = create_engine(url or f"sqlite:///{Path(home) / 'clearinghouse.db'}")
        principal = IdentityStore(engine).authenticate(token)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "clearinghouse", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            wait_idle(lambda: [p.pid for p in procs])  # built and idle
            findings = []
            provenance = reports[0]["provenance"]
            for body in reports:
                findings.extend(normalise(validate_submission(body)))
            spies = (
                [
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--format",
                            "raw",
                            "--rate",
                            "200",
                            "-o",
                            f"{options.profile}/N{workers}-{n}.txt",
                            "-p",
                            str(p.pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for n, p in enumerate(procs)
                ]
                if options.profile
                else []
            )
            time.sleep(0.5 if spies else 0)
            cpu0 = sum(_process_cpu(p.pid) for p in procs)
            database0 = _database_cpu()
            started = time.monotonic()
            service = ReportService(engine)
            if options.rate:  # a steady stream, in the API's small commits, instead of a backlog at once
                step = max(1, round(options.rate / 100))
                for n in range(0, len(findings), step):
                    service.accept_many([Submitted(principal, findings[n : n + step], provenance)])
                    time.sleep(max(0.0, started + (n + step) / options.rate - time.monotonic()))
            else:
                service.accept_many([Submitted(principal, findings, provenance)])
                started = time.monotonic()
            with engine.connect() as conn:
                total = conn.execute(sa.text("SELECT count(*) FROM reports")).scalar_one()
            while True:
                with engine.connect() as conn:
                    left = conn.execute(sa.text("SELECT count(*) FROM reports WHERE state = 'received'")).scalar_one()
                if not left:
                    break
                time.sleep(0.05)
            wall = time.monotonic() - started
            cpu = sum(_process_cpu(p.pid) for p in procs) - cpu0
            database = _database_cpu() - database0  # the feeding commits' share too
            for spy in spies:
                spy.send_signal(2)
                spy.wait(timeout=30)
            with engine.connect() as conn:
                twice = conn.execute(
                    sa.text("SELECT count(*) FROM jobs WHERE kind = 'process_report' AND attempts > 1")
                ).scalar_one()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
            engine.dispose()
    return (
        f"N={workers} {'base' if pythonpath else 'this'}: {total:,} reports in {wall:.2f} s ({total / wall:,.0f}/s), "
        f"worker CPU {cpu * 1000 / total:.2f} ms/report (total {cpu:.1f} s), PostgreSQL CPU "
        f"{database * 1000 / total:.2f} ms/report, jobs run more than once: {twice}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", nargs="?", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--reports", type=int, default=4000)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0, help="offer the reports at this rate (reports/s) instead")
    parser.add_argument("--pythonpath", default=None, help="run the workers on this code (e.g. a baseline's src)")
    parser.add_argument("--profile", default=None, help="a directory for py-spy profiles of the drain (raw format)")
    parser.add_argument("--compare", action="store_true", help="alternate this checkout and --pythonpath")
    options = parser.parse_args()
    corpus = build_corpus(dataset(options.dataset), options.records, options.reports)
    codes = [None, options.pythonpath] if options.compare else [options.pythonpath]
    for _ in range(options.rounds):
        for n in [int(n) for n in options.workers.split(",")]:
            for code in codes:
                print(run(options, corpus.stored, corpus.realistic, n, code), flush=True)


if __name__ == "__main__":
    main()
