"""What the agent sees of the room a shopper came from: the product pinned there when they
asked, and their recent chat in it.

Pins and persisted chat belong to the live-selling work of the rooms app. This module is the
one place consults reads them, and it degrades to "nothing known" while the rooms app does
not provide them, so the queue and the console work either way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.apps import apps

log = logging.getLogger("liveshop.consults.room_context")

RECENT_CHAT = 5


def pinned_product_id(room: Any) -> int | None:
    """The product pinned in `room` right now, if the rooms app records pins."""
    if room is None:
        return None
    try:
        from rooms import selectors as room_selectors
    except ImportError:  # pragma: no cover - rooms is always installed
        return None
    reader = getattr(room_selectors, "pinned_product", None)
    if reader is not None:
        try:
            product = reader(room=room)
        except Exception:  # a context nicety must never refuse a consult request
            log.exception("reading the pinned product of room %s failed", room.pk)
            return None
        return getattr(product, "pk", product) if product is not None else None
    value = getattr(room, "pinned_product_id", None)
    return int(value) if value else None


def recent_chat(room: Any, user_id: int, limit: int = RECENT_CHAT) -> list[dict[str, Any]]:
    """The shopper's last chat lines in `room` (oldest first), if the rooms app stores chat."""
    if room is None:
        return []
    try:
        model = apps.get_model("rooms", "RoomEvent")
    except LookupError:
        return []
    fields = {f.name for f in model._meta.get_fields()}
    if not {"room", "type"} <= fields:
        return []
    try:
        events = model.objects.filter(merchant_id=room.merchant_id, room=room, type="chat.message")
        if "user" in fields or "user_id" in fields:
            events = events.filter(user_id=user_id)
        else:
            return []
        order = "-seq" if "seq" in fields else "-id"
        rows = list(events.order_by(order)[:limit])
    except Exception:
        log.exception("reading recent chat of room %s failed", room.pk)
        return []
    out = []
    for row in reversed(rows):
        payload = getattr(row, "payload", None) or getattr(row, "data", None) or {}
        text = payload.get("text") if isinstance(payload, dict) else None
        if text is None:
            text = getattr(row, "text", "")
        created = getattr(row, "created_at", None) or getattr(row, "ts", None)
        if isinstance(created, int):  # the room engine stamps events in epoch milliseconds
            created = datetime.fromtimestamp(created / 1000, tz=UTC)
        out.append({"text": str(text)[:500], "at": created})
    return out
