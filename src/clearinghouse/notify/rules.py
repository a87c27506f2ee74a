"""Delivery rules (pure): the delivery lifecycle, when to retry and how long to wait."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from clearinghouse.statemachine import StateMachine

MAX_ATTEMPTS = 8  # 30 s, 1, 2, 4, 8, 16, 32 min between them: about an hour of trying before giving up
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_LIFECYCLE: StateMachine[DeliveryStatus] = StateMachine(
    "notification delivery",
    {
        DeliveryStatus.QUEUED: frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.FAILED}),
        DeliveryStatus.RETRYING: frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.FAILED}),
    },
)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based): doubling from 30 s, at most an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LONGEST_WAIT)


def retryable_status(status: int) -> bool:
    """A receiver's HTTP answer worth trying again: server errors, 408 (timeout) and 429 (slow down).

    Other 4xx mean the receiver refuses this request as it is (gone, unauthorised, bad signature): sending it
    again would get the same answer.
    """
    return status >= 500 or status in (408, 429)


def next_status(attempts: int, *, retryable: bool) -> DeliveryStatus:
    """After a failed attempt: retry while attempts remain and the failure may pass, else give up."""
    return DeliveryStatus.RETRYING if retryable and attempts < MAX_ATTEMPTS else DeliveryStatus.FAILED
