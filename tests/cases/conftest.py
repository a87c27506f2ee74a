"""The real notification receivers (an HTTP server checking webhook signatures, an aiosmtpd server) for cases."""

from tests.notify.conftest import mailbox, receiver

__all__ = ["mailbox", "receiver"]
