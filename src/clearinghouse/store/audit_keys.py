"""The audit log's keys, kept outside the database, and its latest signed checkpoint.

- HMAC key (32 bytes): `CLEARINGHOUSE_AUDIT_KEY` (hex), else `audit-hmac.key` in `CLEARINGHOUSE_HOME`.
- Ed25519 signing key: `CLEARINGHOUSE_AUDIT_SIGNING_KEY` (hex seed), else `audit-signing.key` in the home.
- The latest checkpoint: `audit-checkpoint.json` in the home, advanced after each audited commit (never moved
  back: several processes write it, under a lock).

Key files are created on first use with mode 0600 (in a 0700 directory); whoever holds the database file alone
can then neither forge entries nor hide a truncation. Anyone may hold the public key and checkpoints.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from clearinghouse.errors import ConfigurationError
from clearinghouse.store.audit_chain import Checkpoint, checkpoint_is_signed

HMAC_KEY_FILE = "audit-hmac.key"
SIGNING_KEY_FILE = "audit-signing.key"
CHECKPOINT_FILE = "audit-checkpoint.json"


@dataclass(frozen=True)
class AuditKeys:
    hmac_key: bytes
    signing_key: Ed25519PrivateKey
    home: Path

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def public_key_base64(self) -> str:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @classmethod
    def load(cls, home: Path, environ: dict[str, str] | None = None) -> AuditKeys:
        env = dict(os.environ) if environ is None else environ
        hmac_key = _key_bytes(env.get("CLEARINGHOUSE_AUDIT_KEY"), home / HMAC_KEY_FILE, "CLEARINGHOUSE_AUDIT_KEY")
        seed = _key_bytes(
            env.get("CLEARINGHOUSE_AUDIT_SIGNING_KEY"), home / SIGNING_KEY_FILE, "CLEARINGHOUSE_AUDIT_SIGNING_KEY"
        )
        return cls(hmac_key, Ed25519PrivateKey.from_private_bytes(seed), home)

    # --- the latest checkpoint, kept beside the keys -------------------------------------------------------

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint this home holds; `ConfigurationError` if it is there but not validly signed."""
        path = self.home / CHECKPOINT_FILE
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read the audit checkpoint {path}: {exc}") from None
        try:
            checkpoint = Checkpoint.from_json(data)
        except ValueError as exc:
            raise ConfigurationError(f"{path}: {exc}") from None
        if not checkpoint_is_signed(checkpoint, self.public_key):
            raise ConfigurationError(f"the audit checkpoint {path} is not signed by this home's key")
        return checkpoint

    def advance(self, checkpoint: Checkpoint) -> None:
        """Keep `checkpoint` as the latest unless a newer one is already kept (another process wrote it)."""
        path = self.home / CHECKPOINT_FILE
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(self.home / (CHECKPOINT_FILE + ".lock")):
            try:
                kept = Checkpoint.from_json(orjson.loads(path.read_bytes())).order
            except (OSError, ValueError):
                kept = (0, 0)
            if checkpoint.order <= kept:
                return
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(orjson.dumps(checkpoint.as_json()))
            temporary.replace(path)


def _key_bytes(from_env: str | None, path: Path, variable: str) -> bytes:
    if from_env:
        try:
            key = bytes.fromhex(from_env.strip())
        except ValueError:
            raise ConfigurationError(f"{variable} must be 64 hex digits") from None
        if len(key) != 32:
            raise ConfigurationError(f"{variable} must be 64 hex digits (32 bytes), not {len(key)} bytes")
        return key
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError:
        raise ConfigurationError(f"{path} does not hold a hex key") from None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:  # O_EXCL: two processes starting together keep the one key written first
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as file:
        file.write(key.hex())
    return key


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:  # noqa: PTH123 - a lock file held open for fcntl
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# Which home an engine's audit keys live in: set by `open_engine` from the settings; otherwise the home the
# environment names (CLEARINGHOUSE_HOME, default ./.clearinghouse). Keys are read (or created) on first use,
# so commands that audit nothing never create them.
_HOMES: weakref.WeakKeyDictionary[sa.Engine, Path] = weakref.WeakKeyDictionary()
_LOADED: dict[Path, AuditKeys] = {}


def use_home(engine: sa.Engine, home: Path) -> None:
    _HOMES[engine] = home


def keys_for(engine: sa.Engine) -> AuditKeys:
    home = _HOMES.get(engine)
    if home is None:
        from clearinghouse.config import Settings

        home = Settings.from_env().home
    home = home.resolve()
    keys = _LOADED.get(home)
    if keys is None:
        keys = _LOADED[home] = AuditKeys.load(home)
    return keys
