"""The CSAF provider's key: made once per home, whoever asks first; signatures verify with it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gnupg

from clearinghouse.feeds.signing import Signer
from tests.conftest import stop_gpg_agent


def test_every_signer_of_a_home_uses_the_one_key(tmp_path: Path) -> None:
    # Separate signers (as separate API processes hold) racing for a home without a key make one key between them.
    signers = [Signer(tmp_path) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        fingerprints = set(pool.map(lambda signer: signer.fingerprint, signers))
    assert len(fingerprints) == 1
    assert len(gnupg.GPG(gnupghome=str(tmp_path / "csaf-openpgp")).list_keys(secret=True)) == 1
    assert (tmp_path / "csaf-openpgp").stat().st_mode & 0o077 == 0  # owner-only, as gpg wants its home

    document = b'{"document": {"title": "signed"}}'
    signature = tmp_path / "document.asc"
    signature.write_text(signers[0].sign(document))
    keyring = tmp_path / "keyring"
    keyring.mkdir(mode=0o700)
    verifier = gnupg.GPG(gnupghome=str(keyring))
    verifier.import_keys(Signer(tmp_path).public_key())
    verified = verifier.verify_data(str(signature), document)
    assert verified.valid and verified.fingerprint == fingerprints.pop()
    assert not verifier.verify_data(str(signature), document + b" ").valid


def test_a_home_too_long_for_the_agents_sockets_still_signs(tmp_path: Path) -> None:
    # GnuPG's agent listens on sockets in the key's directory, and a socket's path holds about 106 bytes: a home under
    # a deep directory (a deployment's, or pytest-xdist's longer temporary paths) must still make and use its key.
    home = tmp_path / ("deep-" * 20)
    assert len(str(home / "csaf-openpgp" / "S.gpg-agent.browser")) > 108
    try:
        signer = Signer(home)
        document = b'{"document": {"title": "signed under a long home"}}'
        signature = tmp_path / "document.asc"
        signature.write_text(signer.sign(document))
        assert (home / "csaf-openpgp" / "pubring.kbx").exists()  # the key is kept in the home itself
        keyring = tmp_path / "keyring"
        keyring.mkdir(mode=0o700)
        verifier = gnupg.GPG(gnupghome=str(keyring))
        verifier.import_keys(Signer(home).public_key())  # a second signer (another process) finds the one key
        verified = verifier.verify_data(str(signature), document)
        assert verified.valid and verified.fingerprint == signer.fingerprint
    finally:
        stop_gpg_agent(home / "csaf-openpgp")
