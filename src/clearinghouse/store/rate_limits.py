"""Token buckets kept in the store, so every API process (and host) draws on the same allowance.

A process does not ask the store per request: it takes tokens in chunks (`take`) and spends them locally
(`api.limits.SharedRateLimiter`), so a bucket costs one short write transaction per chunk.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.store.db import sqlite_immediate
from clearinghouse.store.tables import rate_limit_buckets

_buckets = rate_limit_buckets
# A bucket untouched this long is full again under any limit that refills within it (the defaults refill in
# seconds to a minute), and a full bucket is what a missing one is (`take` starts new buckets full).
IDLE_BUCKET_SECONDS = 86_400.0


class RateLimitStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def _transaction(self) -> AbstractContextManager[sa.Connection]:
        return self.engine.begin() if self._postgres else sqlite_immediate(self.engine)

    def take(self, key: str, want: int, rate: float, burst: float, now: float) -> tuple[int, float]:
        """Take up to `want` whole tokens from `key`'s bucket (full when new, refilled at `rate` per second).

        Returns the tokens granted and, when none was, the seconds until one will be.
        """
        dialect_insert = postgresql.insert if self._postgres else sqlite.insert
        with self._transaction() as conn:
            conn.execute(
                dialect_insert(_buckets)
                .values(key=key, tokens=float(burst), updated_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            query = sa.select(_buckets.c.tokens, _buckets.c.updated_at).where(_buckets.c.key == key)
            row = conn.execute(query.with_for_update() if self._postgres else query).one()
            tokens = min(float(burst), row.tokens + max(0.0, now - row.updated_at) * rate)
            granted = min(want, math.floor(tokens))
            conn.execute(
                sa.update(_buckets)
                .where(_buckets.c.key == key)
                .values(tokens=tokens - granted, updated_at=max(now, row.updated_at))
            )
        return granted, 0.0 if granted else (1.0 - tokens) / rate if rate > 0 else math.inf

    def prune(self, now: float, idle: float = IDLE_BUCKET_SECONDS) -> int:
        """Delete the buckets untouched for `idle` seconds (each client address seen once left one behind for
        ever); how many. Invisible to the limits: those buckets are full, as new ones start."""
        with self._transaction() as conn:
            return conn.execute(sa.delete(_buckets).where(_buckets.c.updated_at < now - idle)).rowcount
