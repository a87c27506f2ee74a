"""The CSAF provider's OpenPGP key and detached signatures, through Debian's `gnupg` (`python-gnupg`).

The key (Ed25519, signing only, no passphrase: the server signs unattended) is generated on first use in
`CLEARINGHOUSE_HOME/csaf-openpgp/` (a GnuPG home, 0700) and kept there; every later process uses it. Keep that
directory as you keep the audit keys: whoever holds it can sign advisories in the clearinghouse's name.

GnuPG's agent listens on Unix sockets in its home (unless the login made a `/run/user/UID`, which containers and
services often lack), and a socket's path holds about 106 bytes: under a home whose path is longer than 86 bytes
the agent cannot start and no key can be made. GnuPG is then given a short link to that directory
instead (`gnupg_home`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import gnupg

from clearinghouse.errors import SigningUnavailable

KEY_DIRECTORY = "csaf-openpgp"
KEY_NAME = "Clearinghouse CSAF provider"
KEY_EMAIL = "csaf@clearinghouse.example.org"
# A socket's path (sun_path) holds 108 bytes, and GnuPG wants its agent's longest, S.gpg-agent.browser, in 106: with
# gpg 2.2.40 a home of 86 bytes works and one of 87 does not.
_LONGEST_HOME = 106 - len("/S.gpg-agent.browser")


def gnupg_home(directory: Path) -> Path:
    """The path to give GnuPG for the home `directory`: itself when the agent's sockets fit under it, otherwise a
    link to it in this user's private directory under the system's temporary directory, named by a hash of
    `directory` so that every process signing with that home finds the one agent (gpg uses the path as given)."""
    directory = directory.absolute()  # gpg makes a relative home absolute before it places the sockets
    if len(os.fsencode(directory)) <= _LONGEST_HOME:
        return directory
    links = Path(tempfile.gettempdir()) / f"clearinghouse-gnupg-{os.getuid()}"
    links.mkdir(mode=0o700, exist_ok=True)
    found = links.lstat()
    # Another user may have made the name first (the temporary directory is shared): their link could point the
    # agent anywhere, so only a directory that is this user's alone will do.
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise SigningUnavailable(f"{links} is not a directory of this user's alone; GnuPG cannot use it")
    link = links / hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    if len(os.fsencode(link)) > _LONGEST_HOME:
        raise SigningUnavailable(f"the temporary directory {links.parent} is too long a path for GnuPG's sockets")
    try:
        link.symlink_to(directory, target_is_directory=True)
    except FileExistsError:
        if link.readlink() != directory:  # a link another process made is the same link
            raise SigningUnavailable(f"{link} leads to {link.readlink()}, not {directory}") from None
    return link


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
            gpg = gnupg.GPG(gnupghome=str(gnupg_home(self.directory)))
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
