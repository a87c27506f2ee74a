"""`clearinghouse notify`: subscribe, list, test (sent at once to a real receiver) and the deliveries log."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.cli.conftest import Cli
from tests.notify.conftest import Receiver


@pytest.fixture
def cli(cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CLEARINGHOUSE_WEBHOOK_ALLOW_PRIVATE", "1")
    return Cli(capsys, monkeypatch)


def test_subscribe_then_test_reaches_the_receiver_signed(cli: Cli, receiver: Receiver) -> None:
    assert cli("admin", "create-org", "Acme", "--kind", "vendor")[0] == 0
    code, out, err = cli("notify", "subscribe", "--org", "Acme", "--webhook", receiver.url, "--event", "case.opened")
    assert code == 0, err
    subscription_id = out.split()[1].rstrip(":")
    receiver.secret = out.strip().splitlines()[-1]
    receiver.now = time.time()

    code, out, err = cli("notify", "test", subscription_id)

    assert code == 0, err
    assert "delivered" in out
    [request] = receiver.received
    assert request.signature_ok and request.headers["X-Clearinghouse-Event"] == "notification.test"
    code, out, _ = cli("notify", "deliveries", "--org", "Acme", "--json")
    [delivery] = orjson.loads(out)
    assert (delivery["status"], delivery["attempts"], delivery["event_kind"]) == ("delivered", 1, "notification.test")
    assert delivery["organisation"] == "Acme"
    code, out, _ = cli("notify", "list", "--json")
    [listed] = orjson.loads(out)
    assert listed["id"] == subscription_id and listed["organisation"] == "Acme"
    assert listed["event_kinds"] == ["case.opened"] and "secret" not in listed


def test_a_failed_test_exits_non_zero_and_says_why(cli: Cli, receiver: Receiver) -> None:
    cli("admin", "create-org", "Acme", "--kind", "vendor")
    _, out, _ = cli("notify", "subscribe", "--org", "Acme", "--webhook", receiver.url)
    receiver.statuses = [410]

    code, out, _ = cli("notify", "test", out.split()[1].rstrip(":"))

    assert code == 1 and "failed: HTTP 410" in out


def test_refusals_are_one_message_and_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARINGHOUSE_WEBHOOK_ALLOW_PRIVATE", "0")
    cli("admin", "create-org", "Acme", "--kind", "vendor")
    code, _, err = cli("notify", "subscribe", "--org", "Acme", "--webhook", "http://10.0.0.1/hook")
    assert code == 2 and "error: webhook host '10.0.0.1' is a private address" in err
    code, _, err = cli("notify", "subscribe", "--org", "Acme")
    assert code == 2 and "give either --webhook URL or --email ADDRESS" in err
    code, _, err = cli("notify", "subscribe", "--org", "Nobody", "--email", "a@b.example")
    assert code == 2 and "no organisation named 'Nobody'" in err
    code, _, err = cli("notify", "subscribe", "--org", "Acme", "--webhook", "https://example.org/" + "x" * 2100)
    assert code == 2 and "error: url: String should have at most 2048 characters" in err
    code, _, err = cli("notify", "disable", "no-such-subscription")
    assert code == 2 and "no subscription 'no-such-subscription'" in err
