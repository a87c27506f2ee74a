"""The audit log's write path under concurrency (issue 16, part 2), old scheme against new in the same run.

Usage: python bench/audit.py [--database-url postgresql+psycopg://...] [--seconds 5] [--writers 1,2,4]
    [--verify-leaves 100000] [--baseline-ref 186a7df]

For each database (SQLite in a temporary file, and PostgreSQL when `--database-url` is given, in a fresh schema)
and each number of writers N, N processes append 64-entry batches (`writing(late=True)` + `append_many`, as the
accept path does) to one store for `--seconds`, all starting together. Printed: entries appended per second in all,
batches per second, and CPU milliseconds per batch (the writers' own CPU: the machine is shared, so wall-clock
figures are noisy). Each round runs twice: on this code (leaves sealed per batch; on PostgreSQL no lock) and on
`--baseline-ref` (one HMAC chain under a global lock), exported with `git archive` under /tmp/audit/.

`--hold-ms 50` (the default `0,50`) adds rounds where each transaction stays open 50 ms after its append, as a slow
or distant database's round trips would: the old scheme holds its lock through them (at most 20 batches/s in all,
whatever the writers), the new one holds none (batches/s grow with writers; the wait costs no CPU, so this shows the
serialisation point even on a loaded machine).

Then `verify` of a log of `--verify-leaves` entries written in 64-entry batches, timed (CPU and wall) on both codes.
Targets: no cross-process lock on the accept path, so on PostgreSQL appends/s grow with writers where the old
scheme's stay flat; verify of 100k leaves within a few seconds.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import fresh_store_url

REPO = Path(__file__).resolve().parents[1]
BASELINE_REF = "186a7df"  # main before issue 16 part 2: one HMAC chain, extended under a global lock
SCRATCH = Path("/tmp/audit")
BATCH = 64

# Run in each writer process with the code under test on PYTHONPATH: waits for the start time, appends batches
# until the end time, prints "batches cpu_seconds".
WRITER = """
import sys, time
from clearinghouse.store.audit import AuditEvent, AuditLog
from clearinghouse.store.db import create_engine
url, start, end, name, hold = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
engine = create_engine(url)
audit = AuditLog(engine)
audit.keys  # load the keys before the clock starts
with engine.connect():
    pass
events = [AuditEvent(name, "report.received", "report", f"R-{i}", {"i": i, "by": name}) for i in range(64)]
time.sleep(max(0.0, start - time.time()))
cpu, batches = time.process_time(), 0
while time.time() < end:
    with audit.writing(late=True) as conn:
        audit.append_many(conn, events)
        if hold:
            time.sleep(hold)  # the rest of a transaction after its append (a remote database's round trips)
    batches += 1
