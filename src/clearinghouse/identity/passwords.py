"""Password hashing (Argon2id) and TOTP second factors: pure computation, no I/O.

Argon2's parameters are argon2-cffi's defaults (RFC 9106's second recommended setting, 64 MiB, 3 passes); a hash
made under older parameters is re-hashed on the next successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clearinghouse.errors import WeakPassword

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # Argon2 takes any length; a cap keeps a megabyte "password" from costing a core
_HASHER = PasswordHasher()
TOTP_ISSUER = "Clearinghouse"


def check_strength(password: str, login: str) -> None:
    """The rules a new password must meet (NIST SP 800-63B: length, not the user name; no composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == login.strip().casefold():
        raise WeakPassword("a password must not be the user name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, login: str) -> str:
    """The otpauth:// URI an authenticator app reads (from a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=TOTP_ISSUER)


def totp_code(secret: str, at: datetime) -> str:
    """The code an authenticator shows at `at` (for tests and the operator's first check)."""
    return pyotp.TOTP(secret).at(at)


def verify_totp(secret: str, code: str, at: datetime) -> bool:
    """A six-digit code of the 30 s step at `at`, or of the step either side (clock drift)."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return False
    return pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1)
