"""The webhook request itself: over TLS it goes to the checked address yet verifies the certificate against the
URL's host name; over IPv6 too. A real local TLS server with its own certificate authority."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clearinghouse.notify.channels import DeliveryFailed, post_webhook
from clearinghouse.notify.targets import Target
from tests.notify.conftest import certificate


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Handler.seen.append((self.headers.get("Host", ""), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca, cert, key = certificate(tmp_path, "hooks.vendor.test")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Handler.seen = []
    for port in _serve(server):
        yield port, ca


def _trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_https_goes_to_the_checked_address_and_verifies_the_url_host(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    target = Target(f"https://hooks.vendor.test:{port}/in", "https", "hooks.vendor.test", port, "127.0.0.1")

    assert post_webhook(target, {"Content-Type": "application/json"}, b"{}", verify=_trusting(ca)) == 204
    assert _Handler.seen == [(f"hooks.vendor.test:{port}", b"{}")]


def test_https_to_an_address_whose_certificate_names_another_host_fails(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    target = Target(f"https://other.vendor.test:{port}/in", "https", "other.vendor.test", port, "127.0.0.1")

    with pytest.raises(DeliveryFailed, match="ConnectError") as failure:
        post_webhook(target, {}, b"{}", verify=_trusting(ca))
    assert failure.value.retryable and _Handler.seen == []


def test_http_over_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")

    class V6Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server = V6Server(("::1", 0), _Handler)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here ({exc})")
    _Handler.seen = []
    for port in _serve(server):
        target = Target(f"http://hooks.vendor.test:{port}/in", "http", "hooks.vendor.test", port, "::1")
        assert post_webhook(target, {}, b"[]") == 204
    assert _Handler.seen == [(f"hooks.vendor.test:{port}", b"[]")]


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline() -> None:
    """Each byte comes well within the per-read timeout, but the answer never ends: the overall deadline ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.05):
                    return
                connection.send(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    target = Target(f"http://hooks.vendor.test:{port}/in", "http", "hooks.vendor.test", port, "127.0.0.1")
    try:
        with pytest.raises(DeliveryFailed, match=r"no answer within 0\.5 s") as failure:
            post_webhook(target, {}, b"{}", deadline=0.5)
        assert failure.value.retryable
    finally:
        stop.set()
        thread.join()
        listener.close()
