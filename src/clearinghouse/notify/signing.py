"""The webhook signature: `X-Clearinghouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`.

The timestamp is inside the MAC, so a receiver that also refuses timestamps outside a short window (`verify`,
five minutes by default) cannot be replayed an old delivery; the `X-Clearinghouse-Delivery` id lets it drop a
retry of one it already processed. Receivers may copy `verify` (standard library only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Clearinghouse-Signature"
EVENT_HEADER = "X-Clearinghouse-Event"
DELIVERY_HEADER = "X-Clearinghouse-Delivery"
REPLAY_WINDOW_SECONDS = 300


def new_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe text (shown to the subscriber once)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = REPLAY_WINDOW_SECONDS) -> bool:
    """Whether `header` signs exactly `body` under `secret` and was made within `tolerance` seconds of `now`.

    `body` must be the raw request bytes (not re-serialised JSON). Several `v1=` values are accepted, so a
    secret can be rotated while both are in use.
    """
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, mac) for mac in macs)
