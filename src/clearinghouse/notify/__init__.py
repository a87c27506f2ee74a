"""Notifications: events about cases and alerts, told to organisations by signed webhooks and e-mail.

Other domains call `publish(conn, Event(...))` inside their own transaction; delivery happens later in
`notify.webhook` / `notify.email` jobs.
"""

from clearinghouse.notify.events import EVENT_KINDS, Event
from clearinghouse.notify.service import publish

__all__ = ["EVENT_KINDS", "Event", "publish"]
