"""Settings, read from the environment once per process, never at module import."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clearinghouse.errors import ConfigurationError

DEFAULT_HOME = ".clearinghouse"
GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest generation (CPython: 700)


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    max_body_bytes: int = 2 * 1024 * 1024
    rate_per_second: float = 50.0  # per API token, sustained
    rate_burst: int = 200
    address_rate_per_second: float = 100.0  # per client address, with or without a token
    address_rate_burst: int = 400
    rate_limits: bool = True  # off only to measure their cost (bench/intake.py) or behind a limiting proxy
    auth_failures_per_minute: float = 10.0  # failed token guesses per client address (burst: the same number)
    embedded_worker: bool = True  # `serve` starts a job worker process of its own
    # Notifications: e-mail goes through this SMTP server (none: e-mail deliveries fail, saying so); webhooks to
    # loopback or private addresses only where the operator allows them (a receiver on the same host or network).
    smtp_url: str | None = None  # smtp://[user:password@]host[:port][?starttls=1] or smtps://...
    mail_from: str = "clearinghouse@localhost"
    webhook_allow_private: bool = False
    # Reports waiting to be processed past which new and low-credibility sources get 503 (twice: everyone but
    # staff); 0 turns back-pressure off (issue 16, `intake.backpressure`).
    backlog_limit: int = 20_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("CLEARINGHOUSE_HOME", DEFAULT_HOME)).expanduser()
        url = env.get("CLEARINGHOUSE_DATABASE_URL") or f"sqlite:///{(home / 'clearinghouse.db').resolve()}"
        try:
            return cls(
                home=home,
                database_url=url,
                max_body_bytes=int(env.get("CLEARINGHOUSE_MAX_BODY_BYTES", cls.max_body_bytes)),
                rate_per_second=float(env.get("CLEARINGHOUSE_RATE_PER_SECOND", cls.rate_per_second)),
                rate_burst=int(env.get("CLEARINGHOUSE_RATE_BURST", cls.rate_burst)),
                address_rate_per_second=float(
                    env.get("CLEARINGHOUSE_ADDRESS_RATE_PER_SECOND", cls.address_rate_per_second)
                ),
                address_rate_burst=int(env.get("CLEARINGHOUSE_ADDRESS_RATE_BURST", cls.address_rate_burst)),
                rate_limits=env.get("CLEARINGHOUSE_RATE_LIMITS", "on") not in {"0", "off", "false", "no"},
                auth_failures_per_minute=float(
                    env.get("CLEARINGHOUSE_AUTH_FAILURES_PER_MINUTE", cls.auth_failures_per_minute)
                ),
                embedded_worker=env.get("CLEARINGHOUSE_EMBEDDED_WORKER", "1") not in {"0", "false", "no"},
                smtp_url=env.get("CLEARINGHOUSE_SMTP_URL") or None,
                mail_from=env.get("CLEARINGHOUSE_MAIL_FROM", cls.mail_from),
                webhook_allow_private=env.get("CLEARINGHOUSE_WEBHOOK_ALLOW_PRIVATE", "0") in {"1", "true", "yes"},
                backlog_limit=int(env.get("CLEARINGHOUSE_BACKLOG_LIMIT", cls.backlog_limit)),
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad CLEARINGHOUSE_* setting: {exc}") from None


def tune_garbage_collector() -> None:
    """Collect the youngest generation every `GC_YOUNG_THRESHOLD` allocations: for every clearinghouse process.

    A query builds thousands of short-lived objects (the records it answers with); collections every 700
    allocations find many of them still alive and promote them, and every dozen queries that triggers a full
    collection, which scans every cached version matcher. On the dev set (bench/affected.py), 2,000 `affected`
    queries spent 60 % of their time in 168 full collections (p95 132 ms); with 20,000: 3 of them, p95 19 ms.
    """
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def freeze_long_lived() -> None:
    """Leave everything the process holds now out of every later collection: for a job worker once its duplicate
    index is built (the store's records and their fingerprints, kept for the process's life).

    CPython runs a full collection, which scans every object it tracks, whenever what survived since the last one
    passes a quarter of what that one kept. With the 16k-record dev set indexed, one scanned 2.1 million objects
    for 1.1 s of one core, with nothing processed meanwhile. Frozen, the index and the records are left out: a full
    collection scans only what came after them (right after the freeze, no measurable time). Frozen objects are
    still freed when their last reference goes (the index and the records hold no reference cycles); the collection
    first clears the cycles already garbage, so that none of them is frozen.
    """
    gc.collect()
    gc.freeze()