print(batches, time.process_time() - cpu)
"""

MIGRATE = """
import sys
from clearinghouse.store.db import create_engine, migrate
engine = create_engine(sys.argv[1])
migrate(engine)
"""

# Fills the log with `n` entries in 64-entry batches, then times verify (CPU and wall): prints "cpu wall ok checked".
VERIFY = """
import sys, time
from clearinghouse.store.audit import AuditEvent, AuditLog
from clearinghouse.store.db import create_engine
url, n = sys.argv[1], int(sys.argv[2])
audit = AuditLog(create_engine(url))
events = [AuditEvent("bench", "report.received", "report", f"R-{i}", {"i": i}) for i in range(64)]
for _ in range(n // 64):
    with audit.writing(late=True) as conn:
        audit.append_many(conn, events)
if hasattr(audit, "seal"):
    audit.seal()
cpu, wall = time.process_time(), time.perf_counter()
report = audit.verify()
print(time.process_time() - cpu, time.perf_counter() - wall, report.ok, report.checked)
"""


@contextmanager
def code_tree(ref: str | None) -> Iterator[str]:
    """PYTHONPATH for the code under test: this checkout's src, else `ref` exported under /tmp/audit/."""
    if ref is None:
        yield str(REPO / "src")
        return
    SCRATCH.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tree:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
        yield str(Path(tree) / "src")


def environment(pythonpath: str, home: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath
    env["CLEARINGHOUSE_HOME"] = home
    env["CLEARINGHOUSE_AUDIT_KEY"] = "11" * 32
    env["CLEARINGHOUSE_AUDIT_SIGNING_KEY"] = "22" * 32
    return env


@contextmanager
def store(database_url: str | None) -> Iterator[str]:
    """A fresh store: a SQLite file under /tmp/audit/, or a fresh PostgreSQL schema."""
    if database_url is None:
        SCRATCH.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=SCRATCH) as directory:
            yield f"sqlite:///{directory}/store.db"
        return
    with fresh_store_url(database_url) as url:
        yield str(url)


def appends(
    pythonpath: str, database_url: str | None, writers: int, seconds: float, hold: float
) -> tuple[float, float, float]:
    """(entries/s, batches/s, CPU ms per batch) of `writers` processes appending for `seconds`."""
    with store(database_url) as url, tempfile.TemporaryDirectory(dir=SCRATCH) as home:
        env = environment(pythonpath, home)
        subprocess.run([sys.executable, "-c", MIGRATE, url], env=env, check=True)
        start = time.time() + 3.0  # time for every process to start and connect
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, url, str(start), str(start + seconds), f"w{i}", str(hold)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(writers)
        ]
        batches, cpu = 0, 0.0
        for process in processes:
            out, _ = process.communicate(timeout=seconds + 120)
            if process.returncode:
                raise RuntimeError(f"a writer failed ({process.returncode})")
            done, used = out.split()
            batches, cpu = batches + int(done), cpu + float(used)
    return batches * BATCH / seconds, batches / seconds, 1000 * cpu / max(batches, 1)


def verify_time(pythonpath: str, database_url: str | None, leaves: int) -> tuple[float, float, bool, int]:
    with store(database_url) as url, tempfile.TemporaryDirectory(dir=SCRATCH) as home:
        env = environment(pythonpath, home)
        subprocess.run([sys.executable, "-c", MIGRATE, url], env=env, check=True)
        out = subprocess.run(
            [sys.executable, "-c", VERIFY, url, str(leaves)], env=env, check=True, capture_output=True, text=True
        ).stdout.split()
    return float(out[0]), float(out[1]), out[2] == "True", int(out[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="also run on this PostgreSQL server (a fresh schema per round)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--writers", default="1,2,4")
    parser.add_argument(
        "--hold-ms",
        default="0,50",
        help="rounds where each transaction lasts this much longer after its append (latency to a remote database)",
    )
    parser.add_argument("--verify-leaves", type=int, default=100_000)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    options = parser.parse_args()
    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if options.database_url:
        databases.append(("postgresql", options.database_url))
    counts = [int(n) for n in options.writers.split(",")]
    with code_tree(None) as new, code_tree(options.baseline_ref) as old:
        codes = [("new (leaves + links)", new), (f"old ({options.baseline_ref}: chain + lock)", old)]
        print(f"== appends of {BATCH}-entry batches, {options.seconds:.0f} s per round, same run")
        print(
            f"{'database':<11} {'code':<30} {'hold ms':>7} {'writers':>7} {'entries/s':>10} {'batches/s':>10} "
            f"{'CPU ms/batch':>13}"
        )
        for hold in [float(ms) for ms in options.hold_ms.split(",")]:
            for database, url in databases:
                for writers in counts:
                    for code, path in codes:
                        per_second, batches, cpu = appends(path, url, writers, options.seconds, hold / 1000)
                        print(
                            f"{database:<11} {code:<30} {hold:>7.0f} {writers:>7} {per_second:>10,.0f} "
                            f"{batches:>10,.1f} {cpu:>13.2f}"
                        )
        print(f"== verify of {options.verify_leaves:,} entries written in {BATCH}-entry batches, same run")
        print(f"{'database':<11} {'code':<30} {'CPU s':>8} {'wall s':>8} {'ok':>4} {'checked':>9}")
        for database, url in databases:
            for code, path in codes:
                cpu_s, wall_s, ok, checked = verify_time(path, url, options.verify_leaves)
                print(f"{database:<11} {code:<30} {cpu_s:>8.2f} {wall_s:>8.2f} {ok!s:>4} {checked:>9,}")


if __name__ == "__main__":
    main()
