"""OSV API benchmark: `POST /v1/querybatch` with 1,000 queries on a store holding the dev set.

Usage: python bench/osv_api.py [FILE]. The queries are the `affected` benchmark's (real ecosystem, package,
version triples drawn with a fixed seed). Prints the median of 5 warm batches through the API (HTTP handling in
process: routing, body parsing, policy, the evaluator, the JSON answer) against the 500 ms target, beside two
baselines measured in the same run: the same 1,000 queries straight to the evaluator, batched
(`RecordStore.affected_ids`, the floor the batch cannot go below), and once, one `RecordStore.affected` call per
query (what answering them as 1,000 `clearinghouse affected` look-ups would cost: documents read for every match).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import dataset
from affected import sample_queries
from fastapi.testclient import TestClient

from clearinghouse.api.app import create_app
from clearinghouse.config import Settings, tune_garbage_collector
from clearinghouse.ingest.pipeline import ImportPipeline
from clearinghouse.store.db import create_engine, migrate
from clearinghouse.store.records import RecordStore

TARGET_MS = 500.0
QUERIES = 1000
ROUNDS = 5


def main() -> None:
    path = dataset()
    tune_garbage_collector()
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/bench.db"
        engine = create_engine(url)
        migrate(engine)
        store = RecordStore(engine)
        ImportPipeline(store).run([path])
        queries = sample_queries(store, QUERIES)
        batch = {"queries": [{"package": {"ecosystem": e, "name": n}, "version": v} for e, n, v in queries]}
        settings = Settings(home=Path(home), database_url=url, embedded_worker=False, rate_limits=False)
        with TestClient(create_app(settings)) as client:
            api_store: RecordStore = client.app.state.records  # type: ignore[attr-defined]
            for e, n, v in queries:  # warm the evaluator's caches, as a running server's are
                api_store.affected(e, n, v)
            started = time.perf_counter()
            direct = sum(len(api_store.affected(e, n, v)) for e, n, v in queries)
            one_by_one = (time.perf_counter() - started) * 1000
            baseline, through_api = [], []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                api_store.affected_ids(queries)
                baseline.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                answer = client.post("/v1/querybatch", json=batch)
                through_api.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
            listed = sum(len(result.get("vulns", [])) for result in answer.json()["results"])
    median = statistics.median(through_api)
    print(f"dataset: {path}; {len(queries):,} queries; {listed:,} vulnerabilities listed ({direct:,} records matched)")
    print(f"baseline, one RecordStore.affected call per query (documents read): {one_by_one:.0f} ms")
    print(f"baseline, the evaluator alone, batched (affected_ids): median {statistics.median(baseline):.0f} ms")
    print(f"POST /v1/querybatch, {len(queries):,} queries: median {median:.0f} ms (of {ROUNDS} rounds)")
    print(f"target < {TARGET_MS:.0f} ms: {'MET' if median < TARGET_MS else 'NOT MET'}")


if __name__ == "__main__":
    main()
