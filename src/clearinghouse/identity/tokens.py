"""API tokens: random, shown once, stored only as a hash.

A token is ``chk_<id>_<secret>``: the id (public, 12 hex characters) finds the row, the 32-byte secret is
checked against its SHA-256 in constant time. A fast hash is right here: the secret has 256 bits of entropy, so
there is nothing for a slow password hash to protect against.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "chk"


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    plaintext: str  # shown to the user once, never stored
    digest: str


def issue() -> IssuedToken:
    token_id = secrets.token_hex(6)
    plaintext = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    return IssuedToken(token_id, plaintext, digest(plaintext))


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_id_of(plaintext: str) -> str | None:
    """The id part of a well-formed token, or None for anything else."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def matches(plaintext: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(plaintext), stored_digest)
