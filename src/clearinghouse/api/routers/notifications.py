"""Notification subscriptions (webhooks and e-mail) and the deliveries log: an organisation manages its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from clearinghouse.api.auth import access_note, authorised
from clearinghouse.api.paging import DEFAULT_LIMIT, Cursor, Limit
from clearinghouse.identity.model import Principal
from clearinghouse.notify.rules import DeliveryStatus
from clearinghouse.notify.service import NotificationService
from clearinghouse.notify.views import (
    DeliveryPage,
    DeliveryView,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRequest,
    SubscriptionView,
)
from clearinghouse.policy.notifications import notification_scope

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class SubscriptionChange(BaseModel):
    enabled: bool


def notification_service(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.notifications
    return service


Notifications = Annotated[NotificationService, Depends(notification_service)]
Organisation = Annotated[str | None, Query(max_length=200, description="staff: only this organisation's (by name)")]
Manager = Annotated[Principal, Depends(authorised(notification_scope))]
_MANAGE = access_note(
    "a token with scope `notifications:manage`: an organisation's own subscriptions and deliveries; an admin's "
    "token every organisation's (others' are 404)"
)


@router.post(
    "/subscriptions",
    status_code=201,
    description="Subscribe the organisation to events by webhook (`url`) or e-mail (`addresses`). A webhook URL "
    "must be http(s) and resolve to public addresses only. The answer carries the webhook's signing `secret` "
    "this once. " + _MANAGE,
)
def subscribe(request: SubscriptionRequest, service: Notifications, principal: Manager) -> SubscriptionCreated:
    return service.subscribe(principal, request)


@router.get("/subscriptions", description="The subscriptions the caller manages, oldest first. " + _MANAGE)
def list_subscriptions(
    service: Notifications,
    principal: Manager,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    organisation: Organisation = None,
) -> SubscriptionPage:
    return service.subscriptions(principal, limit, cursor, organisation)


@router.patch(
    "/subscriptions/{subscription_id}",
    description="Turn a subscription off (its queued deliveries then fail, saying so) or on again. " + _MANAGE,
)
def change_subscription(
    subscription_id: str, change: SubscriptionChange, service: Notifications, principal: Manager
) -> SubscriptionView:
    return service.set_enabled(principal, subscription_id, change.enabled)


@router.post(
    "/subscriptions/{subscription_id}/test",
    status_code=202,
    description="Queue a `notification.test` delivery to this subscription, whatever its event filter; follow it "
    "in the deliveries log. " + _MANAGE,
)
def send_test(subscription_id: str, service: Notifications, principal: Manager) -> DeliveryView:
    return service.send_test(principal, subscription_id)


@router.get(
    "/deliveries",
    description="The deliveries log, newest first: each event sent to the organisation, its attempts and outcome. "
    + _MANAGE,
)
def list_deliveries(
    service: Notifications,
    principal: Manager,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    status: DeliveryStatus | None = None,
    organisation: Organisation = None,
) -> DeliveryPage:
    return service.deliveries(principal, status=status, limit=limit, cursor=cursor, organisation=organisation)
