"""The one place that publishes to rooms.

Services call `publish(room, event)` inside their transaction; the event reaches the room's
stream only when that transaction commits (`transaction.on_commit`), so nobody hears about a
write that rolled back. The stream numbers it (seq, ts) and every hub in every process
delivers it in the next batch; it is persisted in bulk with the room's other events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from .realtime.engine import get_engine

log = logging.getLogger("liveshop.rooms.events")


def room_key(room: Any) -> str:
    """The realtime engine's key of a room (its primary key: globally unique)."""
    return str(room.pk if hasattr(room, "pk") else room)


def publish(room: Any, event: Mapping[str, Any]) -> None:
    """Publish one event to `room` once the current transaction commits."""
    publish_many(room, [event])


def publish_many(room: Any, events: Sequence[Mapping[str, Any]]) -> None:
    """Publish events to `room`, in this order, once the current transaction commits."""
    if not events:
        return
    key = room_key(room)
    payload = [dict(e) for e in events]
    if hasattr(room, "merchant_id"):
        from .sinks import room_remember

        room_remember(room)  # the event sink then needs no lookup for this room

    def deliver() -> None:
        try:
            get_engine().writer.publish_sync(key, payload)
        except Exception:
            # The write that caused the event has committed; losing its live echo must not
            # turn that success into an error for the caller.
            log.exception("room %s: publishing %d event(s) failed", key, len(payload))

    transaction.on_commit(deliver)
