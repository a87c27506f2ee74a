"""Webhook signing secrets at rest: sealed (AES-256-GCM) under a key derived from the home's audit HMAC key, which
is kept outside the database (`store.audit_keys`). A copy of the database alone cannot sign a webhook.

The subscription id is the associated data, so a sealed secret moved to another subscription does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_INFO = b"clearinghouse notify webhook secrets v1"


class SealBroken(Exception):
    """The sealed secret does not open under this home's key (the audit key changed, or the row was altered)."""


def sealing_key(audit_hmac_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(audit_hmac_key)


def seal(key: bytes, secret: str, subscription_id: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), subscription_id.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(key: bytes, sealed: str, subscription_id: str) -> str:
    if not sealed.startswith(_PREFIX):
        raise SealBroken("not a sealed secret")
    try:
        raw = base64.urlsafe_b64decode(sealed.removeprefix(_PREFIX))
        return AESGCM(key).decrypt(raw[:12], raw[12:], subscription_id.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealBroken(f"the signing secret does not open under this home's key ({exc.__class__.__name__})") from None
