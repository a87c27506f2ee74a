"""Failed sign-ins per client address: the account lock-out stops guessing one user's password, this stops one
address trying a few passwords on many users (password spraying). Each failure spends one token of the address's
budget in the shared store (`CLEARINGHOUSE_AUTH_FAILURES_PER_MINUTE`, as for API token guesses); the failure that
finds it empty blocks the address: its sign-ins are refused (429) until the budget refills, right password or not."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from clearinghouse.api.limits import SharedRateLimiter
from clearinghouse.errors import RateLimited

_MAX_ADDRESSES = 10_000


class SignInGuard:
    def __init__(self, failures: SharedRateLimiter | None, clock: Callable[[], float] = time.time) -> None:
        self.failures = failures  # None: limits are off (CLEARINGHOUSE_RATE_LIMITS=off)
        self.clock = clock
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """`RateLimited` while the address's failure budget is empty."""
        with self._lock:
            wait = self._blocked_until.get(address, 0.0) - self.clock()
        if wait > 0:
            raise RateLimited(wait)

    def failed(self, address: str) -> None:
        if self.failures is None:
            return
        try:
            self.failures.check(f"sign-in-failures:{address}")
        except RateLimited as exhausted:
            with self._lock:
                if len(self._blocked_until) > _MAX_ADDRESSES:
                    self._blocked_until.clear()
                self._blocked_until[address] = self.clock() + exhausted.retry_after
