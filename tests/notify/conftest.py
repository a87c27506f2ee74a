"""Real receivers for notification tests: an HTTP server that checks each webhook's signature, and an aiosmtpd
SMTP server. Both listen on 127.0.0.1 at a port the system picks."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clearinghouse.config import Settings
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.signing import verify

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Clock:
    """The injected clock: moves only when a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


@dataclass
class Receiver:
    """Answers each POST with the next of `statuses` (200 when they run out) and keeps what it was sent."""

    url: str
    secret: str = ""
    now: float = 0.0  # the time the receiver checks signatures against (the injected clock's)
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            header = self.headers.get("X-Clearinghouse-Signature", "")
            ok = bool(state.secret) and verify(state.secret, header, body, now=state.now)
            state.received.append(Received(self.path, dict(self.headers.items()), body, ok))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/clearinghouse"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Mailbox:
    url: str
    messages: list[Envelope] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "550 no such user": every RCPT is refused with this


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    state = Mailbox(url="")

    class Handler:
        async def handle_RCPT(
            self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
        ) -> str:
            if state.refuse_with:
                return state.refuse_with
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            state.messages.append(envelope)
            return "250 Message accepted for delivery"

    with socket.socket() as probe:  # aiosmtpd needs a concrete port: take a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    state.url = f"smtp://127.0.0.1:{port}"
    yield state
    controller.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def settings_for(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    return Settings(home=tmp_path, database_url=database_url, **changes)


@pytest.fixture
def service(
    engine: sa.Engine, database_url: str, tmp_path: Path, clock: Clock, mailbox: Mailbox, receiver: Receiver
) -> NotificationService:
    """Deliveries to the local receivers: private targets allowed, as an operator would for a receiver on the
    same host."""
    receiver.now = clock().timestamp()
    settings = settings_for(
        tmp_path, database_url, smtp_url=mailbox.url, mail_from="cert@clearinghouse.example", webhook_allow_private=True
    )
    return NotificationService(engine, settings, clock=clock)


def certificate(tmp_path: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `host` signed by it: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
