"""Where a webhook may point: http(s) URLs whose host is a public address (the SSRF guard).

A subscription's URL is checked when it is made and again at each delivery: the host is resolved, every address
it resolves to must be public, and the request then goes to the address that was checked (not resolved again),
so a DNS answer that changes between check and connect (rebinding) cannot reach an internal service. The
operator may allow internal targets (`CLEARINGHOUSE_WEBHOOK_ALLOW_PRIVATE=1`), e.g. for a receiver on the same host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from clearinghouse.errors import InvalidSubscription, WebhookHostUnresolvable, WebhookTargetRefused

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses as text


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address requests to it connect to."""

    url: str
    scheme: str
    host: str  # as written in the URL (Host header, TLS server name)
    port: int
    address: str  # the checked IP address to connect to


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookHostUnresolvable(f"webhook host {host!r} does not resolve ({exc})") from None
    return [str(info[4][0]) for info in infos]


def internal_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = internal_reason(embedded)
            return f"{reason} (inside the IPv6 address)" if reason else None
        if address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64: the last 32 bits are an IPv4 address
            return internal_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("shared (carrier-grade NAT)", address in ipaddress.IPv4Network("100.64.0.0/10")),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def check_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """The URL as a Target, or WebhookTargetRefused / InvalidSubscription saying why not."""
    if len(url) > MAX_URL_LENGTH or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise InvalidSubscription(f"a webhook URL is at most {MAX_URL_LENGTH} printable characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidSubscription(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookTargetRefused(f"a webhook URL must be http or https, not {parts.scheme or 'schemeless'!r}")
    if not parts.hostname:
        raise InvalidSubscription("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidSubscription("a webhook URL may not carry a user name or password (the signature authenticates)")
    host = parts.hostname
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    if not addresses:
        raise WebhookHostUnresolvable(f"webhook host {host!r} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone index
        reason = internal_reason(address)
        if reason and not allow_private:
            raise WebhookTargetRefused(
                f"webhook host {host!r} is a {reason} address ({address}); only public addresses are allowed "
                "unless the operator sets CLEARINGHOUSE_WEBHOOK_ALLOW_PRIVATE=1"
            )
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0].split("%", 1)[0])
