"""`clearinghouse admin create-user / set-password / enable-totp`: people who sign in to the web interface."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from clearinghouse.errors import SignInFailed
from clearinghouse.identity import passwords
from clearinghouse.store.web_accounts import WebAccounts
from tests.cli.conftest import Cli


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_users_passwords_and_totp_from_the_command_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    assert cli("admin", "create-org", "Clearinghouse", "--kind", "clearinghouse")[0] == 0
    _stdin(monkeypatch, "a long enough passphrase\n")
    code, out, _ = cli("admin", "create-user", "--org", "Clearinghouse", "--login", "ana", "--role", "analyst")
    assert code == 0 and "created user 'ana'" in out
    accounts = WebAccounts(engine)
    assert accounts.sign_in("ana", "a long enough passphrase", None).cookie

    _stdin(monkeypatch, "short\n")
    code, _, err = cli("admin", "set-password", "--login", "ana")
    assert code == 2 and "at least 12 characters" in err
    _stdin(monkeypatch, "another long passphrase\n")
    assert cli("admin", "set-password", "--login", "ana")[0] == 0
    with pytest.raises(SignInFailed):
        accounts.sign_in("ana", "a long enough passphrase", None)

    code, out, _ = cli("admin", "enable-totp", "--login", "ana")
    secret, uri = out.strip().splitlines()[-2:]
    assert code == 0 and uri.startswith("otpauth://totp/Clearinghouse:ana?secret=" + secret)
    code_now = passwords.totp_code(secret, datetime.now(UTC))
    assert accounts.sign_in("ana", "another long passphrase", code_now).cookie

    _stdin(monkeypatch, "a long enough passphrase\n")
    code, _, err = cli("admin", "create-user", "--org", "Clearinghouse", "--login", "ana", "--role", "analyst")
    assert code == 2 and "already exists" in err
    code, _, err = cli("admin", "enable-totp", "--login", "nobody")
    assert code != 0 and "no user with login 'nobody'" in err
