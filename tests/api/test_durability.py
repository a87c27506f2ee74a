"""An acknowledged (202) report is never lost: SIGKILL the server under load, restart it, check every one.

Runs the real server (`python -m clearinghouse serve`) in a subprocess on loopback, on each store back end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from clearinghouse.store.db import create_engine
from clearinghouse.store.tables import jobs, reports
from tests.api.test_reports_api import structured


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "clearinghouse", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("server did not start")


def test_sigkill_during_load_loses_no_acknowledged_report(cli_env: Path, database_url: str) -> None:
    env = dict(
        os.environ,
        CLEARINGHOUSE_RATE_PER_SECOND="100000",
        CLEARINGHOUSE_RATE_BURST="100000",
        CLEARINGHOUSE_ADDRESS_RATE_PER_SECOND="100000",
        CLEARINGHOUSE_ADDRESS_RATE_BURST="100000",
    )

    def run(*args: str) -> str:
        command = [sys.executable, "-m", "clearinghouse", *args]
        return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout

    run("admin", "create-org", "Load Reporter", "--kind", "reporter")
    token = run("admin", "create-token", "--org", "Load Reporter", "--user", "u", "--role", "reporter").split()[-1]
    port = free_port()
    server = start_server(env, port)
    acknowledged: list[str] = []
    stop = threading.Event()
    # The kill comes once the load is flowing (30 reports acknowledged), not after a fixed time: on a busy
    # machine 1.5 s could pass before the first answer, and the test then proved nothing.
    under_load = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = http.post("/api/v1/reports", json=structured(title=f"Load report {number}-{n}"))
                except httpx.HTTPError:
                    return  # the server died mid-request: that report was never acknowledged
                if response.status_code == 202:
                    acknowledged.extend(response.json()["report_ids"])
                    if len(acknowledged) >= 30:
                        under_load.set()

    clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for thread in clients:
        thread.start()
    got_going = under_load.wait(timeout=120)
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    for thread in clients:
        thread.join()
    assert got_going, f"the load did not get going ({len(acknowledged)} reports acknowledged in 120 s)"

    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.select(reports.c.id)).scalars())
    assert set(acknowledged) <= stored

    # The queue survives too: after a restart the embedded worker finishes every report.
    server = start_server(env, port)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                waiting = conn.execute(
                    sa.select(sa.func.count()).where(reports.c.id.in_(acknowledged), reports.c.state == "received")
                ).scalar_one()
            if waiting == 0:
                break
            time.sleep(0.5)
        if waiting:
            with engine.connect() as conn:
                stuck = conn.execute(
                    sa.select(reports.c.id, reports.c.pipeline).where(
                        reports.c.id.in_(acknowledged), reports.c.state == "received"
                    )
                ).all()
                queue = conn.execute(sa.select(jobs.c.status, jobs.c.payload, jobs.c.last_error)).all()
            stuck_ids = {row.id for row in stuck}
            pending = [tuple(j) for j in queue if j.payload.get("report_id") in stuck_ids]
            pytest.fail(f"{waiting} acknowledged reports never processed after the restart: {stuck} jobs: {pending}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()


pytestmark = pytest.mark.slow
