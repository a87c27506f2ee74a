"""The CSAF provider's OpenPGP key and detached signatures, through Debian's `gnupg` (`python-gnupg`).

The key (Ed25519, signing only, no passphrase: the server signs unattended) is generated on first use in
`CLEARINGHOUSE_HOME/csaf-openpgp/` (a GnuPG home, 0700) and kept there; every later process uses it. Keep that
directory as you keep the audit keys: whoever holds it can sign advisories in the clearinghouse's name.
"""

from __future__ import annotations

import fcntl
import shutil
import threading
from pathlib import Path

import gnupg

from clearinghouse.errors import SigningUnavailable

KEY_DIRECTORY = "csaf-openpgp"
KEY_NAME = "Clearinghouse CSAF provider"
KEY_EMAIL = "csaf@clearinghouse.example.org"


class Signer:
    """Signs CSAF documents with the provider's key, made on first use."""

    def __init__(self, home: Path) -> None:
        self.directory = home / KEY_DIRECTORY
        self._lock = threading.Lock()
        self._gpg: gnupg.GPG | None = None
        self._fingerprint: str | None = None

    def _ready(self) -> tuple[gnupg.GPG, str]:
        with self._lock:
            if self._gpg is not None and self._fingerprint is not None:
                return self._gpg, self._fingerprint
            if shutil.which("gpg") is None:
                raise SigningUnavailable("CSAF signatures need GnuPG: apt-get install gnupg")
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # gpg warns about (and some versions refuse) a readable home
            gpg = gnupg.GPG(gnupghome=str(self.directory))
            # Every API process signs with the one key: the first to get here makes it, the others wait and read it.
            with (self.directory / "keygen.lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                keys = self._key(gpg)
            self._gpg, self._fingerprint = gpg, str(keys[0]["fingerprint"])
            return gpg, self._fingerprint

    @staticmethod
    def _key(gpg: gnupg.GPG) -> list[dict[str, str]]:
        """The secret key, made if there is none yet (the caller holds the directory's lock)."""
        keys: list[dict[str, str]] = gpg.list_keys(secret=True)
        if not keys:
            request = gpg.gen_key_input(
                key_type="EDDSA",
                key_curve="ed25519",
                key_usage="sign",
                name_real=KEY_NAME,
                name_email=KEY_EMAIL,
                expire_date=0,
                no_protection=True,
            )
            made = gpg.gen_key(request)
            if not made.fingerprint:
                raise SigningUnavailable(f"GnuPG could not make the CSAF key: {made.stderr.strip()[-300:]}")
            keys = gpg.list_keys(secret=True)
        return keys

    @property
    def fingerprint(self) -> str:
        return self._ready()[1]

    def public_key(self) -> str:
        """The public key, ASCII-armoured (what `provider-metadata.json` points at)."""
        gpg, fingerprint = self._ready()
        exported: str = gpg.export_keys(fingerprint)
        return exported

    def sign(self, data: bytes) -> str:
        """An ASCII-armoured detached signature of `data` (a CSAF document's `.asc` file)."""
        gpg, fingerprint = self._ready()
        signed = gpg.sign(data, keyid=fingerprint, detach=True, clearsign=False)
        if not signed.data:
            raise SigningUnavailable(f"GnuPG did not sign: {signed.stderr.strip()[-300:]}")
        return bytes(signed.data).decode("ascii")
