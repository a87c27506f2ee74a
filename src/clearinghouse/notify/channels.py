"""The two ways out: an HTTP POST to a checked address, and a plain-text e-mail over SMTP.

Each `send` raises `DeliveryFailed` saying whether trying again could help; the caller (`service`) records the
outcome and schedules the retry.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from clearinghouse.errors import ConfigurationError
from clearinghouse.notify.rules import retryable_status
from clearinghouse.notify.targets import Target

WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)  # a receiver acknowledges and works later
WEBHOOK_DEADLINE = 15.0  # seconds for the whole request, well inside a job's 30-second lease
SMTP_TIMEOUT = 10.0


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def post_webhook(
    target: Target,
    headers: dict[str, str],
    body: bytes,
    verify: ssl.SSLContext | bool = True,
    deadline: float = WEBHOOK_DEADLINE,
) -> int:
    """POST `body` to the checked address of `target` (Host header and TLS name from its URL); the status.

    The whole exchange has a deadline (`WEBHOOK_DEADLINE`), not only each read: a receiver trickling bytes cannot
    hold a worker. The response body is never read.
    """
    try:
        status, location = asyncio.run(asyncio.wait_for(_post(target, headers, body, verify), deadline))
    except TimeoutError:
        raise DeliveryFailed(f"no answer within {deadline:g} s", retryable=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{exc.__class__.__name__}: {exc}"[:500], retryable=True) from None
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:  # a redirect is not followed: it could point anywhere
        raise DeliveryFailed(f"HTTP {status} redirect to {location[:200]!r} not followed", retryable=False)
    raise DeliveryFailed(f"HTTP {status}", retryable=retryable_status(status))


async def _post(target: Target, headers: dict[str, str], body: bytes, verify: ssl.SSLContext | bool) -> tuple[int, str]:
    default_port = 443 if target.scheme == "https" else 80
    netloc = target.host if target.port == default_port else f"{target.host}:{target.port}"
    pinned = httpx.URL(target.url).copy_with(host=target.address, port=target.port)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with (
        httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False, verify=verify) as client,
        client.stream("POST", pinned, content=body, headers={**headers, "Host": netloc}, extensions=extensions) as r,
    ):
        return r.status_code, r.headers.get("location", "")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """smtp://[user:password@]host[:port][?starttls=1] (port 25) or smtps://... (TLS from the start, 465)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"CLEARINGHOUSE_SMTP_URL is not a URL: {exc}") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("CLEARINGHOUSE_SMTP_URL must look like smtp://host:port or smtps://host:port")
        starttls = parse_qs(parts.query).get("starttls", ["0"])[-1] in ("1", "true", "yes")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=starttls and not implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        try:
            client: smtplib.SMTP = (
                smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
                if self.implicit_tls
                else smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
            )
            with client:
                if self.starttls:
                    client.starttls(context=context)
                if self.username is not None:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"every recipient refused: {sorted(exc.recipients)}", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx is permanent (bad address, policy), 4xx a temporary refusal worth retrying
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc)
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {text}"[:500], retryable=exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"{exc.__class__.__name__}: {exc}"[:500], retryable=True) from None
        if refused:
            raise DeliveryFailed(f"some recipients refused: {sorted(refused)}", retryable=False)


def email_message(
    *, sender: str, recipients: list[str], subject: str, text: str, message_id: str, date: datetime
) -> EmailMessage:
    """A plain-text message. `subject` must already be one line: EmailMessage refuses line breaks in headers."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = [Address(addr_spec=recipient) for recipient in recipients]
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message.set_content(text)
    return message
