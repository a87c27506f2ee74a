"""Request limits: body size (413 before the body is read in full), JSON depth and characters (422) and
rate limits on every route, shared by every process through the store (429)."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearinghouse.api.problems import log, problem
from clearinghouse.errors import InvalidRecord, Location, RateLimited
from clearinghouse.safeparse import MAX_JSON_DEPTH, check_json_text
from clearinghouse.store.rate_limits import RateLimitStore

DEFAULT_MAX_BODY = 2 * 1024 * 1024


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with a 413 problem, counting what arrives whatever Content-Length says."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "body-too-large", f"request body is over the {self.max_bytes:,}-byte limit")
        await response(scope, receive, send)


class JsonBodyGuard:
    """Refuse JSON bodies nested too deep or holding control characters before any route parses them.

    FastAPI parses JSON bodies with the standard library, which raises `RecursionError` (a 500) on deep nesting;
    PostgreSQL cannot store NUL. Sits inside `BodySizeLimit`, so the body it holds is already size-capped.
    """

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_json(scope):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            check_json_text(bytes(body), Location(field="$"), max_depth=self.max_depth)
        except InvalidRecord as refused:
            log.info("%s %s -> %d %s", scope["method"], scope["path"], refused.status, refused.code)
            response = problem(refused.status, refused.code, refused.message, field=refused.location.field)
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return held.pop(0) if held else await receive()

        await self.app(scope, replay, send)


def _declares_json(scope: Scope) -> bool:
    content_type: bytes = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type == b"application/json" or content_type.endswith(b"+json")


class SharedRateLimiter:
    """Token buckets shared through the store: `rate` per second sustained, bursts up to `burst`, per key.

    Each process takes tokens from the store in chunks (one write per chunk, not per request) and spends them
    locally; across N processes a bucket can overspend by at most N chunks (`chunk=1` for an exact count).
    """

    def __init__(
        self,
        store: RateLimitStore,
        rate: float,
        burst: int,
        chunk: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rate = rate
        self.burst = burst
        self.chunk = chunk or max(1, min(burst // 8, math.ceil(rate / 4)))
        self.clock = clock
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def spend_held(self, key: str) -> bool:
        """Spend a token this process already holds; False when the store must be asked."""
        with self._lock:
            held = self._held.get(key, 0)
            if held > 0:
                self._held[key] = held - 1
                return True
            return False

    def check(self, key: str) -> None:
        """Spend one token for `key`, asking the store when none is held here; `RateLimited` when it is empty."""
        if self.spend_held(key):
            return
        granted, wait = self.store.take(key, self.chunk, self.rate, self.burst, self.clock())
        if granted == 0:
            raise RateLimited(wait)
        with self._lock:
            if len(self._held) > _MAX_HELD_KEYS:  # many addresses seen: forget the spare tokens, not the limits
                self._held.clear()
            self._held[key] = self._held.get(key, 0) + granted - 1


_MAX_HELD_KEYS = 10_000


@dataclass(frozen=True)
class RateLimits:
    """The limits every request passes: per API token, per client address, and failed token guesses."""

    per_token: SharedRateLimiter
    per_address: SharedRateLimiter
    failed_logins: SharedRateLimiter  # chunk 1: each failure is counted in the store at once


class RateLimit:
    """Rate limits on every route, before any work is done: 429 with `Retry-After`.

    Keys: the presented token (its SHA-256, so a guess is limited like a real token), the client address, and
    the address's budget of failed authentications: each 401 spends one from the shared budget, and once it is
    empty this process refuses every request carrying a token from that address until it refills.
    """

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits
        self._guessing_until: dict[str, float] = {}  # address -> when its failure budget has a token again

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        token = _bearer(scope)
        try:
            if token is not None:
                blocked_for = self._guessing_until.get(address, 0.0) - time.time()
                if blocked_for > 0:
                    raise RateLimited(blocked_for)
                await _spend(self.limits.per_token, f"token:{hashlib.sha256(token).hexdigest()[:40]}")
            await _spend(self.limits.per_address, f"address:{address}")
        except RateLimited as limited:
            log.info("%s %s -> 429 %s", scope["method"], scope["path"], limited.code)
            response = problem(429, limited.code, limited.message, {"Retry-After": str(limited.retry_after)})
            await response(scope, receive, send)
            return
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watching_send)
        if status == 401 and token is not None:
            try:
                await _spend(self.limits.failed_logins, f"auth-failures:{address}")
            except RateLimited as exhausted:
                if len(self._guessing_until) > _MAX_HELD_KEYS:
                    self._guessing_until.clear()
                self._guessing_until[address] = time.time() + exhausted.retry_after


async def _spend(limiter: SharedRateLimiter, key: str) -> None:
    if not limiter.spend_held(key):
        await run_in_threadpool(limiter.check, key)  # the store is asked off the event loop


def _bearer(scope: Scope) -> bytes | None:
    value: bytes = dict(scope["headers"]).get(b"authorization", b"")
    scheme, _, token = value.partition(b" ")
    return (token.strip() or None) if scheme.lower() == b"bearer" else None
